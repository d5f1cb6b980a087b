"""Runs one attempt of an activity: a fresh sandboxed Store and Instance, one call, the result as an outcome.

Everything here runs in an executor thread. Failures are classified for the retry policy: a
trap or an instantiation failure is temporary, a timeout is a timeout; a malformed parameter or result and a call
the sandbox refuses are permanent (retrying cannot fix them). A guest's failure is one line in the server's log;
its text leads with the guest's own error when it printed one (``obelisk.wasm.guest_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from obelisk.wasm.values import from_wasm, to_wasm
from obelisk.wasm.wasi_http.io import DeadlinePassed
from obelisk.wasm.wasi_http.policy import OutboundPolicy
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
    outbound: OutboundPolicy | None = None
    """The outgoing-HTTP allowlist (``allowed_hosts``); ``None``: wasmtime's built-in wasi:http, allow-all."""


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
        store = new_activity_store(
            self._engine,
            component_id=self._settings.component_id,
            execution_id=locked.execution_id,
            env=self._settings.env,
            forward_stdout=self._settings.forward_stdout,
            forward_stderr=self._settings.forward_stderr,
            outbound=self._settings.outbound,
            deadline_seconds=max(0.0, (deadline.us - self._clock.now_us()) / 1_000_000),
            output=output,
            run_id=locked.run_id,
        )
        try:
            instance = instantiate_guest(self._linker, store, self._component, what=self._settings.component_id)
            func = instance.get_func(store, export.index)
            raw: Any = call_guest(func, store, *args)
            try:
                value = None if metadata.result is None else from_wasm(raw, metadata.result)
            except ObeliskError as error:
                return FailedPermanently(ExecutionFailure(f"error parsing result: {error}"))
        except (GuestInterrupted, DeadlinePassed):
            return TimedOut()
        except GuestTrap as trap:
            failure = trap_failure(trap, output)
            log.info("%s: attempt failed: %s", locked.execution_id, failure.reason)
            return FailedTemporarily(failure.reason, failure.detail)
        except GuestCallRefused as refused:
            # The guest's code makes a call its sandbox does not allow: every retry would make it again.
            log.info("%s: attempt failed: call refused: %s", locked.execution_id, refused)
            return FailedPermanently(ExecutionFailure(f"call refused: {refused}"))
        except GuestInstantiationError as error:
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
