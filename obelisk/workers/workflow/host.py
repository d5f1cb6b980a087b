"""The host functions of workflows and the Linker that offers them.

One Linker per workflow component, built at start-up and shared by every run and thread; each host function finds
its run in the Store's data. Where the functions go in the Linker is ``obelisk.workers.host_imports``, shared with
webhooks; what is workflow's own is here: what each function does to the run, and the host activities.

What a workflow can call (docs/architecture.md#guest-contract):
* ``obelisk:workflow/host-activities`` (``sleep``, ``new-join-set``) and the ``join-set-id`` resource of
  ``obelisk:types/execution``;
* ``obelisk:log/log``;
* every import resolved against the registry: a direct (blocking) child call, or an ``-obelisk-ext`` function
  (``-submit``, ``-await-next``, ``-schedule``);
* the deterministic WASI of ``obelisk.wasm.workflow_wasi``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from wasmtime.component import Linker, ResourceAny, ResourceHost

from obelisk import tracing
from obelisk.concepts.wit_time import TimeValueError, duration_us_from_json, schedule_at_from_json
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ImportKind, ResolvedImport
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import store_data
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.values import from_wasm
from obelisk.wasm.workflow_wasi import add_deterministic_wasi
from obelisk.workers.host_imports import (
    JOIN_SET_TYPE_ID,
    HostFunction,
    ImportHandlers,
    link_host_imports,
    params_from_wasm,
    result_to_wasm,
)
from obelisk.workers.workflow.child_results import await_next_json, direct_call_value
from obelisk.workers.workflow.replay_types import WorkflowError
from obelisk.workers.workflow.run import WorkflowRun

HOST_ACTIVITIES = "obelisk:workflow/host-activities"
T = TypeVar("T")


def _run(context: Any) -> WorkflowRun:
    """The run of the calling guest; every host call goes through here, so a cancelled run stops here."""
    run: WorkflowRun = store_data(context)
    run.deadline.stop_if_cancelled()
    return run


def _join_set(context: Any, handle: ResourceAny) -> Any:
    """The join set behind a borrowed handle; the borrow is consumed here (wasmtime requires it)."""
    return _run(context).join_set_of(handle.to_host(context).rep)


def _time_value(metadata: FunctionMetadata, decode: Callable[[], T]) -> T:
    """A time the guest passed to ``metadata``'s function; one out of range (``u64`` days) is the guest's misuse
    of that function, which the execution ends with."""
    try:
        return decode()
    except TimeValueError as error:
        raise WorkflowError(f"{metadata.ffqn}: {error}") from None


# ---------------------------------------------------------------------------------------------- host activities
def _new_join_set(context: Any) -> ResourceHost:
    run = _run(context)
    join_set_id = run.machine.new_join_set()
    run.flush_if_needed()
    return ResourceHost.own(run.join_set_handle(join_set_id), JOIN_SET_TYPE_ID)


def _sleep(metadata: FunctionMetadata) -> HostFunction:
    def sleep(context: Any, duration: Any) -> None:
        run = _run(context)
        duration_us = _time_value(metadata, lambda: duration_us_from_json(from_wasm(duration, metadata.params[0].type)))
        now = run.now_us()
        replayed = run.machine.is_replaying
        result = run.machine.sleep(duration_us, now_us=now, run_expires_at=run.run_expires_at())
        tracer = tracing.active()
        if tracer is not None and not replayed:
            tracer.sleep_requested(now, now + duration_us)
        run.wait(result, delay_expires_at=now + duration_us)

    return sleep


# ---------------------------------------------------------------------------------------------- imported functions
def _direct_call(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def call(context: Any, *args: Any) -> Any:
        ready = _run(context).call(callee, params_from_wasm(metadata, args))
        return result_to_wasm(metadata, direct_call_value(ready.response))

    return call


def _submit(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def submit(context: Any, handle: ResourceAny, *args: Any) -> Any:
        run = _run(context)
        join_set_id = _join_set(context, handle)
        child_id = run.machine.submit(join_set_id, callee, params_from_wasm(metadata, (handle, *args), skip=1))
        run.flush_if_needed()
        return result_to_wasm(metadata, {"id": str(child_id)})

    return submit


def _await_next(resolved: ResolvedImport) -> HostFunction:
    metadata = resolved.imported
    has_value = resolved.callee.metadata.result is not None

    def await_next(context: Any, handle: ResourceAny) -> Any:
        run = _run(context)
        join_set_id = _join_set(context, handle)
        ready = run.wait(run.machine.await_next(join_set_id, run_expires_at=run.run_expires_at()))
        return result_to_wasm(metadata, await_next_json(ready.response, has_value=has_value))

    return await_next


def _schedule(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def schedule(context: Any, schedule_at: Any, *args: Any) -> Any:
        run = _run(context)
        when = _time_value(metadata, lambda: schedule_at_from_json(from_wasm(schedule_at, metadata.params[0].type)))
        execution_id = run.machine.schedule(when, callee, params_from_wasm(metadata, (schedule_at, *args), skip=1))
        run.flush_if_needed()
        return result_to_wasm(metadata, {"id": str(execution_id)})

    return schedule


_IMPORT_HANDLERS: ImportHandlers = {
    ImportKind.DIRECT_CALL: _direct_call,
    ImportKind.SUBMIT: _submit,
    ImportKind.AWAIT_NEXT: _await_next,
    ImportKind.SCHEDULE: _schedule,
}


def _host_activity(function: FunctionMetadata) -> HostFunction | None:
    name = function.ffqn.function_name
    if name == "sleep":
        return _sleep(function)
    if name == "new-join-set":
        return _new_join_set
    return None


def _guest_log(context: Any, level: int, message: str) -> None:
    _run(context).guest_log(level, message)


# ---------------------------------------------------------------------------------------------- the linker
def build_workflow_linker(
    engine: WasmEngine, interfaces: ComponentInterfaces, resolved: Sequence[ResolvedImport]
) -> Linker:
    """Everything a workflow component imports, and nothing more: an import nobody provides fails instantiation
    with wasmtime's message naming it (start-up import resolution reports it earlier, with candidates)."""
    linker = Linker(engine.engine)
    add_deterministic_wasi(linker, interfaces.imported_interfaces)
    link_host_imports(
        linker,
        interfaces,
        resolved,
        guest_log=_guest_log,
        import_handlers=_IMPORT_HANDLERS,
        own_interfaces={HOST_ACTIVITIES: _host_activity},
    )
    return linker
