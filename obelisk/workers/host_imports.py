"""The host imports of a guest that calls other components, laid out in its Linker once for workflows and webhooks.

A workflow and a webhook differ in what a call of an imported function *does* (a workflow records it and replays
it; a webhook starts an execution and waits for it on the server loop), not in which imports a guest gets or
where they go. Both get, besides the WASI their linker adds first:
* the ``join-set-id`` resource of ``obelisk:types/execution``;
* ``obelisk:log/log``, each level the guest imports;
* every import resolved against the registry, by its ``ImportKind`` (direct call, ``-submit``, ``-await-next``,
  ``-schedule``);
* interfaces of their own (a workflow's ``obelisk:workflow/host-activities``).

Nothing else: an import nobody provides fails instantiation with wasmtime's message naming it. The kinds of
guest differ only in the functions they pass to ``link_host_imports``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wasmtime.component import Linker, ResourceType

from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ImportKind, ResolvedImport
from obelisk.wasm.activity_wasi import LOG_INTERFACE, LOG_LEVELS
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.values import from_wasm, to_wasm

EXECUTION_TYPES = "obelisk:types/execution"
JOIN_SET_RESOURCE = "join-set-id"
JOIN_SET_TYPE_ID = 0x0B5E_1001
"""The host resource type id of ``join-set-id`` (any constant unique among this process's host resources)."""

HostFunction = Callable[..., Any]
GuestLog = Callable[[Any, int, str], None]
"""Writes one message of the guest: ``(context, level, message)``."""
ImportHandlers = Mapping[ImportKind, Callable[[ResolvedImport], HostFunction]]
"""The host function for a resolved import, by how the import is carried out."""
OwnInterface = Callable[[FunctionMetadata], HostFunction | None]
"""The host function for one imported function of an interface of the host's own, or ``None`` to leave it out."""


def params_from_wasm(metadata: FunctionMetadata, args: Sequence[Any], skip: int = 0) -> list[Any]:
    """The JSON values of an import's arguments, from the ``skip``-th on (a join set or a schedule-at first)."""
    return [from_wasm(value, param.type) for value, param in zip(args[skip:], metadata.params[skip:], strict=True)]


def result_to_wasm(metadata: FunctionMetadata, value: Any) -> Any:
    """What an import returns to the guest: ``value`` lowered to its result type, or nothing for a function
    without one."""
    return None if metadata.result is None else to_wasm(value, metadata.result)


def link_host_imports(
    linker: Linker,
    interfaces: ComponentInterfaces,
    resolved: Sequence[ResolvedImport],
    *,
    guest_log: GuestLog,
    import_handlers: ImportHandlers,
    own_interfaces: Mapping[str, OwnInterface] | None = None,
) -> None:
    """Define in ``linker`` every non-WASI interface the component imports (the WASI is the caller's)."""
    own = own_interfaces or {}
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
                elif interface == LOG_INTERFACE:
                    for function in interfaces.imports_of(interface):
                        level = LOG_LEVELS.get(function.ffqn.function_name)
                        if level is not None:
                            instance.add_func(function.ffqn.function_name, _log(guest_log, level))
                elif interface in own:
                    for function in interfaces.imports_of(interface):
                        host_function = own[interface](function)
                        if host_function is not None:
                            instance.add_func(function.ffqn.function_name, host_function)
                else:
                    for resolved_import in by_interface.get(interface, []):
                        handler = import_handlers[resolved_import.kind](resolved_import)
                        instance.add_func(resolved_import.imported.ffqn.function_name, handler)


def _drop_join_set(_context: Any, _rep: int) -> None:
    """Dropping the guest's handle changes nothing: a workflow awaits the join sets still open when its function
    returns, and a webhook never holds one."""


def _log(guest_log: GuestLog, level: int) -> HostFunction:
    def log(context: Any, message: str) -> None:
        guest_log(context, level, message)

    return log
