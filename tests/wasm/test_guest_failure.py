"""The failure text of a trapped guest: its own last Python traceback first, the wasm trap below; and the bounded
capture of guest output it is read from.

Tracebacks here are formatted by Python from exceptions really raised, followed by the panic message that
componentize-py's runtime prints before it aborts (as a real guest's stderr has it; the end-to-end tests use real
guests).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest

from obelisk.wasm.guest_failure import MAX_REASON_CHARS, last_traceback, trap_failure
from obelisk.wasm.guest_output import GuestOutput, OutputTail, tee
from obelisk.wasm.host_calls import GuestTrap

PANIC = (
    "\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\n"
    "Python function threw an unexpected exception\n"
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
)
UNREACHABLE = "wasm trap: wasm `unreachable` instruction executed"
BACKTRACE = (
    "error while executing at wasm backtrace:\n"
    "    0: 0xaa9457 - libc.so!abort\n"
    "   12: 0x1156994 - <unknown>!testing:flaky/flaky#raise-error\n\n"
    f"Caused by:\n    {UNREACHABLE}"
)


def _raise_value_error(message: str) -> None:
    raise ValueError(message)


def _formatted(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _traceback_of(raiser: Callable[..., None], *args: object) -> str:
    try:
        raiser(*args)
    except BaseException as error:
        return _formatted(error)
    raise AssertionError("did not raise")


def _chained() -> None:
    try:
        int("not a number")
    except ValueError as error:
        raise RuntimeError("parsing failed") from error


def _group() -> None:
    raise ExceptionGroup("two failures", [ValueError("first"), TypeError("second")])


def _output(stderr: str, limit: int = 64 * 1024) -> GuestOutput:
    output = GuestOutput(limit)
    output.stderr.write(stderr.encode())
    return output


def test_the_failure_leads_with_the_guests_traceback_and_keeps_the_trap_below() -> None:
    boom = _traceback_of(_raise_value_error, "boom")
    output = _output("some earlier line\n" + boom + PANIC)
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), output)
    assert failure.guest_error
    assert failure.reason == "ValueError: boom"
    assert failure.detail.startswith("Traceback (most recent call last):\n")
    head, _, rest = failure.detail.partition("\n\n")
    assert head == boom.rstrip()
    assert head.endswith("ValueError: boom")
    assert "panicked" not in failure.detail  # the runtime's panic message says nothing the traceback does not
    assert rest == f"{UNREACHABLE}\n{BACKTRACE}"


def test_only_the_last_traceback_counts() -> None:
    earlier = _traceback_of(_raise_value_error, "handled and logged earlier")
    last = _traceback_of(_raise_value_error, "boom")
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), _output(earlier + "going on\n" + last + PANIC))
    assert failure.reason == "ValueError: boom"
    assert "handled and logged earlier" not in failure.detail
    assert "going on" not in failure.detail


def test_a_chained_exception_keeps_its_cause() -> None:
    text = _traceback_of(_chained)
    assert "direct cause" in text
    found = last_traceback(text + PANIC)
    assert found is not None
    assert found.text == text.rstrip()
    assert found.text.count("Traceback (most recent call last):") == 2
    assert found.exception == "RuntimeError: parsing failed"


def test_an_exception_group_is_named_by_its_summary() -> None:
    text = _traceback_of(_group)
    found = last_traceback(text + PANIC)
    assert found is not None
    assert found.text == text.rstrip()
    assert found.exception.startswith("ExceptionGroup: two failures")


def test_a_multi_line_message_gives_its_first_line_as_reason() -> None:
    text = _traceback_of(_raise_value_error, "first line\nsecond line")
    found = last_traceback(text + PANIC)
    assert found is not None
    assert found.exception == "ValueError: first line"
    assert found.text.endswith("ValueError: first line\nsecond line")


def test_a_long_exception_line_is_clipped_in_the_reason_but_kept_in_the_detail() -> None:
    message = "x" * (MAX_REASON_CHARS * 2)
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), _output(_traceback_of(_raise_value_error, message)))
    assert len(failure.reason) == MAX_REASON_CHARS
    assert failure.reason.endswith("…")
    assert f"ValueError: {message}" in failure.detail


def test_a_trap_of_another_kind_keeps_wasmtimes_reason_and_shows_the_end_of_stderr() -> None:
    """An out-of-bounds access is not a Python exception: a traceback the guest printed before (and handled) must
    not be taken for its cause."""
    reason = "wasm trap: out of bounds memory access"
    handled = _traceback_of(_raise_value_error, "handled")
    failure = trap_failure(GuestTrap(reason, f"{reason}\nbacktrace"), _output(handled + "last words\n"))
    assert not failure.guest_error
    assert failure.reason == f"trap: {reason}"
    assert failure.detail.startswith(f"{reason}\n{reason}\nbacktrace\n\nthe guest's stderr ended with:\n")
    assert failure.detail.endswith("ValueError: handled\nlast words")


def test_a_trap_without_any_output_is_wasmtimes_text_alone() -> None:
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), GuestOutput())
    assert failure == type(failure)(f"trap: {UNREACHABLE}", f"{UNREACHABLE}\n{BACKTRACE}", guest_error=False)


def test_a_cut_stderr_is_said_to_be_cut() -> None:
    boom = _traceback_of(_raise_value_error, "boom")
    limit = 4096
    output = _output("noise\n" * 2000 + boom + PANIC, limit=limit)
    assert output.stderr.dropped > 0
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), output)
    assert failure.reason == "ValueError: boom"
    assert failure.detail.startswith(boom.rstrip() + "\n\n(the guest's stderr is cut: only its last 4096 bytes")
    assert f"the {output.stderr.dropped} bytes before them were dropped)\n\n{UNREACHABLE}" in failure.detail


def test_a_traceback_whose_start_was_cut_shows_what_is_left_and_says_so() -> None:
    deep = "".join(f'  File "/0/app.py", line {n}, in f\n' for n in range(400))
    stderr = "Traceback (most recent call last):\n" + deep + "RecursionError: too deep\n" + PANIC
    failure = trap_failure(GuestTrap(UNREACHABLE, BACKTRACE), _output(stderr, limit=2048))
    assert not failure.guest_error
    assert "RecursionError: too deep" in failure.detail
    assert "(the guest's stderr is cut: only its last 2048 bytes were kept" in failure.detail


# ---------------------------------------------------------------------------------------------- capture
def test_a_tail_keeps_the_last_bytes_and_counts_the_dropped() -> None:
    tail = OutputTail(limit=10)
    for piece in (b"0123456", b"789ab", b"cdefghijklmnopqrstuvwxyz"):
        tail.write(piece)
    assert tail.tail() == b"qrstuvwxyz"
    assert tail.dropped == 36 - 10
    tail.write(b"!")
    assert tail.tail() == b"rstuvwxyz!"
    assert tail.dropped == 37 - 10


def test_a_tail_under_its_limit_keeps_everything() -> None:
    tail = OutputTail(limit=100)
    tail.write("héllo\n".encode())
    assert tail.text() == "héllo\n"
    assert tail.dropped == 0


def test_tee_keeps_and_forwards() -> None:
    output = GuestOutput()
    forwarded: list[bytes] = []
    sink = tee(output.stdout, forwarded.append)
    sink(b"a\n")
    sink(b"b")
    assert output.stdout.tail() == b"a\nb"
    assert forwarded == [b"a\n", b"b"]
    tee(output.stderr, None)(b"kept only")
    assert output.stderr.tail() == b"kept only"


def test_streams_are_named_stdout_and_stderr() -> None:
    output = GuestOutput()
    assert output.stream("stdout") is output.stdout
    assert output.stream("stderr") is output.stderr
    with pytest.raises(ValueError, match="'stdin'"):
        output.stream("stdin")
