"""The server's guest log sink over a real SQLite database: lines from threads are written in order, a full queue
drops and counts instead of blocking, a failed write counts its lines, and stopping writes what is queued."""

from __future__ import annotations

import threading
from pathlib import Path

from obelisk import guest_log_sink
from obelisk.concepts.clock import ManualClock
from obelisk.concepts.guest_logs import MAX_LINE_CHARS, LogKind
from obelisk.guest_log_sink import GuestLogSink, StreamLines
from tests.storage.helpers import T0, created, new_id, opened


async def test_lines_from_threads_are_stored_in_order_and_stop_writes_the_rest(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        sink = GuestLogSink(storage, ManualClock(T0))
        sink.start()

        def guest() -> None:
            for n in range(50):
                sink.emit(eid, "Run_x", LogKind.INFO, f"line {n}")

        thread = threading.Thread(target=guest)
        thread.start()
        thread.join()
        await sink.stop()
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == [f"line {n}" for n in range(50)]
        assert {stored.line.created_at for stored in page.lines} == {T0}
        assert page.dropped == 0


async def test_a_full_queue_drops_new_lines_and_counts_them(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        sink = GuestLogSink(storage, ManualClock(T0), queue_limit=3)  # not started: nothing empties the queue
        for n in range(5):
            sink.emit(eid, "Run_x", LogKind.STDOUT, f"line {n}")
        await sink.flush()
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == ["line 0", "line 1", "line 2"]
        assert page.dropped == 2


async def test_the_bound_per_execution_is_the_sinks(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        sink = GuestLogSink(storage, ManualClock(T0), keep_per_execution=2)
        for n in range(5):
            sink.emit(eid, "Run_x", LogKind.STDERR, f"line {n}")
        await sink.flush()
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == ["line 3", "line 4"]
        assert page.dropped == 3


async def test_lines_a_write_could_not_store_are_counted_by_the_next(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        sink = GuestLogSink(storage, ManualClock(T0))
        storage.__dict__["_closed"] = True  # the database refuses the write (StorageClosed)
        sink.emit(eid, "Run_x", LogKind.INFO, "lost")
        await sink.flush()
        storage.__dict__["_closed"] = False
        sink.emit(eid, "Run_x", LogKind.INFO, "kept")
        await sink.flush()
        page = await storage.list_logs(eid, -1, 100)
        assert [stored.line.message for stored in page.lines] == ["kept"]
        assert page.dropped == 1


async def test_stream_lines_split_on_newlines_bound_long_lines_and_keep_a_last_partial_one(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        sink = GuestLogSink(storage, ManualClock(T0))
        guest_log_sink.install(sink)
        try:
            stream = StreamLines(eid, "Run_x", LogKind.STDOUT)
            stream(b"one\ntw")
            stream(b"o\r\n" + b"x" * (MAX_LINE_CHARS + 10) + b"\nthree")
            stream.flush()
        finally:
            guest_log_sink.install(None)
        await sink.flush()
        lines = [stored.line.message for stored in (await storage.list_logs(eid, -1, 100)).lines]
        assert lines[:2] == ["one", "two"]
        assert len(lines[2]) == MAX_LINE_CHARS and lines[2].endswith("…")
        assert lines[3:] == ["three"]
