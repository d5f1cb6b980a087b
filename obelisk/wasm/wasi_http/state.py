"""Per-store state of the Python WASI layer: the resource table and what the store's owner plugs in.

One Linker serves every store of a component, so host functions find their store's state through the store's
data (``store_data(context).wasi_http``); each webhook request and each activity attempt has its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from obelisk.wasm.host_calls import GuestCallRefused, store_data
from obelisk.wasm.wasi_http.objects import BodySink
from obelisk.wasm.wasi_http.policy import OutboundPolicy


class WasiHttpError(GuestCallRefused):
    """The guest used the Python WASI layer wrongly (a stale handle, a function this host does not provide)."""


class WasiHttpState:
    """Resources a guest holds in one store, by ``rep``; and the store owner's hooks.

    ``stdout``/``stderr`` receive the guest's output (``None`` discards it); ``outbound`` decides which outgoing
    requests go out; ``response_sink`` makes the sink of each ``outgoing-response`` body (a webhook streams it to
    its client); ``deadline`` (``time.monotonic()``) ends every wait of the guest in ``wasi:io`` with
    ``DeadlinePassed`` (an activity's attempt timeout).
    """

    def __init__(
        self,
        *,
        outbound: OutboundPolicy | None = None,
        stdout: Callable[[bytes], None] | None = None,
        stderr: Callable[[bytes], None] | None = None,
        response_sink: Callable[[], BodySink] = BodySink,
        deadline: float | None = None,
    ) -> None:
        self.outbound = outbound or OutboundPolicy()
        self.deadline = deadline
        self.stdout = stdout
        self.stderr = stderr
        self.response_sink = response_sink
        self.requests_started = 0
        """Outgoing requests this store has started, against ``outbound.max_requests``."""
        self._objects: dict[int, object] = {}
        self._next_rep = 1
        self._lock = threading.Lock()

    def add(self, obj: object) -> int:
        with self._lock:
            rep = self._next_rep
            self._next_rep += 1
            self._objects[rep] = obj
            return rep

    def lookup(self, rep: int) -> object:
        try:
            return self._objects[rep]
        except KeyError:
            raise WasiHttpError(f"resource handle {rep} is not (or no longer) known to this store") from None

    def remove(self, rep: int) -> object | None:
        with self._lock:
            return self._objects.pop(rep, None)

    @property
    def live_resources(self) -> int:
        return len(self._objects)


class HasWasiHttp(Protocol):
    wasi_http: WasiHttpState


def state_of(context: Any) -> WasiHttpState:
    data = store_data(context)
    state = getattr(data, "wasi_http", None)
    if not isinstance(state, WasiHttpState):
        raise WasiHttpError("this store was created without Python wasi:http state (store data has no wasi_http)")
    return state
