"""Listing executions by function scope and state, as the API and the CLI ask for them.

The storage lists by one exact function and one state or result kind. A package or interface scope is expanded
into the functions the registry knows, and a set of states into the storage's states and result kinds; each
combination is one indexed storage query of a page, and the pages are merged. This keeps both backends' SQL as it
is; the cost is one query per combination (a package of a few dozen functions times at most three result kinds).
Executions of a function that is no longer configured are found by its exact name, not by a scope.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import assert_never

from obelisk.concepts.errors import ObeliskError, ParseError
from obelisk.concepts.events import BlockedByJoinSet, FinishedState, LockedState, PausedState, PendingAt, PendingState
from obelisk.concepts.ffqn import Ffqn, IfcFqn
from obelisk.concepts.results import ResultKind
from obelisk.storage.interface import ExecutionQuery, ExecutionSummary, ListDirection
from obelisk.storage.state_machine import BLOCKED, FINISHED, LOCKED, PENDING_AT


class InvalidFilter(ObeliskError):
    """A listing filter that names no valid scope or state; nothing was read."""


class ScopeKind(enum.Enum):
    PACKAGE = "package"
    INTERFACE = "interface"
    FUNCTION = "function"


@dataclass(frozen=True, slots=True)
class FunctionScope:
    """A package (``namespace:package[@version]``), an interface or one function; no version matches any."""

    kind: ScopeKind
    name: str

    @classmethod
    def of(cls, kind: ScopeKind, name: str) -> FunctionScope:
        """Checks the name's form (``InvalidFilter`` naming the expected one)."""
        try:
            match kind:
                case ScopeKind.PACKAGE:
                    _package(name)
                case ScopeKind.INTERFACE:
                    IfcFqn.parse(name)
                case ScopeKind.FUNCTION:
                    Ffqn.parse(name)
                case _:
                    assert_never(kind)
        except ParseError:
            expected = {
                ScopeKind.PACKAGE: "namespace:package[@version]",
                ScopeKind.INTERFACE: "namespace:package/interface[@version]",
                ScopeKind.FUNCTION: "namespace:package/interface.function",
            }[kind]
            raise InvalidFilter(f"{kind.value} name {name!r}: expected {expected}") from None
        return cls(kind, name)

    def matches(self, ffqn: Ffqn) -> bool:
        ifc = ffqn.ifc
        match self.kind:
            case ScopeKind.FUNCTION:
                return str(ffqn) == self.name
            case ScopeKind.INTERFACE:
                wanted = IfcFqn.parse(self.name)
                same_version = wanted.version is None or wanted.version == ifc.version
                return (wanted.namespace, wanted.package, wanted.interface) == (
                    ifc.namespace,
                    ifc.package,
                    ifc.interface,
                ) and same_version
            case ScopeKind.PACKAGE:
                wanted = _package(self.name)
                same_version = wanted.version is None or wanted.version == ifc.version
                return (wanted.namespace, wanted.package) == (ifc.namespace, ifc.package) and same_version
            case _:
                assert_never(self.kind)


def _package(name: str) -> IfcFqn:
    """``namespace:package[@version]`` read as an interface of that package (``ParseError`` if malformed)."""
    package, at, version = name.partition("@")
    return IfcFqn.parse(f"{package}/any{at}{version}")


class StateFilter(enum.Enum):
    """The original's ``ExecutionStateFilter`` buckets, which the listing matches any of."""

    PENDING = "pending"
    """Waiting for an executor, due now."""
    SCHEDULED = "scheduled"
    """Waiting for its scheduled time."""
    LOCKED = "locked"
    BLOCKED = "blocked"
    FINISHED = "finished"
    FINISHED_OK = "ok"
    FINISHED_ERROR = "err"
    FINISHED_EXECUTION_FAILURE = "failed"
    """An execution failure: trap, timeout, nondeterminism or cancel (the original's bucket)."""
    PAUSED = "paused"
    """Paused by an operator, whatever its state beside: in this bucket only (the original's)."""

    def matches(self, state: PendingState, now_us: int) -> bool:
        match state:
            case PendingAt(scheduled_at):
                due = scheduled_at <= now_us
                return self is (StateFilter.PENDING if due else StateFilter.SCHEDULED)
            case LockedState():
                return self is StateFilter.LOCKED
            case BlockedByJoinSet():
                return self is StateFilter.BLOCKED
            case FinishedState(result_kind=kind):
                return self is StateFilter.FINISHED or self is _result_filter(kind)
            case PausedState():
                return self is StateFilter.PAUSED
            case _:
                assert_never(state)


def _result_filter(kind: ResultKind) -> StateFilter:
    match kind:
        case ResultKind.OK:
            return StateFilter.FINISHED_OK
        case ResultKind.FALLIBLE_ERROR:
            return StateFilter.FINISHED_ERROR
        case (
            ResultKind.EXECUTION_FAILURE
            | ResultKind.TIMEOUT
            | ResultKind.NONDETERMINISM_DETECTED
            | ResultKind.CANCELLED
        ):
            return StateFilter.FINISHED_EXECUTION_FAILURE
        case _:
            assert_never(kind)


@dataclass(frozen=True, slots=True)
class ListFilter:
    scope: FunctionScope | None = None
    states: frozenset[StateFilter] = frozenset()
    """Empty: every state."""
    top_level_only: bool = False


@dataclass(frozen=True, slots=True)
class _Part:
    """One storage query of the expansion; ``only`` keeps part of what it reads (``PendingAt`` due or not)."""

    state: str | None = None
    result_kind: ResultKind | None = None
    only: StateFilter | None = None
    paused: bool | None = None


def _parts(states: frozenset[StateFilter]) -> list[_Part]:
    if not states:
        return [_Part()]
    parts: list[_Part] = []
    pending, scheduled = StateFilter.PENDING in states, StateFilter.SCHEDULED in states
    if pending or scheduled:
        only = None if pending and scheduled else StateFilter.PENDING if pending else StateFilter.SCHEDULED
        parts.append(_Part(PENDING_AT, only=only, paused=False))
    if StateFilter.LOCKED in states:
        parts.append(_Part(LOCKED, paused=False))
    if StateFilter.BLOCKED in states:
        parts.append(_Part(BLOCKED, paused=False))
    if StateFilter.PAUSED in states:
        parts.append(_Part(paused=True))
    if StateFilter.FINISHED in states:
        parts.append(_Part(FINISHED))
    else:
        parts += [_Part(result_kind=kind) for kind in ResultKind if _result_filter(kind) in states]
    return parts


ListPage = Callable[[ExecutionQuery], Awaitable[list[ExecutionSummary]]]


async def list_filtered(
    list_page: ListPage,
    known_functions: Iterable[Ffqn],
    list_filter: ListFilter,
    page: ExecutionQuery,
    now_us: int,
) -> list[ExecutionSummary]:
    """One page (``page``'s cursor, direction and length) of the executions ``list_filter`` matches.

    Ordered as the storage orders a page: nearest the cursor first.
    """
    scope = list_filter.scope
    if scope is None:
        ffqns: list[Ffqn | None] = [None]
    elif scope.kind is ScopeKind.FUNCTION:
        ffqns = [Ffqn.parse(scope.name)]
    else:
        ffqns = sorted({ffqn for ffqn in known_functions if scope.matches(ffqn)}, key=str)
    base = replace(
        page, ffqn=None, state=None, result_kind=None, paused=None, top_level_only=list_filter.top_level_only
    )
    found: dict[str, ExecutionSummary] = {}
    for ffqn in ffqns:
        for part in _parts(list_filter.states):
            query = replace(base, ffqn=ffqn, state=part.state, result_kind=part.result_kind, paused=part.paused)
            for summary in await _page_of(list_page, query, part.only, now_us):
                found[summary.execution_id] = summary
    newer = page.direction is ListDirection.NEWER
    ordered = sorted(found.values(), key=lambda s: (s.created_at, s.execution_id), reverse=not newer)
    return ordered[: page.length]


async def _page_of(
    list_page: ListPage, query: ExecutionQuery, only: StateFilter | None, now_us: int
) -> list[ExecutionSummary]:
    """A page of ``query``; with ``only``, of those it matches, reading on past the others."""
    if only is None:
        return await list_page(query)
    kept: list[ExecutionSummary] = []
    while True:
        summaries = await list_page(query)
        kept += [s for s in summaries if only.matches(s.pending_state, now_us)]
        if len(kept) >= query.length or len(summaries) < query.length:
            return kept[: query.length]
        last = summaries[-1]
        query = replace(query, cursor=(last.created_at, last.execution_id), including_cursor=False)
