"""The test components build and behave as their WIT says.

WAT fixtures are built for real with wasm-tools and run with wasmtime (milliseconds); the componentize-py
components are built by `scripts/build-components` in the slow test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as cm

from obelisk.wit.wasm_tools import find_wasm_tools
from tests.wasm_access import export_func, record
from tests.wat_fixtures import (
    FIXTURES_DIR,
    HOST_WIT_DIR,
    REPO,
    WatFixtureError,
    build_wat_fixture,
    fixture_names,
)

EXPECTED_FIXTURES = {"fibo", "trap", "spin", "versioned", "types", "counter_store", "fibo_workflow"}
BUILD_SCRIPT = REPO / "scripts" / "build-components"
PY_COMPONENTS = ("fibo_activity", "http_activity", "sleep_activity")

Call = Callable[..., Any]


@pytest.fixture(scope="module")
def wat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wat")


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def _exports(
    engine: wasmtime.Engine, path: Path, interface: str, linker: cm.Linker | None = None
) -> tuple[wasmtime.Store, Callable[[str], Call]]:
    component = cm.Component.from_file(engine, str(path))
    store = wasmtime.Store(engine)
    instance = (linker or cm.Linker(engine)).instantiate(store, component)

    def func(name: str) -> Call:
        f = export_func(store, instance, interface, name)
        return lambda *args: f(store, *args)

    return store, func


def test_every_expected_fixture_exists() -> None:
    assert set(fixture_names()) >= EXPECTED_FIXTURES


@pytest.mark.parametrize("name", sorted(EXPECTED_FIXTURES))
def test_wat_fixture_builds_and_validates(name: str, wat_dir: Path) -> None:
    path = build_wat_fixture(name, wat_dir)
    assert path.is_file()
    assert path.stat().st_size < 16_000
    result = subprocess.run(
        [str(find_wasm_tools()), "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # A component, not a core module: its WIT can be printed.
    wit = subprocess.run(
        [str(find_wasm_tools()), "component", "wit", str(path)], capture_output=True, text=True, check=False
    )
    assert wit.returncode == 0, wit.stderr
    assert "export " in wit.stdout


def test_wat_fixture_is_cached_by_content(tmp_path: Path) -> None:
    first = build_wat_fixture("fibo", tmp_path)
    mtime = first.stat().st_mtime_ns
    second = build_wat_fixture("fibo", tmp_path)
    assert second == first
    assert second.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging leftovers


def test_unknown_wat_fixture_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(WatFixtureError, match=r"no WAT fixture 'nope'.*fibo"):
        build_wat_fixture("nope", tmp_path)


def test_broken_wat_reports_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    shutil.copy2(FIXTURES_DIR / "fibo.wit", fixtures / "broken.wit")
    (fixtures / "broken.wat").write_text('(module (func (export "testing:fibo/fibo#fibo")))')
    monkeypatch.setattr("tests.wat_fixtures.FIXTURES_DIR", fixtures)
    with pytest.raises(WatFixtureError, match=r"broken\.wat"):
        build_wat_fixture("broken", tmp_path / "out")


def test_fibo_wat(engine: wasmtime.Engine, wat_dir: Path) -> None:
    _, func = _exports(engine, build_wat_fixture("fibo", wat_dir), "testing:fibo/fibo")
    fibo = func("fibo")
    assert [fibo(n) for n in (0, 1, 2, 10, 40)] == [0, 1, 1, 55, 102334155]
    assert fibo(93) == 12200160415121876738  # largest that fits u64
    assert fibo(94) == (19740274219868223167 & (2**64 - 1))  # wraps


def test_trap_wat(engine: wasmtime.Engine, wat_dir: Path) -> None:
    _, func = _exports(engine, build_wat_fixture("trap", wat_dir), "testing:trap/trap")
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        func("trap")()


def test_spin_wat_is_stopped_by_an_epoch_deadline(wat_dir: Path) -> None:
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    component = cm.Component.from_file(engine, str(build_wat_fixture("spin", wat_dir)))
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1)
    instance = cm.Linker(engine).instantiate(store, component)
    spin = export_func(store, instance, "testing:spin/spin", "spin")
    assert spin(store, 0) == 0
    assert spin(store, 1000) == spin(store, 1000) != 0
    started = time.monotonic()
    engine.increment_epoch()
    with pytest.raises(wasmtime.WasmtimeError, match="interrupt"):
        spin(store, 10**15)
    assert time.monotonic() - started < 5


def test_versioned_wat(engine: wasmtime.Engine, wat_dir: Path) -> None:
    _, func = _exports(engine, build_wat_fixture("versioned", wat_dir), "docs:adder/add@0.1.0")
    add = func("add")
    assert add(2, 3) == 5
    assert add(2**32 - 1, 2) == 1


def test_counter_store_wat_state_is_per_instance(engine: wasmtime.Engine, wat_dir: Path) -> None:
    path = build_wat_fixture("counter_store", wat_dir)
    _, func = _exports(engine, path, "testing:counter-store/counter")
    assert func("increment")(5) == 5
    assert func("increment")(2) == 7
    assert func("get")() == 7
    _, fresh = _exports(engine, path, "testing:counter-store/counter")
    assert fresh("get")() == 0


def test_types_wat_round_trips_rich_values(engine: wasmtime.Engine, wat_dir: Path) -> None:
    _, func = _exports(engine, build_wat_fixture("types", wat_dir), "testing:types/types")
    assert func("add-point")(record(x=3, y=-5)) == -2
    assert func("color-index")("blue") == 2
    assert func("flag-bits")({"read", "execute"}) == 5
    assert func("unwrap-or-zero")(42) == 42
    assert func("unwrap-or-zero")(None) == 0
    assert func("tuple-sum")((7, -10)) == -3
    # wasmtime-py passes variants whose cases differ by Python class without a Variant wrapper
    assert func("shape-size")(9) == 9
    assert func("shape-size")(record(x=3, y=4)) == 12
    assert func("shape-size")(None) == 0
    assert func("total-length")(["ab", "cde", "héllo"]) == 11
    assert func("is-ok")(1) is True
    assert func("is-ok")("bad") is False
    assert func("next-char")("a") == "b"
    assert func("echo")("héllo wörld") == "héllo wörld"
    big = "x" * 200_000  # grows memory past the first page
    assert func("echo")(big) == big
    point = func("make-point")(-1, 2)
    assert (point.x, point.y) == (-1, 2)
    assert func("divide")(7, 2) == 3
    assert func("divide")(1, 0) == "division by zero"
    assert func("greeting")(True) == "hello, world"
    assert func("greeting")(False) is None
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        func("everything")(record(x=1, y=2), "red", set(), None, (1, "a"), None, [], 1, "z", b"")


def test_fibo_workflow_wat_calls_its_imports(engine: wasmtime.Engine, wat_dir: Path) -> None:
    calls: list[tuple[str, Any]] = []

    def fibo(_store: wasmtime.Store, n: int) -> int:
        calls.append(("fibo", n))
        return n * 100

    def sleep(_store: wasmtime.Store, duration: Any) -> None:
        calls.append(("sleep", (duration.tag, duration.payload)))

    linker = cm.Linker(engine)
    with linker.root() as root:
        with root.add_instance("testing:fibo/fibo") as ifc:
            ifc.add_func("fibo", fibo)
        with root.add_instance("obelisk:workflow/host-activities") as ifc:
            ifc.add_func("sleep", sleep)
    path = build_wat_fixture("fibo_workflow", wat_dir)
    _, func = _exports(engine, path, "testing:fibo-workflow/workflow", linker)
    assert func("fiboa")(7, 3) == 700
    func("sleep-ms")(250)
    assert calls == [("fibo", 7), ("fibo", 7), ("fibo", 7), ("sleep", ("milliseconds", 250))]


def test_host_wit_packages_parse(tmp_path: Path) -> None:
    """The host contract parses as a whole, with obelisk:workflow resolving obelisk:types through deps."""
    tool = str(find_wasm_tools())
    root = tmp_path / "wit"
    shutil.copytree(HOST_WIT_DIR / "obelisk-workflow", root)
    for pkg in ("obelisk-types", "obelisk-log"):
        shutil.copytree(HOST_WIT_DIR / pkg, root / "deps" / pkg)
    result = subprocess.run([tool, "component", "wit", str(root)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "package obelisk:workflow;" in text
    assert "sleep: func(duration: duration);" in text
    assert "new-join-set: func() -> join-set-id;" in text
    for pkg in ("obelisk-types", "obelisk-log"):
        alone = subprocess.run(
            [tool, "component", "wit", str(HOST_WIT_DIR / pkg)], capture_output=True, text=True, check=False
        )
        assert alone.returncode == 0, alone.stderr
        assert "@" not in alone.stdout.split(";")[0]  # unversioned package


def _run_build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args], capture_output=True, text=True, check=False, timeout=600
    )


@pytest.mark.slow
def test_build_components_script_builds_incrementally(engine: wasmtime.Engine) -> None:
    first = _run_build()
    assert first.returncode == 0, first.stdout + first.stderr
    out = REPO / "build" / "components"
    for name in PY_COMPONENTS:
        assert (out / f"{name}.wasm").stat().st_size > 1_000_000
        assert any(line.startswith(f"{name}: ") for line in first.stdout.splitlines())

    started = time.monotonic()
    second = _run_build()
    elapsed = time.monotonic() - started
    assert second.returncode == 0, second.stdout + second.stderr
    lines = second.stdout.strip().splitlines()
    assert {line.split(":")[0] for line in lines} >= set(PY_COMPONENTS)  # others may add components
    assert all(": up to date" in line for line in lines), lines
    assert elapsed < 10

    # The naive-recursive Python activity computes what the WIT promises, under the linking the server uses.
    linker = cm.Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()
    component = cm.Component.from_file(engine, str(out / "fibo_activity.wasm"))
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    store.set_wasi_http()  # without it a wasi:http call aborts the process
    instance = linker.instantiate(store, component)
    fibo = export_func(store, instance, "testing:fibo/fibo", "fibo")
    assert fibo(store, 10) == 55
    assert fibo(store, 0) == 0


def test_build_components_rejects_unknown_component() -> None:
    result = _run_build("--only", "no_such_component")
    assert result.returncode == 2
    assert "unknown component(s) no_such_component" in result.stderr
    assert "fibo_activity" in result.stderr


def _component_source(root: Path, name: str, app: str, manifest: str) -> None:
    source = root / name
    (source / "wit").mkdir(parents=True)
    (source / "wit" / "fibo.wit").write_text((REPO / "components/fibo_activity/wit/fibo.wit").read_text())
    (source / "app.py").write_text(app)
    (source / "build.toml").write_text(manifest)


def test_build_components_names_a_bad_manifest(tmp_path: Path) -> None:
    _component_source(tmp_path / "src", "odd", "", 'world = "fibo-activity"\nflavour = "x"\n')
    result = _run_build("--components", str(tmp_path / "src"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "odd/build.toml: unknown key(s) flavour" in result.stderr


@pytest.mark.slow
def test_build_components_reports_a_failed_build(tmp_path: Path) -> None:
    app = (
        "from wit_world import exports\n\n"
        "class Fibo(exports.Fibo):\n"
        "    def fibo(self, n: int) -> int:\n"
        "        return n +\n"  # a syntax error
    )
    _component_source(tmp_path / "src", "broken", app, 'world = "fibo-activity"\n')
    out = tmp_path / "out"
    result = _run_build("--components", str(tmp_path / "src"), "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert result.returncode == 1
    assert "broken: FAILED" in result.stdout
    assert "SyntaxError" in result.stdout
    assert "error: build failed for broken" in result.stderr
    assert not list(out.glob("*.wasm"))
