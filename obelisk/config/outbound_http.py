"""``[[outbound_http.allowed_host]]`` and ``[secrets]``: the operator's policy for HTTP requests made by activities.

The keys and their meaning are the original's newer ones. With no ``[outbound_http]`` table every request is allowed
(as before this policy existed); with one, a request is sent only when an entry matches its scheme, host, port and
method (and ``request_url_regex``, if given), so ``[outbound_http]`` with no entry denies everything. An activity's
own ``allowed_hosts`` narrows this further.

A secret is a name in ``[secrets]`` with a source: ``{ env = "VAR" }`` (the original's) or ``{ file = "path" }``
(for systemd credentials; ``${CREDENTIALS_DIRECTORY}/name`` is interpolated). Its value is read when the server
starts, never written here. A guest sees an environment variable of the secret's name holding a random
placeholder, fresh for each attempt; the host puts the value in place of the placeholder only in the parts of a
request (``replace_in``) to a host whose entry lists the secret.

Kept apart from ``models.py`` because it is a table of its own that only the wasm layer reads; its models follow
the same rules (strict, unknown keys refused).
"""

# No ``from __future__ import annotations``: pydantic evaluates the annotations (see models.py).
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from obelisk.config.durations import describe_value
from obelisk.config.values import validate_http_method

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""A secret's name is also the name of the guest's environment variable that holds its placeholder."""
SecretName = Annotated[str, StringConstraints(pattern=SECRET_NAME_PATTERN)]
ReplaceIn = Literal["headers", "body", "params"]
ALL_METHODS = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


@dataclass(frozen=True, slots=True)
class HostPattern:
    """``[scheme://]host[:port]``: no scheme means https, ``*://`` either; no port means the scheme's default
    port, ``:*`` any; a ``*`` in the host only as its first or last character (``*.example.com``, ``10.0.0.*``,
    ``*`` alone: every host)."""

    scheme: Literal["http", "https", "*"]
    host: str
    port: int | Literal["*"] | None

    @classmethod
    def parse(cls, text: str) -> "HostPattern":
        scheme: Literal["http", "https", "*"] = "https"
        rest = text
        for prefix, name in (("*://", "*"), ("https://", "https"), ("http://", "http")):
            if text.startswith(prefix):
                scheme, rest = name, text[len(prefix) :]  # type: ignore[assignment]
                break
        if "/" in rest:
            raise ValueError(f'a host pattern has no path: "{text}" (write "scheme://host:port" only)')
        port: int | Literal["*"] | None = None
        host = rest
        if rest.endswith(":*"):
            host, port = rest[:-2], "*"
        elif not rest.endswith("]") and ":" in rest:
            head, _, tail = rest.rpartition(":")
            if tail.isdigit():
                host, port = head, int(tail)
                if not 0 < port <= 65535:
                    raise ValueError(f'port of host pattern "{text}" must be between 1 and 65535')
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise ValueError(f'host pattern "{text}" has no host')
        if "*" in host and host != "*" and not (host.count("*") == 1 and (host[0] == "*" or host[-1] == "*")):
            raise ValueError(f'a "*" must be the first or last character of the host in pattern "{text}"')
        return cls(scheme, host.lower(), port)

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme not in ("*", scheme):
            return False
        if self.port is None:
            if port != DEFAULT_PORTS.get(scheme):
                return False
        elif self.port not in ("*", port):
            return False
        host = host.lower()
        if self.host == "*":
            return True
        if self.host.startswith("*"):
            return host.endswith(self.host[1:])
        if self.host.endswith("*"):
            return host.startswith(self.host[:-1])
        return host == self.host


def _validate_methods(value: object) -> str | list[str]:
    """``"*"`` (or ``["*"]``) for every method, else a list of methods; omitted or ``[]`` allows none."""
    if value in (ALL_METHODS, [ALL_METHODS]):
        return ALL_METHODS
    if isinstance(value, list):
        if ALL_METHODS in value:
            raise ValueError('"*" stands alone: write methods = "*" to allow every method')
        return [validate_http_method(item) for item in value]
    raise ValueError(f'expected "*" or a list of HTTP methods such as ["GET", "POST"], got {describe_value(value)}')


class OutboundAllowedHostConfig(_Model):
    """One ``[[outbound_http.allowed_host]]`` entry."""

    pattern: str
    methods: Annotated[str | list[str], PlainValidator(_validate_methods)] | None = None
    """``None`` (omitted) and ``[]`` allow nothing, as in the original: the loader warns about such an entry."""
    request_url_regex: str | None = None
    """Searched in ``METHOD scheme://authority/path`` (the query left out), e.g. ``GET https://api.x.com/v1/``."""
    secrets: list[SecretName] = Field(default_factory=list)
    replace_in: list[ReplaceIn] = Field(default_factory=list)

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str, info: ValidationInfo) -> str:
        value = _interpolated(value, info, "pattern")
        HostPattern.parse(value)
        return value

    @field_validator("request_url_regex")
    @classmethod
    def _check_regex(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            value = _interpolated(value, info, "request_url_regex")
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from None
        return value

    @property
    def host_pattern(self) -> HostPattern:
        return HostPattern.parse(self.pattern)

    @property
    def allows_no_method(self) -> bool:
        return not self.methods


class OutboundHttpConfig(_Model):
    allowed_host: list[OutboundAllowedHostConfig] = Field(default_factory=list)


class SecretSourceConfig(_Model):
    """Where a secret's value is read at start-up: ``{ env = "VAR" }`` or ``{ file = "path" }``."""

    env: str | None = None
    file: str | None = None
    """``${NAME}`` is interpolated when the file is read (``${CREDENTIALS_DIRECTORY}/key`` under systemd)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError('a secret needs exactly one source: { env = "VAR" } or { file = "/path" }')
        if self.env is not None and not re.match(SECRET_NAME_PATTERN, self.env):
            raise ValueError(f'env = "{self.env}" is not an environment variable name')
        return self


def _interpolated(value: str, info: ValidationInfo, key: str) -> str:
    """``${NAME}`` replaced as in the other keys that take it (the original interpolates these two)."""
    from obelisk.config.models import _interpolated as interpolated  # noqa: PLC0415 - models imports this module

    return interpolated(value, info, f"outbound_http.allowed_host.{key}")


EnvVarsOf = Iterable[tuple[tuple[str | int, ...], Sequence[str]]]
"""``(location of a component's env_vars, its entries)``."""


def secret_env_problems(
    secrets: dict[str, SecretSourceConfig], components: EnvVarsOf
) -> list[tuple[tuple[str | int, ...], str]]:
    """``env_vars`` must not hand a guest a secret: not the variable a secret is read from (``"VAR"`` copies the
    server's value), and not a secret's name (that variable holds the secret's placeholder)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    sources = {source.env: name for name, source in secrets.items() if source.env is not None}
    for loc, entries in components:
        for entry in entries:
            key, sep, _ = entry.partition("=")
            if not sep and key in sources:
                problems.append(
                    (loc, f'"{key}" would give the guest the value of secret {sources[key]} (its source variable)')
                )
            elif key in secrets:
                problems.append((loc, f'"{key}" is the name of a secret: the guest gets its placeholder under it'))
    return problems


def outbound_http_problems(
    outbound: OutboundHttpConfig | None, secrets: dict[str, SecretSourceConfig]
) -> list[tuple[tuple[str | int, ...], str]]:
    """An entry naming a secret that ``[secrets]`` lacks, or naming secrets without saying where they go."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if outbound is None:
        return problems
    for index, entry in enumerate(outbound.allowed_host):
        for name in entry.secrets:
            if name not in secrets:
                known = ", ".join(sorted(secrets)) or "none ([secrets] is empty)"
                problems.append(
                    (
                        ("outbound_http", "allowed_host", index, "secrets"),
                        f'unknown secret "{name}"; the secrets of [secrets] are: {known}',
                    )
                )
        if entry.secrets and not entry.replace_in:
            problems.append(
                (
                    ("outbound_http", "allowed_host", index, "replace_in"),
                    f'secrets {entry.secrets} are never put into a request: say where with replace_in = ["headers"]'
                    ' (or "params", "body")',
                )
            )
    return problems


def outbound_http_warnings(outbound: OutboundHttpConfig | None) -> list[tuple[tuple[str | int, ...], str]]:
    if outbound is None:
        return []
    return [
        (
            ("outbound_http", "allowed_host", index, "pattern"),
            f'allowed_host "{entry.pattern}" has no methods, so it allows no request; write methods = "*" to allow '
            "every method",
        )
        for index, entry in enumerate(outbound.allowed_host)
        if entry.allows_no_method
    ]
