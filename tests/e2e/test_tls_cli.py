"""``obelisk server run`` with TLS (mutual on the API), driven by ``obelisk client`` with ``--tls``/``--ca``/
``--client-cert``/``--client-key`` (given to the group, to the command, or through the environment)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server_process import ServerProcess
from tests.tls_certificates import Certificates, make_certificates
from tests.wat_fixtures import build_wat_fixture

FIBO = "testing:fibo/fibo.fibo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(tmp_path: Path, port: int, tls: str) -> Path:
    config = tmp_path / "obelisk.toml"
    config.write_text(
        f"""
api.listening_addr = "127.0.0.1:{port}"
sqlite.file = "{tmp_path / "db" / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{tmp_path / "codegen"}"
{tls}

[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"
"""
    )
    return config


def client(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OBELISK_API")}
    return subprocess.run(
        [sys.executable, "-m", "obelisk", "client", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[int]:
    port = free_port()
    tls = f"""
api.tls_cert_file = "{certs.server_cert}"
api.tls_key_file = "{certs.server_key}"
api.tls_client_ca_file = "{certs.ca}"
"""
    server = ServerProcess(write_config(tmp_path_factory.mktemp("server"), port, tls)).start()
    try:
        yield port
    finally:
        assert server.terminate() == 0


def test_group_options_with_a_client_certificate_run_an_execution(mtls_server: int, certs: Certificates) -> None:
    run = client(
        "--api-url", f"http://127.0.0.1:{mtls_server}", "--tls", "--ca", certs.ca,
        "--client-cert", certs.client_cert, "--client-key", certs.client_key,
        "execution", "submit", FIBO, "[10]", "--follow",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Execution finished: OK: 55" in run.stdout.splitlines()


def test_command_options_and_the_environment_work_alike(mtls_server: int, certs: Certificates) -> None:
    run = client(
        "component", "list", "-a", f"https://127.0.0.1:{mtls_server}",
        "--ca", certs.ca, "--client-cert", certs.client_cert, "--client-key", certs.client_key,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "fibo" in run.stdout
    env = {
        "OBELISK_API_URL": f"127.0.0.1:{mtls_server}",
        "OBELISK_API_TLS": "1",
        "OBELISK_API_CA": str(certs.ca),
        "OBELISK_API_CLIENT_CERT": str(certs.client_cert),
        "OBELISK_API_CLIENT_KEY": str(certs.client_key),
    }
    run = client("execution", "list", env=env)
    assert run.returncode == 0, run.stderr


def test_without_a_client_certificate_or_tls_the_cli_is_refused(mtls_server: int, certs: Certificates) -> None:
    url = f"https://127.0.0.1:{mtls_server}"
    run = client("-a", url, "--ca", certs.ca, "component", "list")
    assert run.returncode == 4, run.stderr
    assert run.stderr.startswith(f"error: cannot reach the server at {url}: "), run.stderr
    plain = f"http://127.0.0.1:{mtls_server}"
    run = client("-a", plain, "component", "list")
    assert run.returncode == 4, run.stderr
    assert "if the server uses TLS: --tls" in run.stderr
    run = client("-a", url, "--ca", certs.ca, "--client-cert", certs.client_cert, "component", "list")
    assert run.returncode == 2, run.stderr  # a usage error: nothing was sent
    assert run.stderr == "error: --client-cert needs --client-key: a client certificate goes with its key\n"


def test_server_run_refuses_a_key_that_does_not_match(tmp_path: Path, certs: Certificates) -> None:
    tls = f'api.tls_cert_file = "{certs.server_cert}"\napi.tls_key_file = "{certs.other_key}"\n'
    config = write_config(tmp_path, free_port(), tls)
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "server", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    assert run.returncode == 1
    assert "Server is ready" not in run.stdout
    assert (
        f"error: api.tls_key_file {certs.other_key}: the key does not belong to the certificate of "
        f"api.tls_cert_file {certs.server_cert}"
    ) in run.stderr
    assert not (tmp_path / "db").exists()


def test_server_verify_checks_the_tls_files(tmp_path: Path, certs: Certificates) -> None:
    missing = tmp_path / "missing-ca.pem"
    tls = f"""
webui.listening_addr = "127.0.0.1:0"
webui.tls_cert_file = "{certs.server_cert}"
webui.tls_key_file = "{certs.server_key}"
api.tls_cert_file = "{certs.server_cert}"
api.tls_key_file = "{certs.server_key}"
api.tls_client_ca_file = "{missing}"
"""
    config = write_config(tmp_path, free_port(), tls)
    command = [sys.executable, "-m", "obelisk", "server", "verify", "-c", str(config)]
    env = dict(os.environ, HOME=str(tmp_path))
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert run.returncode == 1
    assert run.stderr == f"error: api.tls_client_ca_file {missing}: no such file\n"
    missing.write_bytes(certs.ca.read_bytes())
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "Configuration is valid."
