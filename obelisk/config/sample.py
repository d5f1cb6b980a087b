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

# TLS (docs/security.md#tls): PEM files, read at start-up (restart to pick up a renewed certificate). The
# certificate file holds the chain, the server's certificate first; the key must be unencrypted. Without them the
# listener is plaintext. With tls_client_ca_file the API requires a client certificate signed by that CA (mutual
# TLS); `obelisk client --tls --ca ca.pem [--client-cert c.pem --client-key c.key]` then connects.
#api.tls_cert_file = "${CONFIG_DIR}/tls/server.pem"
#api.tls_key_file = "${CONFIG_DIR}/tls/server.key"
#api.tls_client_ca_file = "${CONFIG_DIR}/tls/client-ca.pem"
#webui.tls_cert_file = "${CONFIG_DIR}/tls/server.pem"
#webui.tls_key_file = "${CONFIG_DIR}/tls/server.key"

# Prometheus metrics at http://<listening_addr>/metrics (docs/observability.md); off while the key is unset. The
# endpoint has no authentication: an address off the loopback interface is refused unless
# metrics.allow_unauthenticated = true says that exposing it is intended.
#metrics.listening_addr = "127.0.0.1:9464"
#metrics.allow_unauthenticated = false

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

# OpenTelemetry traces over OTLP/gRPC (docs/observability.md#traces): a span per execution and per run, and per
# host call (children, sleeps, outbound HTTP) when the level of the `app` target is debug or trace.
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

# Outbound HTTP of activities. Without an [outbound_http] table every request is allowed (narrow it per activity
# with allowed_hosts). With one, a request goes out only if an entry matches it, and allowed_hosts narrows further;
# [outbound_http] without entries denies every request. A refused request fails in the guest with
# HTTP-request-denied and a warning in the log.
#   pattern: "[scheme://]host[:port]": no scheme means https, "*://" either; no port means 443/80, ":*" any port;
#            "*" only as the first or last character of the host ("*.example.com", "*" for every host).
#   methods: "*" for every method, or a list; leave it out (or []) and the entry allows nothing (a warning says so).
#   request_url_regex: optional, searched in "METHOD scheme://host[:port]/path" (no query).
#   secrets, replace_in: the secrets (names of [secrets]) put into requests this entry matches, and where:
#            "headers" (header values), "params" (query parameter values), "body" (UTF-8 text, JSON or form bodies).
# A guest sees each secret as an environment variable of the secret's name holding a random placeholder (fresh for
# every attempt); the host replaces the placeholder with the value only where an entry says so. ${NAME} in pattern
# and request_url_regex is read from the environment.
#[[outbound_http.allowed_host]]
#pattern = "api.github.com"
#methods = ["GET", "POST"]
#request_url_regex = "^(GET|POST) https://api[.]github[.]com/repos/"
#secrets = ["GITHUB_TOKEN"]
#replace_in = ["headers"]

# Secrets: a name (letters, digits, underscores) and where its value is read at start-up, never this file:
# { env = "VAR" } or { file = "/path" } (with systemd credentials: "${CREDENTIALS_DIRECTORY}/name"; one trailing
# newline is dropped). Only secrets named by an [[outbound_http.allowed_host]] entry are read.
#[secrets]
#GITHUB_TOKEN = { env = "GITHUB_TOKEN" }
#OTHER_TOKEN = { file = "${CREDENTIALS_DIRECTORY}/other_token" }

# ---------------------------------------------------------------------------------------------------------
# Components. Every component has a unique name (letters, digits, underscores) and a location.path
# (location.oci = "docker.io/..." is not supported: components are files). Activities and workflows have an
# [exec] table:
#   batch_size = 5                       executions locked per tick
#   lock_expiry = {secs = 1}             lock duration, which is also the maximum run time of one attempt
#   tick_sleep = {millis = 200}          maximum wait between ticks
#   max_inflight_instances = "unlimited" or an integer; default 2 x CPUs (activities), 4 x CPUs (workflows)
# Every component has max_memory_size: the bytes each linear memory of one instance may grow to (default 536870912,
# 512 MiB; "unlimited" lifts it). Past it memory.grow fails inside the guest; an activity whose guest dies of that
# fails with a resource-limit failure (not retried) naming the limit.

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
#max_outbound_requests = 100           # HTTP requests one attempt may start, or "unlimited"
#max_memory_size = 536870912           # 512 MiB, or "unlimited"
#exec.batch_size = 5
#exec.lock_expiry = {secs = 1}
#exec.tick_sleep = {millis = 200}
#exec.max_inflight_instances = "unlimited"
# allowed_hosts narrows outbound HTTP to host globs with an optional port; leave it out to allow what
# [outbound_http] allows (every host without that table).

# A workflow: deterministic, replayed from its event history, retried forever.
#[[workflow]]
#name = "fibo_workflow"
#location.path = "build/components/fibo_workflow.wasm"
#retry_exp_backoff = {millis = 100}     # must be non-zero
#join_next_blocking_strategy = "await"  # "await" keeps the instance while waiting, "interrupt" replays later
#non_blocking_event_batching = 100      # submit/schedule events written in one transaction
#max_uncommitted_steps = 24             # inline steps ahead of their commits; a kill -9 may run this + 1 again
#retry_on_trap = false                  # a trap is a permanent failure unless true
#convert_core_module = true             # either way a workflow must be a component: core modules are refused
#forward_stdout = "none"                # "none" only: a workflow's output always goes to the server log
#forward_stderr = "none"
#max_memory_size = 536870912
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
#max_memory_size = 536870912
"""


def write_sample_config(path: Path) -> None:
    """Write ``SAMPLE_CONFIG`` to ``path``; never overwrites (``ConfigFileExistsError``)."""
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(SAMPLE_CONFIG)
    except FileExistsError:
        raise ConfigFileExistsError(path) from None
