"""TLS on real ports: the API and the web UI with a certificate from a CA made at test time, mutual TLS on the API,
and the start-up errors of files that cannot be used (naming the key and the file, starting nothing)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.api.client import ApiClient, ApiError, ClientInputError
from obelisk.api.tls import ClientTls, TlsFileError
from obelisk.config import ConfigError, load_config
from obelisk.server import Server
from tests.integration.server_harness import running_server, write_config
from tests.tls_certificates import Certificates, make_certificates
from tests.wat_fixtures import build_wat_fixture


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def components(tmp_path: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"
"""


def tls_config(certs: Certificates, *, client_ca: bool = False, webui: bool = True) -> str:
    text = f"""
api.tls_cert_file = "{certs.server_cert}"
api.tls_key_file = "{certs.server_key}"
"""
    if client_ca:
        text += f'api.tls_client_ca_file = "{certs.ca}"\n'
    if webui:
        text += f"""
webui.listening_addr = "127.0.0.1:0"
webui.tls_cert_file = "{certs.server_cert}"
webui.tls_key_file = "{certs.server_key}"
"""
    return text


@pytest.fixture
async def tls_server(tmp_path: Path, certs: Certificates) -> AsyncIterator[Server]:
    path = write_config(tmp_path, tmp_path / "codegen", components(tmp_path), extra=tls_config(certs))
    async with running_server(path) as running:
        yield running


@pytest.fixture
async def mtls_server(tmp_path: Path, certs: Certificates) -> AsyncIterator[Server]:
    extra = tls_config(certs, client_ca=True, webui=False)
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path), extra=extra)) as run:
        yield run


def list_functions(url: str, tls: ClientTls | None) -> list[str]:
    """Through the CLI's synchronous client (run in a thread: the server shares the test's event loop)."""
    with ApiClient(url, tls) as client:
        return [fn.function_name.function_name for c in client.list_components(extensions=False) for fn in c.exports]


# ---------------------------------------------------------------------------------------------- API


async def test_a_tls_client_trusting_the_ca_is_served(tls_server: Server, certs: Certificates) -> None:
    url = f"http://127.0.0.1:{tls_server.api_port}"  # --tls upgrades an http:// URL
    assert await asyncio.to_thread(list_functions, url, ClientTls(ca_file=certs.ca)) == ["fibo"]
    https = f"https://localhost:{tls_server.api_port}"  # the certificate names localhost too
    assert await asyncio.to_thread(list_functions, https, ClientTls(ca_file=certs.ca)) == ["fibo"]


async def test_a_plaintext_client_is_refused_with_a_hint(tls_server: Server) -> None:
    url = f"http://127.0.0.1:{tls_server.api_port}"
    with pytest.raises(ApiError) as raised:
        await asyncio.to_thread(list_functions, url, None)
    assert not raised.value.reached
    assert raised.value.retryable  # the CLI's exit status 4: unreachable
    assert str(raised.value).startswith(f"cannot reach the server at {url}: ")
    assert "if the server uses TLS: --tls" in str(raised.value)


async def test_a_client_trusting_another_ca_is_refused(tls_server: Server, certs: Certificates) -> None:
    url = f"https://127.0.0.1:{tls_server.api_port}"
    with pytest.raises(ApiError) as raised:
        await asyncio.to_thread(list_functions, url, ClientTls(ca_file=certs.other_ca))
    assert not raised.value.reached
    assert str(raised.value).endswith("(the server's certificate is not signed by a CA this client trusts: --ca FILE)")


async def test_a_tls_client_of_a_plaintext_server_is_told_so(tmp_path: Path, certs: Certificates) -> None:
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path))) as plain:
        url = f"https://127.0.0.1:{plain.api_port}"
        with pytest.raises(ApiError) as raised:
            await asyncio.to_thread(list_functions, url, ClientTls(ca_file=certs.ca))
    assert not raised.value.reached
    assert str(raised.value).endswith("(the server does not speak TLS: drop --tls, --ca and https://)")


async def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_server: Server, certs: Certificates) -> None:
    url = f"https://127.0.0.1:{mtls_server.api_port}"
    with pytest.raises(ApiError) as raised:
        await asyncio.to_thread(list_functions, url, ClientTls(ca_file=certs.ca))
    assert not raised.value.reached
    assert "--client-cert FILE --client-key FILE" in str(raised.value)
    # A certificate from a CA the server does not trust is refused alike (the server's own is not a client one).
    with pytest.raises(ApiError):
        foreign = ClientTls(ca_file=certs.ca, cert_file=certs.other_ca, key_file=certs.other_key)
        await asyncio.to_thread(list_functions, url, foreign)


async def test_mutual_tls_serves_a_client_with_its_certificate(mtls_server: Server, certs: Certificates) -> None:
    tls = ClientTls(ca_file=certs.ca, cert_file=certs.client_cert, key_file=certs.client_key)
    url = f"https://127.0.0.1:{mtls_server.api_port}"
    assert await asyncio.to_thread(list_functions, url, tls) == ["fibo"]
    credentials = tls.channel_credentials()
    async with grpc.aio.secure_channel(f"127.0.0.1:{mtls_server.api_port}", credentials) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_client_files_that_cannot_be_used_are_usage_errors(tmp_path: Path, certs: Certificates) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ClientInputError, match=f"--ca {missing}: no such file"):
        ApiClient("https://127.0.0.1:1", ClientTls(ca_file=missing))
    with pytest.raises(ClientInputError, match="--client-cert needs --client-key"):
        ApiClient("https://127.0.0.1:1", ClientTls(cert_file=certs.client_cert))
    with pytest.raises(ClientInputError, match=f"--ca {certs.client_key}: not a PEM certificate"):
        ApiClient("https://127.0.0.1:1", ClientTls(ca_file=certs.client_key))


# ---------------------------------------------------------------------------------------------- web UI


async def test_the_web_ui_serves_https(tls_server: Server, certs: Certificates) -> None:
    context = ssl.create_default_context(cafile=certs.ca)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://127.0.0.1:{tls_server.webui_port}/components", ssl=context) as response:
            body = await response.text()
        assert response.status == 200
        assert "fibo" in body
        with pytest.raises(aiohttp.ClientError):  # plaintext HTTP gets no page
            async with session.get(f"http://127.0.0.1:{tls_server.webui_port}/") as plain:
                await plain.read()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # nor a client that trusts another CA
            untrusting = ssl.create_default_context(cafile=certs.other_ca)
            async with session.get(f"https://127.0.0.1:{tls_server.webui_port}/", ssl=untrusting) as refused:
                await refused.read()


# ---------------------------------------------------------------------------------------------- start-up


def _config_with(tmp_path: Path, extra: str) -> Path:
    return write_config(tmp_path, tmp_path / "codegen", components(tmp_path), extra=extra)


async def _start_fails(path: Path) -> str:
    loaded = load_config(path, env={"HOME": str(path.parent)})
    with pytest.raises(TlsFileError) as raised:
        server = await Server.start(loaded.config)
        await server.stop()
    assert not (path.parent / "db").exists(), "the database was opened before the TLS files were checked"
    return str(raised.value)


def _pair(cert: Path, key: Path, table: str = "api") -> str:
    prefix = 'webui.listening_addr = "127.0.0.1:0"\n' if table == "webui" else ""
    return f'{prefix}{table}.tls_cert_file = "{cert}"\n{table}.tls_key_file = "{key}"\n'


async def test_a_missing_certificate_names_the_key_and_file(tmp_path: Path, certs: Certificates) -> None:
    missing = tmp_path / "nowhere" / "cert.pem"
    message = await _start_fails(_config_with(tmp_path, _pair(missing, certs.server_key)))
    assert message == f"api.tls_cert_file {missing}: no such file"


async def test_an_unreadable_key_names_the_key_and_file(tmp_path: Path, certs: Certificates) -> None:
    message = await _start_fails(_config_with(tmp_path, _pair(certs.server_cert, tmp_path, "webui")))
    assert message == f"webui.tls_key_file {tmp_path}: is a directory, not a PEM file"


async def test_a_key_of_another_certificate_is_refused(tmp_path: Path, certs: Certificates) -> None:
    message = await _start_fails(_config_with(tmp_path, _pair(certs.server_cert, certs.other_key)))
    assert message == (
        f"api.tls_key_file {certs.other_key}: the key does not belong to the certificate of "
        f"api.tls_cert_file {certs.server_cert}"
    )


async def test_files_that_are_not_pem_are_refused(tmp_path: Path, certs: Certificates) -> None:
    message = await _start_fails(_config_with(tmp_path, _pair(certs.server_key, certs.server_key)))
    assert message.startswith(f"api.tls_cert_file {certs.server_key}: not a PEM certificate")
    message = await _start_fails(_config_with(tmp_path, _pair(certs.server_cert, certs.server_cert)))
    assert message.startswith(f"api.tls_key_file {certs.server_cert}: not a PEM private key")
    bad_ca = _pair(certs.server_cert, certs.server_key) + f'api.tls_client_ca_file = "{certs.client_key}"\n'
    message = await _start_fails(_config_with(tmp_path, bad_ca))
    assert message.startswith(f"api.tls_client_ca_file {certs.client_key}: not a PEM certificate")


async def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path, certs: Certificates) -> None:
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAi=\n"
        b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    message = await _start_fails(_config_with(tmp_path, _pair(certs.server_cert, encrypted)))
    assert message.startswith(f"api.tls_key_file {encrypted}: the key is encrypted")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('api.tls_cert_file = "cert.pem"', "tls_cert_file is set but tls_key_file is not"),
        ('webui.tls_key_file = "key.pem"', "tls_key_file is set but tls_cert_file is not"),
        ('api.tls_client_ca_file = "ca.pem"', "tls_client_ca_file needs TLS"),
    ],
)
def test_incomplete_tls_keys_are_config_errors(tmp_path: Path, extra: str, expected: str) -> None:
    path = _config_with(tmp_path, extra)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={"HOME": str(tmp_path)})


def test_relative_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = _config_with(tmp_path, 'api.tls_cert_file = "tls/cert.pem"\napi.tls_key_file = "tls/key.pem"\n')
    config = load_config(path, env={"HOME": str(tmp_path)}).config
    assert config.api.tls_cert_file == tmp_path / "tls" / "cert.pem"
    assert config.api.tls_key_file == tmp_path / "tls" / "key.pem"
