"""services.obelisk.tls: certificate, key and client CA files as systemd credentials, named in the rendered file
by their place in the unit's credentials directory (never copied into the store, never exported)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from obelisk.config import load_config
from tests.nix.nixtools import ENV
from tests.nix.test_module import FAKE_PACKAGE, eval_module, eval_module_error

CREDENTIALS = "/run/credentials/obelisk.service"
TLS = (
    'tls.api.certificateFile = "/var/lib/acme/o/fullchain.pem"; tls.api.keyFile = "/var/lib/acme/o/key.pem"; '
    'tls.api.clientCaFile = "/etc/obelisk/client-ca.pem"; '
    'tls.webui.certificateFile = "/var/lib/acme/o/fullchain.pem"; tls.webui.keyFile = "/var/lib/acme/o/key.pem"; '
)


def _service(options: str) -> str:
    return f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; {options} }}; }}"


def test_tls_files_are_credentials_the_rendered_file_names(tmp_path: Path) -> None:
    data = eval_module(_service(TLS + 'credentials.API_TOKEN = "/run/secrets/t"; settings.api.x_kept = 1;'))
    assert data["failedAssertions"] == []
    service = data["service"]
    assert sorted(service["serviceConfig"]["LoadCredential"]) == [
        "API_TOKEN:/run/secrets/t",
        "tls-api-cert:/var/lib/acme/o/fullchain.pem",
        "tls-api-client-ca:/etc/obelisk/client-ca.pem",
        "tls-api-key:/var/lib/acme/o/key.pem",
        "tls-webui-cert:/var/lib/acme/o/fullchain.pem",
        "tls-webui-key:/var/lib/acme/o/key.pem",
    ]
    assert "tls-" not in service["script"]  # not exported to the environment: the server reads the files
    rendered = tomllib.loads(data["toml"])
    assert rendered["api"] == {
        "listening_addr": "127.0.0.1:5005",
        "x_kept": 1,
        "tls_cert_file": f"{CREDENTIALS}/tls-api-cert",
        "tls_key_file": f"{CREDENTIALS}/tls-api-key",
        "tls_client_ca_file": f"{CREDENTIALS}/tls-api-client-ca",
    }
    assert rendered["webui"] == {
        "listening_addr": "127.0.0.1:8080",
        "tls_cert_file": f"{CREDENTIALS}/tls-webui-cert",
        "tls_key_file": f"{CREDENTIALS}/tls-webui-key",
    }
    assert data["tomlContext"] == [] or all("acme" not in c for c in data["tomlContext"])
    # The server's own loader accepts what was rendered (files are read only at start).
    path = tmp_path / "obelisk.toml"
    path.write_text(data["toml"].replace("x_kept = 1\n", ""), encoding="utf-8")
    config = load_config(path, env=ENV, cwd=tmp_path).config
    assert config.api.tls_client_ca_file == Path(f"{CREDENTIALS}/tls-api-client-ca")
    assert config.webui is not None and config.webui.tls_key_file == Path(f"{CREDENTIALS}/tls-webui-key")


def test_without_tls_nothing_changes() -> None:
    data = eval_module(_service(""))
    assert "tls_cert_file" not in data["toml"]
    assert data["service"]["serviceConfig"]["LoadCredential"] == []


def test_incomplete_or_contradictory_tls_options_are_named() -> None:
    data = eval_module(_service('tls.api.certificateFile = "/c.pem"; tls.webui.keyFile = "/k.pem";'))
    assert data["failedAssertions"] == [
        "services.obelisk.tls.api: set both certificateFile and keyFile (TLS needs the certificate and its key).",
        "services.obelisk.tls.webui: set both certificateFile and keyFile (TLS needs the certificate and its key).",
    ]
    data = eval_module(_service('tls.api.clientCaFile = "/ca.pem";'))
    assert data["failedAssertions"] == [
        "services.obelisk.tls.api.clientCaFile needs TLS: set tls.api.certificateFile and tls.api.keyFile too."
    ]
    data = eval_module(_service(TLS + "settings.webui.listening_addr = null;"))
    assert data["failedAssertions"] == [
        "services.obelisk.tls.webui is set but the web UI is off (settings.webui.listening_addr = null)."
    ]
    data = eval_module(_service(TLS + 'settings.api.tls_key_file = "/etc/k.pem";'))
    assert data["failedAssertions"] == [
        "services.obelisk.settings.api.tls_key_file and services.obelisk.tls set the same TLS file: keep the `tls` "
        "option (a systemd credential)."
    ]


def test_tls_files_refuse_nix_path_literals(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    stderr = eval_module_error(_service(f'tls.api.certificateFile = "/c.pem"; tls.api.keyFile = {key};'))
    assert "absolute path outside the Nix store, as a string" in stderr, stderr


def test_vm_tls_node_config_is_accepted_by_the_server(tmp_path: Path) -> None:
    data = eval_module(
        "{ testArgs, ... }: { imports = [ (import ./nix-tests/tls-node.nix testArgs) ]; }",
        components=str(tmp_path / "components"),
        with_overlay=True,
    )
    assert data["failedAssertions"] == [] and data["warnings"] == []
    assert sorted(data["service"]["serviceConfig"]["LoadCredential"]) == [
        "tls-api-cert:/run/obelisk-test-tls/server.pem",
        "tls-api-client-ca:/run/obelisk-test-tls/ca.pem",
        "tls-api-key:/run/obelisk-test-tls/server.key",
        "tls-webui-cert:/run/obelisk-test-tls/server.pem",
        "tls-webui-key:/run/obelisk-test-tls/server.key",
    ]
    path = tmp_path / "obelisk.toml"
    path.write_text(data["toml"], encoding="utf-8")
    config = load_config(path, env=ENV, cwd=tmp_path).config
    assert config.api.tls_cert_file == Path(f"{CREDENTIALS}/tls-api-cert")
    assert config.webui is not None and config.webui.tls_cert_file == Path(f"{CREDENTIALS}/tls-webui-cert")
    assert [a.name for a in config.activity_wasm] == ["fibo_activity", "http_get_activity", "sleep_activity"]


def test_vm_tls_test_makes_its_certificates_before_the_service_starts() -> None:
    from tests.nix.test_flake import eval_flake

    out = eval_flake("x86_64-linux")
    assert out["checks"]["vm-tls"] == "vm-test-run-obelisk-tls"
    machine = out["vmTestNodes"]["vm-tls"]["machine"]
    assert machine["warnings"] == []
    certificates = machine["services"]["obelisk-test-certificates"]
    assert certificates["before"] == ["obelisk.service"] and certificates["wantedBy"] == ["obelisk.service"]
    assert (
        "tls-api-client-ca:/run/obelisk-test-tls/ca.pem"
        in machine["services"]["obelisk"]["serviceConfig"]["LoadCredential"]
    )
