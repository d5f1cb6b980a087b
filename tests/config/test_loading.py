"""Loading obelisk.toml: defaults, merging, env overrides, paths and located errors."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from obelisk.config import (
    ConfigError,
    ConfigProblem,
    ObeliskConfig,
    SqliteBackend,
    load_config,
)
from obelisk.config.loading import parse_env_value
from obelisk.config.models import DEFAULT_MAX_REQUEST_BODY_BYTES


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home")}


MINIMAL = """
api.listening_addr = "127.0.0.1:5005"
"""


def only_problem(err: pytest.ExceptionInfo[ConfigError]) -> ConfigProblem:
    assert len(err.value.problems) == 1, str(err.value)
    return err.value.problems[0]


def test_defaults_of_a_minimal_config(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(tmp_path / "obelisk.toml", MINIMAL)
    home = Path(env["HOME"])
    config = load_config(cfg_file, env, cwd=tmp_path).config

    assert config.api.listening_addr == "127.0.0.1:5005"
    assert config.api.host_port == ("127.0.0.1", 5005)
    assert config.webui is None and config.webui_listening_addr is None
    assert config.sqlite is None and config.database.postgres is None and config.data_directory is None
    assert config.backend == SqliteBackend(home / ".local/share/obelisk/obelisk.sqlite", "FULL")
    assert config.wasm_cache_directory == home / ".cache/obelisk/wasm"
    assert config.codegen_cache.enabled is True
    assert config.codegen_cache.directory == home / ".cache/obelisk/codegen"
    assert config.wasmtime_allocator_config == "auto"
    assert config.otlp is None
    assert config.log.stdout.enabled is True
    assert config.log.stdout.style == "plain_compact"
    assert config.log.file is None
    assert config.components() == []


def test_component_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[activity_wasm]]
        name = "act"
        location.path = "a.wasm"
        [[workflow]]
        name = "wf"
        location.path = "w.wasm"
        [[http_server]]
        name = "srv"
        listening_addr = "127.0.0.1:9090"
        [[webhook_endpoint]]
        name = "hook"
        location.path = "h.wasm"
        http_server = "srv"
        """,
    )
    config = load_config(cfg_file, env, cwd=tmp_path).config
    (act,) = config.activity_wasm
    assert act.exec.batch_size == 5
    assert act.exec.lock_expiry == timedelta(seconds=1)
    assert act.exec.tick_sleep == timedelta(milliseconds=200)
    assert act.exec.max_inflight_instances is None
    assert act.max_retries == 5
    assert act.retry_exp_backoff == timedelta(milliseconds=100)
    assert act.retry_on_err is True
    assert (act.forward_stdout, act.forward_stderr) == ("none", "none")
    assert act.env_vars == []
    assert act.allowed_hosts is None and act.is_host_allowed("anything.org", 443, "POST")
    assert act.resolve_max_inflight_instances(cpu_count=3) == 6

    (wf,) = config.workflow
    assert wf.retry_exp_backoff == timedelta(milliseconds=100)
    assert wf.join_next_blocking_strategy == "await"
    assert wf.non_blocking_event_batching == 100
    assert wf.retry_on_trap is False
    assert wf.convert_core_module is True
    assert wf.resolve_max_inflight_instances(cpu_count=3) == 12

    (srv,) = config.http_server
    assert srv.max_inflight_requests == "unlimited"
    assert srv.max_request_body_bytes == DEFAULT_MAX_REQUEST_BODY_BYTES == 10 * 1024 * 1024

    (hook,) = config.webhook_endpoint
    assert hook.routes == [] and hook.env_vars == []
    assert config.component("hook") is hook
    assert [c.KIND for c in config.components()] == ["activity_wasm", "workflow", "webhook_endpoint"]


def test_explicit_values_and_max_inflight(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "[::1]:5005"
        [[activity_wasm]]
        name = "a1"
        location.path = "a.wasm"
        exec = {lock_expiry = {millis = 1500}, max_inflight_instances = "unlimited", tick_sleep = {micros = 10}}
        allowed_hosts = ["*.example.com", "localhost:8080", {host = "x.org", methods = ["get"]}]
        [[activity_wasm]]
        name = "a2"
        location.path = "a.wasm"
        exec.max_inflight_instances = 3
        exec.lock_expiry.nanos = 2000000
        [[workflow]]
        name = "w"
        location.path = "w.wasm"
        join_next_blocking_strategy = "interrupt"
        """,
    )
    config = load_config(cfg_file, env, cwd=tmp_path).config
    a1, a2 = config.activity_wasm
    assert a1.exec.lock_expiry == timedelta(milliseconds=1500)
    assert a1.exec.tick_sleep == timedelta(microseconds=10)
    assert a1.resolve_max_inflight_instances(cpu_count=2) is None
    assert a2.resolve_max_inflight_instances(cpu_count=2) == 3
    assert a2.exec.lock_expiry == timedelta(milliseconds=2)
    assert a1.is_host_allowed("api.example.com", 443, "POST")
    assert not a1.is_host_allowed("example.com", 443, "GET")
    assert a1.is_host_allowed("localhost", 8080, "GET")
    assert not a1.is_host_allowed("localhost", 8081, "GET")
    assert a1.is_host_allowed("X.org", None, "GET")
    assert not a1.is_host_allowed("x.org", None, "POST")
    assert config.workflow[0].join_next_blocking_strategy == "interrupt"


def test_env_override_wins_and_is_parsed_as_toml(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[activity_wasm]]
        name = "act"
        location.path = "a.wasm"
        """,
    )
    env |= {
        "OBELISK__api__listening_addr": "0.0.0.0:6000",
        "OBELISK__activity_wasm__0__max_retries": "7",
        "OBELISK__activity_wasm__0__exec__lock_expiry": "{secs = 3}",
        "OBELISK__webui__listening_addr": "127.0.0.1:8081",
        "OBELISK__codegen_cache__enabled": "false",
        "OBELISK__API__TOKEN": "1e3",  # a token: taken as it is, not as the TOML number 1000.0
        "UNRELATED": "x",
    }
    loaded = load_config(cfg_file, env, cwd=tmp_path)
    config = loaded.config
    assert config.api.listening_addr == "0.0.0.0:6000"
    assert config.api.token == "1e3"
    assert config.activity_wasm[0].max_retries == 7
    assert config.activity_wasm[0].exec.lock_expiry == timedelta(seconds=3)
    assert config.webui_listening_addr == "127.0.0.1:8081"
    assert config.codegen_cache.enabled is False
    assert "OBELISK__api__listening_addr" in loaded.env_overrides


def test_env_value_parsing() -> None:
    assert parse_env_value("5") == 5
    assert parse_env_value("true") is True
    assert parse_env_value('"quoted"') == "quoted"
    assert parse_env_value("127.0.0.1:5005") == "127.0.0.1:5005"
    assert parse_env_value("[1, 2]") == [1, 2]


def test_env_override_error_names_the_variable(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(tmp_path / "obelisk.toml", MINIMAL)
    env["OBELISK__sqlite__synchronous"] = "SOMETIMES"
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.source == "environment variable OBELISK__sqlite__synchronous"
    assert problem.key == "sqlite.synchronous"
    assert '"SOMETIMES"' in problem.message


def test_merged_files_later_wins_tables_merge_arrays_replace(tmp_path: Path, env: dict[str, str]) -> None:
    system = write(
        tmp_path / "etc/obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:1000"
        sqlite.synchronous = "NORMAL"
        [[activity_wasm]]
        name = "from_system"
        location.path = "sys.wasm"
        """,
    )
    user = write(
        tmp_path / "user/obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:2000"
        sqlite.file = "db/user.sqlite"
        """,
    )
    local = write(
        tmp_path / "work/obelisk.toml",
        """
        [[activity_wasm]]
        name = "from_local"
        location.path = "local.wasm"
        """,
    )
    missing = tmp_path / "nowhere/obelisk.toml"
    loaded = load_config(None, env, search_paths=[system, missing, user, local], cwd=tmp_path)
    config = loaded.config
    assert loaded.sources == (system, user, local)
    assert config.api.listening_addr == "127.0.0.1:2000"
    # synchronous kept from the system file (tables merge), the file relative to the declaring file
    assert config.backend == SqliteBackend(tmp_path / "user/db/user.sqlite", "NORMAL")
    assert [a.name for a in config.activity_wasm] == ["from_local"]  # arrays are replaced
    assert config.activity_wasm[0].location_path == tmp_path / "work/local.wasm"


def test_no_config_file_lists_paths_tried(tmp_path: Path, env: dict[str, str]) -> None:
    tried = [tmp_path / "a/obelisk.toml", tmp_path / "b/obelisk.toml"]
    with pytest.raises(ConfigError) as err:
        load_config(None, env, search_paths=tried, cwd=tmp_path)
    assert all(str(p) in str(err.value) for p in tried)


def test_default_search_paths_use_xdg_config_home(tmp_path: Path) -> None:
    from obelisk.config import default_search_paths

    paths = default_search_paths({"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, cwd=tmp_path / "cwd")
    assert paths == [
        Path("/etc/obelisk/obelisk.toml"),
        tmp_path / "xdg/obelisk/obelisk.toml",
        tmp_path / "cwd/obelisk.toml",
    ]


def test_unknown_key_is_reported_with_line(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"

        [[activity_wasm]]
        name = "a"
        location.path = "a.wasm"
        max_retries_typo = 3
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert (problem.line, problem.key, problem.message) == (6, "activity_wasm[0].max_retries_typo", "unknown key")
    assert str(err.value) == f"{cfg_file}:6: activity_wasm[0].max_retries_typo: unknown key"


def test_type_error_in_second_component_reported_with_line(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[activity_wasm]]
        name = "a"
        location.path = "a.wasm"
        [[activity_wasm]]
        name = "b"
        location.path = "b.wasm"
        max_retries = "five"
        [activity_wasm.exec]
        lock_expiry = {minutes = 1}
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    text = str(err.value)
    assert f'{cfg_file}:8: activity_wasm[1].max_retries: expected an integer, got "five"' in text
    assert f"{cfg_file}:10: activity_wasm[1].exec.lock_expiry: unknown duration unit" in text
    assert len(err.value.problems) == 2


def test_missing_required_key(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(tmp_path / "obelisk.toml", '[webui]\nlistening_addr = "127.0.0.1:8080"\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert (problem.key, problem.message) == ("api", "missing required key")


def test_toml_syntax_error_names_line_and_column(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(tmp_path / "obelisk.toml", 'api.listening_addr = "127.0.0.1:5005"\n\n[sqlite\nfile = 1\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.source == str(cfg_file)
    assert problem.line == 3 and problem.column is not None
    assert re.match(rf"{re.escape(str(cfg_file))}:3:\d+: TOML syntax error: ", str(err.value))


def test_duplicate_component_names_across_kinds(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[activity_wasm]]
        name = "same"
        location.path = "a.wasm"
        [[workflow]]
        name = "same"
        location.path = "w.wasm"
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.line == 6 and problem.key == "workflow[0].name"
    assert 'duplicate component name "same"' in problem.message
    assert "activity_wasm[0]" in problem.message


def test_webhook_pointing_at_unknown_http_server(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[http_server]]
        name = "public"
        listening_addr = "127.0.0.1:9090"
        [[http_server]]
        name = "internal"
        listening_addr = "127.0.0.1:9091"
        [[webhook_endpoint]]
        name = "hook"
        location.path = "h.wasm"
        http_server = "publik"
        routes = ["", {methods = ["GET"], route = "/fibo/:N"}]
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.line == 11 and problem.key == "webhook_endpoint[0].http_server"
    assert '"publik"' in problem.message and '"public", "internal"' in problem.message


def test_conflicting_listening_addresses(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        'api.listening_addr = "127.0.0.1:5005"\nwebui.listening_addr = "127.0.0.1:5005"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    assert only_problem(err).key == "webui.listening_addr"


@pytest.mark.parametrize(
    ("snippet", "key", "fragment"),
    [
        ('api.listening_addr = "localhost"', "api.listening_addr", "host:port"),
        ('api.listening_addr = "1.2.3.4:70000"', "api.listening_addr", "between 0 and 65535"),
        ('api.listening_addr = "::1:80"', "api.listening_addr", "brackets"),
    ],
)
def test_bad_socket_addresses(tmp_path: Path, env: dict[str, str], snippet: str, key: str, fragment: str) -> None:
    cfg_file = write(tmp_path / "obelisk.toml", snippet + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.key == key and fragment in problem.message and problem.line == 1


def test_oci_location_is_rejected_clearly(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[activity_wasm]]
        name = "a"
        location.oci = "docker.io/getobelisk/x:1"
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.message == "OCI locations are not supported yet; use location.path"
    assert problem.line == 4


def test_workflow_backoff_must_be_non_zero_and_names_are_checked(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        [[workflow]]
        name = "bad-name"
        location.path = "w.wasm"
        retry_exp_backoff = {secs = 0}
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env, cwd=tmp_path)
    by_key = {p.key: p for p in err.value.problems}
    assert "non-zero" in by_key["workflow[0].retry_exp_backoff"].message
    assert by_key["workflow[0].retry_exp_backoff"].line == 5
    assert "letters, digits and underscores" in by_key["workflow[0].name"].message


def test_max_uncommitted_steps_defaults_to_24_and_is_at_least_1(tmp_path: Path, env: dict[str, str]) -> None:
    source = """
        api.listening_addr = "127.0.0.1:5005"
        [[workflow]]
        name = "w"
        location.path = "w.wasm"
        """
    config = load_config(write(tmp_path / "obelisk.toml", source), env, cwd=tmp_path).config
    assert config.workflow[0].max_uncommitted_steps == 24
    config = load_config(write(tmp_path / "one.toml", source + "max_uncommitted_steps = 1\n"), env, cwd=tmp_path).config
    assert config.workflow[0].max_uncommitted_steps == 1
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "zero.toml", source + "max_uncommitted_steps = 0\n"), env, cwd=tmp_path)
    problem = only_problem(err)
    assert problem.key == "workflow[0].max_uncommitted_steps"
    assert problem.line == 5
    assert problem.message == "must be at least 1, got 0"


def test_relative_location_resolved_against_config_dir(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "conf/obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        wasm_cache_directory = ".cache/wasm"
        [[activity_wasm]]
        name = "a"
        location.path = "../build/a.wasm"
        [[workflow]]
        name = "w"
        location.path = "/abs/w.wasm"
        """,
    )
    # A cwd different from the config's directory proves the anchor is the file, not the process.
    config = load_config(Path("conf/obelisk.toml"), env, cwd=tmp_path).config
    assert config.activity_wasm[0].location_path == tmp_path / "conf/../build/a.wasm"
    assert config.workflow[0].location_path == Path("/abs/w.wasm")
    assert config.wasm_cache_directory == tmp_path / "conf/.cache/wasm"
    assert cfg_file.exists()


def test_path_prefixes_and_xdg(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        sqlite.file = "${DATA_DIR}/db/x.sqlite"
        wasm_cache_directory = "${CACHE_DIR}"
        codegen_cache.directory = "${CONFIG_DIR}/cg"
        """,
    )
    env = {"HOME": "/home/u", "XDG_DATA_HOME": "/xdg/data"}
    config = load_config(cfg_file, env, cwd=tmp_path).config
    assert config.backend == SqliteBackend(Path("/xdg/data/obelisk/db/x.sqlite"), "FULL")
    assert config.wasm_cache_directory == Path("/home/u/.cache/obelisk")
    assert config.codegen_cache.directory == Path("/home/u/.config/obelisk/cg")


def test_unknown_prefix_and_missing_home(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        'api.listening_addr = "127.0.0.1:5005"\n[sqlite]\nfile = "${TMP_DIR}/x"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, {"HOME": "/h"}, cwd=tmp_path)
    problem = only_problem(err)
    assert (problem.line, problem.key) == (3, "sqlite.file")
    assert "${TMP_DIR}" in problem.message and "${DATA_DIR}" in problem.message

    cfg_file.write_text(MINIMAL)
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, {}, cwd=tmp_path)
    messages = " ".join(p.message for p in err.value.problems)
    assert "XDG_DATA_HOME nor HOME" in messages and "XDG_CACHE_HOME nor HOME" in messages


def test_ensure_dirs_creates_what_the_server_writes(tmp_path: Path, env: dict[str, str]) -> None:
    cfg_file = write(
        tmp_path / "obelisk.toml",
        """
        api.listening_addr = "127.0.0.1:5005"
        sqlite.file = "data/obelisk.sqlite"
        wasm_cache_directory = ".cache/wasm"
        codegen_cache.directory = ".cache/codegen"
        """,
    )
    loaded = load_config(cfg_file, env, cwd=tmp_path)
    assert not (tmp_path / "data").exists()  # loading never touches the disk
    loaded.ensure_dirs()
    assert (tmp_path / "data").is_dir()
    assert (tmp_path / ".cache/wasm").is_dir() and (tmp_path / ".cache/codegen").is_dir()


def test_model_validate_without_loader_checks_cross_fields() -> None:
    data = {
        "api": {"listening_addr": "127.0.0.1:5005"},
        "webhook_endpoint": [{"name": "h", "location": {"path": "/h.wasm"}, "http_server": "none"}],
    }
    with pytest.raises(ValueError, match="unknown http_server"):
        ObeliskConfig.model_validate(data)
