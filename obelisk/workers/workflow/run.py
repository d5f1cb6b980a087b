"""One run of a workflow: the replay machine, the writes it asks for, waiting for responses, and what the guest
sees of time, randomness and its own output.

A ``WorkflowRun`` lives in one executor thread for the duration of one guest call. It is the Store's data, so the
host functions (``host.py``) find it from their ``StoreContext``. It reaches storage through a ``StorageBridge``,
which runs coroutines on the server's event loop and waits for them from this thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from obelisk import guest_log_sink
from obelisk.concepts.clock import Clock
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import (
    ChildExecutionFinished,
    Created,
    JoinSetResponseEvent,
    Locked,
    ParentRef,
    resolve_schedule,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.guest_logs import LogKind
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import FallibleError
from obelisk.concepts.retry import RetryPolicy
from obelisk.registry import ComponentRegistry
from obelisk.storage.interface import (
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    LockedExecution,
    Storage,
    WriteOp,
)
from obelisk.wasm.guest_output import GuestOutput
from obelisk.workers.outcome import Succeeded
from obelisk.workers.outcome_events import RunContext, finish_ops, ops_for_outcome
from obelisk.workers.worker import AttemptDeadline
from obelisk.workers.workflow.inline import InlineActivities, InlineActivity
from obelisk.workers.workflow.replay import ReplayMachine
from obelisk.workers.workflow.replay_types import AwaitResult, Blocked, PendingWrites, Ready

log = logging.getLogger(__name__)
guest_log = logging.getLogger("obelisk.guest")

T = TypeVar("T")

INTERRUPT_MARGIN_US = 20_000
"""A run that waits in place stops waiting this long before its lock expires, so it interrupts cleanly itself
instead of being timed out by the executor."""
MAX_RESPONSES_PER_READ = 1_000


CHILD_VERSION_AFTER_LOCK = 2
"""An inline child's next version: its ``Created`` and its ``Locked`` are written with its parent's request."""


@dataclass(frozen=True, slots=True)
class _InflightCommit:
    future: concurrent.futures.Future[None]
    version_before: int
    """The parent's committed version should this commit fail."""
    finishes: ExecutionId | None
    """The inline child whose result this commit carries."""
    locks: ExecutionId
    """The inline child this commit creates already locked."""


class BlockingStrategy(StrEnum):
    AWAIT = "await"
    INTERRUPT = "interrupt"


class InterruptRun(Exception):
    """Unwinds the guest: the run stops here and the execution is replayed once its awaited response arrives.

    Raised from a host function; everything the run did is already written (the blocking ``JoinNext`` included).
    """


class StorageBridge:
    """Lets a worker thread use the (asyncio) storage of the server's event loop."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self._loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.start(coroutine).result()

    def start(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coroutine`` on the loop and return at once; ``.result()`` waits for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)


@dataclass(frozen=True, slots=True)
class RunSettings:
    component_id: str
    strategy: BlockingStrategy
    batch_limit: int
    lock_expiry_us: int


class WorkflowRun:
    """The state of one run; also the ``DeterministicSource`` of its WASI."""

    def __init__(
        self,
        *,
        execution_id: ExecutionId,
        created: Created,
        machine: ReplayMachine,
        version: int,
        known_responses: list[JoinSetResponseEvent],
        run_id: RunId,
        deadline: AttemptDeadline,
        settings: RunSettings,
        bridge: StorageBridge,
        registry: ComponentRegistry,
        clock: Clock,
        executor_id: ExecutorId,
        inline_activities: InlineActivities,
    ) -> None:
        self.execution_id = execution_id
        self.created = created
        self.machine = machine
        self.version = version
        """The version of the next append: everything before it is written."""
        self.run_id = run_id
        self.deadline = deadline
        self.settings = settings
        self._extension: int | None = None
        """A lock extension decided but not yet written; the next write carries it (before any ``JoinNext``)."""
        self.on_extend: Callable[[float], None] | None = None
        """Set by the worker: gives the guest's store the extended time too (its epoch deadline)."""
        self._bridge = bridge
        self._registry = registry
        self._clock = clock
        self._known_responses = len(known_responses)
        self._last_cursor = known_responses[-1].cursor if known_responses else -1
        self._rng = random.Random(execution_id.seed())
        self._join_sets: list[JoinSetId] = []
        self._partial_lines: dict[str, bytes] = {}
        self.output = GuestOutput()
        """What the guest wrote in this run, to explain its failure (``obelisk.wasm.guest_failure``)."""
        self._executor_id = executor_id
        self._inline = inline_activities
        self._deferred: list[WriteOp] = []
        """The last inline child's ``Finished`` and this execution's response: written with the next write."""
        self._deferred_child: ExecutionId | None = None
        self._inline_responses: set[tuple[JoinSetId, ExecutionId]] = set()
        self._inflight: _InflightCommit | None = None
        """The commit of the last inline step, still running while the guest goes on (see ``_call_inline``)."""
        self._unrecorded_children: dict[ExecutionId, int] = {}
        """Inline children whose lock is committed but whose result is not (with the version to append at): if this
        run ends on a storage fault, they are given back with it (``Released.inline_children``)."""
        self._synthetic_cursor = 0

    # ------------------------------------------------------------------------------------------ deterministic WASI
    def clock_ns(self) -> int:
        return self.machine.clock_us * 1_000

    def random_bytes(self, length: int) -> bytes:
        return self._rng.randbytes(length)

    def random_u64(self) -> int:
        return self._rng.getrandbits(64)

    def write_output(self, stream: str, data: bytes) -> None:
        """Guest stdout/stderr: kept in ``output`` (all of it: a guest that raises while it replays prints its
        traceback then), and logged line by line with the execution id, except while the run replays recorded
        history, so that every line is logged once (docs/architecture.md#workflow-clock-and-output)."""
        self.output.stream(stream).write(data)
        if self.machine.is_replaying:
            return
        buffered = self._partial_lines.get(stream, b"") + data
        *lines, rest = buffered.split(b"\n")
        self._partial_lines[stream] = rest
        for line in lines:
            guest_log.info("[%s %s] %s", self.execution_id, stream, line.decode("utf-8", "replace"))
            guest_log_sink.emit(self.execution_id, self.run_id, LogKind(stream), line.decode("utf-8", "replace"))

    def guest_log(self, level: int, message: str) -> None:
        if not self.machine.is_replaying:
            guest_log.log(level, "[%s] %s", self.execution_id, message, extra={"execution_id": self.execution_id})
            guest_log_sink.emit(self.execution_id, self.run_id, LogKind.of_level(level), message)

    # ------------------------------------------------------------------------------------------ join-set handles
    def join_set_handle(self, join_set_id: JoinSetId) -> int:
        """The resource ``rep`` handed to the guest for a join set (an index into this run's table)."""
        self._join_sets.append(join_set_id)
        return len(self._join_sets) - 1

    def join_set_of(self, rep: int) -> JoinSetId:
        return self._join_sets[rep]

    # ------------------------------------------------------------------------------------------ timing
    def now_us(self) -> int:
        return self._clock.now_us()

    @property
    def deadline_us(self) -> int:
        return self.deadline.us

    def run_expires_at(self, *, needed_us: int = 0) -> int:
        """Recorded in a new ``JoinNext``: until when this run may keep waiting in place for the response.

        A run that goes on past half its lock, or needs ``needed_us`` more than is left (an inline child),
        extends its lock first: a long serial workflow keeps its instance instead of being replayed.
        """
        now = self.now_us()
        self._extend_if_needed(now, needed_us)
        if self.settings.strategy is BlockingStrategy.INTERRUPT:
            return now
        return self.deadline_us

    def _extend_if_needed(self, now: int, needed_us: int) -> None:
        lock_expiry = self.settings.lock_expiry_us
        remaining = self.deadline_us - now - INTERRUPT_MARGIN_US
        if remaining >= max(lock_expiry // 2, needed_us):
            return
        new_deadline = now + max(lock_expiry, needed_us + 2 * INTERRUPT_MARGIN_US)
        self._extension = new_deadline
        self.deadline.extend(new_deadline)
        if self.on_extend is not None:
            self.on_extend((new_deadline - now) / 1_000_000)

    # ------------------------------------------------------------------------------------------ writing
    def flush_if_needed(self) -> None:
        if self.machine.must_flush:
            self.flush()

    def flush(self) -> None:
        """Write what the machine collected (and an inline child's pending result), in one transaction with the
        executions it creates. Also waits for a commit still in flight, so that after a flush all is written."""
        self.await_inflight()
        if not self.machine.has_pending and not self._deferred:
            return
        pending = self.machine.take_pending()
        now = self.now_us()
        deferred, finished_child = self._take_deferred()
        self._write([*deferred, *self._ops(pending, now)], now, finishes=finished_child)
        self.version = self.machine.next_version

    def _write(self, ops: list[WriteOp], now: int | None = None, *, finishes: ExecutionId | None = None) -> None:
        """Write ``ops`` now, after the commit in flight; ``finishes``: the inline child whose result they carry."""
        self.await_inflight()
        self._bridge.run(self._bridge.storage.write(ops, self.now_us() if now is None else now))
        if finishes is not None:
            self._unrecorded_children.pop(finishes, None)

    def await_inflight(self) -> None:
        """Wait for the last inline step's commit; raises its ``StorageError`` (the run is then abandoned, and
        ``version`` is back at what is committed)."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return
        try:
            inflight.future.result()
        except BaseException:
            self.version = inflight.version_before
            raise
        if inflight.finishes is not None:
            self._unrecorded_children.pop(inflight.finishes, None)
        self._unrecorded_children[inflight.locks] = CHILD_VERSION_AFTER_LOCK

    def unrecorded_inline_children(self) -> tuple[tuple[ExecutionId, int], ...]:
        """What a run ended by a storage fault must give back besides itself (see ``Released``)."""
        return tuple(self._unrecorded_children.items())

    def _take_deferred(self) -> tuple[list[WriteOp], ExecutionId | None]:
        deferred, self._deferred = self._deferred, []
        child, self._deferred_child = self._deferred_child, None
        self._known_responses += sum(isinstance(op, DeliverResponse) for op in deferred)
        return deferred, child

    def _ops(self, pending: PendingWrites, now: int) -> list[WriteOp]:
        ops: list[WriteOp] = []
        events = list(pending.events)
        if self._extension is not None:
            events.insert(0, Locked(self.settings.component_id, self._executor_id, self.run_id, self._extension))
            self._extension = None
            self.machine.skip_version()
        if events:
            ops.append(AppendEvents(self.execution_id, pending.version, events))
        for child in pending.children:
            parent = ParentRef(self.execution_id, child.join_set_id)
            created = self._registry.find_export(child.ffqn).created(child.params, now, parent=parent)
            ops.append(CreateExecution(child.child_id, created))
        for scheduled in pending.scheduled:
            at = resolve_schedule(scheduled.schedule_at, now)
            created = self._registry.find_export(scheduled.ffqn).created(
                scheduled.params, at, scheduled_by=self.execution_id
            )
            ops.append(CreateExecution(scheduled.execution_id, created))
        return ops

    # ------------------------------------------------------------------------------------------ direct calls
    def call(self, callee: Ffqn, params: list[Any]) -> Ready:
        """A direct call of a child: replayed, run inline (an activity, see ``inline.py``), or waited for."""
        inline = self._inline.get(callee)
        needed = 0 if inline is None else inline.lock_expiry_us
        result = self.machine.call(callee, params, run_expires_at=self.run_expires_at(needed_us=needed))
        if isinstance(result, Blocked):
            inline = self._inline_target(callee, result.join_set_id)
            if inline is not None:
                return self._call_inline(inline, result.join_set_id)
        return self.wait(result)

    def _inline_target(self, callee: Ffqn, join_set_id: JoinSetId) -> InlineActivity | None:
        """The activity to run in this thread, if the call is new and the attempt fits in this run's lock.

        Not under ``interrupt``: there the parent is due again as soon as its response exists, so it must not
        go on running meanwhile.
        """
        if self.settings.strategy is BlockingStrategy.INTERRUPT:
            return None
        inline = self._inline.get(callee)
        if inline is None or self.now_us() + inline.lock_expiry_us > self.deadline_us - INTERRUPT_MARGIN_US:
            return None  # the lock was extended before the request if it could be (``run_expires_at``)
        children = self.machine.pending_children()
        if not children or children[-1].join_set_id != join_set_id:
            return None  # replayed: the child exists already
        return inline

    def _call_inline(self, inline: InlineActivity, join_set_id: JoinSetId) -> Ready:
        pending = self.machine.take_pending()
        child = pending.children[-1]
        now = self.now_us()
        lock_expires_at = now + inline.lock_expiry_us
        run_id = RunId.generate()
        deferred, finished_child = self._take_deferred()
        ops = [*deferred, *self._ops(pending, now)]
        ops.append(
            AppendEvents(child.child_id, 1, [Locked(inline.component_id, self._executor_id, run_id, lock_expires_at)])
        )
        # The commit runs while the attempt runs and while the guest goes on to its next step; the next write waits
        # for it first, so commits stay in order and a failed one ends the run before anything builds on it. A crash
        # loses at most the steps not yet committed, and their activities (at-least-once by contract) run again.
        self.await_inflight()
        future = self._bridge.start(self._bridge.storage.write(ops, now))
        self._inflight = _InflightCommit(future, self.version, finished_child, child.child_id)
        self.version = self.machine.next_version
        created = next(
            op.created for op in ops if isinstance(op, CreateExecution) and op.execution_id == child.child_id
        )
        locked = LockedExecution(child.child_id, run_id, CHILD_VERSION_AFTER_LOCK, created, lock_expires_at, 0, [], [])
        outcome = inline.worker.run(locked, AttemptDeadline(lock_expires_at))
        parent = ParentRef(self.execution_id, join_set_id)
        if isinstance(outcome, Succeeded) and not (
            isinstance(outcome.result, FallibleError) and inline.worker.retry_on_err and created.max_retries > 0
        ):
            finished_at = self.now_us()
            self._deferred = finish_ops(child.child_id, CHILD_VERSION_AFTER_LOCK, parent, outcome.result, finished_at)
            self._deferred_child = child.child_id
            self._synthetic_cursor -= 1
            self._inline_responses.add((join_set_id, child.child_id))
            response = ChildExecutionFinished(child.child_id, outcome.result)
            self.machine.feed_response(JoinSetResponseEvent(self._synthetic_cursor, finished_at, join_set_id, response))
            resumed = self.machine.resume()
            assert isinstance(resumed, Ready)
            return resumed
        # Not a plain result: record it now; the activity's executor takes over (retries), and this run waits.
        ctx = RunContext(
            execution_id=child.child_id,
            version=CHILD_VERSION_AFTER_LOCK,
            parent=parent,
            policy=RetryPolicy(created.max_retries, created.retry_exp_backoff_us),
            temporary_event_count=0,
            retry_on_err=inline.worker.retry_on_err,
        )
        self._write(ops_for_outcome(ctx, outcome, self.now_us()), finishes=child.child_id)
        return self.wait(Blocked(join_set_id))

    def flush_deferred(self) -> None:
        """Best effort before a run ends abnormally: an inline child's result is not worth losing."""
        if self._deferred:
            deferred, finished_child = self._take_deferred()
            try:
                self._write(deferred, finishes=finished_child)
            except ObeliskError as error:
                log.info("%s: inline child result not recorded: %s", self.execution_id, error)

    # ------------------------------------------------------------------------------------------ waiting
    def wait(self, result: AwaitResult, *, delay_expires_at: int | None = None) -> Ready:
        """Turn a ``Blocked`` await into its response: flush, then wait in place (``await``) while the lock
        allows, else interrupt the run. A sleep longer than the lock interrupts at once."""
        if isinstance(result, Ready):
            self.flush_if_needed()
            return result
        self.flush()
        if self.settings.strategy is BlockingStrategy.INTERRUPT:
            raise InterruptRun(f"interrupted to wait for {result.join_set_id}")
        if delay_expires_at is not None and delay_expires_at > self.deadline_us - INTERRUPT_MARGIN_US:
            raise InterruptRun(f"sleeping until {delay_expires_at}, past this run's lock")
        while True:
            remaining_us = self.deadline_us - INTERRUPT_MARGIN_US - self.now_us()
            if remaining_us <= 0:
                raise InterruptRun(f"lock expires while waiting for {result.join_set_id}")
            self.await_inflight()
            for response in self._bridge.run(self._next_responses(remaining_us / 1_000_000)):
                self.machine.feed_response(response)
            resumed = self.machine.resume()
            if isinstance(resumed, Ready):
                return resumed

    async def _next_responses(self, timeout: float) -> list[JoinSetResponseEvent]:
        """Wait until storage reports a change of this execution, then read the responses not seen yet."""
        storage = self._bridge.storage
        await storage.wait_for_change(self.execution_id, self.version + self._known_responses, timeout)
        if self._last_cursor < 0:
            responses = await storage.list_responses(self.execution_id, 0, MAX_RESPONSES_PER_READ, True)
        else:
            responses = await storage.list_responses(
                self.execution_id, self._last_cursor, MAX_RESPONSES_PER_READ, False
            )
        if responses:
            self._last_cursor = responses[-1].cursor
            self._known_responses += sum(not self._delivered_inline(r) for r in responses)
        return [r for r in responses if not self._delivered_inline(r)]

    def _delivered_inline(self, response: JoinSetResponseEvent) -> bool:
        child = response.response
        return (
            isinstance(child, ChildExecutionFinished)
            and (response.join_set_id, child.child_execution_id) in self._inline_responses
        )


__all__ = ["Blocked", "BlockingStrategy", "InterruptRun", "RunSettings", "StorageBridge", "WorkflowRun"]
