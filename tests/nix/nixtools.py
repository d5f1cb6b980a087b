"""Running Nix from the tests of the Nix files: which Nix, which nixpkgs `lib`, and skipping visibly without them.

Nothing from nixpkgs can be built or fetched here. Any Nix (Debian's nix-bin 2.8 is enough) parses the files and
evaluates builtins-only code; NIXPKGS_LIB (a checkout of nixpkgs.lib or nixpkgs) lets the module system run; a Nix
>= 2.18 evaluates current nixpkgs `lib` in full (lib.fileset needs builtins.readFileType), which the flake's
outputs and `nix flake check` need. `.ci/run` provides all three; a test missing one is reported as skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NIX_FEATURES = ["--extra-experimental-features", "nix-command flakes"]
ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
# lib.fileset, which the flake uses for its sources, needs builtins.readFileType (Nix 2.14); nixpkgs requires 2.18.
MODERN_NIX = (2, 18)


def nix_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found: install Debian's nix-bin (`apt-get install -y nix-bin`), as .ci/run does")
    return found


def nix_version(nix: str) -> tuple[int, int]:
    output = subprocess.run([nix, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)\.(\d+)", output)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def modern_nix() -> Path:
    """The folder of a `nix` on PATH that evaluates current nixpkgs `lib`; skips (visibly) when there is none."""
    nix = nix_tool("nix")
    version = nix_version(nix)
    if version < MODERN_NIX:
        pytest.skip(
            f"the Nix on PATH is {version[0]}.{version[1]}; evaluating the flake with current nixpkgs lib needs "
            f">= {MODERN_NIX[0]}.{MODERN_NIX[1]} (.ci/run puts a Nix 2.26 first on PATH)"
        )
    return Path(nix).parent


def nixpkgs_lib() -> Path:
    """The `lib` folder of the checkout NIXPKGS_LIB names; skips (visibly) when there is none."""
    configured = os.environ.get("NIXPKGS_LIB")
    if not configured:
        pytest.skip(
            "NIXPKGS_LIB is not set, so the NixOS module, nix/package.nix and the flake outputs were not evaluated "
            "with a real nixpkgs lib: point it at a checkout of github:nix-community/nixpkgs.lib (or nixpkgs)"
        )
    root = Path(configured)
    for candidate in (root / "lib", root):
        if (candidate / "modules.nix").is_file() and (candidate / "default.nix").is_file():
            return candidate
    pytest.fail(f"NIXPKGS_LIB={configured} holds no nixpkgs lib (no lib/modules.nix in it)")


def _instantiate(expr: str, args: tuple[str, ...], nix_instantiate: str | None) -> subprocess.CompletedProcess[str]:
    tool = nix_instantiate or nix_tool("nix-instantiate")
    return subprocess.run(
        [tool, "--eval", "--strict", "--json", *args, "-E", expr],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def nix_eval(expr: str, *args: str, nix_instantiate: str | None = None) -> Any:
    """Evaluate a Nix expression (from the repository root) to JSON data."""
    result = _instantiate(expr, args, nix_instantiate)
    if result.returncode != 0:
        raise AssertionError(f"nix-instantiate failed for {expr!r}:\n{result.stderr}")
    return json.loads(result.stdout)


def nix_eval_error(expr: str, *args: str, nix_instantiate: str | None = None) -> str:
    """The error output of evaluating an expression that must fail."""
    result = _instantiate(expr, args, nix_instantiate)
    assert result.returncode != 0, f"expected {expr!r} to fail, got {result.stdout}"
    return result.stderr


def nix_string(text: str) -> str:
    """A Nix string literal (JSON escapes are Nix escapes, except that "${" must not start interpolation)."""
    return json.dumps(text).replace("${", "\\${")


def copy_tracked_files(target: Path) -> Path:
    """The repository's files as git sees them (tracked or new, not ignored), symlinks kept, in a plain folder:
    Nix reads that as a path flake whatever the state of the work tree, and without .venv or build/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)
    return target
