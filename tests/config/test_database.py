"""The database keys: ``[database.sqlite]``, the older ``[sqlite]``, ``[database.postgres]`` with ``${NAME}``
interpolation, and ``data_directory``."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from obelisk.config import (
    SAMPLE_CONFIG,
    ConfigError,
    ConfigProblem,
    PostgresDatabaseConfig,
    SqliteBackend,
    load_config,
)

API = 'api.listening_addr = "127.0.0.1:5005"\n'
POSTGRES = """
[database.postgres]
host = "db.example.com"
user = "obelisk"
password = "${OBELISK_DB_PASSWORD}"
db_name = "obelisk"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "obelisk.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(API + textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str]) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as err:
        load_config(path, env, cwd=path.parent)
    return err.value.problems


def only_problem(path: Path, env: dict[str, str]) -> ConfigProblem:
    problems = problems_of(path, env)
    assert len(problems) == 1, problems
    return problems[0]


HOME = {"HOME": "/home/u"}


# ---------------------------------------------------------------------------------------------- SQLite


def test_database_sqlite_directory_and_pragma(tmp_path: Path) -> None:
    path = write(tmp_path, '[database.sqlite]\ndirectory = "state"\npragma = { synchronous = "normal" }\n')
    config = load_config(path, HOME, cwd=tmp_path).config
    assert config.backend == SqliteBackend(tmp_path / "conf/state/obelisk.sqlite", "NORMAL")
    assert config.sqlite is None


def test_database_sqlite_defaults_to_the_data_dir_and_full(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[database.sqlite]\n"), HOME, cwd=tmp_path).config
    assert config.backend == SqliteBackend(Path("/home/u/.local/share/obelisk/obelisk.sqlite"), "FULL")


def test_the_older_sqlite_table_keeps_working(tmp_path: Path) -> None:
    path = write(tmp_path, '[sqlite]\nfile = "db/x.sqlite"\nsynchronous = "OFF"\nqueue_capacity = 100\n')
    config = load_config(path, HOME, cwd=tmp_path).config
    assert config.backend == SqliteBackend(tmp_path / "conf/db/x.sqlite", "OFF")
    assert config.database.sqlite is None
    # The original's queue settings load at their defaults only: this storage has no such queue.
    path.write_text(path.read_text().replace("queue_capacity = 100", "queue_capacity = 7"))
    problem = only_problem(path, HOME)
    assert (problem.key, problem.line) == ("sqlite.queue_capacity", 5)
    assert "no bounded request queue" in problem.message and "set it to 100" in problem.message


def test_a_pragma_the_engine_sets_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[database.sqlite]\npragma = { synchronous = "FULL", journal_mode = "DELETE" }\n')
    problem = only_problem(path, HOME)
    assert problem.key == "database.sqlite.pragma" and problem.line == 3
    assert 'pragma "journal_mode" cannot be set' in problem.message
    assert "accepted: synchronous" in problem.message


def test_a_bad_synchronous_value_says_what_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "[database.sqlite]\npragma = { synchronous = 2 }\n")
    problem = only_problem(path, HOME)
    assert problem.message == 'pragma synchronous: expected one of "FULL", "NORMAL", "OFF", got 2'


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[sqlite]\nfile = "a.sqlite"\n[database.sqlite]\ndirectory = "b"\n', "database.sqlite", "[sqlite] and"),
        ('[database.sqlite]\ndirectory = "b"\n' + POSTGRES, "database.postgres", "[database.sqlite] selects SQLite"),
        ('[sqlite]\nfile = "a.sqlite"\n' + POSTGRES, "database.postgres", "[sqlite] selects SQLite"),
    ],
)
def test_two_tables_choosing_the_database_are_an_error_naming_both(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    path = write(tmp_path, text)
    problem = only_problem(path, {**HOME, "OBELISK_DB_PASSWORD": "pw"})
    assert problem.key == key
    assert problem.source == str(path) and problem.line is not None
    assert words in problem.message and "keep one" in problem.message


# ---------------------------------------------------------------------------------------------- PostgreSQL


def test_postgres_keys_defaults_and_the_password_from_the_environment(tmp_path: Path) -> None:
    env = {**HOME, "OBELISK_DB_PASSWORD": "s3cret"}
    config = load_config(write(tmp_path, POSTGRES), env, cwd=tmp_path).config
    backend = config.backend
    assert backend == PostgresDatabaseConfig(
        host="db.example.com", user="obelisk", password="s3cret", db_name="obelisk"
    )
    assert (backend.port, backend.pool_size, backend.provision_policy) == (5432, 4, "auto")
    assert config.data_directory == Path("/home/u/.local/share/obelisk")  # the default with PostgreSQL
    assert "s3cret" not in repr(config)


def test_postgres_keys_as_written_in_full(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        data_directory = "server-a"
        [database.postgres]
        host = "/run/postgresql"
        port = 5433
        user = "${DB_USER}"
        db_name = "db_${DB_SUFFIX}"
        pool_size = 8
        provision_policy = "never"
        """,
    )
    config = load_config(path, {**HOME, "DB_USER": "me", "DB_SUFFIX": "x"}, cwd=tmp_path).config
    assert config.backend == PostgresDatabaseConfig(
        host="/run/postgresql", port=5433, user="me", db_name="db_x", pool_size=8, provision_policy="never"
    )
    assert config.data_directory == tmp_path / "conf/server-a"  # relative to the file, like every path


def test_a_missing_variable_names_the_key_the_variable_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, POSTGRES)
    problem = only_problem(path, HOME)
    assert (problem.key, problem.line) == ("database.postgres.password", 5)
    assert problem.message == (
        "environment variable OBELISK_DB_PASSWORD is not set (referenced as ${OBELISK_DB_PASSWORD})"
    )


def test_verify_may_let_missing_variables_through_and_lists_them(tmp_path: Path) -> None:
    path = write(tmp_path, POSTGRES.replace('"db.example.com"', '"${DB_HOST}"'))
    loaded = load_config(path, HOME, cwd=tmp_path, ignore_missing_env_vars=True)
    assert loaded.missing_env_vars == (
        "database.postgres.host: DB_HOST",
        "database.postgres.password: OBELISK_DB_PASSWORD",
    )
    backend = loaded.config.backend
    assert isinstance(backend, PostgresDatabaseConfig) and (backend.host, backend.password) == ("", "")


def test_directory_prefixes_keep_their_meaning_and_dollar_dollar_is_literal(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[database.postgres]\nhost = "${DATA_DIR}/sockets"\nuser = "u"\npassword = "a$$b$${X}c"\ndb_name = "d"\n',
    )
    config = load_config(path, {**HOME, "X": "not used"}, cwd=tmp_path).config
    backend = config.backend
    assert isinstance(backend, PostgresDatabaseConfig)
    assert backend.host == "/home/u/.local/share/obelisk/sockets"
    assert backend.password == "a$$b${X}c"  # only "$${" is an escape: a lone "$" is itself


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"${OOPS"', 'unterminated "${"'),
        ('"${}"', "is not a variable name"),
        ('"${A-B}"', "is not a variable name"),
    ],
)
def test_malformed_references_are_errors(tmp_path: Path, value: str, words: str) -> None:
    path = write(tmp_path, f'[database.postgres]\nhost = "h"\nuser = "u"\npassword = {value}\ndb_name = "d"\n')
    problem = only_problem(path, HOME)
    assert problem.key == "database.postgres.password" and words in problem.message


@pytest.mark.parametrize(
    ("host", "ok"),
    [("localhost", True), ("10.0.0.7", True), ("::1", True), ("/run/postgresql", True), ("run/pg", False)],
)
def test_host_is_a_name_an_address_or_an_absolute_socket_directory(tmp_path: Path, host: str, ok: bool) -> None:
    path = write(tmp_path, f'[database.postgres]\nhost = "{host}"\nuser = "u"\ndb_name = "d"\n')
    if ok:
        assert load_config(path, HOME, cwd=tmp_path).config.backend.host == host  # type: ignore[union-attr]
    else:
        problem = only_problem(path, HOME)
        assert problem.key == "database.postgres.host"
        assert "absolute path of a socket directory" in problem.message


@pytest.mark.parametrize(("key", "value"), [("port", "0"), ("port", "70000"), ("pool_size", "0"), ("user", '""')])
def test_out_of_range_postgres_values(tmp_path: Path, key: str, value: str) -> None:
    text = '[database.postgres]\nhost = "h"\nuser = "u"\ndb_name = "d"\n'
    text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text) if key == "user" else text + f"{key} = {value}\n"
    problem = only_problem(write(tmp_path, text), HOME)
    assert problem.key == f"database.postgres.{key}"


def test_postgres_needs_no_home_when_every_directory_is_given(tmp_path: Path) -> None:
    """A bare service (no HOME, no XDG variables) must not fail on the default SQLite file it does not use."""
    path = write(
        tmp_path,
        f"""
        data_directory = "{tmp_path / "id"}"
        wasm_cache_directory = "{tmp_path / "wasm"}"
        codegen_cache.enabled = false
        codegen_cache.directory = "{tmp_path / "cg"}"
        [database.postgres]
        host = "h"
        user = "u"
        db_name = "d"
        """,
    )
    config = load_config(path, {}, cwd=tmp_path).config
    assert config.data_directory == tmp_path / "id"
    assert isinstance(config.backend, PostgresDatabaseConfig)


def test_an_environment_override_can_supply_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[database.postgres]\nhost = "h"\nuser = "u"\ndb_name = "d"\n')
    config = load_config(path, {**HOME, "OBELISK__database__postgres__password": "pw"}, cwd=tmp_path).config
    assert config.backend.password == "pw"  # type: ignore[union-attr]


def test_the_sample_postgres_table_loads_in_place_of_the_sqlite_one(tmp_path: Path) -> None:
    lines = SAMPLE_CONFIG.splitlines()
    start = lines.index("# [database.postgres]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# ") or not re.match(r"^# (\[|\w+ = )", line):
            break
        block.append(line[2:])
    sqlite_table = re.compile(r"(?ms)^\[database\.sqlite\].*?(?=^\[)")
    text = sqlite_table.sub("\n".join(block) + "\n\n", SAMPLE_CONFIG, count=1)
    path = tmp_path / "obelisk.toml"
    path.write_text(text)
    config = load_config(path, {**HOME, "OBELISK_DB_PASSWORD": "pw"}, cwd=tmp_path).config
    assert config.backend == PostgresDatabaseConfig(
        host="localhost", user="obelisk", password="pw", db_name="obelisk", pool_size=4, provision_policy="auto"
    )
