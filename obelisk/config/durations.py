"""Durations as the original writes them in TOML: a table with exactly one unit key, ``{secs = N}``.

A ``timedelta`` is the in-memory form because the rest of the code base does time arithmetic with it; the
helpers here convert in both directions so a rendered config reads the same as a hand-written one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

# Unit name -> how many microseconds one unit is; nanoseconds below a microsecond are rejected, since
# timedelta cannot hold them and silently rounding a configured value would surprise.
_UNITS: dict[str, int] = {"secs": 1_000_000, "millis": 1_000, "micros": 1}
_NANOS = "nanos"
UNIT_NAMES: tuple[str, ...] = ("secs", "millis", "micros", "nanos")


def parse_duration(value: object) -> timedelta:
    """Turn ``{secs = N}`` / ``{millis = N}`` / ``{micros = N}`` / ``{nanos = N}`` into a ``timedelta``.

    Raises ``ValueError`` with a message fit for the user (pydantic reports it at the key's location).
    """
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a duration table such as {{secs = 1}} or {{millis = 200}}, got {_describe(value)}")
    keys = list(value.keys())
    unknown = [k for k in keys if k not in UNIT_NAMES]
    if unknown:
        raise ValueError(f"unknown duration unit {unknown[0]!r}; use exactly one of {', '.join(UNIT_NAMES)}")
    if len(keys) != 1:
        raise ValueError(
            f"a duration needs exactly one of {', '.join(UNIT_NAMES)}, got {len(keys)} keys "
            f"({', '.join(keys) or 'none'})"
        )
    unit = keys[0]
    amount = value[unit]
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"duration {unit} must be a non-negative integer, got {_describe(amount)}")
    if amount < 0:
        raise ValueError(f"duration {unit} must be a non-negative integer, got {amount}")
    if unit == _NANOS:
        if amount % 1_000:
            raise ValueError(f"duration nanos must be a whole number of microseconds, got {amount}")
        return timedelta(microseconds=amount // 1_000)
    return timedelta(microseconds=amount * _UNITS[unit])


def duration_to_toml(value: timedelta) -> dict[str, int]:
    """The shortest exact TOML table for ``value`` (``{secs = 10}`` rather than ``{millis = 10000}``)."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    for unit in ("secs", "millis"):
        factor = _UNITS[unit]
        if micros % factor == 0:
            return {unit: micros // factor}
    return {"micros": micros}


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(duration_to_toml, return_type=dict[str, int], when_used="json"),
]
"""Field type for a duration key; validates the TOML form, serialises back to it in JSON mode."""


def describe_value(value: Any) -> str:
    """A TOML-looking rendering of a user's value for error messages."""
    return _describe(value)
