"""Guest log lines per execution (``append_logs``, ``list_logs``): order, cursor, the bound and the dropped count,
on every backend."""

from __future__ import annotations

import pytest

from obelisk.concepts.guest_logs import LogKind, LogLine
from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import ExecutionNotFound, StorageError
from tests.storage.backends import Backend
from tests.storage.helpers import T0, created, new_id


def line(execution_id: ExecutionId, n: int, kind: LogKind = LogKind.INFO, run_id: str = "Run_a") -> LogLine:
    return LogLine(execution_id, run_id, T0 + n, kind, f"line {n}")


async def test_lines_come_back_in_order_with_their_fields_and_page_by_cursor(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        first, other = new_id(), new_id(1)
        await storage.create(first, created(), T0)
        await storage.create(other, created(), T0)
        kinds = list(LogKind)
        await storage.append_logs(
            [line(first, n, kinds[n % len(kinds)], run_id=f"Run_{n // 5}") for n in range(10)] + [line(other, 100)],
            {},
            keep=100,
        )
        await storage.append_logs([line(first, 10, LogKind.STDERR)], {}, keep=100)

        page = await storage.list_logs(first, -1, 4)
        assert [stored.line for stored in page.lines] == [
            line(first, n, kinds[n % len(kinds)], run_id=f"Run_{n // 5}") for n in range(4)
        ]
        assert page.dropped == 0
        cursors = [stored.cursor for stored in page.lines]
        assert cursors == sorted(cursors) and len(set(cursors)) == 4

        rest = await storage.list_logs(first, cursors[-1], 100)
        assert [stored.line.message for stored in rest.lines] == [f"line {n}" for n in range(4, 11)]
        assert rest.lines[-1].line.kind is LogKind.STDERR
        assert (await storage.list_logs(first, rest.lines[-1].cursor, 100)).lines == []

        others = await storage.list_logs(other, -1, 100)
        assert [stored.line for stored in others.lines] == [line(other, 100)]


async def test_the_oldest_lines_past_the_bound_are_deleted_and_counted(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await storage.append_logs([line(eid, n) for n in range(3)], {}, keep=5)
        await storage.append_logs([line(eid, n) for n in range(3, 8)], {}, keep=5)
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == [f"line {n}" for n in range(3, 8)]
        assert page.dropped == 3
        rows = storage_backend.query("SELECT count(*) FROM guest_log WHERE execution_id = ?", (eid,))
        assert rows[0][0] == 5

        # One batch bigger than the bound keeps its newest lines.
        await storage.append_logs([line(eid, n) for n in range(8, 20)], {}, keep=5)
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == [f"line {n}" for n in range(15, 20)]
        assert page.dropped == 15


async def test_lines_the_sink_dropped_are_counted_without_lines(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await storage.append_logs([], {eid: 7}, keep=5)
        page = await storage.list_logs(eid, -1, 100)
        assert page.lines == [] and page.dropped == 7
        await storage.append_logs([line(eid, 1)], {eid: 2}, keep=5)
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == ["line 1"]
        assert page.dropped == 9


async def test_an_execution_without_lines_has_an_empty_log_and_an_unknown_one_is_not_found(
    storage_backend: Backend,
) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        page = await storage.list_logs(eid, -1, 10)
        assert page.lines == [] and page.dropped == 0
        with pytest.raises(ExecutionNotFound):
            await storage.list_logs(new_id(5), -1, 10)


async def test_a_bound_below_one_line_is_refused_and_nothing_is_written(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        with pytest.raises(StorageError, match="keep"):
            await storage.append_logs([line(eid, 1)], {}, keep=0)
        assert storage_backend.query("SELECT count(*) FROM guest_log")[0][0] == 0


async def test_lines_written_by_one_server_are_read_by_another(storage_backend: Backend) -> None:
    async with storage_backend.opened() as writer, storage_backend.opened() as reader:
        eid = new_id()
        await writer.create(eid, created(), T0)
        await writer.append_logs([line(eid, 1, LogKind.STDOUT)], {}, keep=10)
        page = await reader.list_logs(eid, -1, 10)
        assert [stored.line for stored in page.lines] == [line(eid, 1, LogKind.STDOUT)]
