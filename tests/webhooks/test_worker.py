"""The webhook worker and the Python wasi:http layer with real componentize-py guests, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from wasmtime.component import Component

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.introspect import inspect_component
from obelisk.wasm.wasi_http.linking import shadowed_interfaces
from obelisk.webhooks.worker import WebhookRequest, WebhookSettings, WebhookWorker


class Collected:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, bytes]] = []
        self.body = b""
        self.ends: list[str | None] = []

    def head(self, status: int, headers: list[tuple[str, bytes]]) -> None:
        self.status, self.headers = status, headers

    def chunk(self, data: bytes) -> None:
        self.body += data

    def end(self, error: str | None) -> None:
        self.ends.append(error)


@pytest.fixture(scope="module")
def engine() -> WasmEngine:
    return WasmEngine()


def _worker(engine: WasmEngine, built: Path, name: str) -> WebhookWorker:
    component = Component.from_file(engine.engine, str(built / f"{name}.wasm"))
    return WebhookWorker(
        engine=engine,
        component=component,
        interfaces=inspect_component(engine.engine, component),
        resolved_imports=[],
        settings=WebhookSettings(f"webhook_endpoint:{name}:0", {"CONFIGURED": "yes"}),
        calls=None,
    )


def test_request_reaches_guest_and_response_streams_back(engine: WasmEngine, built_components: Path) -> None:
    worker = _worker(engine, built_components, "hello_webhook")
    for attempt in range(2):  # a fresh instance per request: the second behaves like the first
        out = Collected()
        request = WebhookRequest(
            "POST", f"/hello/{attempt}?q=1", "localhost", [("x-greeting", b"hi")], b"payload", {"ID": str(attempt)}
        )
        outcome = worker.handle(request, out)
        assert outcome.error is None and not outcome.recorded
        assert out.status == 201
        assert ("x-echo-method", b"POST") in out.headers
        assert out.body == (
            f"POST /hello/{attempt}?q=1\nenv: CONFIGURED=yes,ID={attempt}\ngreeting: hi\nbody: payload".encode()
        )
        assert out.ends[0] is None


def test_trap_is_reported_not_raised(engine: WasmEngine, built_components: Path) -> None:
    worker = _worker(engine, built_components, "trap_webhook")
    out = Collected()
    outcome = worker.handle(WebhookRequest("GET", "/boom", "localhost", [], b""), out)
    assert outcome.error == "RuntimeError: trap requested by path /boom"  # the guest's own error, not the trap
    assert out.status is None
    assert out.ends == [outcome.error]
    ok = Collected()
    assert worker.handle(WebhookRequest("GET", "/ok", "localhost", [], b""), ok).error is None
    assert (ok.status, ok.body) == (200, b"ok")


def test_shadowed_closure_covers_every_user_of_python_resources(engine: WasmEngine, built_components: Path) -> None:
    component = Component.from_file(engine.engine, str(built_components / "http_activity.wasm"))
    names = {name.split("@")[0] for name in shadowed_interfaces(engine.engine, component)}
    assert {"wasi:io/poll", "wasi:io/streams", "wasi:http/types", "wasi:http/outgoing-handler"} <= names
    assert {"wasi:cli/stdout", "wasi:clocks/monotonic-clock", "wasi:sockets/tcp"} <= names
    # interfaces with no Python resource in their signatures stay wasmtime's
    assert not names & {"wasi:cli/environment", "wasi:random/random", "wasi:clocks/wall-clock"}
