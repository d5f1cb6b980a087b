"""The text of the sample ``obelisk.toml`` written by ``obelisk server generate-config``.

Lines starting with ``# `` document keys; lines starting with ``#`` directly followed by a key or a header are
ready-to-use examples (a test un-comments them all and loads the result, so the examples cannot rot).
"""

from __future__ import annotations

from pathlib import Path

from obelisk.config.errors import ConfigFileExistsError

SAMPLE_CONFIG = """\
# Obelisk server configuration.
# Unknown keys are errors. Durations are tables with one unit: {secs = N} or {millis = N}.
# Paths may start with ${DATA_DIR} (~/.local/share/obelisk), ${CACHE_DIR} (~/.cache/obelisk) or
# ${CONFIG_DIR} (~/.config/obelisk); the XDG_*_HOME variables are honoured. Relative paths are relative to
# the directory of this file. Any key can be overridden by an environment variable such as
# OBELISK__api__listening_addr="127.0.0.1:5006" (tables separated by "__", value parsed as TOML if it parses).

# gRPC API used by `obelisk client ...` (required).
api.listening_addr = "127.0.0.1:5005"
# API tokens (docs/security.md), for the API and the web UI's sign-in. With none, anyone who reaches the API or
# the UI may do anything, so both must then listen on loopback (127.0.0.1, ::1, localhost) unless
# api.allow_unauthenticated = true. Tokens are stored as hashes, safe to commit: `obelisk generate token` prints
# a new token and its line. A plain hash is an operator (reads, submits, cancels, pauses); an entry written
# { hash = "sha256:<hex>", role = "viewer" } reads only (`obelisk generate token --role viewer`). Clients send the
# token as `authorization: Bearer <token>` (obelisk client: --api-token or OBELISK_API_TOKEN).
#api.token_hashes = ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
# One plaintext operator token may come from the environment, OBELISK__API__TOKEN=<token>; api.token = "..."
# written in a file is refused.
# Listen beyond loopback without any token (a private network, or a proxy that authenticates):
#api.allow_unauthenticated = true

# Web UI; remove the key (or the table) to turn the web UI off.
webui.listening_addr = "127.0.0.1:8080"
# The names the UI answers to in the Host header (port ignored); default: the listening host, "localhost",
# "127.0.0.1" and "::1".
# Other names get 400, so a DNS-rebinding page cannot reach the UI; ["*"] accepts any.
#webui.host_names = ["localhost", "obelisk.example.org"]
# Slow or silent browsers: a request head must arrive within header_timeout of its first byte, a body within
# body_timeout (else 408), and a connection without a request is closed after idle_timeout.
#webui.header_timeout = {secs = 10}
#webui.body_timeout = {secs = 30}
#webui.idle_timeout = {secs = 60}
#webui.max_live_streams = 100             # live-updating execution pages at once; past it 503

# Where the original Obelisk keeps components pulled from OCI registries or converted from core modules. Neither
# is offered here (location.oci and core modules are refused), so nothing is written there; accepted as it is.
wasm_cache_directory = "${CACHE_DIR}/wasm"

# wasmtime instance allocator: "auto" (default; allocates on demand here), "on_demand" or "pooling" (instances
# come from a pool reserved at start-up and sized by [wasmtime_pooling_config] below; an instantiation past its
# limits fails and is retried).
# wasmtime_allocator_config = "auto"
#wasmtime_allocator_config = "pooling"

# With PostgreSQL (below), where each server keeps its identity: its executor id, and a lock on it held while the
# server runs. Every server sharing a database needs its own, so two servers on one host need two directories.
# Created at start-up. Default "${DATA_DIR}"; not used with SQLite (the identity is kept beside the database file).
#data_directory = "${DATA_DIR}"

# The database. SQLite is the default: one file, used by one server at a time.
[database.sqlite]
# The file is <directory>/obelisk.sqlite; the directory is created at start-up.
directory = "${DATA_DIR}"
# PRAGMA synchronous: "FULL" (default, durable on power loss), "NORMAL" or "OFF". The engine sets the other
# pragmas it relies on itself (WAL journal, busy timeout, ...), and refuses them here.
pragma = { synchronous = "FULL" }
# The first form of these settings is still accepted instead of [database.sqlite] (not beside it):
#   [sqlite]
#   file = "${DATA_DIR}/obelisk.sqlite"
#   synchronous = "FULL"
#   queue_capacity = 100, low_prio_threshold = 100   (the original's write-queue settings: only these values
#                                                    are accepted, as this storage has no such queue)

# PostgreSQL instead: several servers with the same components share one database and its work (each execution
# is run by one server at a time; a server that dies leaves its work to the others). Replace [database.sqlite]
# with this table (giving both is an error). ${NAME} in host, user, password and db_name is read from the
# environment, so that the password stays out of this file.
# [database.postgres]
# host = "localhost"                   # a host name, an IP address, or a Unix-socket directory: "/run/postgresql"
# port = 5432
# user = "obelisk"
# password = "${OBELISK_DB_PASSWORD}"  # leave it out for peer authentication over a Unix socket, or ~/.pgpass
# db_name = "obelisk"
# pool_size = 4                        # connections for reads, beside the one that writes and the one that listens
# provision_policy = "auto"            # "auto": create the database if missing (the role needs CREATEDB); "never"

[codegen_cache]
# Compiled components, keyed by digest and wasmtime version. A cache as well.
enabled = true
directory = "${CACHE_DIR}/codegen"

[log.stdout]
# The console log (written to standard error; standard output carries the server's own lines).
# enabled: true/false.
# level: a default level and target=level directives (default "info,app=trace"). Levels: trace, debug, info,
#   warn, error, off. Targets are logger names and cover the loggers below them ("obelisk.storage"); "app" is the
#   guests' obelisk:log calls and workflows' output.
# style: "plain_compact" (default: local time, level, message), "plain" (UTC time to the microsecond) or "json"
#   (one object per line: time, level, logger, message, and execution_id when the line has one).
# target: put the logger name before the message (default false; "json" always has it).
# span: "none" only (the original's tracing spans have no counterpart here; other values are refused).
enabled = true
level = "info,app=trace"
style = "plain_compact"
span = "none"
target = false

# Log to a file as well; the same keys as [log.stdout] (style defaults to "plain") plus directory, prefix and
# rotation, all three required. The file is <directory>/<prefix>; with rotation "minutely", "hourly" or "daily" it
# is renamed at each UTC boundary to <prefix>.<period> (obelisk.log.2025-01-20 for daily), and nothing is ever
# deleted; "never" keeps one file.
#[log.file]
#enabled = true
#level = "info"
#style = "plain"
#span = "none"
#target = false
#directory = "${DATA_DIR}/logs"
#prefix = "obelisk.log"
#rotation = "daily"

# OpenTelemetry export: not implemented yet. The table is accepted, and a server given values other than these
# defaults logs a warning at start-up that nothing is exported.
#[otlp]
#enabled = false
#level = "info,app=trace"
#service_name = "obelisk-server"
#otlp_endpoint = "http://localhost:4317"

# Limits of the pooling allocator; accepted with wasmtime_allocator_config = "pooling" only. Unset keys keep
# wasmtime's defaults. A component whose memory exceeds pooling_max_memory_size fails to load.
# memory_protection_keys = true and any pooling_total_stacks = N are refused: wasmtime-py can turn on neither
# memory protection keys nor the async stacks that would be pooled.
#[wasmtime_pooling_config]
#pooling_memory_keep_resident = 0
#pooling_table_keep_resident = 0
#memory_protection_keys = false
#pooling_total_core_instances = 1000
#pooling_total_component_instances = 1000
#pooling_total_memories = 1000
#pooling_total_tables = 1000
#pooling_max_memory_size = 4294967296

# ---------------------------------------------------------------------------------------------------------
# Components. Every component has a unique name (letters, digits, underscores) and a location.path
# (location.oci = "docker.io/..." is not supported yet). Activities and workflows have an [exec] table:
#   batch_size = 5                       executions locked per tick
#   lock_expiry = {secs = 1}             lock duration, which is also the maximum run time of one attempt
#   tick_sleep = {millis = 200}          maximum wait between ticks
#   max_inflight_instances = "unlimited" or an integer; default 2 x CPUs (activities), 4 x CPUs (workflows)

# An activity: side effects, retried on trap, timeout and (unless retry_on_err = false) on an err result.
#[[activity_wasm]]
#name = "fibo_activity"
#location.path = "build/components/fibo_activity.wasm"
#max_retries = 5                        # attempts after the first one
#retry_exp_backoff = {millis = 100}     # retry n waits backoff * 2^(n-1)
#retry_on_err = true
#forward_stdout = "none"                # "none", "stdout" or "stderr"
#forward_stderr = "none"
#env_vars = ["HOME", "GREETING=hello"]   # "KEY" copies the server's variable, "KEY=value" sets one
#allowed_hosts = ["api.github.com", "*.example.com", "localhost:8080", {host = "x.org", methods = ["GET"]}]
#exec.batch_size = 5
#exec.lock_expiry = {secs = 1}
#exec.tick_sleep = {millis = 200}
#exec.max_inflight_instances = "unlimited"
# allowed_hosts limits outbound HTTP to host globs with an optional port; leave it out to allow every host.

# A workflow: deterministic, replayed from its event history, retried forever.
#[[workflow]]
#name = "fibo_workflow"
#location.path = "build/components/fibo_workflow.wasm"
#retry_exp_backoff = {millis = 100}     # must be non-zero
#join_next_blocking_strategy = "await"  # "await" keeps the instance while waiting, "interrupt" replays later
#non_blocking_event_batching = 100      # submit/schedule events written in one transaction
#retry_on_trap = false                  # a trap is a permanent failure unless true
#convert_core_module = true             # either way a workflow must be a component: core modules are refused
#forward_stdout = "none"                # "none" only: a workflow's output always goes to the server log
#forward_stderr = "none"
#exec.lock_expiry = {secs = 2}

# An HTTP server that webhook endpoints are mounted on.
#[[http_server]]
#name = "external_webhook"
#listening_addr = "127.0.0.1:9090"
#max_inflight_requests = "unlimited"     # or an integer; requests past it get 503
#max_request_body_bytes = 10485760       # 10 MiB; larger bodies get 413
#header_timeout = {secs = 10}             # from a request's first byte to the end of its head; then 408
#body_timeout = {secs = 30}               # from the end of the head to the end of the body; then 408
#idle_timeout = {secs = 60}               # a connection without a request is closed after it
#shutdown_grace = {secs = 10}             # at shutdown, time for requests in flight; the rest are stopped

# A webhook endpoint: a wasi:http/incoming-handler component on routes of an http_server.
# routes: "" (everything), "/exact", "/prefix/*", "/x/:param" (params become env vars), or tables with methods.
#[[webhook_endpoint]]
#name = "fibo_webhook"
#location.path = "build/components/fibo_webhook.wasm"
#http_server = "external_webhook"
#routes = [{methods = ["GET"], route = "/fibo/:N/:ITERATIONS"}, "/status"]
#env_vars = ["GREETING=hello"]
#forward_stdout = "none"
#forward_stderr = "none"
#request_timeout = {secs = 60}            # from arrival; then the guest is stopped and the client gets 504
"""


def write_sample_config(path: Path) -> None:
    """Write ``SAMPLE_CONFIG`` to ``path``; never overwrites (``ConfigFileExistsError``)."""
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(SAMPLE_CONFIG)
    except FileExistsError:
        raise ConfigFileExistsError(path) from None
