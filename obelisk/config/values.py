"""Small value types shared by the config models: socket addresses, limits, env-var entries, HTTP methods.

Each parser raises ``ValueError`` with a message written for the user; pydantic attaches the key location and
the loader attaches the file and line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Literal

from obelisk.config.durations import describe_value
from obelisk.config.errors import MissingEnvVarError

UNLIMITED: Literal["unlimited"] = "unlimited"
Limit = Literal["unlimited"] | int

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_ENV_KEY = re.compile(r"^[^=\s]+$")
_METHOD = re.compile(r"^[A-Za-z]+$")


def parse_socket_addr(text: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets) and check both halves.

    Host names are accepted besides IP literals (the original took IP literals only); they are resolved when the
    server binds.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            raise ValueError(f'expected "[ipv6]:port", got "{text}"')
        host, port_text = text[1:end], text[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f'"{host}" in "{text}" is not an IPv6 address') from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f'expected a socket address "host:port" such as "127.0.0.1:5005", got "{text}"')
        if ":" in host:
            raise ValueError(f'IPv6 addresses must be written in brackets, e.g. "[::1]:5005", got "{text}"')
        if not _HOSTNAME.match(host):
            raise ValueError(f'"{host}" in "{text}" is neither an IP address nor a host name')
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f'port of "{text}" must be an integer between 0 and 65535, got "{port_text}"')
    return host, int(port_text)


def validate_host(text: str) -> str:
    """Where a database server is: a host name, an IP address (IPv6 without brackets), or the absolute path of the
    directory holding its Unix socket (``/run/postgresql``)."""
    if text.startswith("/"):
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOSTNAME.match(text):
            raise ValueError(
                f'expected a host name, an IP address or the absolute path of a socket directory, got "{text}"'
            ) from None
    return text


def validate_socket_addr(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected a socket address string "host:port", got {describe_value(value)}')
    parse_socket_addr(value)
    return value


def validate_limit(value: object) -> Limit:
    """``"unlimited"`` or a positive integer, as the original's ``InflightSemaphore`` setting."""
    if value == UNLIMITED:
        return UNLIMITED
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f'expected "unlimited" or a positive integer, got {describe_value(value)}')


def validate_env_var_entry(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected "KEY" or "KEY=value", got {describe_value(value)}')
    key = value.split("=", 1)[0]
    if not key or not _ENV_KEY.match(key):
        raise ValueError(f'expected "KEY" or "KEY=value" with a non-empty KEY without spaces, got "{value}"')
    return value


def validate_http_method(value: object) -> str:
    if not isinstance(value, str) or not _METHOD.match(value):
        raise ValueError(f'expected an HTTP method such as "GET", got {describe_value(value)}')
    return value.upper()


def resolve_env_vars(
    entries: Iterable[str],
    host_env: Mapping[str, str],
    component: str | None = None,
    *,
    ignore_missing: bool = False,
) -> dict[str, str]:
    """Turn ``env_vars`` entries into the environment a component sees.

    A bare ``KEY`` copies the host's value and is an error when the host lacks it (``ignore_missing`` drops it
    instead, for ``server verify --ignore-missing-env-vars``); ``KEY=value`` sets a literal. Later entries win.
    """
    result: dict[str, str] = {}
    for entry in entries:
        key, sep, literal = entry.partition("=")
        if sep:
            result[key] = literal
        elif key in host_env:
            result[key] = host_env[key]
        elif not ignore_missing:
            raise MissingEnvVarError(key, component)
    return result
