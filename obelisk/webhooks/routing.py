"""Route matching (docs/compatibility.md#webhooks): ``"/path"``, ``"/p/*"``, ``"/x/:param"``, ``""``.

Like the original (route-recognizer), each method has its own routes plus a fallback of routes without methods;
among matching routes the most specific wins (more literal segments, then more parameters, then no wildcard).
``""`` means ``/*``; ``"/p/*"`` also matches ``"/p/"``. The query string never takes part.

Routing works on the path as the client sent it, which is also what the guest gets. A path with a dot-segment
(``.`` or ``..``, also percent-encoded as ``%2e``) is refused: ``/trap/../ok`` would be routed by its literal
segments to one webhook while the guest, a proxy in front of the server or a file lookup behind it would resolve
it to another path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from obelisk.concepts.errors import ObeliskError

T = TypeVar("T")


class DotSegmentInPath(ObeliskError):
    """The request path has a ``.`` or ``..`` segment (possibly percent-encoded); such a path is not routed."""

    def __init__(self, path: str) -> None:
        super().__init__(f"request path {path!r} has a dot-segment ('.' or '..'); send the resolved path")
        self.path = path


def has_dot_segment(path: str) -> bool:
    """Whether a segment of ``path`` (the query is not looked at) is ``.`` or ``..``, written with any mix of
    ``.`` and ``%2e``/``%2E``."""
    for segment in path.split("?", 1)[0].split("/"):
        if 0 < len(segment) <= 6 and segment.lower().replace("%2e", ".") in (".", ".."):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Pattern:
    segments: tuple[str, ...]
    wildcard: str | None
    """``None``: no trailing ``*``; otherwise the wildcard's name (``""`` for an anonymous ``*``)."""

    @classmethod
    def parse(cls, route: str) -> _Pattern:
        if route in ("", "/*"):
            return cls((), "")
        parts = route.strip("/").split("/") if route.strip("/") else []
        wildcard = None
        if parts and parts[-1].startswith("*"):
            wildcard = parts.pop()[1:]
        return cls(tuple(parts), wildcard)

    def match(self, parts: list[str]) -> tuple[tuple[int, int, int], dict[str, str]] | None:
        if self.wildcard is None and len(parts) != len(self.segments):
            return None
        if self.wildcard is not None and len(parts) < len(self.segments):
            return None
        params: dict[str, str] = {}
        literal = 0
        for segment, part in zip(self.segments, parts, strict=False):
            if segment.startswith(":"):
                if not part:
                    return None
                params[segment[1:]] = part
            elif segment != part:
                return None
            else:
                literal += 1
        if self.wildcard is not None:
            rest = parts[len(self.segments) :]
            if not rest and self.segments:
                return None  # "/p/*" matches "/p/" (an empty last part) but not "/p"
            if self.wildcard:
                params[self.wildcard] = "/".join(rest)
        score = (literal, len(params), 0 if self.wildcard is None else -1)
        return score, params


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    target: T
    params: dict[str, str]


class Router(Generic[T]):
    def __init__(self) -> None:
        self._by_method: dict[str, list[tuple[_Pattern, T]]] = {}
        self._fallback: list[tuple[_Pattern, T]] = []

    def add(self, route: str, target: T, methods: Sequence[str] | None = None) -> None:
        pattern = _Pattern.parse(route)
        if methods:
            for method in methods:
                self._by_method.setdefault(method.upper(), []).append((pattern, target))
        else:
            self._fallback.append((pattern, target))

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        """The best route for ``path`` (as sent, query included or not), or ``None``; raises ``DotSegmentInPath``."""
        if has_dot_segment(path):
            raise DotSegmentInPath(path)
        path = path.split("?", 1)[0]
        stripped = path[1:] if path.startswith("/") else path
        parts = stripped.split("/") if stripped else []
        for candidates in (self._by_method.get(method.upper(), []), self._fallback):
            best: tuple[tuple[int, int, int], dict[str, str], T] | None = None
            for pattern, target in candidates:
                found = pattern.match(parts)
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], found[1], target)
            if best is not None:
                return RouteMatch(best[2], best[1])
        return None
