"""The activity sandbox: configured env only, forwarded and prefixed output, obelisk:log, epoch deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from obelisk.wasm.activity_wasi import (
    TRACE,
    ActivitySandboxError,
    ActivityStoreData,
    OutputForwarding,
    build_activity_linker,
    component_imports,
    imports_interface,
    new_activity_store,
)
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import GuestInstantiationError, GuestInterrupted, call_guest, instantiate_guest

from .runtime_fixtures import activity_nolog_wasm, activity_wasm

COMPONENT_ID = "activity_wasm:probe:0123456789abcdef"


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    wasm_engine = WasmEngine()
    wasm_engine.start()
    yield wasm_engine
    wasm_engine.stop()


@pytest.fixture(scope="module")
def component(engine: WasmEngine, tmp_path_factory: pytest.TempPathFactory) -> Component:
    return ComponentLoader(engine, tmp_path_factory.mktemp("codegen")).load(activity_wasm()).component


@pytest.fixture(scope="module")
def linker(engine: WasmEngine, component: Component) -> Linker:
    return build_activity_linker(engine, component)


@dataclass
class Attempt:
    store: wasmtime.Store
    funcs: dict[str, Any]

    def __call__(self, name: str, *args: Any) -> Any:
        return call_guest(self.funcs[name], self.store, *args)


def start_attempt(
    engine: WasmEngine,
    linker: Linker,
    component: Component,
    *,
    execution_id: str = "E_01TEST",
    env: dict[str, str] | None = None,
    forward_stdout: str = "none",
    forward_stderr: str = "none",
    deadline_seconds: float | None = 5.0,
) -> Attempt:
    store = new_activity_store(
        engine,
        component_id=COMPONENT_ID,
        execution_id=execution_id,
        env=env or {},
        forward_stdout=forward_stdout,
        forward_stderr=forward_stderr,
        deadline_seconds=deadline_seconds,
    )
    instance = instantiate_guest(linker, store, component, what=COMPONENT_ID)
    probe = instance.get_export_index(store, "test:activity/probe")
    names = ("env", "print", "log-info", "spin")
    return Attempt(store, {n: instance.get_func(store, instance.get_export_index(store, n, probe)) for n in names})


def test_guest_sees_only_the_configured_environment(
    engine: WasmEngine, linker: Linker, component: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBELISK_TEST_SECRET", "must-not-leak")
    attempt = start_attempt(engine, linker, component, env={"API_URL": "http://x", "EMPTY": ""})
    assert sorted(attempt("env")) == [("API_URL", "http://x"), ("EMPTY", "")]
    assert start_attempt(engine, linker, component)("env") == []


def test_stdout_is_forwarded_line_by_line_with_a_prefix(
    engine: WasmEngine, linker: Linker, component: Component, capsys: pytest.CaptureFixture[str]
) -> None:
    attempt = start_attempt(engine, linker, component, execution_id="E_OUT", forward_stdout="stdout")
    attempt("print", "first line\nsecond ")
    attempt("print", "half\npartial")
    captured = capsys.readouterr()
    prefix = f"[{COMPONENT_ID} E_OUT stdout] "
    assert captured.out == f"{prefix}first line\n{prefix}second half\n"
    assert captured.err == ""
    del attempt  # dropping the store flushes the unterminated last line
    assert capsys.readouterr().out == f"{prefix}partial\n"


def test_stdout_can_go_to_stderr_or_nowhere(
    engine: WasmEngine, linker: Linker, component: Component, capsys: pytest.CaptureFixture[str]
) -> None:
    start_attempt(engine, linker, component, execution_id="E_ERR", forward_stdout="stderr")("print", "to err\n")
    start_attempt(engine, linker, component, execution_id="E_NONE")("print", "dropped\n")
    captured = capsys.readouterr()
    assert captured.err == f"[{COMPONENT_ID} E_ERR stdout] to err\n"
    assert captured.out == ""


def test_obelisk_log_goes_to_python_logging_with_the_execution_id(
    engine: WasmEngine, linker: Linker, component: Component, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(TRACE, logger="obelisk.guest")
    start_attempt(engine, linker, component, execution_id="E_LOG")("log-info", "hello from the guest")
    records = [r for r in caplog.records if r.name == "obelisk.guest"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].getMessage() == f"[{COMPONENT_ID} E_LOG] hello from the guest"
    assert records[0].__dict__["execution_id"] == "E_LOG"


def test_log_interface_is_defined_only_when_imported(engine: WasmEngine, tmp_path: Path) -> None:
    with_log = ComponentLoader(engine, tmp_path).load(activity_wasm()).component
    without_log = ComponentLoader(engine, tmp_path).load(activity_nolog_wasm()).component
    assert imports_interface(component_imports(engine, with_log), "obelisk:log/log")
    assert not imports_interface(component_imports(engine, without_log), "obelisk:log/log")
    # The plain WASI+HTTP linker cannot satisfy the log import; the activity linker built for it can.
    plain = Linker(engine.engine)
    plain.add_wasip2()
    plain.add_wasi_http()
    store = new_activity_store(engine, component_id=COMPONENT_ID, execution_id="E_X", env={}, deadline_seconds=1)
    with pytest.raises(GuestInstantiationError, match="obelisk:log/log"):
        instantiate_guest(plain, store, with_log, what=COMPONENT_ID)
    attempt = start_attempt(engine, build_activity_linker(engine, without_log), without_log)
    attempt("log-info", "ignored")
    assert attempt("env") == []


def test_deadline_stops_a_spinning_activity(engine: WasmEngine, linker: Linker, component: Component) -> None:
    deadline = 0.4
    attempt = start_attempt(engine, linker, component, deadline_seconds=deadline)
    started = time.monotonic()
    with pytest.raises(GuestInterrupted):
        attempt("spin", 10**15)
    elapsed = time.monotonic() - started
    assert deadline - 0.05 <= elapsed <= deadline + 0.2, elapsed
    # The next attempt is a fresh store and runs normally.
    assert start_attempt(engine, linker, component)("spin", 10) != 0


def test_store_carries_the_attempt_identity_and_deadline(engine: WasmEngine) -> None:
    before = time.monotonic()
    store = new_activity_store(engine, component_id=COMPONENT_ID, execution_id="E_ID", env={}, deadline_seconds=1)
    data = store.data()
    assert isinstance(data, ActivityStoreData)
    assert (data.component_id, data.execution_id) == (COMPONENT_ID, "E_ID")
    assert data.wasi_http.deadline is not None and before + 1 <= data.wasi_http.deadline <= time.monotonic() + 1


def test_invalid_settings_are_named(engine: WasmEngine) -> None:
    with pytest.raises(ActivitySandboxError, match="forward_stdout must be one of 'none', 'stdout', 'stderr'"):
        new_activity_store(
            engine, component_id=COMPONENT_ID, execution_id="E", env={}, forward_stdout="file", deadline_seconds=1
        )
    with pytest.raises(ActivitySandboxError, match=r"env_vars of .*'A=B'"):
        new_activity_store(engine, component_id=COMPONENT_ID, execution_id="E", env={"A=B": "x"}, deadline_seconds=1)
    assert OutputForwarding.parse("stderr", setting="forward_stderr") is OutputForwarding.STDERR
