"""Start an in-process server on a real SQLite file with a config written like a user would write it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from obelisk.concepts.events import ExecutionEvent, Finished
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import FinishedResult
from obelisk.config import SqliteBackend, load_config
from obelisk.server import Server


def write_config(tmp_path: Path, codegen_cache: Path, components_toml: str, *, extra: str = "") -> Path:
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:0"
sqlite.file = "{tmp_path / "db" / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"
{extra}
{components_toml}
"""
    )
    return path


def sqlite_file(server: Server) -> Path:
    """The SQLite file of a server started by these helpers (``write_config`` chooses SQLite)."""
    backend = server.config.backend
    assert isinstance(backend, SqliteBackend)
    return backend.file


@asynccontextmanager
async def running_server(config_path: Path) -> AsyncIterator[Server]:
    loaded = load_config(config_path, env={"HOME": str(config_path.parent)})
    server = await Server.start(loaded.config)
    try:
        yield server
    finally:
        await server.stop()


async def submit_and_wait(
    server: Server, ffqn: str, params: list[object], timeout: float = 30.0
) -> tuple[ExecutionId, FinishedResult]:
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, ffqn, params)
    result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), timeout)
    return execution_id, result


def event_kinds(events: list[ExecutionEvent]) -> list[str]:
    return [type(e.event).__name__ for e in events]


def finished(events: list[ExecutionEvent]) -> FinishedResult:
    last = events[-1].event
    assert isinstance(last, Finished), f"not finished: {event_kinds(events)}"
    return last.result
