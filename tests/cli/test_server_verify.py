"""``obelisk server verify`` checks the database: one line saying what is wrong, a non-zero exit status."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.test_storage_unavailable import read_only_file
from tests.postgres_cluster import ROLE, PostgresCluster

OBELISK = [sys.executable, "-m", "obelisk"]


def verify(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OBELISK, "server", "verify", "-c", str(config), *args],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "HOME": str(config.parent), **(env or {})},
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, database: str) -> Path:
    config = tmp_path / "obelisk.toml"
    config.write_text(
        f'api.listening_addr = "127.0.0.1:0"\nwasm_cache_directory = "{tmp_path / "wasm"}"\n'
        f'codegen_cache.directory = "{tmp_path / "codegen"}"\n{database}\n'
    )
    return config


def assert_one_error(run: subprocess.CompletedProcess[str], *words: str) -> str:
    assert run.returncode == 1, run.stdout + run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and "Traceback" not in line
    for word in words:
        assert word in line, line
    return line


def test_a_usable_sqlite_database_is_reported_and_nothing_is_created(tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[database.sqlite]\ndirectory = "{tmp_path / "state"}"\n')
    run = verify(config)
    assert run.returncode == 0, run.stderr
    assert f"Database: sqlite file: {tmp_path / 'state/obelisk.sqlite'}" in run.stdout.splitlines()
    assert run.stdout.splitlines()[-1] == "Configuration is valid."
    assert not (tmp_path / "state").exists()


def test_a_sqlite_directory_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    config = write_config(tmp_path, f'sqlite.file = "{tmp_path / "blocker/db/obelisk.sqlite"}"\n')
    assert_one_error(verify(config), "cannot be created", f"{tmp_path / 'blocker'} is not a directory")


def test_a_file_that_is_not_a_sqlite_database(tmp_path: Path) -> None:
    (tmp_path / "obelisk.sqlite").write_text("not a database")
    config = write_config(tmp_path, f'[database.sqlite]\ndirectory = "{tmp_path}"\n')
    assert_one_error(verify(config), f"{tmp_path / 'obelisk.sqlite'} is not an SQLite database")


def test_a_sqlite_file_that_is_not_writable(tmp_path: Path) -> None:
    database = tmp_path / "obelisk.sqlite"
    database.write_bytes(b"")  # empty: SQLite makes a database of it on first use
    config = write_config(tmp_path, f'sqlite.file = "{database}"\n')
    with read_only_file(database):
        run = verify(config)
    assert_one_error(run, f"SQLite database {database} is not writable")


def test_an_unset_variable_of_the_database_fails_unless_ignored(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[database.postgres]\nhost = "localhost"\nuser = "u"\npassword = "${NO_SUCH_VAR_X}"\ndb_name = "d"\n'
    )
    assert_one_error(verify(config), "database.postgres.password", "NO_SUCH_VAR_X is not set")
    run = verify(config, "--ignore-missing-env-vars")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == (
        "Database not checked: environment variables not set here (database.postgres.password: NO_SUCH_VAR_X)"
    )


@pytest.fixture(autouse=True)
def _no_inherited_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OBELISK__"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------------------------------------- PostgreSQL


def postgres_config(tmp_path: Path, cluster: PostgresCluster, **keys: object) -> Path:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": cluster.port,
        "user": ROLE,
        "password": "${DB_PASSWORD}",
        "db_name": "postgres",
    }
    values.update(keys)
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return write_config(tmp_path, f"[database.postgres]\n{table}\n")


def test_a_reachable_postgres_database_is_reported(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    run = verify(postgres_config(tmp_path, postgres_cluster), env={"DB_PASSWORD": postgres_cluster.password})
    assert run.returncode == 0, run.stderr
    expected = f"Database: database: postgresql://{ROLE}@127.0.0.1:{postgres_cluster.port}/postgres"
    assert run.stdout.splitlines()[0] == expected
    assert postgres_cluster.password not in run.stdout + run.stderr


def test_a_wrong_password_is_an_authentication_failure(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    run = verify(postgres_config(tmp_path, postgres_cluster), env={"DB_PASSWORD": "not-the-password"})
    line = assert_one_error(run, "authentication failed", f"user '{ROLE}'")
    assert "not-the-password" not in line


def test_a_port_nobody_listens_on_is_unreachable(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = postgres_config(tmp_path, postgres_cluster, port=port)
    assert_one_error(verify(config, env={"DB_PASSWORD": "x"}), f"127.0.0.1:{port}", "is unreachable")


def test_a_missing_database(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    env = {"DB_PASSWORD": postgres_cluster.password}
    never = postgres_config(tmp_path, postgres_cluster, db_name="no_such_db", provision_policy="never")
    assert_one_error(verify(never, env=env), "no_such_db", "does not exist", 'provision_policy = "never"')
    # "auto" creates it at start, which the test role may do (CREATEDB): nothing is wrong, and nothing is created
    auto = postgres_config(tmp_path, postgres_cluster, db_name="no_such_db")
    run = verify(auto, env=env)
    assert run.returncode == 0, run.stderr
    assert postgres_cluster.sql("SELECT 1 FROM pg_database WHERE datname = 'no_such_db'") == []


def test_a_missing_database_the_role_may_not_create(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    role, password = "verify_no_createdb", secrets.token_hex(8)
    postgres_cluster.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        config = postgres_config(tmp_path, postgres_cluster, user=role, db_name="no_such_db")
        assert_one_error(verify(config, env={"DB_PASSWORD": password}), "does not exist", "needs CREATEDB")
    finally:
        postgres_cluster.sql(f"DROP ROLE {role}")


def test_secrets_of_the_outbound_policy_are_read_as_a_start_would(tmp_path: Path) -> None:
    policy = (
        f'[database.sqlite]\ndirectory = "{tmp_path / "state"}"\n'
        '[secrets]\nK = { env = "OBELISK_TEST_VERIFY_SECRET" }\n'
        '[[outbound_http.allowed_host]]\npattern = "x.org"\nmethods = "*"\nsecrets = ["K"]\nreplace_in = ["headers"]\n'
    )
    config = write_config(tmp_path, policy)
    assert "OBELISK_TEST_VERIFY_SECRET" not in os.environ
    assert_one_error(verify(config), "secrets.K: environment variable OBELISK_TEST_VERIFY_SECRET is not set")
    assert verify(config, env={"OBELISK_TEST_VERIFY_SECRET": "v"}).returncode == 0
    skipped = verify(config, "--ignore-missing-env-vars")
    assert skipped.returncode == 0 and "Secrets not checked (--ignore-missing-env-vars)" in skipped.stdout
