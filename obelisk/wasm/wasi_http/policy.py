"""Which hosts an activity may reach over HTTP: kept apart from the HTTP machinery (``outgoing.py``, which imports
``http.client`` and ``ssl``) so that a server whose activities have no allowlist never loads it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HostCheck = Callable[[str, int | None, str], bool]


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """What a component may reach. ``allows`` of ``None`` allows everything."""

    allows: HostCheck | None = None

    def permits(self, host: str, port: int | None, method: str) -> bool:
        return self.allows is None or self.allows(host, port, method)
