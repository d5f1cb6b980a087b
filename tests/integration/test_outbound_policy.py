"""The operator's outbound HTTP policy (``[[outbound_http.allowed_host]]``, ``[secrets]``), the request cap and the
memory cap, with a real activity component, a real server and a real HTTP server that echoes what it received."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from obelisk.concepts.results import ExecutionFailure, FallibleError, Ok
from obelisk.server import Server
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow

SEND = "testing:outbound/outbound.send"
ENV_VAR = "testing:outbound/outbound.env-var"
GET_REPEATEDLY = "testing:outbound/outbound.get-repeatedly"
HOG = "testing:outbound/outbound.hog"
SECRET = "s3cr3t value/+&="
FILE_SECRET = "from-a-file"


@pytest.fixture
async def echo_site() -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    """Answers every request with JSON of what it received: method, path with query, headers, body."""
    received: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        seen: dict[str, Any] = {
            "method": request.method,
            "path_qs": request.path_qs,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": await request.text(),
        }
        received.append(seen)
        return web.json_response(seen)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, received
    finally:
        await runner.cleanup()


def _config(
    tmp_path: Path, codegen_cache: Path, built: Path, port: int, *, activity: str = "", max_retries: int = 0
) -> Path:
    secret_file = tmp_path / "file_secret"
    secret_file.write_text(FILE_SECRET + "\n")
    return write_config(
        tmp_path,
        codegen_cache,
        f"""
[[activity_wasm]]
name = "outbound_activity"
location.path = "{built / "outbound_activity.wasm"}"
max_retries = {max_retries}
retry_on_err = false
forward_stderr = "stderr"
{activity}
""",
        extra=f"""
[secrets]
API_KEY = {{ env = "OBELISK_TEST_API_KEY" }}
FILE_KEY = {{ file = "{secret_file}" }}

[[outbound_http.allowed_host]]
pattern = "http://127.0.0.1:{port}"
methods = "*"
secrets = ["API_KEY", "FILE_KEY"]
replace_in = ["headers", "params", "body"]

[[outbound_http.allowed_host]]
pattern = "http://localhost:{port}"
methods = ["GET"]
""",
    )


async def _placeholder(server: Server, name: str) -> str:
    _, result = await submit_and_wait(server, ENV_VAR, [name])
    assert isinstance(result, Ok) and result.value is not None
    value = result.value.json
    assert isinstance(value, str)
    return value


async def test_the_guest_holds_placeholders_and_only_the_bound_host_receives_the_values(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    async with running_server(_config(tmp_path, codegen_cache, built_components, port)) as server:
        placeholder = await _placeholder(server, "API_KEY")
        assert placeholder.startswith("OBELISK_SECRET_") and SECRET not in placeholder
        assert await _placeholder(server, "API_KEY") != placeholder, "each attempt gets fresh placeholders"

        # The guest puts its placeholders (its env vars API_KEY, FILE_KEY) into a header, the query and the body.
        bound: list[object] = [
            "POST",
            f"http://127.0.0.1:{port}/bound?key=${{API_KEY}}&other=${{FILE_KEY}}",
            [["authorization", "Bearer ${API_KEY}"], ["content-type", "application/json"]],
            '{"token": "${API_KEY}"}',
        ]
        _, result = await submit_and_wait(server, SEND, bound)
        assert isinstance(result, Ok) and result.value is not None
        sent = json.loads(result.value.json["ok"])["sent"]
        # what the guest held and sent: placeholders only
        assert SECRET not in json.dumps(sent) and FILE_SECRET not in json.dumps(sent)
        assert sent["headers"][0][1].startswith("Bearer OBELISK_SECRET_")
        assert "key=OBELISK_SECRET_" in sent["url"] and "OBELISK_SECRET_" in sent["body"]
        # what the server received: the values
        got = received[-1]
        assert got["headers"]["Authorization"] == f"Bearer {SECRET}"
        assert got["query"] == {"key": SECRET, "other": FILE_SECRET}
        assert json.loads(str(got["body"])) == {"token": SECRET}

        # The same kind of request to a host the secrets are not bound to: the placeholders go out as they are.
        unbound: list[object] = [
            "GET",
            f"http://localhost:{port}/unbound?key=${{API_KEY}}",
            [["authorization", "Bearer ${API_KEY}"]],
            "",
        ]
        _, result = await submit_and_wait(server, SEND, unbound)
        assert isinstance(result, Ok), result
        got = received[-1]
        assert got["path_qs"] != "/unbound?key=${API_KEY}" and SECRET not in json.dumps(got)
        assert str(got["headers"]["Authorization"]).startswith("Bearer OBELISK_SECRET_")
        assert str(got["query"]["key"]).startswith("OBELISK_SECRET_")


async def test_requests_outside_the_policy_fail_in_the_guest_and_are_logged(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    caplog.set_level(logging.WARNING, logger="obelisk.wasm.wasi_http.outgoing")
    async with running_server(_config(tmp_path, codegen_cache, built_components, port)) as server:
        # no entry for 127.0.0.1 on another port
        execution_id, result = await submit_and_wait(server, SEND, ["GET", f"http://127.0.0.1:{port + 1}/x", [], ""])
        assert isinstance(result, FallibleError)
        assert result.value.json == {"err": "HttpRequestDenied"}
        assert any(
            f"{execution_id}: outgoing HTTP request GET http://127.0.0.1:{port + 1}/x denied by "
            "[[outbound_http.allowed_host]]" in record.getMessage()
            for record in caplog.records
        ), [r.getMessage() for r in caplog.records]
        # localhost is allowed for GET only
        _, result = await submit_and_wait(server, SEND, ["POST", f"http://localhost:{port}/post", [], "x"])
        assert isinstance(result, FallibleError) and result.value.json == {"err": "HttpRequestDenied"}
        assert any(f"POST http://localhost:{port}/post denied" in r.getMessage() for r in caplog.records)
        _, result = await submit_and_wait(server, SEND, ["GET", f"http://localhost:{port}/get", [], ""])
        assert isinstance(result, Ok)
    assert [r["path_qs"] for r in received] == ["/get"], "a denied request never leaves the host"


async def test_allowed_hosts_of_an_activity_narrow_the_policy(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    caplog.set_level(logging.WARNING, logger="obelisk.wasm.wasi_http.outgoing")
    narrowed = f'allowed_hosts = ["localhost:{port}"]'
    async with running_server(_config(tmp_path, codegen_cache, built_components, port, activity=narrowed)) as server:
        _, result = await submit_and_wait(server, SEND, ["GET", f"http://127.0.0.1:{port}/x", [], ""])
        assert isinstance(result, FallibleError) and result.value.json == {"err": "HttpRequestDenied"}
        assert any("denied by allowed_hosts of" in r.getMessage() for r in caplog.records)
        _, result = await submit_and_wait(server, SEND, ["GET", f"http://localhost:{port}/y", [], ""])
        assert isinstance(result, Ok)
    assert [r["path_qs"] for r in received] == ["/y"]


async def test_the_request_cap_of_an_attempt(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    config = _config(tmp_path, codegen_cache, built_components, port, activity="max_outbound_requests = 3")
    url = f"http://localhost:{port}/n"
    async with running_server(config) as server:
        _, result = await submit_and_wait(server, GET_REPEATEDLY, [3, url])
        assert isinstance(result, Ok) and result.value is not None and result.value.json == {"ok": 3}
        _, result = await submit_and_wait(server, GET_REPEATEDLY, [5, url])
        assert isinstance(result, FallibleError)
        message = str(result.value.json["err"])
        assert message.startswith("request 4: InternalError: outbound request limit reached:"), message
        assert "may start 3 HTTP requests per attempt (max_outbound_requests)" in message
    assert len(received) == 6, "3 of the first attempt, 3 of the second: the fourth never left"


async def test_a_guest_that_allocates_without_bound_fails_on_its_memory_limit_and_the_server_goes_on(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    caplog.set_level(logging.WARNING, logger="obelisk.workers.activity")
    limit = 96 * 1024 * 1024
    config = _config(
        tmp_path, codegen_cache, built_components, port, activity=f"max_memory_size = {limit}", max_retries=3
    )
    async with running_server(config) as server:
        execution_id, result = await submit_and_wait(server, HOG, [4])
        assert isinstance(result, ExecutionFailure), result
        component_id = str(server.registry.components[0].component_id)
        assert result.reason == (
            f"resource limit exceeded: {component_id} reached its memory limit of {limit} bytes (96 MiB)"
            " (max_memory_size): memory.grow was refused and the guest failed to allocate"
        )
        assert "MemoryError" in (result.detail or "")
        events = await server.storage.list_events(execution_id, 0, 100)
        assert sum(type(e.event).__name__ == "Locked" for e in events) == 1, "a resource-limit failure is not retried"
        assert any(result.reason in r.getMessage() for r in caplog.records)
        # the server keeps serving, the same component included
        _, again = await submit_and_wait(server, SEND, ["GET", f"http://localhost:{port}/after", [], ""])
        assert isinstance(again, Ok)
    assert [r["path_qs"] for r in received] == ["/after"]


async def test_a_webhooks_outgoing_requests_are_under_the_policy_too(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    echo_site: tuple[int, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, received = echo_site
    monkeypatch.setenv("OBELISK_TEST_API_KEY", SECRET)
    caplog.set_level(logging.WARNING, logger="obelisk.wasm.wasi_http.outgoing")
    config = write_config(
        tmp_path,
        codegen_cache,
        f"""
[[http_server]]
name = "hooks"
listening_addr = "127.0.0.1:0"

[[webhook_endpoint]]
name = "outbound_webhook"
location.path = "{built_components / "outbound_webhook.wasm"}"
http_server = "hooks"
routes = ["/fetch"]
""",
        extra=f"""
[secrets]
API_KEY = {{ env = "OBELISK_TEST_API_KEY" }}

[[outbound_http.allowed_host]]
pattern = "http://127.0.0.1:{port}"
methods = ["GET"]
secrets = ["API_KEY"]
replace_in = ["headers"]
""",
    )
    async with running_server(config) as server:
        base = f"http://127.0.0.1:{server.http_server_port('hooks')}/fetch?url="
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(base + f"http://127.0.0.1:{port}/from-webhook") as response:
                assert response.status == 200
                echoed = json.loads(await response.text())
            async with session.get(base + f"http://localhost:{port}/elsewhere") as denied:
                assert (denied.status, await denied.text()) == (502, "HttpRequestDenied")
    assert echoed["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert [r["path_qs"] for r in received] == ["/from-webhook"]
    assert any(
        f"GET http://localhost:{port}/elsewhere denied by [[outbound_http.allowed_host]]" in r.getMessage()
        for r in caplog.records
    )
