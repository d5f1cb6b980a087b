"""Fixtures of the WIT tests: the fibo activity's interfaces and a workflow guest built against generated WIT.

The guest is built with componentize-py (~10 s) only when its inputs change: its sources, the WIT the
generators write for it, and the componentize-py version are hashed and the hash is kept next to the output
in ``build/test-cache/wit-guest/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.introspect import ComponentInterfaces, inspect_component
from obelisk.wit import write_wit_support
from obelisk.wit.printer import write_wit_extensions
from tests.conftest import REPO

GUEST_SOURCE = Path(__file__).parent / "guest"
GUEST_OUT = REPO / "build" / "test-cache" / "wit-guest"
GUEST_WORLD = "fibo-workflow"


@pytest.fixture(scope="session")
def wasm_engine() -> WasmEngine:
    return WasmEngine()


@pytest.fixture(scope="session")
def loader(wasm_engine: WasmEngine, codegen_cache: Path) -> ComponentLoader:
    return ComponentLoader(wasm_engine, codegen_cache)


@pytest.fixture(scope="session")
def fibo_wasm(built_components: Path) -> Path:
    return built_components / "fibo_activity.wasm"


@pytest.fixture(scope="session")
def fibo_interfaces(wasm_engine: WasmEngine, loader: ComponentLoader, fibo_wasm: Path) -> ComponentInterfaces:
    return inspect_component(wasm_engine.engine, loader.load(fibo_wasm).component)


def _componentize_py() -> Path:
    beside = Path(sys.executable).parent / "componentize-py"
    found = beside if beside.is_file() else shutil.which("componentize-py")
    if not found:
        pytest.fail("componentize-py is not installed (pip install -e '.[dev]')")
    return Path(found)


def _tree_hash(root: Path, *extra: str) -> str:
    digest = hashlib.sha256()
    for line in extra:
        digest.update(line.encode() + b"\0")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def guest_wasm(fibo_wasm: Path) -> Path:
    """The workflow guest of ``tests/wit/guest``, its ``wit/deps`` written by the generators under test."""
    GUEST_OUT.mkdir(parents=True, exist_ok=True)
    with (GUEST_OUT / ".lock").open("w") as lock:  # test sessions running at once share the staging folder
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_guest(fibo_wasm)


def _build_guest(fibo_wasm: Path) -> Path:
    tool = _componentize_py()
    staged = GUEST_OUT / "staged"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(GUEST_SOURCE, staged)
    deps = staged / "wit" / "deps"
    write_wit_support(deps)
    write_wit_extensions(fibo_wasm, deps)
    version = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
    digest = _tree_hash(staged, version, GUEST_WORLD)
    target = GUEST_OUT / "guest.wasm"
    sidecar = GUEST_OUT / "guest.wasm.inputs-sha256"
    if target.is_file() and sidecar.is_file() and sidecar.read_text().strip() == digest:
        return target
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)  # componentize-py would bundle the venv's site-packages otherwise
    tmp = GUEST_OUT / ".guest.wasm.tmp"
    cmd = [str(tool), "--wit-path", "wit", "--world", GUEST_WORLD, "componentize", "--python-path", ".", "-o"]
    result = subprocess.run([*cmd, str(tmp), "app"], cwd=staged, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0 or not tmp.is_file():
        pytest.fail(f"componentize-py could not build the guest against the generated WIT:\n{result.stderr}")
    tmp.replace(target)
    sidecar.write_text(digest + "\n")
    return target


@pytest.fixture(scope="session")
def guest_interfaces(wasm_engine: WasmEngine, loader: ComponentLoader, guest_wasm: Path) -> ComponentInterfaces:
    return inspect_component(wasm_engine.engine, loader.load(guest_wasm).component)
