"""A request's deadline and stop signal as its guest's thread sees them: every wait ends when the request stops."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from obelisk.wasm.wasi_http.io import InputStream, TimerPollable, interruptible, poll_many
from obelisk.webhooks.request_control import RequestControl, RequestStopped, StopReason


def _stop_later(control: RequestControl, reason: StopReason, seconds: float) -> None:
    threading.Timer(seconds, control.stop, (reason,)).start()


def test_a_wait_returns_the_result_when_nothing_stops_it() -> None:
    control = RequestControl(time.monotonic() + 5)
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    threading.Timer(0.05, future.set_result, (7,)).start()
    assert control.wait(future) == 7
    control.check()  # not stopped


def test_stop_ends_a_wait_at_once_and_cancels_only_the_wait() -> None:
    control = RequestControl(time.monotonic() + 30)
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    _stop_later(control, StopReason.DISCONNECTED, 0.05)
    started = time.monotonic()
    with pytest.raises(RequestStopped) as stopped:
        control.wait(future)
    assert time.monotonic() - started < 1.0
    assert stopped.value.reason is StopReason.DISCONNECTED
    assert str(stopped.value) == "client disconnected"
    assert future.cancelled()


def test_the_deadline_ends_a_wait_and_later_stops_do_not_change_the_reason() -> None:
    control = RequestControl(time.monotonic() + 0.1)
    seen: list[StopReason] = []
    control.on_stop(seen.append)
    with pytest.raises(RequestStopped) as stopped:
        control.wait(concurrent.futures.Future())
    assert stopped.value.reason is StopReason.DEADLINE
    control.stop(StopReason.SHUTDOWN)
    assert control.reason is StopReason.DEADLINE and seen == [StopReason.DEADLINE]
    late: list[StopReason] = []
    control.on_stop(late.append)  # registered after the stop: runs at once
    assert late == [StopReason.DEADLINE]


def test_a_stopped_request_refuses_to_wait_at_all() -> None:
    control = RequestControl(time.monotonic() + 30)
    control.stop(StopReason.SHUTDOWN)
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    with pytest.raises(RequestStopped):
        control.wait(future)
    assert future.cancelled()


def test_interruptible_wasi_io_waits_end_when_the_request_stops() -> None:
    """A guest sleeping (a timer poll) or reading a stream that never gets data is woken by the stop."""
    control = RequestControl(time.monotonic() + 30)
    _stop_later(control, StopReason.SHUTDOWN, 0.05)
    started = time.monotonic()
    with interruptible(control.check), pytest.raises(RequestStopped):
        poll_many([TimerPollable(time.monotonic() + 60)])
    assert time.monotonic() - started < 1.0

    control = RequestControl(time.monotonic() + 0.1)
    with interruptible(control.check), pytest.raises(RequestStopped) as stopped:
        InputStream(complete=False).blocking_read(10)
    assert stopped.value.reason is StopReason.DEADLINE


def test_waits_outside_an_interruptible_scope_are_untouched() -> None:
    control = RequestControl(time.monotonic() + 30)
    control.stop(StopReason.SHUTDOWN)
    with interruptible(control.check):
        pass
    assert poll_many([TimerPollable(time.monotonic() + 0.02)]) == [0]
