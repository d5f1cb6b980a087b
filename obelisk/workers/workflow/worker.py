"""Runs one run of a workflow: a fresh instance replays the recorded history, then goes on from where it was.

Runs in an executor thread. Everything the run records on its way (join sets, child requests, join-nexts) is
written by the run itself as it goes; the outcome tells the executor how the run ended and at which version to
append the final event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from wasmtime.component import Component

from obelisk.concepts.clock import Clock
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutorId
from obelisk.concepts.json_values import check_params
from obelisk.concepts.results import ExecutionFailure, NondeterminismDetected, ReturnValue, classify_return
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ComponentRegistry, ResolvedImport
from obelisk.storage.interface import (
    ExecutionAlreadyExists,
    LockedExecution,
    Storage,
    StorageError,
    StorageFault,
)
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.guest_failure import trap_failure
from obelisk.wasm.host_calls import (
    GuestCallRefused,
    GuestInstantiationError,
    GuestInterrupted,
    GuestTrap,
    call_guest,
    instantiate_guest,
)
from obelisk.wasm.introspect import CallableExport, ComponentInterfaces, callable_exports
from obelisk.wasm.typed_calls import ExportSignatures, TypedFunc
from obelisk.wasm.values import from_wasm, to_wasm
from obelisk.wasm.workflow_wasi import new_workflow_store
from obelisk.workers.outcome import (
    FailedPermanently,
    FailedTemporarily,
    Interrupted,
    Released,
    Succeeded,
    TimedOut,
    WorkerOutcome,
)
from obelisk.workers.worker import AttemptDeadline
from obelisk.workers.workflow.child_results import ChildExecutionError
from obelisk.workers.workflow.host import build_workflow_linker
from obelisk.workers.workflow.inline import InlineActivities
from obelisk.workers.workflow.interrupts import InterruptReason, InterruptRun
from obelisk.workers.workflow.replay import ReplayMachine
from obelisk.workers.workflow.replay_types import NondeterminismError, WorkflowError
from obelisk.workers.workflow.run import RunSettings, WorkflowRun
from obelisk.workers.workflow.storage_bridge import StorageBridge

log = logging.getLogger(__name__)

DEADLINE_GRACE_SECONDS = 1.0
MAX_TIMEOUTS_IN_A_ROW = 5
"""Workflows retry a timed-out run for ever, unless it is the fifth in a row without recording any progress: then
the fault recurs on every run (an endless loop, work that cannot fit in the lock) and the execution ends."""
NONDETERMINISM_HINT = (
    "a workflow must make the same host calls in the same order on every replay of its history; this usually means"
    " its component was replaced, while the execution was running, by a build that calls differently"
)
"""Said after what diverged: a workflow's clock, random numbers and host-call results are all replayed, so a
divergence nearly always means different code."""
STORAGE_FAULT_PAUSE_US = 1_000_000
"""A run stopped by a storage fault is due again after this pause, not at once: the fault may last."""


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    run: RunSettings
    retry_on_trap: bool
    memory_limit: int | None = None
    """``max_memory_size`` in bytes; ``None``: unlimited."""


class WorkflowWorker:
    def __init__(
        self,
        *,
        engine: WasmEngine,
        component: Component,
        interfaces: ComponentInterfaces,
        resolved_imports: Sequence[ResolvedImport],
        settings: WorkflowSettings,
        storage: Storage,
        loop: asyncio.AbstractEventLoop,
        registry: ComponentRegistry,
        clock: Clock,
        executor_id: ExecutorId,
        inline_activities: InlineActivities,
    ) -> None:
        self._engine = engine
        self._executor_id = executor_id
        self._inline_activities = inline_activities
        self._component = component
        self._settings = settings
        self._bridge = StorageBridge(storage, loop)
        self._registry = registry
        self._clock = clock
        self._linker = build_workflow_linker(engine, interfaces, resolved_imports)
        self._signatures = ExportSignatures()
        self._exports = callable_exports(component, interfaces.exports, settings.run.component_id)

    @property
    def ffqns(self) -> Sequence[Ffqn]:
        return list(self._exports)

    @property
    def retry_on_err(self) -> bool:
        return False

    @property
    def max_timeouts_in_a_row(self) -> int | None:
        return MAX_TIMEOUTS_IN_A_ROW

    @property
    def deadline_grace_seconds(self) -> float:
        return DEADLINE_GRACE_SECONDS

    @property
    def cancel_grace_seconds(self) -> float:
        return DEADLINE_GRACE_SECONDS

    def run(self, locked: LockedExecution, deadline: AttemptDeadline) -> WorkerOutcome:
        export = self._exports.get(locked.ffqn)
        if export is None:
            return FailedPermanently(ExecutionFailure(f"function {locked.ffqn} is not exported by this component"))
        metadata = export.metadata
        try:
            params = check_params(locked.created.params, metadata)
            args = [to_wasm(value, param.type) for value, param in zip(params, metadata.params, strict=True)]
        except ObeliskError as error:
            return FailedPermanently(ExecutionFailure(f"error parsing parameters: {error}"))
        machine = ReplayMachine(
            execution_id=locked.execution_id,
            scheduled_at=locked.created.scheduled_at,
            history=locked.history,
            responses=locked.responses,
            next_version=locked.version,
            batch_limit=self._settings.run.batch_limit,
        )
        run = WorkflowRun(
            execution_id=locked.execution_id,
            created=locked.created,
            machine=machine,
            version=locked.version,
            known_responses=locked.responses,
            run_id=locked.run_id,
            deadline=deadline,
            settings=self._settings.run,
            bridge=self._bridge,
            registry=self._registry,
            clock=self._clock,
            executor_id=self._executor_id,
            inline_activities=self._inline_activities,
        )
        try:
            return self._run_to_outcome(run, export, args)
        except InterruptRun as interrupt:
            log.debug("%s: interrupted, %s", locked.execution_id, interrupt)
            return _interrupted(interrupt.reason, run)
        except NondeterminismError as error:
            log.warning("%s: nondeterminism detected: %s", locked.execution_id, error)
            return FailedPermanently(NondeterminismDetected(f"{error}; {NONDETERMINISM_HINT}"), version=run.version)
        except ChildExecutionError as error:
            return FailedPermanently(error.as_failure(), version=run.version)
        except (WorkflowError, GuestCallRefused) as error:
            # A misuse of the workflow API or a forbidden call recurs on every replay: retrying cannot heal it.
            log.info("%s: workflow failed: %s", locked.execution_id, error)
            return FailedPermanently(ExecutionFailure(f"workflow error: {error}"), version=run.version)
        except GuestInterrupted:
            return TimedOut(version=run.version)
        except GuestTrap as trap:
            trapped = trap_failure(trap, run.output)
            log.info("%s: run failed: %s", locked.execution_id, trapped.reason)
            if self._settings.retry_on_trap:
                return FailedTemporarily(trapped.reason, trapped.detail, version=run.version)
            reason = trapped.reason if trapped.guest_error else f"uncategorized error - {trapped.reason}"
            return FailedPermanently(ExecutionFailure(reason, trapped.detail), version=run.version)
        except GuestInstantiationError as error:
            return FailedTemporarily("instantiation error", str(error), version=run.version)
        except StorageFault as fault:
            log.warning("%s: run stopped by a storage fault, released for a later run: %s", locked.execution_id, fault)
            return Released(
                f"storage fault: {fault}",
                version=run.version,
                pause_us=STORAGE_FAULT_PAUSE_US,
                inline_children=run.unrecorded_inline_children(),
            )
        except ExecutionAlreadyExists as error:
            # An id this workflow derives for an execution it creates (a -schedule's) is taken by someone else:
            # every replay derives the same id, so no retry can heal it.
            failure = ExecutionFailure(
                f"cannot create execution {error.execution_id}: an execution with that id exists already",
                "the workflow derives the ids of what it schedules deterministically; another client created an"
                " execution with this id first",
            )
            return FailedPermanently(failure, version=run.version)
        except StorageError as error:
            # Someone else moved the execution on (a version mismatch): this run's view is stale.
            log.info("%s: run abandoned: %s", locked.execution_id, error)
            return Interrupted()

    def _run_to_outcome(self, run: WorkflowRun, export: CallableExport, args: list[Any]) -> WorkerOutcome:
        try:
            value = self._call(run, export, args)
            return self._finish(run, export.metadata, value)
        except BaseException:
            run.flush_deferred()
            raise

    def _call(self, run: WorkflowRun, export: CallableExport, args: list[Any]) -> Any:
        store = new_workflow_store(
            self._engine,
            run,
            deadline_seconds=max(0.0, (run.deadline_us - self._clock.now_us()) / 1_000_000),
            memory_limit=self._settings.memory_limit,
        )
        run.on_extend = lambda seconds: self._engine.extend_deadline(store, seconds)
        try:
            instance = instantiate_guest(self._linker, store, self._component, what=self._settings.run.component_id)
            func = instance.get_func(store, export.index)
            raw = call_guest(TypedFunc(func, self._signatures.of(export.index, func, store)), store, *args)
            return None if export.metadata.result is None else from_wasm(raw, export.metadata.result)
        finally:
            # Free the instance (~3 MiB for a Python guest) now: frames of wasmtime-py's error handling can keep the
            # Python Store object in reference cycles that only the cyclic collector would clear, and that
            # collector does not see native memory (1,000 sleeping workflows once held 3.8 GiB that way).
            run.on_extend = None
            store.close()

    def _finish(self, run: WorkflowRun, metadata: FunctionMetadata, value: Any) -> WorkerOutcome:
        """Check the replay consumed all history, await join sets still open (closing), flush, report."""
        machine = run.machine
        machine.check_finished_replay()
        while (join_set_id := machine.next_join_set_to_close()) is not None:
            run.wait(machine.await_next(join_set_id, run_expires_at=run.run_expires_at(), closing=True))
        machine.check_finished_replay(after_closing=True)
        carried = run.take_outcome_writes()
        result = classify_return(None if metadata.result is None else ReturnValue(value))
        return Succeeded(result, version=run.version, carried=carried)


def _interrupted(reason: InterruptReason, run: WorkflowRun) -> WorkerOutcome:
    """The outcome of a run that interrupted itself: each reason says what becomes of the execution."""
    match reason:
        case InterruptReason.AWAITS_BY_REPLAY | InterruptReason.SLEEPS_PAST_LOCK | InterruptReason.LOCK_EXPIRING:
            return Interrupted()  # replayed once it is due again
        case InterruptReason.CANCELLED:
            return Interrupted()  # finished already: the cancel wrote its end
        case InterruptReason.PAUSED:
            # The lock goes back (no retry consumed, due at once): the paused flag keeps every executor from
            # locking it until the resume; a waiting execution stays blocked on its join set.
            return Released(
                "paused by an operator", version=run.version, inline_children=run.unrecorded_inline_children()
            )
        case _:
            assert_never(reason)
