"""The schema of ``obelisk.toml`` (keys and defaults of the original's ``src/config/toml.rs``).

Models are strict (TOML is typed, so ``max_retries = "5"`` is a mistake, not a number) and forbid unknown keys
(a typo must not silently fall back to a default). Cross-field rules that need the whole document live in
``cross_field_problems`` so the loader can point each one at a file and line.
"""

# No ``from __future__ import annotations`` here: pydantic would have to evaluate every field annotation from
# its string (typing._eval_type), which cost ~8 ms of each server start.
import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from obelisk.api.tokens import parse_token_hash
from obelisk.config.durations import Duration, describe_value
from obelisk.config.exposure import exposure_problems, unauthenticated_exposure_problem
from obelisk.config.interpolation import interpolate
from obelisk.config.log_levels import validate_level_filter
from obelisk.config.outbound_http import (
    OutboundHttpConfig,
    SecretName,
    SecretSourceConfig,
    outbound_http_problems,
    secret_env_problems,
)
from obelisk.config.paths import ConfigDirs, expand_path
from obelisk.config.unsupported import unsupported_problems
from obelisk.config.values import (
    UNLIMITED,
    Limit,
    parse_socket_addr,
    resolve_env_vars,
    validate_env_var_entry,
    validate_host,
    validate_http_method,
    validate_limit,
    validate_socket_addr,
)

CONTEXT_KEY = "obelisk_config"
COMPONENT_KINDS: tuple[str, ...] = ("activity_wasm", "workflow", "webhook_endpoint")
DEFAULT_MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_LIVE_STREAMS = 100
DEFAULT_MAX_MEMORY_SIZE = 512 * 1024 * 1024
"""Bytes of linear memory one instance may grow to (``max_memory_size``): docs/decisions.md#resource-limits."""
DEFAULT_MAX_OUTBOUND_REQUESTS = 100
"""Outgoing HTTP requests of one activity attempt (``max_outbound_requests``)."""
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class ValidationContext:
    """What path validation needs to know about the machine; passed as pydantic validation context."""

    dirs: ConfigDirs
    cwd: Path
    home: str | None = None
    skip_cross_checks: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    """Where ``${NAME}`` in string values is looked up (``obelisk.config.interpolation``)."""
    ignore_missing_env_vars: bool = False
    """``server verify --ignore-missing-env-vars``: an unset ``${NAME}`` becomes ``""`` and is listed in
    ``missing_env_vars`` instead of being an error."""
    missing_env_vars: list[str] = field(default_factory=list)
    """``key: NAME`` for each unset variable let through by ``ignore_missing_env_vars``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> Self:
        return cls(dirs=ConfigDirs.from_env(env), cwd=cwd or Path.cwd(), home=env.get("HOME"), env=env)


def _context(info: ValidationInfo) -> ValidationContext | None:
    ctx = info.context
    if isinstance(ctx, Mapping):
        found = ctx.get(CONTEXT_KEY)
        if isinstance(found, ValidationContext):
            return found
    return None


def _expand_config_path(value: Path, info: ValidationInfo) -> Path:
    """Expand prefixes in file values and defaults alike; the loader already anchored file-relative paths."""
    ctx = _context(info) or ValidationContext.from_env(os.environ)
    return expand_path(value, ctx.dirs, ctx.cwd, ctx.home)


ConfigPath = Annotated[Path, Strict(False), AfterValidator(_expand_config_path)]
"""A filesystem path key: accepts a TOML string, expands ``${DATA_DIR}``-style prefixes and ``~``."""

ComponentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+$")]
SocketAddr = Annotated[str, PlainValidator(validate_socket_addr)]
LimitValue = Annotated[Limit, PlainValidator(validate_limit)]
EnvVarEntry = Annotated[str, PlainValidator(validate_env_var_entry)]
HttpMethod = Annotated[str, PlainValidator(validate_http_method)]
NonNegativeU32 = Annotated[int, Field(ge=0, le=U32_MAX)]
PositiveU32 = Annotated[int, Field(ge=1, le=U32_MAX)]
NonNegativeU64 = Annotated[int, Field(ge=0, le=U64_MAX)]
StdForwarding = Literal["none", "stdout", "stderr"]


def _empty_table() -> dict[str, Any]:
    """Default factories are Python functions, not ``dict``/``list``: pydantic inspects each factory's signature,
    and for a builtin that means tokenizing its text signature, ~4 ms of server start-up for the first one."""
    return {}


def _empty_array() -> list[Any]:
    return []


# Nested tables default to an empty table that is *validated* (validate_default), so their path defaults are
# expanded with the loader's context rather than the process environment.
def _default_table() -> Any:
    return Field(default_factory=_empty_table)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


# ---------------------------------------------------------------------------------------------- server-wide


def _valid_token_hash(value: str) -> str:
    parse_token_hash(value)
    return value.lower()


class TokenHashConfig(_Model):
    """One accepted API token, by its digest (``obelisk.api.tokens``), with the role it is given."""

    hash: Annotated[str, AfterValidator(_valid_token_hash)]
    role: Literal["viewer", "operator"] = "operator"


def _token_hash_item(value: Any) -> Any:
    """``"sha256:..."`` is short for ``{hash = "sha256:..."}`` (an operator), the original's form."""
    return {"hash": value} if isinstance(value, str) else value


def _non_empty_token(value: str | None) -> str | None:
    """Surrounding whitespace is dropped, as clients drop it (a token read from a file ends with a newline)."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError("must not be empty (unset OBELISK__API__TOKEN rather than setting it to nothing)")
    return value.strip()


class TlsFilesConfig(_Model):
    """A listener's certificate and private key (PEM files, read at start-up: a restart picks up renewed ones).

    Both or neither: a server without TLS is plaintext, as before. The files are checked, and their contents
    loaded, by ``obelisk.api.tls`` before anything is started."""

    tls_cert_file: ConfigPath | None = None
    """The certificate chain, the server's certificate first."""
    tls_key_file: ConfigPath | None = None
    """Its private key, unencrypted (keep it readable by the server only)."""

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            given, missing = (
                ("tls_cert_file", "tls_key_file") if self.tls_key_file is None else ("tls_key_file", "tls_cert_file")
            )
            raise ValueError(f"{given} is set but {missing} is not: TLS needs both the certificate and its key")
        return self


class ApiConfig(TlsFilesConfig):
    listening_addr: SocketAddr
    token_hashes: list[Annotated[TokenHashConfig, BeforeValidator(_token_hash_item)]] = Field(
        default_factory=_empty_array
    )
    """Accepted tokens by digest: safe to commit (``obelisk generate token`` prints a token and its line)."""
    token: Annotated[str | None, AfterValidator(_non_empty_token), Field(repr=False, exclude=True)] = None
    """A plaintext operator token, from the environment only (``OBELISK__API__TOKEN``): refused in a file."""
    allow_unauthenticated: bool = False
    """Let the API and the web UI listen on a non-loopback address without any token (``exposure_problems``)."""
    tls_client_ca_file: ConfigPath | None = None
    """Mutual TLS: a client must present a certificate signed by one of these CA certificates (PEM)."""

    @model_validator(mode="after")
    def _client_ca_needs_tls(self) -> Self:
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs TLS: set tls_cert_file and tls_key_file too")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_socket_addr(self.listening_addr)


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive_duration)]


class HttpConnectionLimits(_Model):
    """How long an HTTP server waits for a slow or silent client (``[[http_server]]`` and ``[webui]``).

    ``header_timeout`` runs from the first byte of a request to the end of its head, ``body_timeout`` from the end
    of the head to the end of the body (408 past it), ``idle_timeout`` while a connection has no request (a new
    connection before its first byte, a keep-alive connection between requests). Past the first or the last the
    connection is closed, so a client that sends nothing, or a byte at a time, holds a socket for a bounded time.
    """

    header_timeout: PositiveDuration = timedelta(seconds=10)
    body_timeout: PositiveDuration = timedelta(seconds=30)
    idle_timeout: PositiveDuration = timedelta(seconds=60)


class WebUiConfig(HttpConnectionLimits, TlsFilesConfig):
    listening_addr: SocketAddr | None = None
    host_names: list[str] | None = None
    """The names the UI answers to in the ``Host`` header (a port is ignored); ``None``: the listening address's host
    and loopback (``localhost``, ``127.0.0.1``, ``::1``); ``["*"]``: any. Others get 400, so a DNS-rebinding page
    cannot reach a loopback UI."""
    max_live_streams: Annotated[int, Field(ge=1)] = DEFAULT_MAX_LIVE_STREAMS
    """Live-update streams (server-sent events) served at once; past it a new one gets 503."""


class MetricsConfig(_Model):
    """The Prometheus ``/metrics`` listener (``obelisk.metrics``); off while ``listening_addr`` is unset."""

    listening_addr: SocketAddr | None = None
    allow_unauthenticated: bool = False
    """Allow a ``listening_addr`` off the loopback interface (the endpoint has no authentication of its own)."""

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> Self:
        if self.listening_addr is not None:
            problem = unauthenticated_exposure_problem(
                "metrics.listening_addr",
                self.listening_addr,
                "metrics.allow_unauthenticated",
                self.allow_unauthenticated,
            )
            if problem is not None:
                raise ValueError(problem)
        return self


SQLITE_FILE_NAME = "obelisk.sqlite"
DEFAULT_SYNCHRONOUS: Literal["FULL"] = "FULL"
SQLITE_PRAGMAS: Mapping[str, tuple[str, ...]] = {"synchronous": ("FULL", "NORMAL", "OFF")}
"""The pragmas ``[database.sqlite] pragma`` may set, with their values. The engine sets the others itself (WAL
journal, busy timeout, cache and mmap sizes, ...): the storage relies on them, so they are refused by name."""


class SqliteConfig(_Model):
    """``[sqlite]``: the first form of the SQLite settings, still accepted in place of ``[database.sqlite]``."""

    file: ConfigPath = Path("${DATA_DIR}/" + SQLITE_FILE_NAME)
    synchronous: Annotated[
        Literal["FULL", "NORMAL", "OFF"],
        BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
    ] = DEFAULT_SYNCHRONOUS
    # The original's writer-queue settings: refused at other values (obelisk.config.unsupported).
    queue_capacity: PositiveU32 = 100
    low_prio_threshold: PositiveU32 = 100


def _validate_pragmas(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f'expected a table such as {{ synchronous = "FULL" }}, got {describe_value(value)}')
    pragmas: dict[str, str] = {}
    for name, setting in value.items():
        allowed = SQLITE_PRAGMAS.get(name)
        if allowed is None:
            raise ValueError(
                f'pragma "{name}" cannot be set (the engine sets the pragmas it relies on itself); '
                f"accepted: {', '.join(SQLITE_PRAGMAS)}"
            )
        if not isinstance(setting, str) or setting.upper() not in allowed:
            expected = ", ".join(f'"{a}"' for a in allowed)
            raise ValueError(f"pragma {name}: expected one of {expected}, got {describe_value(setting)}")
        pragmas[name] = setting.upper()
    return pragmas


class SqliteDatabaseConfig(_Model):
    """``[database.sqlite]`` (the original's newer keys): SQLite, the default database; one server per file."""

    directory: ConfigPath = Path("${DATA_DIR}")
    pragma: Annotated[dict[str, str], PlainValidator(_validate_pragmas)] = Field(default_factory=_empty_table)

    @property
    def file(self) -> Path:
        return self.directory / SQLITE_FILE_NAME


def _interpolated(value: str, info: ValidationInfo, key: str) -> str:
    """``value`` with its ``${NAME}`` references replaced; ``key`` names the value in what is recorded when an unset
    variable is let through for ``server verify --ignore-missing-env-vars``."""
    ctx = _context(info) or ValidationContext.from_env(os.environ)
    if not ctx.ignore_missing_env_vars:
        return interpolate(value, ctx.env, ctx.dirs)

    def let_through(name: str) -> str:
        ctx.missing_env_vars.append(f"{key}: {name}")
        return ""

    return interpolate(value, ctx.env, ctx.dirs, on_missing=let_through)


class PostgresDatabaseConfig(_Model):
    """``[database.postgres]``: selects PostgreSQL, which several servers may share (each with its own
    ``data_directory``). Keys of the original's newer releases, plus ``port`` and ``pool_size``."""

    host: str
    """A host name, an IP address, or the absolute path of the directory of the server's Unix socket."""
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    user: str
    password: Annotated[str | None, Field(repr=False)] = None
    """``None``: no password (peer authentication over a Unix socket, trust, ``~/.pgpass``)."""
    db_name: str
    pool_size: Annotated[int, Field(ge=1, le=1000)] = 4
    provision_policy: Literal["auto", "never"] = "auto"

    @field_validator("host", "user", "password", "db_name")
    @classmethod
    def _interpolate(cls, value: str | None, info: ValidationInfo) -> str | None:
        assert info.field_name is not None
        if value is None:
            return None
        if not value and info.field_name != "password":
            raise ValueError("must not be empty")
        resolved = _interpolated(value, info, f"database.postgres.{info.field_name}")
        if info.field_name == "host" and resolved:  # empty only when verify let an unset variable through
            validate_host(resolved)
        return resolved


@dataclass(frozen=True, slots=True)
class SqliteBackend:
    """The SQLite database in use, whichever table (``[database.sqlite]``, ``[sqlite]``, none) described it."""

    file: Path
    synchronous: str


DatabaseBackend = SqliteBackend | PostgresDatabaseConfig
"""The database a server uses (``ObeliskConfig.backend``); ``obelisk.database`` matches on it."""


class DatabaseConfig(_Model):
    """``[database]``: at most one of its tables. None at all means SQLite in ``${DATA_DIR}``."""

    sqlite: SqliteDatabaseConfig | None = None
    postgres: PostgresDatabaseConfig | None = None


class CodegenCacheConfig(_Model):
    enabled: bool = True
    directory: ConfigPath = Path("${CACHE_DIR}/codegen")


WasmtimeAllocator = Literal["auto", "on_demand", "pooling"]


class WasmtimePoolingConfig(_Model):
    """Limits of wasmtime's pooling allocator (``wasmtime_allocator_config = "pooling"``); unset keys keep wasmtime's
    defaults. Set with another allocator they are refused, as are the two wasmtime-py cannot honour
    (``memory_protection_keys = true``, ``pooling_total_stacks``): see ``obelisk.config.unsupported``."""

    pooling_memory_keep_resident: NonNegativeU64 | None = None
    pooling_table_keep_resident: NonNegativeU64 | None = None
    memory_protection_keys: bool | None = None
    pooling_total_core_instances: NonNegativeU32 | None = None
    pooling_total_component_instances: NonNegativeU32 | None = None
    pooling_total_memories: NonNegativeU32 | None = None
    pooling_total_tables: NonNegativeU32 | None = None
    pooling_total_stacks: NonNegativeU32 | None = None
    pooling_max_memory_size: NonNegativeU64 | None = None


LogLevelFilter = Annotated[str, AfterValidator(validate_level_filter)]
"""``info,app=trace``: see ``obelisk.config.log_levels``."""


class OtlpConfig(_Model):
    """OpenTelemetry traces exported over OTLP/gRPC (``obelisk.tracing``; docs/observability.md#traces). ``level``
    selects which spans, read as the original's filter (``obelisk.tracing.level``)."""

    enabled: bool = False
    level: LogLevelFilter = "info,app=trace"
    service_name: str = "obelisk-server"
    otlp_endpoint: str = "http://localhost:4317"


LogStyle = Literal["plain", "plain_compact", "json"]
LogSpan = Literal["none", "new", "enter", "exit", "close", "active", "full"]
LogRotation = Literal["minutely", "hourly", "daily", "never"]


class StdoutLogConfig(_Model):
    """The console log (``obelisk.log_sinks``); ``span`` is refused at values other than ``"none"``."""

    enabled: bool = True
    level: LogLevelFilter = "info,app=trace"
    style: LogStyle = "plain_compact"
    span: LogSpan = "none"
    target: bool = False


class FileLogConfig(_Model):
    """A log file rotated by the clock (``obelisk.log_sinks``); ``span`` as in ``[log.stdout]``."""

    enabled: bool = True
    level: LogLevelFilter = "info,app=trace"
    style: LogStyle = "plain"
    span: LogSpan = "none"
    target: bool = False
    directory: ConfigPath
    prefix: str
    rotation: LogRotation


class LogConfig(_Model):
    stdout: StdoutLogConfig = _default_table()
    file: FileLogConfig | None = None


# ---------------------------------------------------------------------------------------------- components


class LocationConfig(_Model):
    path: ConfigPath | None = None
    oci: str | None = None

    @model_validator(mode="after")
    def _exactly_path(self) -> Self:
        if self.oci is not None:
            raise ValueError("OCI locations are not supported yet; use location.path")
        if self.path is None:
            raise ValueError('location needs a path, e.g. location.path = "build/components/x.wasm"')
        return self


class ExecConfig(_Model):
    batch_size: PositiveU32 = 5
    lock_expiry: Duration = timedelta(seconds=1)
    tick_sleep: Duration = timedelta(milliseconds=200)
    max_inflight_instances: LimitValue | None = None

    @field_validator("lock_expiry")
    @classmethod
    def _positive_lock_expiry(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("lock_expiry must be greater than zero (it is the run timeout)")
        return value

    def resolve_max_inflight_instances(self, per_cpu: int, cpu_count: int | None = None) -> int | None:
        """The concurrency limit to use; ``None`` means unlimited.

        When unset: ``per_cpu`` times the CPU count, the per-kind default (docs/architecture.md#executors-and-threads).
        """
        if self.max_inflight_instances == UNLIMITED:
            return None
        if isinstance(self.max_inflight_instances, int):
            return self.max_inflight_instances
        return per_cpu * (cpu_count or os.cpu_count() or 1)


def _item_from_string(key: str) -> Any:
    """Let a list accept the short string form of an item table (``"x"`` for ``{key = "x"}``)."""

    def convert(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return BeforeValidator(convert)


class AllowedHostConfig(_Model):
    """One outbound-HTTP allowlist entry: ``host-glob[:port]``, optionally limited to some methods."""

    host: str
    methods: list[HttpMethod] | None = None

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        glob, port = _split_host_pattern(value)
        if not glob:
            raise ValueError(f'expected "host-glob[:port]" such as "*.example.com:443", got "{value}"')
        del port
        return value

    @property
    def host_glob(self) -> str:
        return _split_host_pattern(self.host)[0]

    @property
    def port(self) -> int | None:
        return _split_host_pattern(self.host)[1]

    def matches(self, host: str, port: int | None, method: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.port is not None and port != self.port:
            return False
        return fnmatch.fnmatchcase(host.lower(), self.host_glob.lower())


def _split_host_pattern(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [ipv6] or [ipv6]:port
        end = text.find("]")
        if end < 0:
            raise ValueError(f'unterminated "[" in host pattern "{text}"')
        rest = text[end + 1 :]
        if not rest:
            return text[1:end], None
        if not rest.startswith(":") or not rest[1:].isdigit():
            raise ValueError(f'expected "[ipv6]:port" in host pattern "{text}"')
        return text[1:end], _port(rest[1:], text)
    host, sep, port_text = text.rpartition(":")
    if not sep:
        return text, None
    if not port_text.isdigit():
        raise ValueError(f'port of host pattern "{text}" must be an integer')
    return host, _port(port_text, text)


def _port(text: str, whole: str) -> int:
    port = int(text)
    if not 0 < port <= 65535:
        raise ValueError(f'port of host pattern "{whole}" must be between 1 and 65535')
    return port


class RouteConfig(_Model):
    """A webhook route (``""`` = everything, ``/p/*``, ``/x/:param``) with optional method filter."""

    route: str
    methods: list[HttpMethod] | None = None

    @field_validator("route")
    @classmethod
    def _check_route(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f'a route must be "" or start with "/", got "{value}"')
        return value


class _ComponentCommon(_Model):
    name: ComponentName
    location: LocationConfig
    max_memory_size: LimitValue = DEFAULT_MAX_MEMORY_SIZE
    """Bytes each linear memory of one instance may grow to; past it ``memory.grow`` fails in the guest."""

    @property
    def memory_limit(self) -> int | None:
        return None if self.max_memory_size == UNLIMITED else int(self.max_memory_size)

    @property
    def location_path(self) -> Path:
        assert self.location.path is not None  # guaranteed by LocationConfig's validator
        return self.location.path


class ActivityConfig(_ComponentCommon):
    exec: ExecConfig = _default_table()
    max_retries: NonNegativeU32 = 5
    retry_exp_backoff: Duration = timedelta(milliseconds=100)
    retry_on_err: bool = True
    forward_stdout: StdForwarding = "none"
    forward_stderr: StdForwarding = "none"
    env_vars: list[EnvVarEntry] = Field(default_factory=_empty_array)
    allowed_hosts: list[Annotated[AllowedHostConfig, _item_from_string("host")]] | None = None
    max_outbound_requests: LimitValue = DEFAULT_MAX_OUTBOUND_REQUESTS
    """Outgoing HTTP requests one attempt may start; past it a request fails in the guest at once."""

    KIND: ClassVar[str] = "activity_wasm"

    @property
    def outbound_request_limit(self) -> int | None:
        return None if self.max_outbound_requests == UNLIMITED else int(self.max_outbound_requests)

    def resolve_max_inflight_instances(self, cpu_count: int | None = None) -> int | None:
        return self.exec.resolve_max_inflight_instances(2, cpu_count)

    def resolved_env(self, host_env: Mapping[str, str], *, ignore_missing: bool = False) -> dict[str, str]:
        return resolve_env_vars(self.env_vars, host_env, self.name, ignore_missing=ignore_missing)

    def is_host_allowed(self, host: str, port: int | None, method: str) -> bool:
        """Absent ``allowed_hosts`` allows everything; an empty list allows nothing."""
        if self.allowed_hosts is None:
            return True
        return any(entry.matches(host, port, method) for entry in self.allowed_hosts)


DEFAULT_MAX_UNCOMMITTED_STEPS = 24
"""How many inline steps of a workflow run may be uncommitted while its guest goes on, unless configured."""


class WorkflowConfig(_ComponentCommon):
    exec: ExecConfig = _default_table()
    retry_exp_backoff: Duration = timedelta(milliseconds=100)
    join_next_blocking_strategy: Literal["await", "interrupt"] = "await"
    non_blocking_event_batching: NonNegativeU32 = 100
    max_uncommitted_steps: Annotated[int, Field(ge=1, le=1024)] = DEFAULT_MAX_UNCOMMITTED_STEPS
    """How far a run may get ahead of its last commit, in inline activity steps whose commits are outstanding: the
    larger, the more steps share one fsync; a ``kill -9`` may run this many + 1 of the run's activities again (1:
    a step waits for the commit before the one it writes, and at most 2 run again)."""
    retry_on_trap: bool = False
    convert_core_module: bool = True
    """Components only, whatever its value: a core module is refused at load, naming this key."""
    forward_stdout: StdForwarding = "none"
    """Refused at other values: a workflow's output always goes to the server log."""
    forward_stderr: StdForwarding = "none"

    KIND: ClassVar[str] = "workflow"

    @field_validator("retry_exp_backoff")
    @classmethod
    def _non_zero_backoff(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("retry_exp_backoff of a workflow must be non-zero (workflows retry forever)")
        return value

    def resolve_max_inflight_instances(self, cpu_count: int | None = None) -> int | None:
        return self.exec.resolve_max_inflight_instances(4, cpu_count)


class HttpServerConfig(HttpConnectionLimits):
    name: ComponentName
    listening_addr: SocketAddr
    max_inflight_requests: LimitValue = UNLIMITED
    max_request_body_bytes: Annotated[int, Field(ge=0)] = DEFAULT_MAX_REQUEST_BODY_BYTES
    shutdown_grace: Duration = timedelta(seconds=10)
    """At shutdown, how long requests in flight may still finish before their guests are stopped."""

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_socket_addr(self.listening_addr)


class WebhookEndpointConfig(_ComponentCommon):
    http_server: str
    routes: list[Annotated[RouteConfig, _item_from_string("route")]] = Field(default_factory=_empty_array)
    env_vars: list[EnvVarEntry] = Field(default_factory=_empty_array)
    forward_stdout: StdForwarding = "none"
    forward_stderr: StdForwarding = "none"
    request_timeout: PositiveDuration = timedelta(seconds=60)
    """A request's deadline, from its arrival: past it the guest is stopped and the client gets 504."""

    KIND: ClassVar[str] = "webhook_endpoint"

    def resolved_env(self, host_env: Mapping[str, str], *, ignore_missing: bool = False) -> dict[str, str]:
        return resolve_env_vars(self.env_vars, host_env, self.name, ignore_missing=ignore_missing)


ComponentConfig = ActivityConfig | WorkflowConfig | WebhookEndpointConfig


# ---------------------------------------------------------------------------------------------- root


class ObeliskConfig(_Model):
    api: ApiConfig
    webui: WebUiConfig | None = None
    metrics: MetricsConfig = _default_table()
    sqlite: SqliteConfig | None = None
    """``[sqlite]`` as written, if it was; ``backend`` is the database in use, however it was configured."""
    database: DatabaseConfig = _default_table()
    data_directory: ConfigPath | None = None
    """Where a server whose database is shared (PostgreSQL) keeps its identity, locked for its life: each server
    on one database needs its own. Defaults to ``${DATA_DIR}`` with PostgreSQL; with SQLite the identity is kept
    beside the database file, which one server uses at a time, and this key is not used."""
    wasm_cache_directory: ConfigPath = Path("${CACHE_DIR}/wasm")
    codegen_cache: CodegenCacheConfig = _default_table()
    wasmtime_allocator_config: WasmtimeAllocator = "auto"
    """``auto`` is on-demand allocation here (docs/decisions.md#configuration)."""
    wasmtime_pooling_config: WasmtimePoolingConfig = _default_table()
    otlp: OtlpConfig | None = None
    log: LogConfig = _default_table()
    activity_wasm: list[ActivityConfig] = Field(default_factory=_empty_array)
    workflow: list[WorkflowConfig] = Field(default_factory=_empty_array)
    http_server: list[HttpServerConfig] = Field(default_factory=_empty_array)
    webhook_endpoint: list[WebhookEndpointConfig] = Field(default_factory=_empty_array)
    outbound_http: OutboundHttpConfig | None = None
    """The operator's policy for activities' outgoing HTTP; ``None`` allows every request (``outbound_http.py``)."""
    secrets: dict[SecretName, SecretSourceConfig] = Field(default_factory=_empty_table)

    @model_validator(mode="before")
    @classmethod
    def _database_defaults(cls, data: Any) -> Any:
        """No database table means SQLite in ``${DATA_DIR}``, and PostgreSQL without ``data_directory`` means an
        identity in ``${DATA_DIR}``. Filled in here rather than as field defaults so that a default is expanded,
        and ``${DATA_DIR}`` needed (it is not known to a bare service without ``HOME``), only when it is used."""
        if not isinstance(data, Mapping):
            return data
        database = data.get("database", {})
        if not isinstance(database, Mapping):
            return data
        data = dict(data)
        if "sqlite" not in data and not database.keys() & {"sqlite", "postgres"}:
            data["database"] = {**database, "sqlite": {}}
        elif "postgres" in database and "data_directory" not in data:
            data["data_directory"] = "${DATA_DIR}"
        return data

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Self:
        ctx = _context(info)
        if ctx is not None and ctx.skip_cross_checks:
            return self
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(f"{format_key_path(loc)}: {msg}" for loc, msg in problems))
        return self

    @property
    def backend(self) -> DatabaseBackend:
        """The database this server uses (when two tables select one, ``cross_field_problems`` refuses the config)."""
        if self.database.postgres is not None:
            return self.database.postgres
        if self.database.sqlite is not None:
            sqlite = self.database.sqlite
            return SqliteBackend(sqlite.file, sqlite.pragma.get("synchronous", DEFAULT_SYNCHRONOUS))
        if self.sqlite is not None:
            return SqliteBackend(self.sqlite.file, self.sqlite.synchronous)
        raise AssertionError("no database: _database_defaults configures SQLite when none is given")

    @property
    def webui_listening_addr(self) -> str | None:
        return self.webui.listening_addr if self.webui is not None else None

    def components(self) -> list[ComponentConfig]:
        """All components in declaration order per kind: activities, workflows, webhook endpoints."""
        return [*self.activity_wasm, *self.workflow, *self.webhook_endpoint]

    def component(self, name: str) -> ComponentConfig | None:
        return next((c for c in self.components() if c.name == name), None)

    def http_server_by_name(self, name: str) -> HttpServerConfig | None:
        return next((s for s in self.http_server if s.name == name), None)


KeyPath = tuple[str | int, ...]


def format_key_path(path: KeyPath) -> str:
    """``("activity_wasm", 1, "exec")`` -> ``activity_wasm[1].exec``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def cross_field_problems(config: ObeliskConfig) -> list[tuple[KeyPath, str]]:
    """Rules spanning several tables: unique names, existing http servers, distinct listening addresses; and the
    keys refused at other values than their defaults (``obelisk.config.unsupported``)."""
    problems: list[tuple[KeyPath, str]] = []

    seen: dict[str, KeyPath] = {}
    for kind in COMPONENT_KINDS:
        items: list[_ComponentCommon] = getattr(config, kind)
        for index, component in enumerate(items):
            here: KeyPath = (kind, index)
            if component.name in seen:
                problems.append(
                    (
                        (*here, "name"),
                        f'duplicate component name "{component.name}" '
                        f"(already used by {format_key_path(seen[component.name])})",
                    )
                )
            else:
                seen[component.name] = here

    servers: dict[str, int] = {}
    for index, server in enumerate(config.http_server):
        if server.name in servers:
            problems.append(
                (
                    ("http_server", index, "name"),
                    f'duplicate http_server name "{server.name}" (already used by http_server[{servers[server.name]}])',
                )
            )
        else:
            servers[server.name] = index

    for index, webhook in enumerate(config.webhook_endpoint):
        if webhook.http_server not in servers:
            defined = ", ".join(f'"{name}"' for name in servers) or "none ([[http_server]] is missing)"
            problems.append(
                (
                    ("webhook_endpoint", index, "http_server"),
                    f'unknown http_server "{webhook.http_server}"; defined http_server names: {defined}',
                )
            )

    problems += _database_problems(config)
    problems += outbound_http_problems(config.outbound_http, config.secrets)
    problems += secret_env_problems(
        config.secrets,
        [
            ((kind, index, "env_vars"), component.env_vars)
            for kind in ("activity_wasm", "webhook_endpoint")
            for index, component in enumerate(getattr(config, kind))
        ],
    )
    problems += exposure_problems(config)
    problems += unsupported_problems(config)

    addresses: list[tuple[KeyPath, str]] = [(("api", "listening_addr"), config.api.listening_addr)]
    if config.webui is not None and config.webui.listening_addr is not None:
        addresses.append((("webui", "listening_addr"), config.webui.listening_addr))
    if config.metrics.listening_addr is not None:
        addresses.append((("metrics", "listening_addr"), config.metrics.listening_addr))
    addresses += [(("http_server", i, "listening_addr"), s.listening_addr) for i, s in enumerate(config.http_server)]
    bound: dict[tuple[str, int], KeyPath] = {}
    for loc, addr in addresses:
        host_port = parse_socket_addr(addr)
        if host_port[1] == 0:  # an ephemeral port never collides
            continue
        if host_port in bound:
            problems.append((loc, f'address "{addr}" is already used by {format_key_path(bound[host_port])}'))
        else:
            bound[host_port] = loc
    return problems


def _database_problems(config: ObeliskConfig) -> list[tuple[KeyPath, str]]:
    """Two tables that each choose the database: which one was meant is the user's call, not the loader's."""
    problems: list[tuple[KeyPath, str]] = []
    database = config.database
    if config.sqlite is not None and database.sqlite is not None:
        problems.append(
            (
                ("database", "sqlite"),
                "[sqlite] and [database.sqlite] both configure the SQLite database: keep one"
                " ([database.sqlite] is the newer form: directory, pragma)",
            )
        )
    if database.postgres is not None:
        for table, given in (("sqlite", config.sqlite), ("database.sqlite", database.sqlite)):
            if given is not None:
                problems.append(
                    (
                        ("database", "postgres"),
                        f"[{table}] selects SQLite and [database.postgres] selects PostgreSQL: keep one",
                    )
                )
    return problems
