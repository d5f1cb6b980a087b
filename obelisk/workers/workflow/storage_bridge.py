"""How a workflow's executor thread reaches the (asyncio) storage of the server's event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

from obelisk.storage.interface import Storage

T = TypeVar("T")


class StorageBridge:
    """Lets a worker thread use the (asyncio) storage of the server's event loop."""

    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop) -> None:
        self.storage = storage
        self._loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.start(coroutine).result()

    def start(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coroutine`` on the loop and return at once; ``.result()`` waits for it. Coroutines started from
        one thread begin on the loop in the order they were started."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
