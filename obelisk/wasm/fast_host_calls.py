"""Component host functions that read their type once instead of on every call.

wasmtime-py 50's trampoline for a host function rebuilds the function's type on each call: a ``FuncType``, its
parameter list and its result, each read through several ctypes calls into fresh Python objects with finalizers.
Measured with yappi on 200 one-step workflows (about 11 host calls each: clocks, random bytes, join sets, the
child call), that bookkeeping was ~12% of the server's CPU. The type of a function defined in a Linker cannot
change from call to call as long as the Linker serves one component, which is how this project builds every
Linker (``activity_wasi``, ``workflows/host``, ``webhook``: one per component). ``install()`` makes
``LinkerInstance.add_func`` register functions with a trampoline that converts the type on the first call and
keeps it; conversion of the values themselves is wasmtime-py's own.

The trampoline runs the call under ``host_calls.catch_host_exceptions``, which parks an exception in a per-thread
slot where wasmtime-py's ``catch_exceptions`` puts it in a process-wide global. ``install()`` points wasmtime-py's
own trampolines (resource destructors, a function added before the patch) at it too, so no host call writes the
global.

A byte list's ``_is_bytes`` check is memoized on the (now long-lived) ``ListType`` too: it costs a ctypes call per
value otherwise.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import StoreContext, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import _enter, _linker, _types

from obelisk.wasm.host_calls import catch_host_exceptions


@dataclass(frozen=True, slots=True)
class _Signature:
    params: tuple[Any, ...]
    """The parameters' ``ValType``s."""
    result: Any
    """The result's ``ValType``, or ``None``."""


@dataclass(slots=True)
class _HostFunction:
    func: Callable[..., Any]
    signature: _Signature | None = None
    """Read on the first call and published with one assignment: calls on several threads may each read it
    first; they read equal signatures and any of them may stay."""


_functions: dict[int, _HostFunction] = {}
_ids = itertools.count(1)  # next() on a count is atomic under the GIL: linkers may be built on several threads


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(ident: Any, context: Any, ty_raw: Any, args: Any, nargs: int, results: Any, nresults: int) -> Any:
    def run(store: StoreContext) -> None:
        entry = _functions[ident or 0]
        signature = entry.signature
        if signature is None:
            with _types.FuncType._from_ptr(ty_raw, owner=store) as func_type:
                signature = _Signature(tuple(ty for _, ty in func_type.params), func_type.result)
            entry.signature = signature
        params, result = signature.params, signature.result
        if len(params) != nargs or nresults != (0 if result is None else 1):
            raise WasmtimeError(f"host function called with {nargs} arguments and {nresults} results")
        value = entry.func(store, *[ty.convert_from_c(args[i]) for i, ty in enumerate(params)])
        if result is not None:
            result.convert_to_c(store, value, results)
        elif value is not None:
            raise TypeError("host function without a result returned a value")

    return catch_host_exceptions(context, run)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(ident: Any) -> None:
    _functions.pop(ident or 0, None)


def _add_func(self: Any, name: str, func: Callable[..., Any]) -> None:
    self._assert_not_locked()
    encoded = name.encode("utf-8")
    ident = next(_ids)
    _functions[ident] = _HostFunction(func)
    error = ffi.wasmtime_component_linker_instance_add_func(
        self.ptr(), ctypes.create_string_buffer(encoded), len(encoded), _trampoline, ident, _finalize
    )
    if error:
        _functions.pop(ident, None)
        raise WasmtimeError._from_ptr(error)


def _is_bytes(self: Any) -> bool:
    known: bool | None = getattr(self, "_obelisk_is_bytes", None)
    if known is None:
        known = isinstance(self.element, _types.U8)
        self._obelisk_is_bytes = known
    return known


_original_add_func = _linker.LinkerInstance.add_func


class HostCallPatchUnavailable(RuntimeError):
    pass


def install() -> None:
    """Idempotent. Must run before any Linker is built (``WasmEngine`` calls it)."""
    if _linker.LinkerInstance.add_func is _add_func:
        return
    linker_globals = vars(_linker)
    if not hasattr(_enter, "LAST_EXCEPTION") or linker_globals.get("catch_exceptions") is not _enter.catch_exceptions:
        raise HostCallPatchUnavailable("wasmtime-py's host-call exception handling is not the one this module knows")
    _linker.LinkerInstance.add_func = _add_func  # type: ignore[method-assign]
    linker_globals["catch_exceptions"] = catch_host_exceptions
    _types.ListType._is_bytes = _is_bytes  # type: ignore[method-assign]
