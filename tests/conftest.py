"""Session-wide fixtures: the example components (built once per session) and a shared compile cache.

componentize-py components take ~8 s to build and ~5 s to compile, so both results are kept on disk under
``build/`` and reused by every test session; a test only pays for what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPONENTS_OUT = REPO / "build" / "components"
TEST_CODEGEN_CACHE = REPO / "build" / "test-cache" / "codegen"


@pytest.fixture(scope="session")
def built_components() -> Path:
    """Runs ``scripts/build-components`` (incremental) and returns the folder with the wasm files."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build-components")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build-components failed:\n{result.stdout}\n{result.stderr}")
    return COMPONENTS_OUT


@pytest.fixture(scope="session")
def codegen_cache() -> Path:
    TEST_CODEGEN_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CODEGEN_CACHE
