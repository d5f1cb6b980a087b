"""Waits of the Python ``wasi:io`` layer end at the store's deadline: that is what stops an activity blocked in
``time.sleep`` or in a read (an epoch deadline cannot interrupt a guest waiting in a host call)."""

from __future__ import annotations

import threading
import time

import pytest

from obelisk.wasm.wasi_http.io import DeadlinePassed, EventPollable, InputStream, TimerPollable, poll_many


def test_a_timer_past_the_deadline_raises_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        poll_many([TimerPollable(started + 86_400)], deadline=started + 0.1)
    assert 0.1 <= time.monotonic() - started < 0.3


def test_a_timer_before_the_deadline_just_fires() -> None:
    started = time.monotonic()
    assert poll_many([TimerPollable(started + 0.05)], deadline=started + 5) == [0]
    assert time.monotonic() - started < 0.5


def test_events_and_reads_wait_until_the_deadline_only() -> None:
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        poll_many([EventPollable(threading.Event()), EventPollable(threading.Event())], deadline=started + 0.05)
    stream = InputStream(complete=False)
    with pytest.raises(DeadlinePassed):
        stream.blocking_read(10, deadline=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.5
    threading.Timer(0.02, stream.feed, args=(b"data",)).start()
    assert stream.blocking_read(10, deadline=time.monotonic() + 5) == b"data"


def test_ready_pollables_are_answered_even_past_the_deadline() -> None:
    ready = threading.Event()
    ready.set()
    assert poll_many([EventPollable(ready)], deadline=time.monotonic() - 1) == [0]
