"""Cancel as the storage contract, on every backend: the tree of unfinished executions it finishes, the parent it
notifies, and the refusal that writes nothing."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    DelayFinished,
    DelayRequest,
    Event,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    ParentRef,
    PendingAt,
)
from obelisk.concepts.ids import DelayId, ExecutionId, JoinSetId, RunId
from obelisk.concepts.results import Cancelled, Ok, ResultKind
from obelisk.storage.interface import (
    AlreadyFinished,
    AppendEvents,
    CreateExecution,
    DelayNotPending,
    ExecutionNotFound,
    Storage,
)

from .backends import Backend
from .helpers import EXECUTOR, SEC, T0, WORKFLOW, created, new_id


async def _lock(storage: Storage, execution_id: ExecutionId, version: int) -> None:
    await storage.append(execution_id, version, [Locked("c", EXECUTOR, RunId.generate(), T0 + 10 * SEC)], T0)


async def _spawn(storage: Storage, parent: ExecutionId, version: int, child: ExecutionId, *, block: bool) -> JoinSetId:
    """``parent`` (locked, at ``version``) requests ``child`` in a new join set and, if ``block``, waits for it."""
    js = JoinSetId.generate()
    events: list[Event] = [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child))]
    if block:
        events.append(JoinNext(js, T0 + 5 * SEC))
    child_created = created(WORKFLOW, parent=ParentRef(parent, js))
    await storage.write([AppendEvents(parent, version, events), CreateExecution(child, child_created)], T0)
    return js


async def test_cancel_finishes_the_subtree_and_notifies_the_parent(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        top = new_id()
        await storage.create(top, created(WORKFLOW), T0)
        await _lock(storage, top, 1)
        middle = top.child(0)
        js = await _spawn(storage, top, 2, middle, block=True)
        await _lock(storage, middle, 1)
        # the middle workflow has a running child, one that finished already, and a pending delay
        running, done = middle.child(0), middle.child(1)
        await _spawn(storage, middle, 2, running, block=False)
        await _spawn(storage, middle, 4, done, block=False)
        delay_js = JoinSetId.generate()
        delay = JoinSetRequest(delay_js, DelayRequest(DelayId.generate(), T0 + SEC))
        await storage.append(middle, 6, [JoinSetCreated(delay_js), delay], T0)
        await _lock(storage, running, 1)
        await storage.append(done, 1, [Finished(Ok(None))], T0)
        assert isinstance(await storage.get_pending_state(top), BlockedByJoinSet)

        with storage.watch_status(middle) as watch:
            cancelled = await storage.cancel(middle, "by an operator", T0 + SEC)
            pushed = watch.take()
        assert cancelled == [middle, running]
        assert pushed is not None and pushed.pending_state == FinishedState(T0 + SEC, ResultKind.CANCELLED)

        middle_log = await storage.get(middle)
        assert middle_log.events[-1].event == Finished(Cancelled("by an operator"))
        running_log = await storage.get(running)
        assert running_log.events[-1].event == Finished(Cancelled(f"its parent {middle} was cancelled"))
        assert (await storage.get(done)).pending_state == FinishedState(T0, ResultKind.OK)
        assert await storage.get_expired_timers(T0 + 60 * SEC) == []  # the delay went with its execution
        # the parent got the result as any child's, and is due again (the run that waited still owns it)
        top_log = await storage.get(top)
        assert [(r.join_set_id, r.response) for r in top_log.responses] == [
            (js, ChildExecutionFinished(middle, Cancelled("by an operator")))
        ]
        assert isinstance(top_log.pending_state, PendingAt)


async def test_cancel_of_a_finished_execution_is_refused_and_writes_nothing(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        assert await storage.cancel(eid, "first", T0 + SEC) == [eid]
        before = storage_backend.dump()
        with pytest.raises(AlreadyFinished, match="already finished"):
            await storage.cancel(eid, "second", T0 + 2 * SEC)
        assert storage_backend.dump() == before
        assert (await storage.get(eid)).events[-1].event == Finished(Cancelled("first"))
        with pytest.raises(ExecutionNotFound):
            await storage.cancel(new_id(1), "nobody", T0)


async def test_a_cancelled_run_cannot_append_any_more(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await _lock(storage, eid, 1)
        await storage.cancel(eid, "by an operator", T0 + SEC)
        with pytest.raises(AlreadyFinished):
            await storage.append(eid, 2, [Finished(Ok(None))], T0 + 2 * SEC)


async def test_cancel_delay_delivers_its_response_now_once(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(WORKFLOW), T0)
        await _lock(storage, eid, 1)
        js, delay_id = JoinSetId.generate(), DelayId.generate()
        sleep = JoinSetRequest(js, DelayRequest(delay_id, T0 + 3600 * SEC))
        await storage.append(eid, 2, [JoinSetCreated(js), sleep, JoinNext(js, T0)], T0)
        assert isinstance(await storage.get_pending_state(eid), BlockedByJoinSet)

        assert await storage.cancel_delay(delay_id, T0 + SEC) == eid
        log = await storage.get(eid)
        assert [(r.join_set_id, r.response, r.created_at) for r in log.responses] == [
            (js, DelayFinished(delay_id, cancelled=True), T0 + SEC)
        ]
        assert log.pending_state == PendingAt(T0)  # due (its JoinNext expired at T0): the sleeping workflow wakes
        assert await storage.get_expired_timers(T0 + 7200 * SEC) == []  # the delay is gone

        before = storage_backend.dump()
        with pytest.raises(DelayNotPending, match="is not pending"):
            await storage.cancel_delay(delay_id, T0 + 2 * SEC)
        with pytest.raises(DelayNotPending):
            await storage.cancel_delay(DelayId.generate(), T0 + 2 * SEC)
        assert storage_backend.dump() == before
