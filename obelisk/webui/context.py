"""What every page handler shares: the services behind the UI and how URLs of its pages are spelled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from obelisk.concepts.clock import Clock
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService


@dataclass(slots=True)
class UiContext:
    executions: ExecutionService
    components: ComponentService
    clock: Clock
    max_live_streams: int = 100
    """Live-update streams open at once; past it a new one is refused (503)."""
    streams: set[asyncio.Task[object]] = field(default_factory=set)
    """Handlers of open live-update streams, cancelled at shutdown so that it does not wait for browsers."""


UI = web.AppKey("obelisk_ui", UiContext)


def execution_url(execution_id: str) -> str:
    return "/execution/" + quote(execution_id, safe="")


def submit_url(ffqn: str) -> str:
    return "/execution/submit/" + quote(ffqn, safe=":/@")


def component_url(component_id: str) -> str:
    return "/component/" + quote(component_id, safe="")
