"""Keys of the original that have nothing to act on here: refused at any value but their default, or warned about.

A configuration written for the original must load, so these keys stay in the schema; but a key that is accepted
and then does nothing would let an operator believe a setting is in force. So each of them is refused, naming the
key and the reason, unless it holds the value that asks for nothing (the default). A setting that loads but cannot
take effect is warned about instead (``unsupported_warnings``). docs/compatibility.md#configuration lists every key
and what it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obelisk.config.models import KeyPath, ObeliskConfig

NO_SPANS = "this implementation logs records, not the original's tracing spans, so there are no span events to log"
WORKFLOW_OUTPUT = (
    "a workflow's output always goes to the server log, line by line with its execution id "
    "(docs/architecture.md#workflow-clock-and-output)"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A key that only its default (or an equivalent value) may hold, and why."""

    path: tuple[str, ...]
    """Where the key is; ``*`` stands for every element of an array of tables."""
    accepted: tuple[Any, ...]
    """The values that ask for nothing: the default first."""
    reason: str


REFUSALS: tuple[Refusal, ...] = (
    Refusal(
        ("sqlite", "queue_capacity"),
        (100,),
        "the SQLite storage here has no bounded request queue: writes wait in their callers and are committed in"
        " groups",
    ),
    Refusal(
        ("sqlite", "low_prio_threshold"),
        (100,),
        "the SQLite storage here has no low-priority requests to hold back: every write joins the next group commit",
    ),
    Refusal(("log", "stdout", "span"), ("none",), NO_SPANS),
    Refusal(("log", "file", "span"), ("none",), NO_SPANS),
    Refusal(
        ("wasmtime_pooling_config", "memory_protection_keys"),
        (None, False),
        "wasmtime-py cannot turn on memory protection keys (its C API has no such setting)",
    ),
    Refusal(
        ("wasmtime_pooling_config", "pooling_total_stacks"),
        (None,),
        "wasmtime-py runs guests without async stacks, so the pooling allocator has no stacks to pool",
    ),
    Refusal(("workflow", "*", "forward_stdout"), ("none",), WORKFLOW_OUTPUT),
    Refusal(("workflow", "*", "forward_stderr"), ("none",), WORKFLOW_OUTPUT),
)

POOLING_ALLOCATOR = "pooling"


def unsupported_problems(config: ObeliskConfig) -> list[tuple[KeyPath, str]]:
    """Every refused key holding a value other than its accepted ones, and pooling settings without the pool."""
    problems: list[tuple[KeyPath, str]] = []
    for refusal in REFUSALS:
        for loc, value in _values_at(config, refusal.path):
            if not any(value == accepted and type(value) is type(accepted) for accepted in refusal.accepted):
                default = refusal.accepted[0]
                fix = "remove the key" if default is None else f"remove the key or set it to {_toml(default)}"
                problems.append((loc, f"not supported: {refusal.reason}; {fix}"))
    if config.wasmtime_allocator_config != POOLING_ALLOCATOR:
        pooling = config.wasmtime_pooling_config
        for name in type(pooling).model_fields:
            value = getattr(pooling, name)
            refused = any(loc == ("wasmtime_pooling_config", name) for loc, _ in problems)
            if value is not None and value is not False and not refused:
                problems.append(
                    (
                        ("wasmtime_pooling_config", name),
                        "takes effect with the pooling allocator only: set wasmtime_allocator_config = "
                        f'"{POOLING_ALLOCATOR}" (it is "{config.wasmtime_allocator_config}"; "auto" chooses '
                        "on-demand allocation here), or remove the key",
                    )
                )
    return problems


def unsupported_warnings(config: ObeliskConfig) -> list[tuple[KeyPath, str]]:
    """Keys that load but have no effect; the server logs each at start-up (``server verify`` prints them)."""
    # Here, not at the top: obelisk.tracing.level reads levels with obelisk.config.log_levels, below this package.
    from obelisk.tracing.level import SpanDetail, span_detail  # noqa: PLC0415

    warnings: list[tuple[KeyPath, str]] = []
    otlp = config.otlp
    if otlp is not None and otlp.enabled and span_detail(otlp.level) is SpanDetail.NONE:
        warnings.append(
            (
                ("otlp", "level"),
                f'otlp.enabled is true, but level "{otlp.level}" selects no spans (the app target needs info or '
                "finer, docs/observability.md#traces): nothing is exported",
            )
        )
    return warnings


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _values_at(node: Any, path: tuple[str, ...], loc: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """The values at ``path`` below ``node`` with their locations; absent optional tables yield nothing."""
    if not path:
        yield loc, node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for index, item in enumerate(node):
            yield from _values_at(item, rest, (*loc, index))
        return
    child = getattr(node, head)
    if child is None and rest:
        return
    yield from _values_at(child, rest, (*loc, head))
