"""No key of ``obelisk.toml`` is silently ignored.

Every key of the config models is in exactly one of these lists, and each list is checked:

* ``CONSUMERS``: the key is read where it takes effect (the file must contain the given text);
* ``REFUSALS`` (``obelisk.config.unsupported``): a value other than the default is refused at load, naming the
  key and the reason, and the default loads;
* ``REFUSED_BY_MODEL``: every value is refused by the model itself;
* ``WARNED``: a non-default value loads with a warning naming the key (planned keys; none at present);
* ``WITHOUT_USE``: the key configures only what is refused elsewhere, and that refusal is checked.

A new key that is in none of them fails ``test_every_key_is_accounted_for``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import wasmtime
from pydantic import BaseModel

from obelisk.config import ConfigError, ObeliskConfig, load_config
from obelisk.config.unsupported import REFUSALS
from obelisk.wasm.cache_files import ComponentLoadError
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine

REPO = Path(__file__).resolve().parents[2]
ENV = {"HOME": "/home/tester"}
API = 'api.listening_addr = "127.0.0.1:5005"\n'

# Where each key takes effect: (file, text that reads it there).
CONSUMERS: dict[str, tuple[str, str]] = {
    "otlp.enabled": ("obelisk/tracing/setup.py", "not otlp.enabled"),
    "otlp.level": ("obelisk/tracing/setup.py", "span_detail(otlp.level)"),
    "otlp.service_name": ("obelisk/tracing/setup.py", "service_name=otlp.service_name"),
    "otlp.otlp_endpoint": ("obelisk/tracing/setup.py", "endpoint=otlp.otlp_endpoint"),
    "api.listening_addr": ("obelisk/server.py", "config.api.host_port"),
    "api.token_hashes[].hash": ("obelisk/api/tokens.py", "parse_token_hash(entry.hash)"),
    "api.token_hashes[].role": ("obelisk/api/tokens.py", "Role(entry.role)"),
    "api.token": ("obelisk/api/tokens.py", "api.token.encode()"),
    "api.allow_unauthenticated": ("obelisk/config/exposure.py", "api.allow_unauthenticated"),
    "webui.listening_addr": ("obelisk/server.py", "config.webui_listening_addr"),
    "webui.host_names": ("obelisk/webui/app.py", "limits.host_names"),
    "webui.max_live_streams": ("obelisk/webui/app.py", "limits.max_live_streams"),
    "webui.header_timeout": ("obelisk/webui/app.py", "header_timeout"),
    "webui.body_timeout": ("obelisk/webui/app.py", "body_timeout"),
    "webui.idle_timeout": ("obelisk/webui/app.py", "idle_timeout"),
    "api.tls_cert_file": ("obelisk/api/tls.py", "api.tls_cert_file"),
    "api.tls_key_file": ("obelisk/api/tls.py", "api.tls_key_file"),
    "api.tls_client_ca_file": ("obelisk/api/tls.py", "api.tls_client_ca_file"),
    "webui.tls_cert_file": ("obelisk/api/tls.py", "webui.tls_cert_file"),
    "webui.tls_key_file": ("obelisk/api/tls.py", "webui.tls_key_file"),
    "metrics.listening_addr": ("obelisk/server.py", "config.metrics.listening_addr"),
    "metrics.allow_unauthenticated": ("obelisk/config/models.py", "self.allow_unauthenticated"),
    "sqlite.file": ("obelisk/config/models.py", "SqliteBackend(self.sqlite.file, self.sqlite.synchronous)"),
    "sqlite.synchronous": ("obelisk/database.py", "synchronous=backend.synchronous"),
    "database.sqlite.directory": ("obelisk/config/models.py", "return self.directory / SQLITE_FILE_NAME"),
    "database.sqlite.pragma": ("obelisk/config/models.py", 'sqlite.pragma.get("synchronous"'),
    "database.postgres.host": ("obelisk/storage/postgres/target.py", ".host"),
    "database.postgres.port": ("obelisk/storage/postgres/target.py", ".port"),
    "database.postgres.user": ("obelisk/storage/postgres/target.py", ".user"),
    "database.postgres.password": ("obelisk/database.py", ".password"),
    "database.postgres.db_name": ("obelisk/storage/postgres/target.py", ".db_name"),
    "database.postgres.pool_size": ("obelisk/storage/postgres/backend.py", "target.pool_size"),
    "database.postgres.provision_policy": ("obelisk/database.py", "provision_policy"),
    "data_directory": ("obelisk/executor/identity.py", "data_directory"),
    "codegen_cache.enabled": ("obelisk/server.py", "config.codegen_cache.enabled"),
    "codegen_cache.directory": ("obelisk/server.py", "config.codegen_cache.directory"),
    "wasmtime_allocator_config": ("obelisk/server.py", "config.wasmtime_allocator_config"),
    "wasmtime_pooling_config.pooling_memory_keep_resident": (
        "obelisk/server.py",
        "pooling.pooling_memory_keep_resident",
    ),
    "wasmtime_pooling_config.pooling_table_keep_resident": ("obelisk/server.py", "pooling.pooling_table_keep_resident"),
    "wasmtime_pooling_config.pooling_total_core_instances": (
        "obelisk/server.py",
        "pooling.pooling_total_core_instances",
    ),
    "wasmtime_pooling_config.pooling_total_component_instances": (
        "obelisk/server.py",
        "pooling.pooling_total_component_instances",
    ),
    "wasmtime_pooling_config.pooling_total_memories": ("obelisk/server.py", "pooling.pooling_total_memories"),
    "wasmtime_pooling_config.pooling_total_tables": ("obelisk/server.py", "pooling.pooling_total_tables"),
    "wasmtime_pooling_config.pooling_max_memory_size": ("obelisk/server.py", "pooling.pooling_max_memory_size"),
    "log.stdout.enabled": ("obelisk/log_sinks.py", "config.stdout.enabled"),
    "log.stdout.level": ("obelisk/log_sinks.py", "parse_level_filter(config.stdout.level)"),
    "log.stdout.style": ("obelisk/log_sinks.py", "config.stdout.style"),
    "log.stdout.target": ("obelisk/log_sinks.py", "target=config.stdout.target"),
    "log.file.enabled": ("obelisk/log_sinks.py", "config.file.enabled"),
    "log.file.level": ("obelisk/log_sinks.py", "parse_level_filter(config.file.level)"),
    "log.file.style": ("obelisk/log_sinks.py", "make_formatter(config.style, target=config.target)"),
    "log.file.target": ("obelisk/log_sinks.py", "make_formatter(config.style, target=config.target)"),
    "log.file.directory": ("obelisk/log_sinks.py", "config.directory / config.prefix"),
    "log.file.prefix": ("obelisk/log_sinks.py", "config.directory / config.prefix"),
    "log.file.rotation": ("obelisk/log_sinks.py", "ClockRotatingFileHandler(path, config.rotation)"),
    "activity_wasm[].name": ("obelisk/server.py", "ComponentId.of(kind, component.name, compiled.digest)"),
    "activity_wasm[].location.path": ("obelisk/server.py", "component.location.path"),
    "activity_wasm[].exec.batch_size": ("obelisk/server.py", ".batch_size"),
    "activity_wasm[].exec.lock_expiry": ("obelisk/server.py", ".lock_expiry"),
    "activity_wasm[].exec.tick_sleep": ("obelisk/server.py", ".tick_sleep"),
    "activity_wasm[].exec.max_inflight_instances": ("obelisk/config/models.py", "self.max_inflight_instances"),
    "activity_wasm[].max_retries": ("obelisk/server.py", ".max_retries"),
    "activity_wasm[].retry_exp_backoff": ("obelisk/server.py", ".retry_exp_backoff"),
    "activity_wasm[].retry_on_err": ("obelisk/server.py", "retry_on_err=activity.retry_on_err"),
    "activity_wasm[].forward_stdout": ("obelisk/server.py", "OutputForwarding(activity.forward_stdout)"),
    "activity_wasm[].forward_stderr": ("obelisk/server.py", "OutputForwarding(activity.forward_stderr)"),
    "activity_wasm[].env_vars": ("obelisk/server.py", "resolve_env_vars(activity.env_vars"),
    "activity_wasm[].allowed_hosts[].host": ("obelisk/config/models.py", "_split_host_pattern(self.host)"),
    "activity_wasm[].allowed_hosts[].methods": ("obelisk/config/models.py", "method.upper() not in self.methods"),
    "activity_wasm[].max_memory_size": ("obelisk/server.py", "memory_limit=activity.memory_limit"),
    "activity_wasm[].max_outbound_requests": (
        "obelisk/server.py",
        "max_outbound_requests=activity.outbound_request_limit",
    ),
    "workflow[].max_memory_size": ("obelisk/server.py", "memory_limit=workflow.memory_limit"),
    "webhook_endpoint[].max_memory_size": ("obelisk/webhooks/setup.py", "memory_limit=webhook.memory_limit"),
    "outbound_http.allowed_host[].pattern": ("obelisk/wasm/wasi_http/policy.py", "entry.host_pattern"),
    "outbound_http.allowed_host[].methods": ("obelisk/wasm/wasi_http/policy.py", "entry.methods"),
    "outbound_http.allowed_host[].request_url_regex": (
        "obelisk/wasm/wasi_http/policy.py",
        "re.compile(entry.request_url_regex)",
    ),
    "outbound_http.allowed_host[].secrets": ("obelisk/wasm/wasi_http/policy.py", "tuple(entry.secrets)"),
    "outbound_http.allowed_host[].replace_in": ("obelisk/wasm/wasi_http/policy.py", "frozenset(entry.replace_in)"),
    "secrets.env": ("obelisk/wasm/wasi_http/policy.py", "env[source.env]"),
    "secrets.file": ("obelisk/wasm/wasi_http/policy.py", "interpolate(source.file"),
    "workflow[].name": ("obelisk/server.py", "ComponentId.of(kind, component.name, compiled.digest)"),
    "workflow[].location.path": ("obelisk/server.py", "component.location.path"),
    "workflow[].exec.batch_size": ("obelisk/server.py", ".batch_size"),
    "workflow[].exec.lock_expiry": ("obelisk/server.py", ".lock_expiry"),
    "workflow[].exec.tick_sleep": ("obelisk/server.py", ".tick_sleep"),
    "workflow[].exec.max_inflight_instances": ("obelisk/config/models.py", "self.max_inflight_instances"),
    "workflow[].retry_exp_backoff": ("obelisk/server.py", ".retry_exp_backoff"),
    "workflow[].join_next_blocking_strategy": ("obelisk/server.py", ".join_next_blocking_strategy"),
    "workflow[].non_blocking_event_batching": ("obelisk/server.py", ".non_blocking_event_batching"),
    "workflow[].max_uncommitted_steps": ("obelisk/server.py", ".max_uncommitted_steps"),
    "workflow[].retry_on_trap": ("obelisk/server.py", ".retry_on_trap"),
    "http_server[].name": ("obelisk/webhooks/setup.py", "mounts[webhook.http_server]"),
    "http_server[].listening_addr": (
        "obelisk/webhooks/http_server.py",
        "parse_socket_addr(self.config.listening_addr)",
    ),
    "http_server[].max_inflight_requests": ("obelisk/webhooks/http_server.py", ".max_inflight_requests"),
    "http_server[].max_request_body_bytes": ("obelisk/webhooks/http_server.py", ".max_request_body_bytes"),
    "http_server[].header_timeout": ("obelisk/webhooks/connection_watchdog.py", "header_timeout"),
    "http_server[].body_timeout": ("obelisk/webhooks/http_server.py", "body_timeout"),
    "http_server[].idle_timeout": ("obelisk/webhooks/connection_watchdog.py", "idle_timeout"),
    "http_server[].shutdown_grace": ("obelisk/webhooks/http_server.py", "shutdown_grace"),
    "webhook_endpoint[].name": ("obelisk/webhooks/setup.py", "webhook.name"),
    "webhook_endpoint[].location.path": ("obelisk/server.py", "component.location.path"),
    "webhook_endpoint[].http_server": ("obelisk/webhooks/setup.py", "mounts[webhook.http_server]"),
    "webhook_endpoint[].routes[].route": ("obelisk/webhooks/setup.py", "route.route"),
    "webhook_endpoint[].routes[].methods": ("obelisk/webhooks/setup.py", "route.methods"),
    "webhook_endpoint[].env_vars": ("obelisk/webhooks/setup.py", "resolve_env_vars(webhook.env_vars"),
    "webhook_endpoint[].forward_stdout": ("obelisk/webhooks/setup.py", "OutputForwarding(webhook.forward_stdout)"),
    "webhook_endpoint[].forward_stderr": ("obelisk/webhooks/setup.py", "OutputForwarding(webhook.forward_stderr)"),
    "webhook_endpoint[].request_timeout": ("obelisk/webhooks/setup.py", "request_timeout"),
}

# A config holding a non-default value of each key of REFUSALS, with the line that holds it.
REFUSED_EXAMPLES: dict[str, str] = {
    "sqlite.queue_capacity": "[sqlite]\nqueue_capacity = 1000\n",
    "sqlite.low_prio_threshold": "[sqlite]\nlow_prio_threshold = 10\n",
    "log.stdout.span": '[log.stdout]\nspan = "full"\n',
    "log.file.span": '[log.file]\ndirectory = "logs"\nprefix = "x"\nrotation = "never"\nspan = "close"\n',
    "wasmtime_pooling_config.memory_protection_keys": (
        'wasmtime_allocator_config = "pooling"\n[wasmtime_pooling_config]\nmemory_protection_keys = true\n'
    ),
    "wasmtime_pooling_config.pooling_total_stacks": (
        'wasmtime_allocator_config = "pooling"\n[wasmtime_pooling_config]\npooling_total_stacks = 10\n'
    ),
    "workflow[].forward_stdout": '[[workflow]]\nname = "w"\nlocation.path = "w.wasm"\nforward_stdout = "stdout"\n',
    "workflow[].forward_stderr": '[[workflow]]\nname = "w"\nlocation.path = "w.wasm"\nforward_stderr = "stderr"\n',
}

# Refused at every value by the model: a config holding one, and what the error says.
REFUSED_BY_MODEL: dict[str, tuple[str, str]] = {
    kind + "[].location.oci": (
        f'[[{kind}]]\nname = "c"\nlocation.oci = "docker.io/x/y:1"\n{extra}',
        "OCI locations are not supported yet",
    )
    for kind, extra in (
        ("activity_wasm", ""),
        ("workflow", ""),
        ("webhook_endpoint", 'http_server = "s"\n[[http_server]]\nname = "s"\nlistening_addr = "127.0.0.1:0"\n'),
    )
}

WARNED: set[str] = set()

# Keys that configure only what is refused elsewhere (checked by the tests named here).
WITHOUT_USE = {
    "wasm_cache_directory": "test_what_the_wasm_cache_would_hold_is_refused",
    "workflow[].convert_core_module": "test_what_the_wasm_cache_would_hold_is_refused",
}


def key_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The dotted path of every leaf key below ``model``; ``[]`` marks an array of tables."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        nested, is_list = _nested_model(info.annotation)
        if nested is None:
            paths.add(path)
        else:
            paths |= key_paths(nested, f"{path}{'[]' if is_list else ''}.")
    return paths


def _nested_model(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    stack, is_list = [annotation], False
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is list:
            is_list = True
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp, is_list
        stack += list(typing.get_args(tp))
    return None, False


def dotted(path: tuple[str, ...]) -> str:
    """``("workflow", "*", "forward_stdout")`` -> ``workflow[].forward_stdout``."""
    return ".".join(path).replace(".*", "[]")


REFUSAL_OF = {dotted(refusal.path): refusal for refusal in REFUSALS}


def refusal_paths() -> set[str]:
    return set(REFUSAL_OF)


def load(tmp_path: Path, text: str) -> ObeliskConfig:
    path = tmp_path / "obelisk.toml"
    path.write_text(API + text, encoding="utf-8")
    return load_config(path, ENV, cwd=tmp_path).config


def test_every_key_is_accounted_for() -> None:
    lists = [set(CONSUMERS), refusal_paths(), set(REFUSED_BY_MODEL), WARNED, set(WITHOUT_USE)]
    every = key_paths(ObeliskConfig)
    accounted = set().union(*lists)
    assert sorted(every - accounted) == [], "keys that nothing reads or refuses: add them to a list above"
    assert sorted(accounted - every) == [], "listed keys the config no longer has"
    assert sum(len(keys) for keys in lists) == len(accounted), "a key is in two lists"


@pytest.mark.parametrize("key", sorted(CONSUMERS))
def test_a_consumer_reads_the_key(key: str) -> None:
    file, text = CONSUMERS[key]
    assert text in (REPO / file).read_text(encoding="utf-8"), f"{key}: {text!r} is no longer in {file}"


def test_every_refusal_has_an_example() -> None:
    assert set(REFUSED_EXAMPLES) == refusal_paths()


@pytest.mark.parametrize("key", sorted(REFUSED_EXAMPLES))
def test_a_refused_key_names_itself_and_why(tmp_path: Path, key: str) -> None:
    example = REFUSED_EXAMPLES[key]
    with pytest.raises(ConfigError) as err:
        load(tmp_path, example)
    (problem,) = err.value.problems
    assert problem.key == key.replace("[]", "[0]")
    assert problem.line == API.count("\n") + example.count("\n")
    assert problem.message.startswith(f"not supported: {REFUSAL_OF[key].reason}; remove the key")


@pytest.mark.parametrize("key", sorted(REFUSED_EXAMPLES))
def test_the_default_of_a_refused_key_loads(tmp_path: Path, key: str) -> None:
    refusal = REFUSAL_OF[key]
    default = refusal.accepted[0]
    if default is None:
        return  # an optional key: absent is the default, as every other test's config shows
    toml = f'"{default}"' if isinstance(default, str) else str(default).lower()
    example = REFUSED_EXAMPLES[key].splitlines()
    example[-1] = f"{refusal.path[-1]} = {toml}"
    load(tmp_path, "\n".join(example) + "\n")


@pytest.mark.parametrize("key", sorted(REFUSED_BY_MODEL))
def test_a_key_the_model_refuses(tmp_path: Path, key: str) -> None:
    example, message = REFUSED_BY_MODEL[key]
    with pytest.raises(ConfigError) as err:
        load(tmp_path, example)
    assert any(message in problem.message for problem in err.value.problems), str(err.value)


def test_an_otlp_level_that_cannot_be_read_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, '[otlp]\nenabled = true\nlevel = "info,app=loud"\n')
    (problem,) = err.value.problems
    assert (problem.key, problem.line) == ("otlp.level", 4)
    assert 'unknown level "loud"' in problem.message, problem.message


def test_otlp_enabled_with_a_level_that_selects_no_spans_warns(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(f'{API}[otlp]\nenabled = true\nlevel = "info,app=warn"\n', encoding="utf-8")
    (warning,) = load_config(path, ENV, cwd=tmp_path).warnings
    assert (warning.source, warning.line, warning.key) == (str(path), 4, "otlp.level")
    assert "otlp.enabled is true" in warning.message and "nothing is exported" in warning.message


def test_the_original_otlp_defaults_load_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    text = '[otlp]\nenabled = false\nlevel = "info,app=trace"\nservice_name = "obelisk-server"\n'
    path.write_text(API + text + 'otlp_endpoint = "http://localhost:4317"\n', encoding="utf-8")
    assert load_config(path, ENV, cwd=tmp_path).warnings == ()


def test_what_the_wasm_cache_would_hold_is_refused(tmp_path: Path) -> None:
    """The original keeps OCI pulls and components converted from core modules in ``wasm_cache_directory``; here
    an OCI location is refused at load (``REFUSED_BY_MODEL``) and a core module at start, naming
    ``convert_core_module``."""
    core = tmp_path / "core.wasm"
    core.write_bytes(wasmtime.wat2wasm("(module)"))
    with pytest.raises(ComponentLoadError) as err:
        ComponentLoader(WasmEngine(), None).load(core)
    assert "a core WebAssembly module, not a component" in str(err.value)
    assert "convert_core_module" in str(err.value)
    config = load(tmp_path, '[[workflow]]\nname = "w"\nlocation.path = "w.wasm"\nconvert_core_module = false\n')
    assert config.workflow[0].convert_core_module is False


def test_pooling_limits_need_the_pooling_allocator(tmp_path: Path) -> None:
    text = "[wasmtime_pooling_config]\npooling_total_memories = 100\n"
    for allocator in ("auto", "on_demand"):
        with pytest.raises(ConfigError) as err:
            load(tmp_path, f'wasmtime_allocator_config = "{allocator}"\n{text}')
        (problem,) = err.value.problems
        assert (problem.key, problem.line) == ("wasmtime_pooling_config.pooling_total_memories", 4)
        assert 'set wasmtime_allocator_config = "pooling"' in problem.message
    config = load(tmp_path, f'wasmtime_allocator_config = "pooling"\n{text}')
    assert config.wasmtime_pooling_config.pooling_total_memories == 100
    # memory_protection_keys = false asks for nothing, with any allocator
    load(tmp_path, "[wasmtime_pooling_config]\nmemory_protection_keys = false\n")


def test_a_log_level_that_cannot_be_read_is_refused_with_its_line(tmp_path: Path) -> None:
    for level, words in (
        ("info,app=loud", 'unknown level "loud"'),
        ("info,obelisk[span]=debug", "span filters"),
        ("=debug", "needs a target"),
    ):
        with pytest.raises(ConfigError) as err:
            load(tmp_path, f'[log.stdout]\nlevel = "{level}"\n')
        (problem,) = err.value.problems
        assert (problem.key, problem.line) == ("log.stdout.level", 3)
        assert words in problem.message, problem.message


def test_server_verify_accepts_otlp_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(f'{API}sqlite.file = "{tmp_path / "db.sqlite"}"\n[otlp]\nenabled = true\n', encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "server", "verify", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.endswith("Configuration is valid.\n")
