"""Telling a guest that died of its memory cap (``max_memory_size``) from one that failed for another reason.

The cap is wasmtime's store limit (``Store.set_limits(memory_size=...)``): a ``memory.grow`` past it returns -1
inside the guest instead of trapping, and the guest's allocator reports the failure its own way, usually by dying
(CPython raises ``MemoryError``, Rust prints ``memory allocation of N bytes failed`` and aborts, C's ``malloc``
returns NULL). wasmtime-py gives the host no callback for a refused grow (its C API's store limiter has none) and
no access to a component's memories, so the host recognises the refusal by its consequences: a trap or
instantiation failure of a store with a cap, whose text or whose guest's stderr carries one of the allocation-
failure reports below. Such a failure is recorded as a resource-limit failure naming the limit and the component.
"""

from __future__ import annotations

ALLOCATION_FAILURES = (
    "MemoryError",  # CPython (componentize-py guests)
    "memory allocation of",  # Rust's alloc error handler: "memory allocation of N bytes failed"
    "out of memory",
    "Out of memory",
    "Cannot allocate memory",
)
INSTANTIATION_REFUSED = "exceeds memory limits"
"""wasmtime's error when an instance's initial memory is already above the cap."""


def describe_limit(limit: int) -> str:
    mib = limit / (1024 * 1024)
    return f"{limit} bytes ({mib:g} MiB)" if mib >= 1 else f"{limit} bytes"


def memory_limit_failure(component_id: str, limit: int | None, *texts: str) -> str | None:
    """The failure reason when ``texts`` (the trap or instantiation error, the guest's stderr) show an allocation
    that the cap refused; ``None`` when there is no cap or no sign of one."""
    if limit is None:
        return None
    if not any(marker in text for text in texts for marker in (*ALLOCATION_FAILURES, INSTANTIATION_REFUSED)):
        return None
    return (
        f"resource limit exceeded: {component_id} reached its memory limit of {describe_limit(limit)}"
        " (max_memory_size): memory.grow was refused and the guest failed to allocate"
    )
