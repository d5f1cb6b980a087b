"""Calling an exported guest function with its types read once per component instead of once per call.

wasmtime-py's ``Func.__call__`` asks wasmtime for the function's type at every call: the type, the number of
parameters, each parameter, the result, and a free of the type, each a ctypes call. A ctypes call drops the GIL
and must win it back, and every workflow run and every activity attempt is a fresh instance whose ``Func`` is
called once, so on a busy server those look-ups were paid on every run and every step, under contention.

The types of an export depend on the component alone, not on the instance or the store (an export's parameters
and result are WIT values converted from JSON, never resources, which are the only store-bound types), so a
worker reads them from its first call's ``Func`` and keeps them (``ExportSignatures``). The call itself does what
``Func.__call__`` does with them: lower the arguments, call, lift the result, free the lowered arguments.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import Func, ValType
from wasmtime.component._enter import enter_wasm


@dataclass(frozen=True, slots=True)
class Signature:
    """The parameter types (in order) and the result type (``None``: no result) of one exported function."""

    params: tuple[ValType, ...]
    result: ValType | None


def signature_of(func: Func, store: Any) -> Signature:
    func_type = func.type(store)
    return Signature(tuple(ty for _name, ty in func_type.params), func_type.result)


class ExportSignatures:
    """The signatures of one component's exports, by export index, read at the first call of each."""

    def __init__(self) -> None:
        self._by_index: dict[Any, Signature] = {}
        self._lock = threading.Lock()

    def of(self, index: Any, func: Func, store: Any) -> Signature:
        found = self._by_index.get(index)
        if found is None:
            found = signature_of(func, store)
            with self._lock:
                found = self._by_index.setdefault(index, found)
        return found


class TypedFunc:
    """A ``Func`` called with a known signature; ``call_guest(TypedFunc(...), store, *args)`` as with a ``Func``."""

    __slots__ = ("_func", "_signature")

    def __init__(self, func: Func, signature: Signature) -> None:
        self._func = func
        self._signature = signature

    def __call__(self, store: Any, *args: Any) -> Any:
        params = self._signature.params
        result_type = self._signature.result
        if len(args) != len(params):
            raise TypeError(f"wrong number of parameters: given {len(args)}, expected {len(params)}")
        lowered = (ffi.wasmtime_component_val_t * len(args))()
        done = 0
        try:
            for ty, value in zip(params, args, strict=True):
                ty.convert_to_c(store, value, ctypes.pointer(lowered[done]))
                done += 1
            func = ctypes.byref(self._func._func)
            context = store._context()
            if result_type is None:
                enter_wasm(lambda: ffi.wasmtime_component_func_call(func, context, lowered, done, None, 0))
                return None
            result = ffi.wasmtime_component_val_t()
            result_ref = ctypes.byref(result)
            enter_wasm(lambda: ffi.wasmtime_component_func_call(func, context, lowered, done, result_ref, 1))
            return result_type.convert_from_c(result)
        finally:
            for i in range(done):
                ffi.wasmtime_component_val_delete(ctypes.byref(lowered[i]))
