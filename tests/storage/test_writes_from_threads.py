"""Writes handed to storage from other threads (a workflow run's) join the group commit's queue directly: each
thread's writes are applied in the order it started them, alongside the event loop's own writes, and each future
is done once its write committed (or failed as ``write`` would)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from obelisk.concepts.events import JoinSetCreated
from obelisk.concepts.ids import ExecutionId, JoinSetId
from obelisk.storage.interface import AppendEvents, CreateExecution, Storage, VersionMismatch

from .backends import Backend
from .helpers import T0, WORKFLOW, created, new_id

THREADS = 4
WRITES_PER_THREAD = 60


def _pipelined_appends(storage: Storage, execution_id: ExecutionId) -> list[concurrent.futures.Future[None]]:
    """Appends at versions 1, 2, ... started without waiting: each is valid only after the one before."""
    return [
        storage.write_from_thread([AppendEvents(execution_id, version, [JoinSetCreated(JoinSetId.generate())])], T0)
        for version in range(1, WRITES_PER_THREAD + 1)
    ]


async def test_writes_from_threads_commit_in_the_order_each_thread_started_them(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        ids = [new_id(i) for i in range(THREADS + 1)]
        await storage.write([CreateExecution(eid, created(WORKFLOW)) for eid in ids], T0)
        started: list[list[concurrent.futures.Future[None]]] = [[] for _ in range(THREADS)]

        def run(index: int) -> None:
            started[index] = _pipelined_appends(storage, ids[index])
            for future in started[index]:
                future.result(timeout=60)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        # Meanwhile the event loop writes too, to an execution of its own.
        loop_id = ids[THREADS]
        for version in range(1, WRITES_PER_THREAD + 1):
            await storage.append(loop_id, version, [JoinSetCreated(JoinSetId.generate())], T0)
        for thread in threads:
            await asyncio.to_thread(thread.join, 60)
        for eid in ids:
            assert (await storage.get_status(eid)).next_version == WRITES_PER_THREAD + 1
        assert all(future.done() and future.exception() is None for batch in started for future in batch)


async def test_a_refused_write_from_a_thread_fails_its_future_only(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.write([CreateExecution(eid, created(WORKFLOW))], T0)

        def run() -> tuple[BaseException | None, BaseException | None]:
            stale = storage.write_from_thread([AppendEvents(eid, 5, [JoinSetCreated(JoinSetId.generate())])], T0)
            good = storage.write_from_thread([AppendEvents(eid, 1, [JoinSetCreated(JoinSetId.generate())])], T0)
            return stale.exception(timeout=60), good.exception(timeout=60)

        stale_error, good_error = await asyncio.to_thread(run)
        assert isinstance(stale_error, VersionMismatch) and good_error is None
        assert (await storage.get_status(eid)).next_version == 2
