"""What the metrics get from storage, on both backends: the gauges read at scrape time, and each commit's created
and finished executions with its duration, heard only after the commit (a job rolled back is never heard)."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import Finished, Locked
from obelisk.concepts.ids import RunId
from obelisk.concepts.results import Ok
from obelisk.storage.interface import VersionMismatch
from obelisk.storage.state_machine import Effects

from .backends import Backend
from .helpers import ACTIVITY, EXECUTOR, SEC, T0, WORKFLOW, created, new_id


async def test_gauges_count_by_state_and_due_and_give_the_size(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        empty = await storage.gauges(T0)
        assert (empty.executions, empty.due) == ({}, {})
        due, later, done = new_id(), new_id(1), new_id(2)
        await storage.create(due, created(), T0)
        await storage.create(later, created(scheduled_at=T0 + 10 * SEC), T0)
        await storage.create(done, created(), T0)
        await storage.create(new_id(3), created(WORKFLOW), T0)
        await storage.append(done, 1, [Locked("c", EXECUTOR, RunId.generate(), T0 + SEC), Finished(Ok(None))], T0)
        gauges = await storage.gauges(T0)
        assert gauges.executions == {
            (str(ACTIVITY), "PendingAt"): 2,
            (str(ACTIVITY), "Finished"): 1,
            (str(WORKFLOW), "PendingAt"): 1,
        }
        assert gauges.due == {str(ACTIVITY): 1, str(WORKFLOW): 1}
        assert (await storage.gauges(T0 + 20 * SEC)).due == {str(ACTIVITY): 2, str(WORKFLOW): 1}
        assert gauges.size_bytes > 0


async def test_commits_report_what_they_created_and_finished(storage_backend: Backend) -> None:
    heard: list[tuple[list[str], list[tuple[str, str]], float]] = []

    def observe(effects: Effects, seconds: float) -> None:
        heard.append((list(effects.created), list(effects.finished), seconds))

    async with storage_backend.opened() as storage:
        storage.observe_commits(observe)
        first, second = new_id(), new_id(1)
        await storage.create(first, created(), T0)
        await storage.create(second, created(WORKFLOW), T0)
        await storage.append(first, 1, [Locked("c", EXECUTOR, RunId.generate(), T0 + SEC), Finished(Ok(None))], T0)
        with pytest.raises(VersionMismatch):
            await storage.append(second, 5, [Finished(Ok(None))], T0)
        await storage.cancel(second, "no longer needed", T0)
        storage.observe_commits(None)
        await storage.create(new_id(2), created(), T0)
    created_heard = [ffqn for c, _, _ in heard for ffqn in c]
    finished_heard = [f for _, finished, _ in heard for f in finished]
    assert created_heard == [str(ACTIVITY), str(WORKFLOW)]
    assert finished_heard == [(str(ACTIVITY), "Ok"), (str(WORKFLOW), "Cancelled")]
    assert all(seconds > 0 for _, _, seconds in heard)
