"""One run of a workflow: the replay machine, the writes it asks for, waiting for responses, and what the guest
sees of time, randomness and its own output.

A ``WorkflowRun`` lives in one executor thread for the duration of one guest call. It is the Store's data, so the
host functions (``host.py``) find it from their ``StoreContext``. Its parts: ``RunDeadline`` (its lock, extensions,
why it interrupts itself: ``interrupts.py``), ``WritePipeline`` (commits in flight, deferred writes, inline children
not yet recorded: ``write_pipeline.py``) and ``InlineResponses`` (``inline.py``); it reaches storage through a
``StorageBridge``, which runs coroutines on the server's event loop and waits for them from this thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from obelisk import guest_log_sink, tracing
from obelisk.concepts.clock import Clock
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import (
    Created,
    FinishedState,
    JoinSetResponseEvent,
    Locked,
    ParentRef,
    PausedState,
    resolve_schedule,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.guest_logs import LogKind
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import FallibleError, ResultKind
from obelisk.concepts.retry import RetryPolicy
from obelisk.registry import ComponentRegistry
from obelisk.storage.interface import (
    AppendEvents,
    CreateExecution,
    LockedExecution,
    WriteOp,
)
from obelisk.wasm.guest_output import GuestOutput
from obelisk.workers.outcome import Succeeded
from obelisk.workers.outcome_events import RunContext, finish_ops, ops_for_outcome
from obelisk.workers.worker import AttemptDeadline
from obelisk.workers.workflow.inline import InlineActivities, InlineActivity, InlineResponses
from obelisk.workers.workflow.interrupts import (
    BlockingStrategy,
    InterruptReason,
    InterruptRun,
    RunDeadline,
)
from obelisk.workers.workflow.replay import ReplayMachine
from obelisk.workers.workflow.replay_types import AwaitResult, Blocked, PendingWrites, Ready
from obelisk.workers.workflow.storage_bridge import StorageBridge
from obelisk.workers.workflow.write_pipeline import CHILD_VERSION_AFTER_LOCK, WritePipeline

log = logging.getLogger(__name__)
guest_log = logging.getLogger("obelisk.guest")

MAX_RESPONSES_PER_READ = 1_000


@dataclass(frozen=True, slots=True)
class RunSettings:
    component_id: str
    strategy: BlockingStrategy
    batch_limit: int
    lock_expiry_us: int
    max_uncommitted_steps: int
    """How many commits of the run may be outstanding while its guest goes on (``write_pipeline.py``): steps then
    share fsyncs (groups of about half this), and a crash may run up to this many + 1 activities of the run again.
    The workflow's ``max_uncommitted_steps``; the default's choice is measured in docs/decisions.md ("Pipelined
    commits")."""


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
        """The version of the next append: everything before it is written (or in flight in ``_writes``)."""
        self.run_id = run_id
        self.deadline = RunDeadline(
            deadline, strategy=settings.strategy, lock_expiry_us=settings.lock_expiry_us, clock=clock
        )
        self.settings = settings
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
        self._inline_responses = InlineResponses()
        self._writes = WritePipeline(bridge, max_in_flight=settings.max_uncommitted_steps)

    @property
    def on_extend(self) -> Callable[[float], None] | None:
        return self.deadline.on_extend

    @on_extend.setter
    def on_extend(self, callback: Callable[[float], None] | None) -> None:
        self.deadline.on_extend = callback

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
        """Recorded in a new ``JoinNext`` (see ``RunDeadline.run_expires_at``)."""
        return self.deadline.run_expires_at(needed_us=needed_us)

    # ------------------------------------------------------------------------------------------ writing
    def flush_if_needed(self) -> None:
        if self.machine.must_flush:
            self.flush()

    def flush(self) -> None:
        """Write what the machine collected (and an inline child's pending result), in one transaction with the
        executions it creates. Also waits for the commits still in flight, so that after a flush all is written."""
        self.await_inflight()
        if not self.machine.has_pending and not self._writes.has_deferred:
            return
        pending = self.machine.take_pending()
        now = self.now_us()
        deferred, finished_child = self._take_deferred()
        self._write([*deferred, *self._ops(pending, now)], now, finishes=finished_child)
        self.version = self.machine.next_version

    def take_outcome_writes(self) -> tuple[WriteOp, ...]:
        """Before the run's outcome: write what the machine collected (after the commits in flight), except an
        inline child's result that is all that is left, which is returned to ride with the outcome's events."""
        self.await_inflight()
        if self.machine.has_pending:
            self.flush()
            return ()
        deferred, _ = self._take_deferred()
        return tuple(deferred)

    def _write(self, ops: list[WriteOp], now: int | None = None, *, finishes: ExecutionId | None = None) -> None:
        """Write ``ops`` now, after the commits in flight; ``finishes``: the inline child whose result they carry."""
        self.await_inflight()
        self._writes.write(ops, self.now_us() if now is None else now, finishes=finishes)

    def await_inflight(self) -> None:
        """Wait for the inline steps' commits; raises the first one's ``StorageError`` (the run is then abandoned,
        and ``version`` is back at what is committed)."""
        try:
            self._writes.settle()
        except BaseException:
            self._fall_back_to_committed()
            raise

    def _fall_back_to_committed(self) -> None:
        if self._writes.failed_at_version is not None:
            self.version = self._writes.failed_at_version

    def unrecorded_inline_children(self) -> tuple[tuple[ExecutionId, int], ...]:
        """What a run ended by a storage fault must give back besides itself (see ``Released``)."""
        return self._writes.unrecorded_inline_children()

    def _take_deferred(self) -> tuple[list[WriteOp], ExecutionId | None]:
        deferred, child, responses = self._writes.take_deferred()
        self._known_responses += responses
        return deferred, child

    def _ops(self, pending: PendingWrites, now: int) -> list[WriteOp]:
        ops: list[WriteOp] = []
        events = list(pending.events)
        extension = self.deadline.take_extension()
        if extension is not None:
            events.insert(0, Locked(self.settings.component_id, self._executor_id, self.run_id, extension))
            self.machine.skip_version()
        if events:
            ops.append(AppendEvents(self.execution_id, pending.version, events))
        # Children and scheduled executions continue this execution's trace, under its span (derived: the same
        # on every run).
        trace = None if self.created.trace is None else self.created.trace.child_of(self.execution_id)
        tracer = tracing.active()
        for child in pending.children:
            parent = ParentRef(self.execution_id, child.join_set_id)
            created = self._registry.find_export(child.ffqn).created(child.params, now, parent=parent, trace=trace)
            ops.append(CreateExecution(child.child_id, created))
            if tracer is not None:
                tracer.child_submitted(child.ffqn, child.child_id)
        for scheduled in pending.scheduled:
            at = resolve_schedule(scheduled.schedule_at, now)
            created = self._registry.find_export(scheduled.ffqn).created(
                scheduled.params, at, scheduled_by=self.execution_id, trace=trace
            )
            ops.append(CreateExecution(scheduled.execution_id, created))
            if tracer is not None:
                tracer.child_submitted(scheduled.ffqn, scheduled.execution_id, scheduled_at_us=at)
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
        if inline is None or not self.deadline.fits(inline.lock_expiry_us):
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
        # The commit runs while the attempt runs and while the guest goes on to its next steps (write_pipeline.py):
        # commits stay in order, and a failed one ends the run before anything built on it is committed. A crash
        # loses at most the steps not yet committed, and their activities (at-least-once by contract) run again.
        try:
            self._writes.start(ops, now, version_before=self.version, finishes=finished_child, locks=child.child_id)
        except BaseException:
            self._fall_back_to_committed()  # an earlier commit failed while this one waited for room
            raise
        self.version = self.machine.next_version
        created = next(
            op.created for op in ops if isinstance(op, CreateExecution) and op.execution_id == child.child_id
        )
        locked = LockedExecution(child.child_id, run_id, CHILD_VERSION_AFTER_LOCK, created, lock_expires_at, 0, [], [])
        tracer = tracing.active()
        span = None if tracer is None else tracer.start_run(locked, inline=True)
        if span is None:
            outcome = inline.worker.run(locked, AttemptDeadline(lock_expires_at))
        else:
            outcome = span.call(lambda: inline.worker.run(locked, AttemptDeadline(lock_expires_at)))
            span.end(outcome)
        parent = ParentRef(self.execution_id, join_set_id)
        if isinstance(outcome, Succeeded) and not (
            isinstance(outcome.result, FallibleError) and inline.worker.retry_on_err and created.max_retries > 0
        ):
            finished_at = self.now_us()
            self._writes.defer(
                finish_ops(child.child_id, CHILD_VERSION_AFTER_LOCK, parent, outcome.result, finished_at),
                child.child_id,
            )
            self.machine.feed_response(
                self._inline_responses.delivered(join_set_id, child.child_id, outcome.result, finished_at)
            )
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
        """Best effort before a run ends abnormally: an inline child's result is not worth losing. Either way,
        nothing of the run is in flight afterwards."""
        try:
            if self._writes.has_deferred:
                deferred, finished_child = self._take_deferred()
                self._write(deferred, finishes=finished_child)
            else:
                self.await_inflight()
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
            raise InterruptRun(InterruptReason.AWAITS_BY_REPLAY, f"waits for {result.join_set_id}")
        if delay_expires_at is not None and not self.deadline.fits(delay_expires_at - self.now_us()):
            raise InterruptRun(InterruptReason.SLEEPS_PAST_LOCK, f"sleeping until {delay_expires_at}")
        while True:
            self.deadline.stop_if_cancelled()
            remaining_us = self.deadline.remaining_us()
            if remaining_us <= 0:
                raise InterruptRun(InterruptReason.LOCK_EXPIRING, f"while waiting for {result.join_set_id}")
            self.await_inflight()
            for response in self._bridge.run(self._next_responses(remaining_us / 1_000_000)):
                self.machine.feed_response(response)
            resumed = self.machine.resume()
            if isinstance(resumed, Ready):
                return resumed

    async def _next_responses(self, timeout: float) -> list[JoinSetResponseEvent]:
        """Wait until storage reports a change of this execution, then read the responses not seen yet."""
        storage = self._bridge.storage
        started = asyncio.get_running_loop().time()
        await storage.wait_for_change(self.execution_id, self.version + self._known_responses, timeout)
        woken_early = asyncio.get_running_loop().time() - started < timeout / 2
        if self._last_cursor < 0:
            responses = await storage.list_responses(self.execution_id, 0, MAX_RESPONSES_PER_READ, True)
        else:
            responses = await storage.list_responses(
                self.execution_id, self._last_cursor, MAX_RESPONSES_PER_READ, False
            )
        if responses:
            self._last_cursor = responses[-1].cursor
            self._known_responses += sum(not self._inline_responses.seen(r) for r in responses)
        elif woken_early:
            await self._notice_operator_events()
        return [r for r in responses if not self._inline_responses.seen(r)]

    async def _notice_operator_events(self) -> None:
        """Woken before its time without a response: only an operator (a pause, a resume, a cancel) changes the log
        of a run that waits, and this run missed it (committed before the executor watched the execution; otherwise
        the executor marked the run already). One status read tells, and the run stops at the top of its wait loop
        instead of being woken again and again by a count it cannot catch up with."""
        status = await self._bridge.storage.get_status(self.execution_id)
        state = status.pending_state
        if isinstance(state, FinishedState) and state.result_kind is ResultKind.CANCELLED:
            self.deadline.attempt.cancelled = True
        elif isinstance(state, PausedState) or status.operator_versions:
            self.deadline.attempt.paused = True


__all__ = [
    "Blocked",
    "BlockingStrategy",
    "InterruptReason",
    "InterruptRun",
    "RunSettings",
    "StorageBridge",
    "WorkflowRun",
]
