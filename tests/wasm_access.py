"""Typed access to a component instance's functions and to records, for tests that drive wasmtime-py directly.

wasmtime-py answers a missing export with ``None`` (which a test would only notice as a confusing ``TypeError``
later), and its ``Record`` is an attribute bag without declared fields; these helpers fail at once with the name of
what is missing, and build or read records without giving up type checking at every call site.
"""

from __future__ import annotations

import wasmtime
from wasmtime.component import Func, Instance, Record


def export_func(store: wasmtime.Store, instance: Instance, interface: str, name: str) -> Func:
    """The function ``name`` of the exported ``interface``."""
    ifc = instance.get_export_index(store, interface)
    assert ifc is not None, f"no export {interface}"
    index = instance.get_export_index(store, name, ifc)
    assert index is not None, f"{interface} has no function {name}"
    func = instance.get_func(store, index)
    assert func is not None, f"{interface}#{name} is not a function"
    return func


def record(**fields: object) -> Record:
    """A record with these fields, as wasmtime-py lowers it (by attribute name)."""
    value = Record()
    for key, field in fields.items():
        setattr(value, key, field)
    return value


def record_fields(value: Record) -> dict[str, object]:
    """The fields of a record, built here or lifted by wasmtime-py."""
    return dict(vars(value))
