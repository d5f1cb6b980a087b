"""Which HTTP requests an activity may make, and which secrets go into them: kept apart from the HTTP machinery
(``outgoing.py``, which imports ``http.client`` and ``ssl``) so that a server whose activities make no request
never loads it.

Two layers decide, both must allow: the operator's ``[[outbound_http.allowed_host]]`` rules (``OperatorPolicy``;
absent: no such layer) and the activity's own ``allowed_hosts`` (``allows``; absent: no such layer). Secrets come
only from the operator's rules: a secret is put into a request when a rule that matches the request lists it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from obelisk.concepts.errors import ObeliskError
from obelisk.config.interpolation import interpolate
from obelisk.config.outbound_http import (
    ALL_METHODS,
    DEFAULT_PORTS,
    HostPattern,
    OutboundHttpConfig,
    SecretSourceConfig,
)
from obelisk.config.paths import ConfigDirs

HostCheck = Callable[[str, int | None, str], bool]
"""``(host, port or None, METHOD) -> allowed``: ``ActivityConfig.is_host_allowed`` has this shape."""
Location = Literal["headers", "params", "body"]
PLACEHOLDER_PREFIX = "OBELISK_SECRET_"


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """What the policy looks at: the scheme, host, port (the scheme's default when the URL has none), method,
    and the path without its query."""

    scheme: str
    host: str
    port: int | None
    method: str
    path: str

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme, 0)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"

    @property
    def line(self) -> str:
        """``GET https://api.example.com/v1/items``: what ``request_url_regex`` is searched in."""
        return f"{self.method} {self.url}"


@dataclass(frozen=True, slots=True)
class HostRule:
    """One ``[[outbound_http.allowed_host]]`` entry, compiled."""

    text: str
    pattern: HostPattern
    methods: frozenset[str] | None
    """``None``: every method."""
    url_regex: re.Pattern[str] | None
    secrets: tuple[str, ...]
    replace_in: frozenset[str]

    def matches(self, target: RequestTarget) -> bool:
        if self.methods is not None and target.method.upper() not in self.methods:
            return False
        if not self.pattern.matches(target.scheme, target.host, target.effective_port):
            return False
        return self.url_regex is None or self.url_regex.search(target.line) is not None


class SecretValues:
    """Secret values by name, read once at start-up; never printed (``repr`` names the secrets only)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def value(self, name: str) -> str:
        return self._values[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._values)

    def __repr__(self) -> str:
        return f"SecretValues({', '.join(self._values)})"


@dataclass(frozen=True, slots=True)
class OperatorPolicy:
    """``[[outbound_http.allowed_host]]`` and the values of the secrets it names."""

    rules: tuple[HostRule, ...]
    values: SecretValues

    @classmethod
    def from_config(cls, config: OutboundHttpConfig, values: SecretValues) -> OperatorPolicy:
        rules = []
        for entry in config.allowed_host:
            if entry.allows_no_method:
                continue  # allows nothing (the loader warned)
            methods = None if entry.methods == ALL_METHODS else frozenset(entry.methods or ())
            regex = re.compile(entry.request_url_regex) if entry.request_url_regex is not None else None
            rules.append(
                HostRule(
                    entry.pattern,
                    entry.host_pattern,
                    methods,
                    regex,
                    tuple(entry.secrets),
                    frozenset(entry.replace_in),
                )
            )
        return cls(tuple(rules), values)

    def new_placeholders(self) -> dict[str, str]:
        """A fresh random placeholder for each secret: the guest sees these, never the values."""
        return {name: PLACEHOLDER_PREFIX + secrets.token_hex(32) for name in self.values.names}


@dataclass(frozen=True, slots=True)
class Denied:
    by: str
    """Which layer refused: ``[[outbound_http.allowed_host]]`` or ``allowed_hosts of <component>``."""


@dataclass(frozen=True, slots=True)
class Allowed:
    substitutions: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """By location (``headers``, ``params``, ``body``): the ``(placeholder, value)`` pairs to replace there."""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """What one attempt may reach. Without ``operator`` and ``allows`` everything is allowed."""

    allows: HostCheck | None = None
    operator: OperatorPolicy | None = None
    placeholders: Mapping[str, str] = field(default_factory=dict)
    """The attempt's placeholder of each secret, by secret name."""
    max_requests: int | None = None
    """Requests the attempt may start; ``None``: no limit."""
    owner: str = ""
    """The component, for messages."""
    execution_id: str = ""
    """The attempt's execution, for the log line of a refused request."""

    def permits(self, host: str, port: int | None, method: str) -> bool:
        return self.allows is None or self.allows(host, port, method)

    def decide(self, target: RequestTarget) -> Allowed | Denied:
        matching: list[HostRule] = []
        if self.operator is not None:
            matching = [rule for rule in self.operator.rules if rule.matches(target)]
            if not matching:
                return Denied("[[outbound_http.allowed_host]]")
        if not self.permits(target.host, target.port, target.method):
            return Denied(f"allowed_hosts of {self.owner}" if self.owner else "allowed_hosts")
        if self.operator is None or not self.placeholders:
            return Allowed()
        substitutions: dict[str, list[tuple[str, str]]] = {}
        for rule in matching:
            for location in rule.replace_in:
                for name in rule.secrets:
                    pair = (self.placeholders[name], self.operator.values.value(name))
                    if pair not in substitutions.setdefault(location, []):
                        substitutions[location].append(pair)
        return Allowed({location: tuple(pairs) for location, pairs in substitutions.items()})


class SecretUnavailableError(ObeliskError):
    """A secret of ``[secrets]`` whose value cannot be read at start-up (an unset variable, a missing file)."""


def read_secret_values(sources: Mapping[str, SecretSourceConfig], env: Mapping[str, str]) -> SecretValues:
    """Each secret's value, from its variable or its file (one trailing newline dropped, as files have one)."""
    values: dict[str, str] = {}
    for name, source in sources.items():
        if source.env is not None:
            if source.env not in env:
                raise SecretUnavailableError(
                    f'secrets.{name}: environment variable {source.env} is not set (source {{ env = "{source.env}" }})'
                )
            values[name] = env[source.env]
            continue
        assert source.file is not None  # SecretSourceConfig has exactly one source
        try:
            path = Path(interpolate(source.file, env, ConfigDirs.from_env(env)))
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SecretUnavailableError(
                f'secrets.{name}: cannot read file "{source.file}" (source {{ file = ... }}): {error}'
            ) from None
        values[name] = text.removesuffix("\n").removesuffix("\r")
    return SecretValues(values)


def load_operator_policy(
    config: OutboundHttpConfig | None, sources: Mapping[str, SecretSourceConfig], env: Mapping[str, str]
) -> OperatorPolicy | None:
    """The operator's policy with the values of the secrets its rules name; ``None`` without ``[outbound_http]``."""
    if config is None:
        return None
    used = {name for entry in config.allowed_host for name in entry.secrets}
    values = read_secret_values({name: source for name, source in sources.items() if name in used}, env)
    return OperatorPolicy.from_config(config, values)
