"""The host functions of workflows and the Linker that offers them.

One Linker per workflow component, built at start-up and shared by every run and thread; each host function finds
its run in the Store's data. What a workflow can call (docs/architecture.md#guest-contract):
* ``obelisk:workflow/host-activities`` (``sleep``, ``new-join-set``) and the ``join-set-id`` resource of
  ``obelisk:types/execution``;
* ``obelisk:log/log``;
* every import resolved against the registry: a direct (blocking) child call, or an ``-obelisk-ext`` function
  (``-submit``, ``-await-next``, ``-schedule``);
* the deterministic WASI of ``obelisk.wasm.workflow_wasi``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from wasmtime.component import Linker, ResourceAny, ResourceHost, ResourceType

from obelisk.concepts.wit_time import duration_us_from_json, schedule_at_from_json
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ImportKind, ResolvedImport
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import store_data
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.values import from_wasm, to_wasm
from obelisk.wasm.workflow_wasi import add_deterministic_wasi
from obelisk.workers.workflow.child_results import await_next_json, direct_call_value
from obelisk.workers.workflow.run import WorkflowRun

HOST_ACTIVITIES = "obelisk:workflow/host-activities"
EXECUTION_TYPES = "obelisk:types/execution"
LOG = "obelisk:log/log"
JOIN_SET_RESOURCE = "join-set-id"
JOIN_SET_TYPE_ID = 0x0B5E_1001
"""The host resource type id of ``join-set-id`` (any constant unique among this process's host resources)."""

_LOG_LEVELS = {
    "trace": 5,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}

HostFunction = Callable[..., Any]


def _run(context: Any) -> WorkflowRun:
    run: WorkflowRun = store_data(context)
    return run


def _join_set(context: Any, handle: ResourceAny) -> Any:
    """The join set behind a borrowed handle; the borrow is consumed here (wasmtime requires it)."""
    return _run(context).join_set_of(handle.to_host(context).rep)


def _params_json(metadata: FunctionMetadata, args: Sequence[Any], skip: int = 0) -> list[Any]:
    return [from_wasm(value, param.type) for value, param in zip(args[skip:], metadata.params[skip:], strict=True)]


def _returning(metadata: FunctionMetadata, value: Any) -> Any:
    return None if metadata.result is None else to_wasm(value, metadata.result)


# ---------------------------------------------------------------------------------------------- host activities
def _new_join_set(context: Any) -> ResourceHost:
    run = _run(context)
    join_set_id = run.machine.new_join_set()
    run.flush_if_needed()
    return ResourceHost.own(run.join_set_handle(join_set_id), JOIN_SET_TYPE_ID)


def _sleep(metadata: FunctionMetadata) -> HostFunction:
    def sleep(context: Any, duration: Any) -> None:
        run = _run(context)
        duration_us = duration_us_from_json(from_wasm(duration, metadata.params[0].type))
        now = run.now_us()
        result = run.machine.sleep(duration_us, now_us=now, run_expires_at=run.run_expires_at())
        run.wait(result, delay_expires_at=now + duration_us)

    return sleep


def _drop_join_set(_context: Any, _rep: int) -> None:
    """Dropping the guest's handle changes nothing: join sets still open are awaited when the function returns."""


def _log(level: int) -> HostFunction:
    def log(context: Any, message: str) -> None:
        _run(context).guest_log(level, message)

    return log


# ---------------------------------------------------------------------------------------------- imported functions
def _direct_call(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def call(context: Any, *args: Any) -> Any:
        ready = _run(context).call(callee, _params_json(metadata, args))
        return _returning(metadata, direct_call_value(ready.response))

    return call


def _submit(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def submit(context: Any, handle: ResourceAny, *args: Any) -> Any:
        run = _run(context)
        join_set_id = _join_set(context, handle)
        child_id = run.machine.submit(join_set_id, callee, _params_json(metadata, (handle, *args), skip=1))
        run.flush_if_needed()
        return _returning(metadata, {"id": str(child_id)})

    return submit


def _await_next(resolved: ResolvedImport) -> HostFunction:
    metadata = resolved.imported
    has_value = resolved.callee.metadata.result is not None

    def await_next(context: Any, handle: ResourceAny) -> Any:
        run = _run(context)
        join_set_id = _join_set(context, handle)
        ready = run.wait(run.machine.await_next(join_set_id, run_expires_at=run.run_expires_at()))
        return _returning(metadata, await_next_json(ready.response, has_value=has_value))

    return await_next


def _schedule(resolved: ResolvedImport) -> HostFunction:
    metadata, callee = resolved.imported, resolved.callee_ffqn

    def schedule(context: Any, schedule_at: Any, *args: Any) -> Any:
        run = _run(context)
        when = schedule_at_from_json(from_wasm(schedule_at, metadata.params[0].type))
        execution_id = run.machine.schedule(when, callee, _params_json(metadata, (schedule_at, *args), skip=1))
        run.flush_if_needed()
        return _returning(metadata, {"id": str(execution_id)})

    return schedule


_IMPORT_HANDLERS: dict[ImportKind, Callable[[ResolvedImport], HostFunction]] = {
    ImportKind.DIRECT_CALL: _direct_call,
    ImportKind.SUBMIT: _submit,
    ImportKind.AWAIT_NEXT: _await_next,
    ImportKind.SCHEDULE: _schedule,
}


# ---------------------------------------------------------------------------------------------- the linker
def build_workflow_linker(
    engine: WasmEngine, interfaces: ComponentInterfaces, resolved: Sequence[ResolvedImport]
) -> Linker:
    """Everything a workflow component imports, and nothing more: an import nobody provides fails instantiation
    with wasmtime's message naming it (start-up import resolution reports it earlier, with candidates)."""
    linker = Linker(engine.engine)
    add_deterministic_wasi(linker, interfaces.imported_interfaces)
    by_interface: dict[str, list[ResolvedImport]] = defaultdict(list)
    for resolved_import in resolved:
        by_interface[resolved_import.imported.ffqn.ifc_fqn].append(resolved_import)
    with linker.root() as root:
        for interface in interfaces.imported_interfaces:
            if interface.startswith("wasi:"):
                continue
            with root.add_instance(interface) as instance:
                if interface == EXECUTION_TYPES:
                    instance.add_resource(JOIN_SET_RESOURCE, ResourceType.host(JOIN_SET_TYPE_ID), _drop_join_set)
                elif interface == HOST_ACTIVITIES:
                    for function in interfaces.imports_of(interface):
                        if function.ffqn.function_name == "sleep":
                            instance.add_func("sleep", _sleep(function))
                        elif function.ffqn.function_name == "new-join-set":
                            instance.add_func("new-join-set", _new_join_set)
                elif interface == LOG:
                    for function in interfaces.imports_of(interface):
                        level = _LOG_LEVELS.get(function.ffqn.function_name)
                        if level is not None:
                            instance.add_func(function.ffqn.function_name, _log(level))
                else:
                    for resolved_import in by_interface.get(interface, []):
                        handler = _IMPORT_HANDLERS[resolved_import.kind](resolved_import)
                        instance.add_func(resolved_import.imported.ffqn.function_name, handler)
    return linker
