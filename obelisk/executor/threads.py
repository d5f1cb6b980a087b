"""An elastic pool of daemon threads for wasm runs, and the count and bound of threads abandoned by it.

``concurrent.futures.ThreadPoolExecutor`` has a fixed size, so a thread stuck inside a blocking WASI call (which
an epoch deadline cannot interrupt) would silently shrink it. Here concurrency is bounded by the
executor's permits instead, and a new thread is started whenever no idle one is waiting; abandoned threads
rejoin the idle set when their guest finally returns. Threads are daemons so a stuck guest never blocks exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

_IDLE_TIMEOUT_SECONDS = 60.0


class ElasticThreadPool:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], concurrent.futures.Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._closed = False

    @property
    def thread_count(self) -> int:
        return self._threads

    @property
    def busy_count(self) -> int:
        """Threads running a job (an abandoned one included), as opposed to waiting for one."""
        with self._lock:
            return self._threads - self._idle

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"thread pool {self._name} is closed")
            if self._idle == 0:
                self._threads += 1
                thread = threading.Thread(target=self._work, name=f"{self._name}-{self._threads}", daemon=True)
                thread.start()
            else:
                self._idle -= 1
        self._jobs.put((fn, future))  # type: ignore[arg-type]
        return future

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=_IDLE_TIMEOUT_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            if job is None:
                with self._lock:
                    self._threads -= 1
                return
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as error:
                    future.set_exception(error)
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """Idle threads exit; busy ones exit after their job (they are daemons either way)."""
        with self._lock:
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)


AcceptingChange = Callable[[str, bool], None]
"""``(component_id, accepting)``: a component stopped (``False``) or started again (``True``) taking new work."""


class AbandonedThreads:
    """Threads whose attempt passed its deadline without returning, per component and for the whole server.

    Such a thread is stuck where no deadline reaches it (every wait of an activity's WASI ends at its deadline, so
    this is a guest blocked some other way, e.g. in a host call) and it keeps its instance's memory until the guest
    returns; a guest that hangs on every attempt would grow the server without end. So each component has a bound,
    and the server one for all: a component at its bound, and every component while the server is at its bound,
    takes no new work until a thread comes back. ``on_change`` hears when a component stops or starts taking work
    (health reports it). Used from the event loop only.
    """

    def __init__(self, server_limit: int, on_change: AcceptingChange | None = None) -> None:
        if server_limit < 1:
            raise ValueError(f"the server's bound of abandoned threads must be at least 1, got {server_limit}")
        self.server_limit = server_limit
        self.on_change = on_change
        self._limits: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._changed: asyncio.Event | None = None

    def add_component(self, component_id: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"{component_id}: the bound of abandoned threads must be at least 1, got {limit}")
        self._limits[component_id] = limit
        self._counts.setdefault(component_id, 0)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def count(self, component_id: str) -> int:
        return self._counts.get(component_id, 0)

    def accepting(self, component_id: str) -> bool:
        """Whether the component may take new work now."""
        return self.total < self.server_limit and self.count(component_id) < self._limits.get(component_id, 1)

    def abandoned(self, component_id: str) -> None:
        self._change(component_id, +1)

    def returned(self, component_id: str) -> None:
        self._change(component_id, -1)

    async def wait_until_accepting(self, component_id: str) -> None:
        while not self.accepting(component_id):
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _change(self, component_id: str, delta: int) -> None:
        before = {c for c in self._limits if not self.accepting(c)}
        self._counts[component_id] = max(0, self.count(component_id) + delta)
        after = {c for c in self._limits if not self.accepting(c)}
        log.info(
            "%s: %d abandoned thread(s) (bound %d; server %d of %d)",
            component_id,
            self.count(component_id),
            self._limits.get(component_id, 1),
            self.total,
            self.server_limit,
        )
        for stopped in sorted(after - before):
            log.warning(
                "%s takes no new work until its abandoned threads come back (%d of bound %d; server %d of %d)",
                stopped,
                self.count(stopped),
                self._limits[stopped],
                self.total,
                self.server_limit,
            )
        for resumed in sorted(before - after):
            log.info("%s takes new work again", resumed)
        if self.on_change is not None:
            for changed in sorted(after ^ before):
                self.on_change(changed, changed not in after)
        if self._changed is not None and before - after:
            self._changed.set()
            self._changed = None
