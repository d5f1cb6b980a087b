"""services.obelisk evaluated with the real module system of a nixpkgs `lib` (nix-tests/eval-module.nix).

The module as imported on its own (nixos-module/), with a stand-in for the rest of NixOS and fake store paths,
so any Nix with NIXPKGS_LIB set runs these; without NIXPKGS_LIB they are reported as skipped. The flake's own
module (which picks the flake's package) is evaluated in test_flake.py.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from obelisk.api.tokens import token_hash
from obelisk.concepts.errors import ObeliskError
from obelisk.config import load_config
from obelisk.wasm.wasi_http.policy import load_operator_policy
from tests.nix.nixtools import ENV, REPO, nix_eval, nix_eval_error, nix_string, nixpkgs_lib


def _module_args(configuration: str, components: str | None, with_overlay: bool) -> str:
    lib = nixpkgs_lib()
    args = f"lib = import {lib}; configuration = {configuration}; withOverlay = {str(with_overlay).lower()};"
    if components is not None:
        args += f" components = {nix_string(components)};"
    return args


def eval_module(configuration: str, components: str | None = None, *, with_overlay: bool = False) -> dict[str, Any]:
    args = _module_args(configuration, components, with_overlay)
    data = nix_eval(f"import ./nix-tests/eval-module.nix {{ {args} }}")
    assert isinstance(data, dict)
    return data


def eval_module_error(configuration: str, *, with_overlay: bool = False) -> str:
    args = _module_args(configuration, None, with_overlay)
    return nix_eval_error(f"import ./nix-tests/eval-module.nix {{ {args} }}")


FAKE_PACKAGE = (
    '{ type = "derivation"; name = "obelisk-0"; outPath = "/nix/store/p-obelisk"; meta.mainProgram = "obelisk"; }'
)


def test_vm_node_config_is_accepted_by_the_server(tmp_path: Path) -> None:
    components = tmp_path / "components"
    data = eval_module(
        "{ testArgs, ... }: { imports = [ (import ./nix-tests/node.nix testArgs) ]; }",
        components=str(components),
        with_overlay=True,
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config

    assert config.api.listening_addr == "127.0.0.1:5005"
    assert config.webui_listening_addr == "127.0.0.1:8080"
    assert config.sqlite is not None and config.sqlite.file == Path("/var/lib/obelisk/obelisk.sqlite")
    assert config.codegen_cache.directory == Path("/var/cache/obelisk/codegen")
    assert [a.name for a in config.activity_wasm] == ["fibo_activity", "http_get_activity", "sleep_activity"]
    assert [w.name for w in config.workflow] == ["fibo_workflow", "http_get_workflow", "sleep_workflow"]
    http = config.component("http_get_activity")
    assert http is not None and http.location_path == components / "http_activity.wasm"
    fibo = config.activity_wasm[0]
    assert fibo.max_retries == 0
    assert config.activity_wasm[2].exec.lock_expiry.total_seconds() == 10
    assert config.workflow[0].exec.max_inflight_instances == 8
    assert data["firewall"] == []
    assert "obelisk/obelisk.toml" in data["etc"]


def _postgres_node(name: str, components: Path) -> dict[str, Any]:
    return eval_module(
        f"{{ testArgs, ... }}: {{ imports = [ (import ./nix-tests/postgres-nodes.nix testArgs).{name} ]; }}",
        components=str(components),
        with_overlay=True,
    )


def test_vm_postgres_servers_share_a_remote_database(tmp_path: Path) -> None:
    """Nodes a and b of nix-tests/postgres.py: node.nix's components on the database of node db."""
    data = _postgres_node("server", tmp_path / "components")
    assert data["failedAssertions"] == [] and data["warnings"] == []
    rendered = tomllib.loads(data["toml"])
    assert rendered["database"]["postgres"] == {
        "host": "db",
        "user": "obelisk",
        "db_name": "obelisk",
        "password": "${OBELISK_DB_PASSWORD}",
        "provision_policy": "never",
    }
    assert "sqlite" not in rendered
    assert "obelisk-vm-test-password" not in data["toml"]
    unit = data["service"]["serviceConfig"]
    assert unit["LoadCredential"] == ["OBELISK_DB_PASSWORD:/etc/obelisk-db-password"]
    assert "obelisk-db-password" in data["etc"]
    # postgres.py relies on a run waiting out its sleep in place, two per server: the sleep must fit in the lock.
    checks = next(w for w in rendered["workflow"] if w["name"] == "checks_workflow")
    assert checks["join_next_blocking_strategy"] == "await"
    assert checks["max_uncommitted_steps"] == 4
    assert checks["exec"] == {"max_inflight_instances": 2, "lock_expiry": {"secs": 30}}
    script = (REPO / "nix-tests" / "postgres.py").read_text(encoding="utf-8")
    found = re.search(r"^SLEEP_MS = ([0-9_]+)$", script, flags=re.MULTILINE)
    assert found and int(found[1]) < checks["exec"]["lock_expiry"]["secs"] * 1000 / 2, (
        "the sleep must end well within the lock"
    )
    assert [c["name"] for c in rendered["activity_wasm"]] == [
        "fibo_activity",
        "flaky_activity",
        "http_get_activity",
        "sleep_activity",
    ]


def test_vm_postgres_local_node_provisions_its_database(tmp_path: Path) -> None:
    data = _postgres_node("local", tmp_path / "components")
    assert data["failedAssertions"] == [] and data["warnings"] == []
    assert tomllib.loads(data["toml"])["database"]["postgres"]["host"] == "/run/postgresql"
    assert data["postgresql"]["ensureUsers"] == [{"name": "obelisk", "ensureDBOwnership": True}]
    assert data["service"]["serviceConfig"]["User"] == "obelisk"


def test_module_service_is_hardened_but_allows_the_jit() -> None:
    data = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; }}; }}")
    service = data["service"]
    unit = service["serviceConfig"]
    assert service["script"].startswith("exec /nix/store/p-obelisk/bin/obelisk server run --config /nix/store/")
    assert "ExecStart" not in unit, "NixOS makes ExecStart from `script`"
    assert unit["MemoryDenyWriteExecute"] is False
    for key in ("DynamicUser", "NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictNamespaces"):
        assert unit[key] is True, key
    assert unit["ProtectSystem"] == "strict"
    assert unit["StateDirectory"] == "obelisk" and unit["CacheDirectory"] == "obelisk"
    assert (unit["Restart"], unit["RestartSec"], unit["RestartMaxDelaySec"]) == ("on-failure", "2s", "1min")
    assert unit["TimeoutStopSec"] == "30s"
    assert unit["LoadCredential"] == []
    assert "EnvironmentFile" not in unit
    assert service["restartTriggers"] and service["restartTriggers"][0].endswith("-obelisk.toml")
    assert data["firewall"] == []


def test_module_environment_file_and_privileged_port() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'environmentFile = "/run/secrets/obelisk.env"; settings.api.listening_addr = "0.0.0.0:443"; '
        'apiTokenFile = "/run/secrets/obelisk-api-token"; '
        "settings.webui.listening_addr = null; openFirewall = true; }; }"
    )
    unit = data["service"]["serviceConfig"]
    assert unit["EnvironmentFile"] == "/run/secrets/obelisk.env"
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["PrivateUsers"] is False
    assert data["firewall"] == [443]
    assert tomllib.loads(data["toml"])["webui"] == {}
    assert data["warnings"] == [], "an API with a token is opened without a warning"
    assert data["service"]["after"] == ["network.target"], "a wildcard address needs no network-online.target"


def test_module_assertions_name_duplicates_and_unknown_http_servers() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'activities.same = { wasm = "/w/a.wasm"; }; '
        'workflows.same = { wasm = "/w/b.wasm"; }; '
        'httpServers.public.listeningAddr = "0.0.0.0:9090"; '
        'webhookEndpoints.hook = { wasm = "/w/h.wasm"; httpServer = "pubilc"; }; '
        'webhookEndpoints.nofile = { httpServer = "public"; }; }; }'
    )
    failed = data["failedAssertions"]
    assert len(failed) == 3, failed
    assert any(
        '"same" is used more than once' in m
        and "services.obelisk.activities.same" in m
        and "services.obelisk.workflows.same" in m
        for m in failed
    ), failed
    assert any(
        'services.obelisk.webhookEndpoints.hook.httpServer = "pubilc" names no HTTP server; defined: "public"' in m
        for m in failed
    ), failed
    assert any("services.obelisk.webhookEndpoints.nofile: set either `wasm`" in m for m in failed), failed


def test_module_renders_webhooks_the_server_accepts(tmp_path: Path) -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'httpServers.public = { listeningAddr = "0.0.0.0:9090"; maxRequestBodyBytes = 1024; '
        "settings.header_timeout = { secs = 5; }; }; "
        'webhookEndpoints.hook = { wasm = "/w/h.wasm"; httpServer = "public"; '
        'routes = [ "/status" { route = "/fibo/:N"; methods = [ "GET" ]; } ]; '
        'settings.env_vars = [ "TOKEN" ]; settings.request_timeout = { secs = 90; }; }; '
        'settings.sqlite.synchronous = "NORMAL"; }; }'
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config
    assert config.sqlite is not None and config.sqlite.synchronous == "NORMAL"
    (server,) = config.http_server
    assert (server.name, server.listening_addr, server.max_request_body_bytes) == ("public", "0.0.0.0:9090", 1024)
    assert server.header_timeout == timedelta(seconds=5)
    (hook,) = config.webhook_endpoint
    assert hook.http_server == "public" and hook.env_vars == ["TOKEN"]
    assert hook.request_timeout == timedelta(seconds=90)
    assert [(r.route, r.methods) for r in hook.routes] == [("/status", None), ("/fibo/:N", ["GET"])]


def test_module_is_inert_when_disabled() -> None:
    data = eval_module("{ }")
    assert data == {"enabled": False, "failedAssertions": []}


# ---------------------------------------------------------------------------------------------- the package


def test_module_alone_never_runs_nixpkgs_obelisk() -> None:
    """nixpkgs' `obelisk` is an unrelated program with the same executable name; `pkgs.obelisk or ...` picked it."""
    stderr = eval_module_error("{ services.obelisk.enable = true; }")
    assert "obelisk-engine cannot be found in pkgs" in stderr, stderr
    assert "obelisk-0.8.1" not in stderr


def test_module_alone_takes_the_overlay_package() -> None:
    data = eval_module("{ services.obelisk.enable = true; }", with_overlay=True)
    assert data["package"] == "obelisk-0"
    script = data["service"]["script"]
    assert script.startswith("exec /nix/store/00000000000000000000000000000000-obelisk-0/bin/obelisk "), script


# ---------------------------------------------------------------------------------------------- secrets


def test_credentials_are_loaded_by_systemd_and_exported_to_the_server() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'credentials.API_TOKEN = "/run/secrets/api-token"; credentials.DB_PASS = "/run/keys/db"; }; }'
    )
    service = data["service"]
    assert service["serviceConfig"]["LoadCredential"] == ["API_TOKEN:/run/secrets/api-token", "DB_PASS:/run/keys/db"]
    script = service["script"]
    assert 'API_TOKEN="$(< "$CREDENTIALS_DIRECTORY/API_TOKEN")"\nexport API_TOKEN\n' in script, script
    assert 'DB_PASS="$(< "$CREDENTIALS_DIRECTORY/DB_PASS")"\nexport DB_PASS\n' in script, script
    assert script.rstrip().splitlines()[-1].startswith("exec /nix/store/p-obelisk/bin/obelisk server run"), script


def test_credential_names_must_be_environment_variable_names() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'credentials."api-token" = "/run/secrets/api-token"; }; }'
    )
    (message,) = data["failedAssertions"]
    assert 'services.obelisk.credentials."api-token"' in message and "[A-Za-z_][A-Za-z0-9_]*" in message, message


def test_secret_files_refuse_nix_path_literals(tmp_path: Path) -> None:
    """A path literal would be copied into the world-readable store; the option types refuse it."""
    secret = tmp_path / "obelisk.env"
    secret.write_text("API_TOKEN=hunter2\n", encoding="utf-8")
    for option in ("environmentFile", "credentials.API_TOKEN"):
        stderr = eval_module_error(
            f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; {option} = {secret}; }}; }}"
        )
        assert "absolute path outside the Nix store, as a string" in stderr, stderr
    stderr = eval_module_error(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'environmentFile = "/nix/store/00000000000000000000000000000000-secrets.env"; }; }'
    )
    assert "absolute path outside the Nix store, as a string" in stderr, stderr


# ---------------------------------------------------------------------------------------------- network


def test_open_firewall_opens_only_what_other_machines_can_reach() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        'settings.api.listening_addr = "127.0.0.1:5005"; settings.webui.listening_addr = "[::1]:8080"; '
        'httpServers.public.listeningAddr = "[::]:9090"; httpServers.local.listeningAddr = "localhost:9091"; }; }'
    )
    assert data["firewall"] == [9090]
    assert data["warnings"] == [], "webhook servers are meant to be public: no warning"
    assert data["service"]["after"] == ["network.target"]


def test_open_firewall_with_every_address_on_loopback_says_it_does_nothing() -> None:
    data = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; }}; }}")
    assert data["firewall"] == []
    assert data["warnings"] == [
        "services.obelisk.openFirewall has no effect: every listening address is a loopback address."
    ]


def test_exposed_api_and_web_ui_without_open_firewall_are_not_opened() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'settings.api.listening_addr = "0.0.0.0:5005"; settings.webui.listening_addr = "0.0.0.0:8080"; }; }'
    )
    assert data["firewall"] == [] and data["warnings"] == []


def test_a_specific_address_waits_for_network_online() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        'settings.api.listening_addr = "192.0.2.10:5005"; settings.api.allow_unauthenticated = true; }; }'
    )
    service = data["service"]
    assert service["after"] == ["network.target", "network-online.target"]
    assert service["wants"] == ["network-online.target"]
    assert data["firewall"] == [5005]
    assert "the gRPC API (settings.api.listening_addr) on 192.0.2.10:5005 is opened" in data["warnings"][0]
    assert "without authentication (settings.api.allow_unauthenticated)" in data["warnings"][0]


# ---------------------------------------------------------------------------------------------- stop


def test_timeout_stop_leaves_room_for_the_longest_shutdown_grace(tmp_path: Path) -> None:
    """At SIGTERM webhook requests get their server's shutdown_grace; systemd must not SIGKILL before that."""
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'httpServers.a = { listeningAddr = "127.0.0.1:9090"; settings.shutdown_grace.secs = 45; }; '
        'settings.http_server = [ { name = "b"; listening_addr = "127.0.0.1:9091"; '
        "shutdown_grace.millis = 61500; } ]; }; }"
    )
    assert data["service"]["serviceConfig"]["TimeoutStopSec"] == "82s"
    rendered = tomllib.loads(data["toml"])
    assert [s["shutdown_grace"] for s in rendered["http_server"]] == [{"millis": 61500}, {"secs": 45}]


# ---------------------------------------------------------------------------------------------- paths


def test_a_path_literal_in_settings_reaches_the_store(tmp_path: Path) -> None:
    """`location.path = ./x.wasm` under `settings` is copied to the store and referenced, not left on the
    evaluating machine (the module's own `wasm` option already was)."""
    wasm = tmp_path / "x.wasm"
    wasm.write_bytes(b"\0asm")
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        f'settings.activity_wasm = [ {{ name = "x"; location.path = {wasm}; }} ]; }}; }}'
    )
    path = tomllib.loads(data["toml"])["activity_wasm"][0]["location"]["path"]
    assert path.startswith("/nix/store/") and path.endswith("-x.wasm"), path
    assert path in data["tomlContext"], data["tomlContext"]


# ---------------------------------------------------------------------------------------------- database


def _obelisk(options: str) -> str:
    """A configuration with services.obelisk enabled, the fake package and `options` (Nix, inside services.obelisk)."""
    return f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; {options} }}; }}"


def test_sqlite_stays_the_default() -> None:
    data = eval_module(_obelisk(""))
    rendered = tomllib.loads(data["toml"])
    assert rendered["sqlite"] == {"file": "/var/lib/obelisk/obelisk.sqlite"}
    assert "database" not in rendered
    assert data["postgresql"].get("enable") is not True, "SQLite needs no PostgreSQL"
    assert data["users"] == {}
    unit = data["service"]["serviceConfig"]
    assert unit["DynamicUser"] is True and "User" not in unit
    assert "requires" not in data["service"] or data["service"]["requires"] == []


def test_create_locally_provisions_postgresql_and_runs_as_its_static_user() -> None:
    data = eval_module(_obelisk('database = { type = "postgresql"; createLocally = true; };'))
    assert data["failedAssertions"] == []
    rendered = tomllib.loads(data["toml"])
    assert rendered["database"] == {
        "postgres": {"host": "/run/postgresql", "port": 5432, "user": "obelisk", "db_name": "obelisk"}
    }
    assert "sqlite" not in rendered, "a PostgreSQL server's file must not name an unused SQLite database"
    assert data["postgresql"]["enable"] is True
    assert data["postgresql"]["ensureDatabases"] == ["obelisk"]
    assert data["postgresql"]["ensureUsers"] == [{"name": "obelisk", "ensureDBOwnership": True}]
    # Peer authentication matches the system user's name to the role: a static user, not a dynamic one.
    assert data["users"]["users"]["obelisk"] == {
        "isSystemUser": True,
        "group": "obelisk",
        "description": "Obelisk workflow engine",
    }
    assert data["users"]["groups"] == {"obelisk": {}}
    service = data["service"]
    unit = service["serviceConfig"]
    assert (unit["DynamicUser"], unit["User"], unit["Group"]) == (False, "obelisk", "obelisk")
    assert service["after"] == ["network.target", "postgresql.target"]
    assert service["requires"] == ["postgresql.target"]
    assert unit["LoadCredential"] == [] and "PASSWORD" not in service["script"]


def test_create_locally_follows_the_port_and_names_of_the_local_server() -> None:
    data = eval_module(
        "{ services.postgresql.settings.port = 5433; "
        f"services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'database = { type = "postgresql"; createLocally = true; name = "engine"; user = "engine"; '
        'poolSize = 2; provisionPolicy = "never"; }; }; }'
    )
    assert data["failedAssertions"] == []
    assert tomllib.loads(data["toml"])["database"]["postgres"] == {
        "host": "/run/postgresql",
        "port": 5433,
        "user": "engine",
        "db_name": "engine",
        "pool_size": 2,
        "provision_policy": "never",
    }
    assert data["postgresql"]["ensureUsers"] == [{"name": "engine", "ensureDBOwnership": True}]
    assert data["service"]["serviceConfig"]["User"] == "engine"
    assert list(data["users"]["users"]) == ["engine"]


def test_a_remote_database_gets_its_password_from_a_credential_never_the_file() -> None:
    data = eval_module(
        _obelisk(
            'database = { type = "postgresql"; host = "db.example.org"; port = 6432; name = "flows"; '
            'user = "worker"; passwordFile = "/run/secrets/db-password"; };'
        )
    )
    assert data["failedAssertions"] == []
    assert tomllib.loads(data["toml"])["database"]["postgres"] == {
        "host": "db.example.org",
        "port": 6432,
        "user": "worker",
        "db_name": "flows",
        "password": "${OBELISK_DB_PASSWORD}",
    }
    assert "/run/secrets" not in data["toml"]
    service = data["service"]
    unit = service["serviceConfig"]
    assert unit["LoadCredential"] == ["OBELISK_DB_PASSWORD:/run/secrets/db-password"]
    assert service["script"].startswith(
        'OBELISK_DB_PASSWORD="$(< "$CREDENTIALS_DIRECTORY/OBELISK_DB_PASSWORD")"\nexport OBELISK_DB_PASSWORD\nexec '
    ), service["script"]
    assert unit["DynamicUser"] is True, "a password login needs no fixed system user"
    assert service["after"] == ["network.target", "network-online.target"]
    assert service["wants"] == ["network-online.target"]
    assert data["postgresql"].get("enable") is not True and data["users"] == {}


def test_the_database_password_joins_the_other_credentials() -> None:
    data = eval_module(
        _obelisk(
            'credentials.API_TOKEN = "/run/secrets/api-token"; '
            'database = { type = "postgresql"; host = "10.0.0.5"; passwordFile = "/run/secrets/db"; };'
        )
    )
    assert data["service"]["serviceConfig"]["LoadCredential"] == [
        "API_TOKEN:/run/secrets/api-token",
        "OBELISK_DB_PASSWORD:/run/secrets/db",
    ]


def test_a_socket_directory_as_host_does_not_wait_for_the_network() -> None:
    data = eval_module(_obelisk('database = { type = "postgresql"; host = "/run/postgresql"; };'))
    assert data["failedAssertions"] == []
    assert data["service"]["after"] == ["network.target"]


def test_settings_database_postgres_wins_over_the_typed_options_key_by_key() -> None:
    data = eval_module(
        _obelisk(
            'database = { type = "postgresql"; host = "db"; poolSize = 8; }; '
            'settings.database.postgres.pool_size = 16; settings.data_directory = "/srv/obelisk";'
        )
    )
    rendered = tomllib.loads(data["toml"])
    assert rendered["database"]["postgres"] == {"host": "db", "user": "obelisk", "db_name": "obelisk", "pool_size": 16}
    assert rendered["data_directory"] == "/srv/obelisk"


def test_a_postgres_server_keeps_its_identity_in_the_state_directory() -> None:
    data = eval_module(_obelisk('database = { type = "postgresql"; host = "db"; };'))
    assert tomllib.loads(data["toml"])["data_directory"] == "/var/lib/obelisk"
    assert "data_directory" not in tomllib.loads(eval_module(_obelisk(""))["toml"]), "SQLite keeps it by the file"


def test_the_newer_sqlite_table_replaces_the_default_file() -> None:
    """[sqlite] and [database.sqlite] together are refused by the server: the module's default file steps aside."""
    data = eval_module(
        _obelisk('settings.database.sqlite = { directory = "/srv/db"; pragma.synchronous = "NORMAL"; };')
    )
    assert data["failedAssertions"] == []
    rendered = tomllib.loads(data["toml"])
    assert "sqlite" not in rendered
    assert rendered["database"] == {"sqlite": {"directory": "/srv/db", "pragma": {"synchronous": "NORMAL"}}}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            'database.createLocally = true; database.passwordFile = "/run/secrets/db";',
            'services.obelisk.database.type is "sqlite", but services.obelisk.database.createLocally, '
            "services.obelisk.database.passwordFile are set, which only PostgreSQL uses: set "
            'services.obelisk.database.type = "postgresql", or remove them.',
        ),
        (
            'settings.database.postgres.host = "db";',
            'services.obelisk.database.type is "sqlite", but services.obelisk.settings.database.postgres is set',
        ),
        (
            'database = { type = "postgresql"; createLocally = true; host = "db.example.org"; };',
            "services.obelisk.database.createLocally provisions PostgreSQL on this machine and connects through "
            '/run/postgresql, but services.obelisk.database.host = "db.example.org" names a server: set one of them, '
            "not both.",
        ),
        (
            'database = { type = "postgresql"; createLocally = true; passwordFile = "/run/secrets/db"; };',
            "services.obelisk.database.passwordFile is set with services.obelisk.database.createLocally = true: the "
            "local database admits the service by peer authentication over its Unix socket, without a password.",
        ),
        (
            'database = { type = "postgresql"; createLocally = true; port = 5433; };',
            "the local server listens on services.postgresql.settings.port; set that instead.",
        ),
        (
            'database = { type = "postgresql"; createLocally = true; name = "flows"; };',
            'services.obelisk.database.createLocally: name = "flows" and user = "obelisk" differ',
        ),
        (
            'database = { type = "postgresql"; host = "db"; }; settings.sqlite.synchronous = "NORMAL";',
            'services.obelisk.database.type = "postgresql", but services.obelisk.settings.sqlite configures SQLite, '
            "which the server refuses beside [database.postgres]: remove it.",
        ),
        (
            'database = { type = "postgresql"; host = "db"; }; settings.database.sqlite.directory = "/srv";',
            "but services.obelisk.settings.database.sqlite configures SQLite",
        ),
        (
            'settings.sqlite.synchronous = "NORMAL"; settings.database.sqlite.directory = "/srv";',
            "services.obelisk.settings.sqlite and services.obelisk.settings.database.sqlite both configure the SQLite "
            "database, which the server refuses: keep one",
        ),
        (
            'database.type = "postgresql";',
            'services.obelisk.database.type = "postgresql" needs a server: set '
            "services.obelisk.database.createLocally = true to provision one on this machine, or "
            "services.obelisk.database.host (with database.passwordFile) for one elsewhere.",
        ),
        (
            'database = { type = "postgresql"; host = "db"; passwordFile = "/run/secrets/db"; }; '
            'credentials.OBELISK_DB_PASSWORD = "/run/secrets/other";',
            "services.obelisk.credentials.OBELISK_DB_PASSWORD and services.obelisk.database.passwordFile both set "
            "the database password: keep database.passwordFile.",
        ),
    ],
    ids=[
        "postgres-options-on-sqlite",
        "postgres-settings-on-sqlite",
        "local-and-remote",
        "local-with-password",
        "local-with-port",
        "local-name-not-user",
        "sqlite-settings-on-postgres",
        "newer-sqlite-settings-on-postgres",
        "both-sqlite-tables",
        "postgres-without-server",
        "password-twice",
    ],
)
def test_contradictory_database_settings_fail_with_the_options_named(options: str, expected: str) -> None:
    data = eval_module(_obelisk(options))
    (message,) = data["failedAssertions"]
    assert expected in message, message
    assert "toml" not in data, "evaluation stops at failed assertions, as a NixOS build does"


def test_the_database_password_file_refuses_a_path_literal(tmp_path: Path) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("hunter2\n", encoding="utf-8")
    stderr = eval_module_error(
        _obelisk(f'database = {{ type = "postgresql"; host = "db"; passwordFile = {secret}; }};')
    )
    assert "absolute path outside the Nix store, as a string" in stderr, stderr


def test_vm_postgres_nodes_load_through_the_servers_loader(tmp_path: Path) -> None:
    """What the servers of postgres.py and postgres_local.py read: PostgreSQL (and no SQLite table), the password
    from the environment, refused when it is not set, the identity in the state directory."""
    rendered = tmp_path / "server.toml"
    rendered.write_text(_postgres_node("server", tmp_path / "components")["toml"], encoding="utf-8")
    config = load_config(rendered, env={**ENV, "OBELISK_DB_PASSWORD": "s3cret"}, cwd=tmp_path).config
    postgres = config.database.postgres
    assert postgres is not None and config.backend == postgres
    assert (postgres.host, postgres.port, postgres.user, postgres.db_name) == ("db", 5432, "obelisk", "obelisk")
    assert (postgres.password, postgres.provision_policy) == ("s3cret", "never")
    assert config.data_directory == Path("/var/lib/obelisk")
    assert config.sqlite is None and config.database.sqlite is None
    with pytest.raises(ObeliskError, match="OBELISK_DB_PASSWORD"):
        load_config(rendered, env=ENV, cwd=tmp_path)

    rendered = tmp_path / "local.toml"
    rendered.write_text(_postgres_node("local", tmp_path / "components")["toml"], encoding="utf-8")
    postgres = load_config(rendered, env=ENV, cwd=tmp_path).config.database.postgres
    assert postgres is not None
    assert (postgres.host, postgres.port, postgres.user, postgres.password) == (
        "/run/postgresql",
        5432,
        "obelisk",
        None,
    )


# ---------------------------------------------------------------------------------------------- outbound HTTP, limits


def test_outbound_policy_secrets_and_limits_render_what_the_server_accepts(tmp_path: Path) -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'secrets.GITHUB_TOKEN = "/run/secrets/github-token"; '
        "outboundHttp.allowedHosts = [ "
        '{ pattern = "api.github.com"; methods = [ "GET" "POST" ]; secrets = [ "GITHUB_TOKEN" ]; '
        'replaceIn = [ "headers" ]; requestUrlRegex = "^GET https://api[.]github[.]com/"; } '
        '{ pattern = "*.example.com"; methods = "*"; } ]; '
        'activities.a = { wasm = "/w/a.wasm"; maxMemorySize = 268435456; maxOutboundRequests = "unlimited"; }; '
        'workflows.w = { wasm = "/w/w.wasm"; maxMemorySize = "unlimited"; }; '
        'credentials.API_TOKEN = "/run/secrets/api-token"; }; }'
    )
    assert data["failedAssertions"] == []
    service = data["service"]
    # the secret is a credential loaded by systemd, read by the server from the credentials directory, never exported
    assert service["serviceConfig"]["LoadCredential"] == [
        "API_TOKEN:/run/secrets/api-token",
        "obelisk-secret-GITHUB_TOKEN:/run/secrets/github-token",
    ]
    assert "GITHUB_TOKEN" not in service["script"] and "export API_TOKEN" in service["script"]
    assert "/run/secrets" not in data["toml"] and data["tomlContext"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config
    assert config.secrets["GITHUB_TOKEN"].file == "${CREDENTIALS_DIRECTORY}/obelisk-secret-GITHUB_TOKEN"
    assert config.outbound_http is not None
    github, example = config.outbound_http.allowed_host
    assert (github.pattern, github.methods, github.secrets, github.replace_in) == (
        "api.github.com",
        ["GET", "POST"],
        ["GITHUB_TOKEN"],
        ["headers"],
    )
    assert github.request_url_regex == "^GET https://api[.]github[.]com/"
    assert (example.pattern, example.methods) == ("*.example.com", "*")
    (activity,) = config.activity_wasm
    assert (activity.memory_limit, activity.outbound_request_limit) == (256 * 1024 * 1024, None)
    assert config.workflow[0].memory_limit is None

    # the secret file as systemd would provide it is what the server reads
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "obelisk-secret-GITHUB_TOKEN").write_text("ghp_value\n")
    policy = load_operator_policy(
        config.outbound_http, config.secrets, {**ENV, "CREDENTIALS_DIRECTORY": str(credentials)}
    )
    assert policy is not None and policy.values.value("GITHUB_TOKEN") == "ghp_value"


def test_without_a_declared_policy_no_outbound_table_is_written() -> None:
    data = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; }}; }}")
    assert "outbound_http" not in data["settings"] and "secrets" not in data["settings"]
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; outboundHttp.allowedHosts = [ ]; }}; }}"
    )
    assert data["settings"]["outbound_http"] == {"allowed_host": []}, "an empty list denies everything"


def test_an_entry_naming_an_undefined_secret_and_a_bad_secret_name_fail_assertions() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'secrets."bad-name" = "/run/secrets/x"; '
        'outboundHttp.allowedHosts = [ { pattern = "x.org"; methods = "*"; secrets = [ "NOPE" ]; '
        'replaceIn = [ "body" ]; } ]; }; }'
    )
    messages = data["failedAssertions"]
    assert any('services.obelisk.secrets."bad-name"' in m for m in messages), messages
    assert any('names the secret "NOPE", which services.obelisk.secrets does not define' in m for m in messages)


def test_secret_files_of_the_policy_refuse_nix_path_literals(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("x")
    stderr = eval_module_error(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; secrets.T = {secret}; }}; }}"
    )
    assert "absolute path outside the Nix store" in stderr, stderr


def test_module_otlp_options_render_the_otlp_table_the_server_reads(tmp_path: Path) -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'otlp = { enable = true; endpoint = "http://collector:4317"; serviceName = "obelisk-eu"; }; '
        'settings.otlp.level = "info"; }; }'
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    loaded = load_config(rendered, env=ENV, cwd=tmp_path)
    otlp = loaded.config.otlp
    assert otlp is not None
    assert (otlp.enabled, otlp.otlp_endpoint, otlp.service_name, otlp.level) == (
        True,
        "http://collector:4317",
        "obelisk-eu",
        "info",
    )
    assert loaded.warnings == ()
    without = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; }}; }}")
    assert "otlp" not in tomllib.loads(without["toml"])


# ---------------------------------------------------------------------------------------------- API tokens


def test_open_firewall_refuses_an_api_and_ui_without_a_token() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        'settings.api.listening_addr = "0.0.0.0:5005"; settings.webui.listening_addr = "0.0.0.0:8080"; }; }'
    )
    (message,) = data["failedAssertions"]
    assert message.startswith(
        "services.obelisk.openFirewall would open the gRPC API (settings.api.listening_addr) on 0.0.0.0:5005 and "
        "the web UI (settings.webui.listening_addr) on 0.0.0.0:8080 to the network without authentication"
    )
    assert "services.obelisk.apiTokenFile" in message and "settings.api.allow_unauthenticated = true" in message


def test_the_api_token_file_is_a_credential_exported_to_the_server(tmp_path: Path) -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        'apiTokenFile = "/run/keys/obelisk-api-token"; settings.api.listening_addr = "0.0.0.0:5005"; '
        'settings.webui.listening_addr = "0.0.0.0:8080"; }; }'
    )
    assert data["failedAssertions"] == [] and data["warnings"] == []
    service = data["service"]
    assert service["serviceConfig"]["LoadCredential"] == ["OBELISK__API__TOKEN:/run/keys/obelisk-api-token"]
    assert 'OBELISK__API__TOKEN="$(< "$CREDENTIALS_DIRECTORY/OBELISK__API__TOKEN")"' in service["script"]
    assert "export OBELISK__API__TOKEN" in service["script"]
    assert "obelisk-api-token" not in data["toml"], "the token file is not named in the store"
    assert sorted(data["firewall"]) == [5005, 8080]
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    with pytest.raises(ObeliskError, match="no API token is configured"):
        load_config(rendered, env=ENV, cwd=tmp_path)
    token = "t" * 64
    assert load_config(rendered, env=ENV | {"OBELISK__API__TOKEN": token}, cwd=tmp_path).config.api.token == token


def test_token_hashes_in_settings_count_as_authentication(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        f'settings.api = {{ listening_addr = "0.0.0.0:5005"; token_hashes = [ "{digest}" '
        f'{{ hash = "{digest.replace("ab", "cd")}"; role = "viewer"; }} ]; }}; }}; }}'
    )
    assert data["failedAssertions"] == [] and data["warnings"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config
    assert [(t.hash, t.role) for t in config.api.token_hashes] == [
        (digest, "operator"),
        (digest.replace("ab", "cd"), "viewer"),
    ]


def test_the_api_token_file_must_stay_out_of_the_store() -> None:
    stderr = eval_module_error(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'apiTokenFile = "/nix/store/00000000000000000000000000000000-token"; }; }'
    )
    assert "apiTokenFile" in stderr and "outside the Nix store" in stderr


def test_vm_auth_node_config_is_accepted_by_the_server_with_its_token(tmp_path: Path) -> None:
    """nix-tests/auth.py: all interfaces, the firewall open, the token from the boot-time file, a viewer's hash."""
    data = eval_module(
        "{ testArgs, ... }: { imports = [ (import ./nix-tests/auth-node.nix testArgs) ]; }",
        components=str(tmp_path / "components"),
        with_overlay=True,
    )
    assert data["failedAssertions"] == [] and data["warnings"] == []
    assert sorted(data["firewall"]) == [5005, 8080]
    assert data["service"]["serviceConfig"]["LoadCredential"] == ["OBELISK__API__TOKEN:/run/obelisk-test/api-token"]
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV | {"OBELISK__API__TOKEN": "t" * 64}, cwd=tmp_path).config
    (viewer,) = config.api.token_hashes
    assert viewer.role == "viewer" and viewer.hash == token_hash("viewer-token-of-the-vm-test-0123456789abcdef")
