"""Whether the database takes writes now; the gRPC health service shows it.

A write that fails with a ``StorageFault`` (disk full, read-only, locked) makes the database unwritable; the backend
then probes, cheaply and without writing, until a write would work again (after an interval, or at once after a
write that committed a change: on a full database small changes may still fit while growing fails). So a full
disk gets no extra writes, and an idle server still learns of the recovery. Each change of state is logged once,
not once per failed write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from obelisk.storage.interface import StorageFault

log = logging.getLogger(__name__)


class WriteHealth:
    def __init__(self, name: str) -> None:
        self._name = name
        self._fault: StorageFault | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def fault(self) -> StorageFault | None:
        """The fault the last write met, while writes fail; ``None`` while they work."""
        return self._fault

    @property
    def writable(self) -> bool:
        return self._fault is None

    def failed(self, fault: StorageFault) -> None:
        previous = self._fault
        self._fault = fault
        if previous is None or type(previous) is not type(fault):
            log.warning(
                "%s cannot be written (%s); health reports NOT_SERVING until a write succeeds", self._name, fault
            )
            self._notify()

    def succeeded(self) -> None:
        if self._fault is None:
            return
        self._fault = None
        log.info("%s can be written again; health reports SERVING", self._name)
        self._notify()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (on the event loop) after every change of state; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()
