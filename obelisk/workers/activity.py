"""Runs one attempt of an activity: a fresh sandboxed Store and Instance, one call, the result as an outcome.

Everything here runs in an executor thread. Failures are classified for the retry policy: a
trap or an instantiation failure is temporary, a timeout is a timeout; a malformed parameter or result, a call
the sandbox refuses and a guest that died of its memory cap (``obelisk.wasm.memory_limit``) are permanent
(retrying cannot fix them, and would take the memory again). A guest's failure is one line in the server's log;
its text leads with the guest's own error when it printed one (``obelisk.wasm.guest_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wasmtime.component import Component

from obelisk.concepts.clock import Clock
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.json_values import check_params
from obelisk.concepts.results import ExecutionFailure, ReturnValue, classify_return
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.storage.interface import LockedExecution
from obelisk.wasm.activity_wasi import OutputForwarding, build_activity_linker, new_activity_store
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.guest_failure import trap_failure
from obelisk.wasm.guest_output import GuestOutput
from obelisk.wasm.host_calls import (
    GuestCallRefused,
    GuestInstantiationError,
    GuestInterrupted,
    GuestTrap,
    call_guest,
    instantiate_guest,
)
from obelisk.wasm.introspect import callable_exports
from obelisk.wasm.memory_limit import memory_limit_failure
from obelisk.wasm.typed_calls import ExportSignatures, TypedFunc
from obelisk.wasm.values import from_wasm, to_wasm
from obelisk.wasm.wasi_http.io import DeadlinePassed
from obelisk.wasm.wasi_http.policy import HostCheck, OperatorPolicy, OutboundPolicy
from obelisk.workers.outcome import FailedPermanently, FailedTemporarily, Succeeded, TimedOut, WorkerOutcome
from obelisk.workers.worker import AttemptDeadline

log = logging.getLogger(__name__)

ABANDON_AFTER_SECONDS = 0.5
"""How long past an attempt's deadline the executor waits for it before it records the timeout itself and
abandons the thread."""


@dataclass(frozen=True, slots=True)
class ActivitySettings:
    component_id: str
    env: Mapping[str, str]
    forward_stdout: OutputForwarding
    forward_stderr: OutputForwarding
    retry_on_err: bool
    allows: HostCheck | None = None
    """The activity's own outgoing-HTTP allowlist (``allowed_hosts``); ``None``: no such layer."""
    operator: OperatorPolicy | None = field(default=None, repr=False)
    """``[[outbound_http.allowed_host]]`` with its secrets; ``None``: no such layer."""
    max_outbound_requests: int | None = None
    memory_limit: int | None = None
    """``max_memory_size`` in bytes; ``None``: unlimited."""

    def attempt_policy(self, execution_id: str) -> OutboundPolicy:
        """The policy of one attempt, with fresh placeholders for the secrets."""
        placeholders = self.operator.new_placeholders() if self.operator is not None else {}
        return OutboundPolicy(
            self.allows,
            self.operator,
            placeholders,
            self.max_outbound_requests,
            owner=self.component_id,
            execution_id=execution_id,
        )


class ActivityWorker:
    def __init__(
        self,
        *,
        engine: WasmEngine,
        component: Component,
        exports: Sequence[FunctionMetadata],
        settings: ActivitySettings,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._component = component
        self._settings = settings
        self._clock = clock
        self._linker = build_activity_linker(engine, component)
        self._exports = callable_exports(component, exports, settings.component_id)
        self._signatures = ExportSignatures()

    @property
    def ffqns(self) -> Sequence[Ffqn]:
        return list(self._exports)

    @property
    def retry_on_err(self) -> bool:
        return self._settings.retry_on_err

    @property
    def max_timeouts_in_a_row(self) -> int | None:
        return None

    @property
    def cancel_grace_seconds(self) -> float:
        return 0.0

    @property
    def deadline_grace_seconds(self) -> float:
        # Running code is stopped by the epoch deadline and waits in WASI by the store's deadline, both at the
        # attempt's deadline, so the attempt reports its own timeout and its thread comes back; only a guest stuck
        # some other way is abandoned.
        return ABANDON_AFTER_SECONDS

    def _memory_limit_failure(self, *texts: str) -> str | None:
        return memory_limit_failure(self._settings.component_id, self._settings.memory_limit, *texts)

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
        output = GuestOutput()
        policy = self._settings.attempt_policy(locked.execution_id)
        store = new_activity_store(
            self._engine,
            component_id=self._settings.component_id,
            execution_id=locked.execution_id,
            # A secret's name holds its placeholder; the config refuses env_vars of the same name.
            env={**self._settings.env, **policy.placeholders},
            forward_stdout=self._settings.forward_stdout,
            forward_stderr=self._settings.forward_stderr,
            outbound=policy,
            deadline_seconds=max(0.0, (deadline.us - self._clock.now_us()) / 1_000_000),
            output=output,
            run_id=locked.run_id,
            memory_limit=self._settings.memory_limit,
        )
        try:
            instance = instantiate_guest(self._linker, store, self._component, what=self._settings.component_id)
            func = instance.get_func(store, export.index)
            signature = self._signatures.of(export.index, func, store)
            raw: Any = call_guest(TypedFunc(func, signature), store, *args)
            try:
                value = None if metadata.result is None else from_wasm(raw, metadata.result)
            except ObeliskError as error:
                return FailedPermanently(ExecutionFailure(f"error parsing result: {error}"))
        except (GuestInterrupted, DeadlinePassed):
            return TimedOut()
        except GuestTrap as trap:
            failure = trap_failure(trap, output)
            limit = self._memory_limit_failure(trap.reason, trap.backtrace, output.stderr.text())
            if limit is not None:
                log.warning("%s: attempt failed: %s", locked.execution_id, limit)
                return FailedPermanently(ExecutionFailure(limit, failure.detail))
            log.info("%s: attempt failed: %s", locked.execution_id, failure.reason)
            return FailedTemporarily(failure.reason, failure.detail)
        except GuestCallRefused as refused:
            # The guest's code makes a call its sandbox does not allow: every retry would make it again.
            log.info("%s: attempt failed: call refused: %s", locked.execution_id, refused)
            return FailedPermanently(ExecutionFailure(f"call refused: {refused}"))
        except GuestInstantiationError as error:
            limit = self._memory_limit_failure(str(error))
            if limit is not None:
                log.warning("%s: attempt failed: %s", locked.execution_id, limit)
                return FailedPermanently(ExecutionFailure(limit, str(error)))
            log.info("%s: attempt failed: %s", locked.execution_id, error)
            return FailedTemporarily("instantiation error", str(error))
        finally:
            # Free the instance now: frames of wasmtime-py's error handling (a timeout raised in a host call is
            # one) keep the Python Store in reference cycles that only the cyclic collector clears, and it does not
            # see native memory (measured: +80 MB per 16 timed-out sleeps, until a collection).
            store.close()
        if metadata.result is None:
            return Succeeded(classify_return(None))
        return Succeeded(classify_return(ReturnValue(value)))
