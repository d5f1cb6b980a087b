"""What a guest wrote to its stdout and stderr during one activity attempt, workflow run or webhook request.

Kept so that a failure can be explained with the guest's own words: a componentize-py guest whose Python code
raises prints the traceback to stderr and then traps, and the trap alone says only ``unreachable``
(``obelisk.wasm.guest_failure`` turns both into the failure the user sees). Each stream keeps only its last
``OUTPUT_TAIL_BYTES``: the end is what explains a failure, and a guest printing without end must not grow the
server's memory; how much was dropped is counted so that the message can say it is incomplete.

Capturing is independent of forwarding to the server's log (``forward_stdout``/``forward_stderr``): the bytes are
kept whatever is configured, and ``tee`` hands them on to the forwarder too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OUTPUT_TAIL_BYTES = 64 * 1024
"""How much of each stream is kept (the last bytes written)."""


class OutputTail:
    """The last ``limit`` bytes written to one stream, and how many bytes before them were dropped.

    Writes come from the guest's thread, reads from whoever explains its failure afterwards; a lock keeps the two
    consistent. The buffer may grow to twice the limit before it is trimmed, so that a guest writing many small
    pieces does not pay for moving the whole tail on every write.
    """

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data
            excess = len(self._buffer) - self.limit
            if excess > self.limit:
                del self._buffer[:excess]
                self._dropped += excess

    def tail(self) -> bytes:
        """The kept bytes: everything written, or its last ``limit`` bytes."""
        with self._lock:
            return bytes(self._buffer[-self.limit :])

    @property
    def dropped(self) -> int:
        """How many bytes written before ``tail()`` are no longer kept."""
        with self._lock:
            return self._dropped + max(0, len(self._buffer) - self.limit)

    def text(self) -> str:
        """``tail()`` decoded as UTF-8; a character cut in two by the limit becomes U+FFFD."""
        return self.tail().decode("utf-8", errors="replace")


class GuestOutput:
    """The captured stdout and stderr of one attempt, run or request."""

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES) -> None:
        self.stdout = OutputTail(limit)
        self.stderr = OutputTail(limit)

    def stream(self, name: str) -> OutputTail:
        """``"stdout"`` or ``"stderr"``."""
        if name == "stdout":
            return self.stdout
        if name == "stderr":
            return self.stderr
        raise ValueError(f"a guest output stream is 'stdout' or 'stderr', got {name!r}")


def tee(tail: OutputTail, *forwards: Callable[[bytes], None] | None) -> Callable[[bytes], None]:
    """A stream sink that keeps the bytes in ``tail`` and hands them to each of ``forwards`` that is not ``None``
    (the server-log forwarder, the guest log sink's ``StreamLines``)."""
    targets = [forward for forward in forwards if forward is not None]
    if not targets:
        return tail.write

    def write(data: bytes) -> None:
        tail.write(data)
        for forward in targets:
            forward(data)

    return write
