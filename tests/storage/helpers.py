"""Shared builders for the storage tests (plain functions: each test opens its own real database file)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from obelisk.concepts.events import Created, ParentRef
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.storage.sqlite import SqliteStorage

T0 = 1_700_000_000_000_000
SEC = 1_000_000
ACTIVITY = Ffqn.parse("testing:fibo/fibo.fibo")
WORKFLOW = Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
EXECUTOR = ExecutorId.generate()


def created(
    ffqn: Ffqn = ACTIVITY,
    *,
    scheduled_at: int = T0,
    parent: ParentRef | None = None,
    max_retries: int = 5,
) -> Created:
    return Created(
        ffqn=ffqn,
        params=[10],
        scheduled_at=scheduled_at,
        component_id="activity_wasm:fibo:0123456789abcdef",
        max_retries=max_retries,
        retry_exp_backoff_us=100_000,
        parent=parent,
    )


def new_id(offset_ms: int = 0) -> ExecutionId:
    return ExecutionId.generate(T0 // 1000 + offset_ms)


@contextlib.asynccontextmanager
async def opened(path: Path, **kwargs: object) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(path, **kwargs)  # type: ignore[arg-type]
    try:
        yield storage
    finally:
        await storage.close()
