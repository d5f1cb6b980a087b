"""WIT text to highlighted, escaped HTML, with function names linked to their submit pages.

A small hand-written lexer rather than a generic highlighter: it has to know where it is (which package and
interface) to turn ``fibo: func(...)`` into a link for ``testing:fibo/fibo.fibo``. Every piece of source text
goes through ``markupsafe.escape``; only the span and anchor tags are ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from markupsafe import Markup, escape

_KEYWORDS_TEXT = (
    "package interface world func record enum variant flags resource use import export type include "
    "constructor static with as from"
)
_BUILTIN_TYPES_TEXT = (
    "bool u8 u16 u32 u64 s8 s16 s32 s64 f32 f64 float32 float64 char string list option result tuple own borrow "
    "future stream"
)
KEYWORDS = frozenset(_KEYWORDS_TEXT.split())
BUILTIN_TYPES = frozenset(_BUILTIN_TYPES_TEXT.split())

_TOKEN = re.compile(
    r"""
    (?P<doc>///[^\n]*)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<space>\s+)
  | (?P<name>%?[A-Za-z][A-Za-z0-9-]*(?::%?[A-Za-z][A-Za-z0-9-]*)?(?:/%?[A-Za-z][A-Za-z0-9-]*)?(?:@[0-9A-Za-z.+-]+)?)
  | (?P<number>[0-9]+)
  | (?P<punct>[{}();:,<>=.*\->_])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

LinkFor = Callable[[str], str | None]
"""Given an FFQN text, the URL of its submit page, or None when it cannot be submitted."""


@dataclass(slots=True)
class _Scope:
    kind: str
    """``package``, ``interface``, ``world`` or ``block`` (any other brace)."""
    name: str = ""


@dataclass(slots=True)
class _State:
    package: str = ""
    scopes: list[_Scope] = field(default_factory=list)
    pending: _Scope | None = None
    """The scope the next ``{`` opens (set by ``package x``, ``interface x``, ``world x``)."""

    def package_name(self) -> str:
        for scope in reversed(self.scopes):
            if scope.kind == "package":
                return scope.name
        return self.package

    def interface_name(self) -> str | None:
        for scope in reversed(self.scopes):
            if scope.kind == "interface":
                return scope.name
            if scope.kind in ("package", "world"):
                return None
        return None


def ffqn_of(package: str, interface: str, function: str) -> str:
    """``ns:pkg@1.0`` + ``ifc`` + ``fn`` -> ``ns:pkg/ifc@1.0.fn`` (the version belongs to the interface)."""
    name, _, version = package.partition("@")
    return f"{name}/{interface}{'@' + version if version else ''}.{function}"


def highlight_wit(text: str, link_for: LinkFor) -> Markup:
    tokens = [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(text)]
    state = _State()
    out: list[str] = []
    previous_keyword = ""
    for index, (kind, value) in enumerate(tokens):
        if kind == "name":
            out.append(_name(value, tokens, index, state, previous_keyword, link_for))
            if value in KEYWORDS:
                previous_keyword = value
            elif previous_keyword in ("package", "interface", "world"):
                previous_keyword = ""
            continue
        if kind == "punct":
            _structure(value, state)
            if value in ";{":
                previous_keyword = ""
        out.append(_span(kind, value))
    return Markup("".join(out))


def _next_significant(tokens: list[tuple[str, str]], index: int, count: int = 2) -> list[str]:
    found: list[str] = []
    for kind, value in tokens[index + 1 :]:
        if kind in ("space", "comment", "doc"):
            continue
        found.append(value)
        if len(found) == count:
            break
    return found


def _name(
    value: str,
    tokens: list[tuple[str, str]],
    index: int,
    state: _State,
    previous_keyword: str,
    link_for: LinkFor,
) -> str:
    if value in KEYWORDS:
        return _span("kw", value)
    if previous_keyword == "package":
        following = _next_significant(tokens, index, 1)
        if following[:1] == ["{"]:
            state.pending = _Scope("package", value)
        else:
            state.package = value
        return _span("pkg", value)
    if previous_keyword in ("interface", "world"):
        state.pending = _Scope(previous_keyword, value)
        return _span("ifc", value)
    if value in BUILTIN_TYPES:
        return _span("ty", value)
    interface = state.interface_name()
    if interface is not None and _next_significant(tokens, index) == [":", "func"]:
        ffqn = ffqn_of(state.package_name(), interface, value.lstrip("%"))
        url = link_for(ffqn)
        if url is not None:
            return f'<a class="fn" href="{escape(url)}" title="submit {escape(ffqn)}">{escape(value)}</a>'
        return _span("fn", value)
    if ":" in value or "/" in value:
        return _span("pkg", value)
    return _span("id", value)


def _structure(value: str, state: _State) -> None:
    if value == "{":
        state.scopes.append(state.pending or _Scope("block"))
        state.pending = None
    elif value == "}" and state.scopes:
        state.scopes.pop()
    elif value == ";":
        state.pending = None


def _span(kind: str, value: str) -> str:
    if kind in ("space", "punct", "other"):
        return str(escape(value))
    return f'<span class="w-{kind}">{escape(value)}</span>'
