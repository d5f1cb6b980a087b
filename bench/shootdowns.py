"""TLB shootdowns: the interrupts one CPU sends the others when a process changes page tables they may cache.

Why the benchmarks read them: a fresh instance's copy-on-write page faults and its unmapping each interrupt every
other CPU that runs a thread of the same process at that moment. On this VM one costs ~18 µs, so they are much of
what an attempt costs inside the server beyond the floor probe, which runs alone (docs/decisions.md, "An attempt
beside running threads"). The count is machine-wide: other processes' shootdowns are in it too.
"""

from __future__ import annotations


def tlb_shootdowns() -> int | None:
    """The machine's TLB-shootdown interrupts so far, summed over its CPUs (``/proc/interrupts``); None off Linux."""
    try:
        with open("/proc/interrupts", encoding="ascii") as interrupts:
            return shootdowns_in(interrupts.read())
    except OSError:
        return None


def shootdowns_in(interrupts: str) -> int | None:
    """The ``TLB:`` row of a ``/proc/interrupts`` text, summed over its CPU columns; None without one."""
    for line in interrupts.splitlines():
        name, _, rest = line.strip().partition(":")
        if name == "TLB":
            return sum(int(field) for field in rest.split() if field.isdigit())
    return None


class ShootdownCount:
    """TLB shootdowns from its creation to ``stop``, divided by a count of work done in between."""

    def __init__(self) -> None:
        self._started = tlb_shootdowns()
        self._stopped: int | None = None

    def stop(self) -> ShootdownCount:
        self._stopped = tlb_shootdowns()
        return self

    def per(self, count: int) -> float | None:
        if self._started is None or self._stopped is None or count <= 0:
            return None
        return (self._stopped - self._started) / count
