"""Waiting out a storage fault: pauses that grow while the database refuses writes, and a log that says so once.

A full disk or a read-only database fails every write until an operator acts; retrying at full speed would burn
CPU and write a log line (or a traceback) per attempt — thousands a minute — while helping nothing.
"""

from __future__ import annotations

import logging

from obelisk.storage.interface import StorageFault

log = logging.getLogger(__name__)

FAULT_PAUSE_SECONDS = (0.1, 5.0)
"""After a storage fault, the first pause before trying again and the longest: the database is retried, not
hammered (and the log not flooded) while a disk is full."""


class FaultBackoff:
    """Pauses that double from the first to the longest while a storage fault lasts, and one log line per fault
    episode instead of one per attempt."""

    def __init__(self) -> None:
        self._next = FAULT_PAUSE_SECONDS[0]
        self.in_fault = False

    def failed(self, what: str, fault: StorageFault) -> float:
        """Returns the pause to take; logs the first failure of an episode."""
        if not self.in_fault:
            log.warning("%s: storage fault, retrying until the database takes writes again: %s", what, fault)
        self.in_fault = True
        pause, self._next = self._next, min(self._next * 2, FAULT_PAUSE_SECONDS[1])
        return pause

    def succeeded(self, what: str) -> None:
        if self.in_fault:
            log.warning("%s: the database takes writes again", what)
        self.in_fault = False
        self._next = FAULT_PAUSE_SECONDS[0]
