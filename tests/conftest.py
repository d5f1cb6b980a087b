"""Session-wide fixtures: the example components (built once per session), a shared compile cache, and a
throwaway PostgreSQL cluster.

componentize-py components take ~8 s to build and ~5 s to compile, so both results are kept on disk under
``build/`` and reused by every test session; a test only pays for what changed.

The PostgreSQL cluster (``tests/postgres_cluster.py``) starts once per session, on first use; each test that
wants it gets a database of its own (``postgres_database``). Where no PostgreSQL is installed those tests skip
with the reason; with ``OBELISK_REQUIRE_POSTGRES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_cluster import REQUIRE_ENV, ClusterUnavailable, PostgresCluster

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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster.start()
    except ClusterUnavailable as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL is required here ({REQUIRE_ENV}=1) but no cluster could start: {exc}")
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


_database_numbers = itertools.count()


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The name of a fresh database owned by the test role, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    postgres_cluster.sql(f'CREATE DATABASE "{name}" OWNER obelisk_test')
    try:
        yield name
    finally:
        postgres_cluster.drop_database(name)
