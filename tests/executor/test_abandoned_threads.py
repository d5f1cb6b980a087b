"""The count and bounds of abandoned threads: per component, per server, and who is told when a component stops
or starts taking work (no wasm: the executor feeds it; ``tests/faults/test_hung_guests.py`` runs it for real)."""

from __future__ import annotations

import asyncio

import pytest

from obelisk.executor.threads import AbandonedThreads


def test_a_component_at_its_bound_stops_and_resumes_when_a_thread_returns() -> None:
    changes: list[tuple[str, bool]] = []
    threads = AbandonedThreads(server_limit=10, on_change=lambda c, accepting: changes.append((c, accepting)))
    threads.add_component("a", 2)
    threads.add_component("b", 2)
    threads.abandoned("a")
    assert threads.accepting("a") and changes == []
    threads.abandoned("a")
    assert not threads.accepting("a") and threads.accepting("b")
    assert changes == [("a", False)]
    threads.returned("a")
    assert threads.accepting("a") and threads.count("a") == 1 and threads.total == 1
    assert changes == [("a", False), ("a", True)]


def test_at_the_servers_bound_no_component_takes_work() -> None:
    changes: list[tuple[str, bool]] = []
    threads = AbandonedThreads(server_limit=3, on_change=lambda c, accepting: changes.append((c, accepting)))
    for component in ("a", "b", "c"):
        threads.add_component(component, 5)
    threads.abandoned("a")
    threads.abandoned("a")
    threads.abandoned("b")
    assert [threads.accepting(c) for c in "abc"] == [False, False, False]
    assert sorted(changes) == [("a", False), ("b", False), ("c", False)]
    threads.returned("b")
    assert [threads.accepting(c) for c in "abc"] == [True, True, True]


async def test_waiters_wake_when_a_thread_returns() -> None:
    threads = AbandonedThreads(server_limit=10)
    threads.add_component("a", 1)
    threads.abandoned("a")
    waiting = asyncio.create_task(threads.wait_until_accepting("a"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    threads.returned("a")
    await asyncio.wait_for(waiting, 1)


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AbandonedThreads(server_limit=0)
    with pytest.raises(ValueError, match="a: the bound of abandoned threads must be at least 1"):
        AbandonedThreads(server_limit=1).add_component("a", 0)
