"""The failure text of a guest that trapped, led by the guest's own error rather than by the runtime's.

A componentize-py guest whose Python code raises an uncaught exception prints the traceback to stderr, then its
runtime panics (``thread '<unnamed>' panicked at ... Python function threw an unexpected exception``) and aborts
with wasm's ``unreachable``. wasmtime reports only that last step: ``wasm trap: wasm `unreachable` instruction
executed`` and a backtrace through the runtime's Rust frames, which tells the user nothing about their code. So
when such a trap ends an attempt, the last Python traceback in the captured stderr (``guest_output``) becomes the
failure: its exception line (``ValueError: boom``) is the reason, and the detail is the traceback followed by the
trap and wasm backtrace. A trap of another kind (out-of-bounds access, stack exhaustion) or one without a
traceback keeps wasmtime's text, followed by the last lines the guest wrote to stderr, if any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from obelisk.wasm.guest_output import GuestOutput
from obelisk.wasm.host_calls import GuestTrap

ABORT_REASON = "unreachable"
"""A word of the trap a guest's runtime aborts with (``wasm `unreachable` instruction executed``)."""
MAX_REASON_CHARS = 500
STDERR_LINES_WITHOUT_TRACEBACK = 20

# Only a top-level header: the tracebacks nested in an exception group's are indented under "|".
_HEADER = re.compile(r"^(?:  \+ )?(?:Exception Group )?Traceback \(most recent call last\):[ \t]*$", re.MULTILINE)
_CHAINS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)
# Rust's panic message, which componentize-py's runtime prints after the traceback.
_PANIC = re.compile(r"^thread '[^'\n]*'(?: \(\d+\))? panicked at ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class GuestTraceback:
    """The last Python traceback a guest printed (with the exceptions chained to it)."""

    text: str
    exception: str
    """Its last exception line, e.g. ``ValueError: boom``."""


@dataclass(frozen=True, slots=True)
class TrapFailure:
    """What to record for a trapped guest: a one-line reason and a detail text."""

    reason: str
    detail: str
    guest_error: bool
    """Whether ``reason`` is the guest's own error (its exception) rather than wasmtime's trap reason."""


def last_traceback(stderr: str) -> GuestTraceback | None:
    """The last top-level Python traceback in ``stderr`` and the exceptions chained before it, up to the runtime's
    panic message or the end; ``None`` if there is none."""
    headers = list(_HEADER.finditer(stderr))
    if not headers:
        return None
    last = headers[-1]
    panic = _PANIC.search(stderr, last.end())
    end = panic.start() if panic else len(stderr)
    start = last.start()
    for header in reversed(headers[:-1]):
        between = stderr[header.end() : start].rstrip()
        if not between.endswith(_CHAINS):
            break
        start = header.start()
    text = stderr[start:end].strip("\n").rstrip()
    return GuestTraceback(text, _exception_line(stderr[last.end() : end]))


def _exception_line(block: str) -> str:
    """The first line after the frames (which are indented), i.e. ``Type: message``; for a layout not foreseen,
    the block's last non-empty line."""
    lines = [line for line in block.splitlines() if line.strip()]
    for line in lines:
        if not line[:1].isspace():
            return line.rstrip()
    for line in lines:  # an exception group's summary: "  | ExceptionGroup: ..."
        stripped = line.strip()
        if stripped.startswith("| ") and not stripped[2:3].isspace() and not stripped.startswith("| File "):
            return stripped[2:].rstrip()
    return lines[-1].strip() if lines else "unknown exception"


def trap_failure(trap: GuestTrap, output: GuestOutput) -> TrapFailure:
    """The failure of an attempt, run or request that ended in ``trap``, with what the guest wrote to stderr."""
    trapped = f"{trap.reason}\n{trap.backtrace}" if trap.backtrace != trap.reason else trap.reason
    stderr = output.stderr.text()
    cut = _cut_note(output)
    traceback = last_traceback(stderr) if ABORT_REASON in trap.reason else None
    if traceback is not None:
        parts = [traceback.text, cut, trapped]
        return TrapFailure(_clip(traceback.exception), "\n\n".join(p for p in parts if p), guest_error=True)
    lines = stderr.rstrip().splitlines()[-STDERR_LINES_WITHOUT_TRACEBACK:]
    parts = [trapped]
    if lines:
        parts += ["the guest's stderr ended with:\n" + "\n".join(lines), cut]
    return TrapFailure(f"trap: {trap.reason}", "\n\n".join(p for p in parts if p), guest_error=False)


def _cut_note(output: GuestOutput) -> str:
    dropped = output.stderr.dropped
    if not dropped:
        return ""
    return (
        f"(the guest's stderr is cut: only its last {output.stderr.limit} bytes were kept,"
        f" the {dropped} bytes before them were dropped)"
    )


def _clip(line: str) -> str:
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"
