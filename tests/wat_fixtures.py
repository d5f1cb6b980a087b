"""Build the tiny WAT components of `tests/fixtures/wat/` for fast unit tests.

Each fixture is `<name>.wat` (a core module whose exports follow the canonical-ABI naming `ns:pkg/ifc#fn`) and
`<name>.wit` (one world). `wasm-tools component embed` + `component new` turn them into a component of a few
hundred bytes that wasmtime compiles in milliseconds, unlike the ~18 MB componentize-py components.

The WIT is staged with the host packages (`obelisk/wit/host/obelisk-*`, linked as `wit/`) as `deps`, so a
fixture may import `obelisk:workflow/host-activities` and friends without copying them. Outputs are cached
by a hash of every input, so repeated calls (and parallel test sessions) reuse the same file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from obelisk.concepts.errors import ObeliskError
from obelisk.wit.wasm_tools import find_wasm_tools

REPO = Path(__file__).resolve().parent.parent
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "wat"
HOST_WIT_DIR = REPO / "obelisk" / "wit" / "host"  # `wit/` at the top is a link to it


class WatFixtureError(ObeliskError):
    """A WAT fixture is missing or wasm-tools could not turn it into a component."""


def fixture_names() -> list[str]:
    """Every fixture that has both its `.wat` and its `.wit`."""
    return sorted(p.stem for p in FIXTURES_DIR.glob("*.wat") if p.with_suffix(".wit").is_file())


def _host_wit_files() -> list[Path]:
    return sorted(p for p in HOST_WIT_DIR.glob("obelisk-*/**/*.wit") if p.is_file())


def _inputs_hash(wat: Path, wit: Path, tool: Path) -> str:
    digest = hashlib.sha256()
    digest.update(tool.name.encode() + b"\0")
    digest.update(_run([str(tool), "--version"], "wasm-tools --version").encode() + b"\0")
    for path in (wat, wit, *_host_wit_files()):
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise WatFixtureError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def build_wat_fixture(name: str, out_dir: Path) -> Path:
    """Return the path of the component built from fixture `name`, building it into `out_dir` if needed."""
    wat = FIXTURES_DIR / f"{name}.wat"
    wit = FIXTURES_DIR / f"{name}.wit"
    if not wat.is_file() or not wit.is_file():
        raise WatFixtureError(f"no WAT fixture {name!r}: expected {wat} and {wit}; known: {', '.join(fixture_names())}")
    tool = find_wasm_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{_inputs_hash(wat, wit, tool)[:16]}.wasm"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix=f"wat-{name}-", dir=out_dir) as tmp:
        staging = Path(tmp) / "wit"
        staging.mkdir()
        shutil.copy2(wit, staging / wit.name)
        for pkg in sorted(HOST_WIT_DIR.glob("obelisk-*")):
            shutil.copytree(pkg, staging / "deps" / pkg.name)
        core = Path(tmp) / f"{name}.core.wasm"
        component = Path(tmp) / f"{name}.wasm"
        _run(
            [str(tool), "component", "embed", str(staging), str(wat), "-o", str(core)],
            f"wasm-tools component embed of {wat} with {wit}",
        )
        _run(
            [str(tool), "component", "new", str(core), "-o", str(component)],
            f"wasm-tools component new of {wat} (checked against the world in {wit})",
        )
        # Atomic, so a parallel test session never sees a half-written file.
        component.replace(target)
    return target
