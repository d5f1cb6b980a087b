"""Workflow worker: the pure replay machine (``replay``) and, built on it, the host layer that runs guests."""

from obelisk.workers.workflow.replay import DEFAULT_BATCH_LIMIT, ReplayMachine
from obelisk.workers.workflow.replay_types import (
    AwaitResult,
    Blocked,
    ChildCreation,
    NondeterminismError,
    PendingWrites,
    Ready,
    ReplayProtocolError,
    ScheduledCreation,
    WorkflowError,
)

__all__ = [
    "DEFAULT_BATCH_LIMIT",
    "AwaitResult",
    "Blocked",
    "ChildCreation",
    "NondeterminismError",
    "PendingWrites",
    "Ready",
    "ReplayMachine",
    "ReplayProtocolError",
    "ScheduledCreation",
    "WorkflowError",
]
