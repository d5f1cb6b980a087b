"""``list<u8>`` lowered and lifted in one copy instead of one ctypes call per byte.

wasmtime-py 50 converts a ``list<u8>`` element by element (~4 us per byte). A componentize-py guest asks for a
few hundred random bytes at every instantiation, so in a workflow (whose ``wasi:random`` the host implements,
in Python) that conversion alone was the largest CPU cost of a short run; activity results carrying bodies pay it
too. ``install()`` replaces the two conversion methods of ``ListType`` for byte lists with versions that lay out
(or read) the whole value array with slice assignments and one ``memmove``; any other list takes the original
path. The layout facts are read from wasmtime-py's own ctypes declarations, and the patch refuses to install
if they are not what it expects.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

_VAL = ffi.wasmtime_component_val_t
_VAL_SIZE = ctypes.sizeof(_VAL)
_KIND_OFFSET: int = _VAL.kind.offset
_PAYLOAD_OFFSET: int = _VAL.of.offset
_U8 = ffi.WASMTIME_COMPONENT_U8.value
_BOOL = ffi.WASMTIME_COMPONENT_BOOL.value

_original_to_c = _types.ListType.convert_to_c
_original_from_c = _types.ListType.convert_from_c


class FastBytesUnavailable(RuntimeError):
    pass


def _to_c(self: Any, store: Any, val: Any, ptr: Any) -> None:
    if not isinstance(val, bytes | bytearray) or not self._is_bytes():
        _original_to_c(self, store, val, ptr)
        return
    count = len(val)
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, count)
    if count:
        layout = bytearray(count * _VAL_SIZE)
        layout[_KIND_OFFSET::_VAL_SIZE] = bytes([_U8]) * count
        layout[_PAYLOAD_OFFSET::_VAL_SIZE] = val
        ctypes.memmove(raw.data, bytes(layout), len(layout))
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
    ptr.contents.of.list = raw


def _from_c(self: Any, c: Any) -> Any:
    if not self._is_bytes():
        return _original_from_c(self, c)
    count = c.of.list.size
    try:
        if not count:
            return b""
        layout = ctypes.string_at(c.of.list.data, count * _VAL_SIZE)
        if layout[_KIND_OFFSET::_VAL_SIZE] != bytes([_U8]) * count:
            raise FastBytesUnavailable("a list<u8> value holds elements that are not u8")
        # Elements are plain values: nothing to free inside them (the original resets them to `bool` for that).
        return layout[_PAYLOAD_OFFSET::_VAL_SIZE]
    finally:
        ffi.wasmtime_component_vallist_delete(ctypes.byref(c.of.list))


def install() -> None:
    """Idempotent; checks the layout assumptions first (one-byte kind tag, u8 payload at the union's start)."""
    if _types.ListType.convert_to_c is _to_c:
        return
    if ctypes.sizeof(ffi.wasmtime_component_valkind_t) != 1 or _types.ListType.convert_to_c is not _original_to_c:
        raise FastBytesUnavailable("wasmtime-py's component value layout is not the one this module knows")
    _types.ListType.convert_to_c = _to_c  # type: ignore[method-assign]
    _types.ListType.convert_from_c = _from_c  # type: ignore[method-assign]
