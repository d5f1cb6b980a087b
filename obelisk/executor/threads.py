"""An elastic pool of daemon threads for wasm runs.

``concurrent.futures.ThreadPoolExecutor`` has a fixed size, so a thread stuck inside a blocking WASI call (which
an epoch deadline cannot interrupt, DESIGN §10) would silently shrink it. Here concurrency is bounded by the
executor's permits instead, and a new thread is started whenever no idle one is waiting; abandoned threads
rejoin the idle set when their guest finally returns. Threads are daemons so a stuck guest never blocks exit.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

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
