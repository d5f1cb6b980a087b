"""The database the config selects: the server's identity claim that goes with it, opening its storage, and the
check of ``obelisk server verify``.

Every choice between backends is a ``match`` here, so that adding one is a mypy error in each place it must be
handled, and the rest of the server sees a ``Storage`` only.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import assert_never

from obelisk.concepts.clock import Clock
from obelisk.config import ObeliskConfig, PostgresDatabaseConfig, SqliteBackend
from obelisk.executor.identity import IdentityClaim, claim_data_directory, claim_database
from obelisk.storage.interface import Storage, StorageError
from obelisk.storage.postgres.target import PostgresTarget
from obelisk.storage.sqlite import SqliteStorage

SQLITE_HEADER = b"SQLite format 3\x00"
MAINTENANCE_DATABASE = "postgres"
"""Where ``verify`` asks whether the role may create the database it did not find (it exists on every server)."""


def describe(config: ObeliskConfig) -> str:
    """The database for the ``Server is ready`` line and logs (never with a password)."""
    backend = config.backend
    match backend:
        case SqliteBackend():
            return f"sqlite file: {backend.file}"
        case PostgresDatabaseConfig():
            return f"database: {postgres_target(backend).describe()}"
        case _:
            assert_never(backend)


def claim_identity(config: ObeliskConfig) -> IdentityClaim:
    """Lock this server's identity (see ``obelisk.executor.identity``), creating its directory if need be."""
    backend = config.backend
    match backend:
        case SqliteBackend():
            return claim_database(backend.file)
        case PostgresDatabaseConfig():
            assert config.data_directory is not None  # defaulted with PostgreSQL (ObeliskConfig._database_defaults)
            return claim_data_directory(config.data_directory)
        case _:
            assert_never(backend)


def postgres_target(postgres: PostgresDatabaseConfig) -> PostgresTarget:
    return PostgresTarget(
        host=postgres.host,
        port=postgres.port,
        user=postgres.user,
        password=postgres.password,
        db_name=postgres.db_name,
        pool_size=postgres.pool_size,
        provision_policy=postgres.provision_policy,
    )


async def open_storage(config: ObeliskConfig, clock: Clock) -> Storage:
    backend = config.backend
    match backend:
        case SqliteBackend():
            return await SqliteStorage.open(backend.file, synchronous=backend.synchronous, clock=clock)
        case PostgresDatabaseConfig():
            # Imported here: psycopg costs start-up time that a server on SQLite should not pay.
            from obelisk.storage.postgres.backend import PostgresStorage  # noqa: PLC0415

            return await PostgresStorage.open(postgres_target(backend), clock=clock)
        case _:
            assert_never(backend)


async def database_problem(config: ObeliskConfig) -> str | None:
    """What keeps a server from using its database, in one line (``obelisk server verify``); ``None`` if nothing."""
    backend = config.backend
    match backend:
        case SqliteBackend():
            return sqlite_problem(backend.file)
        case PostgresDatabaseConfig():
            return await asyncio.to_thread(postgres_problem, postgres_target(backend))
        case _:
            assert_never(backend)


def postgres_problem(target: PostgresTarget) -> str | None:
    """Whether the server can reach the database, log in, and find the database (or create it); changes nothing.

    A missing database is no problem when ``provision_policy = "auto"`` and the role may create databases."""
    # Imported here: psycopg costs start-up time that a server on SQLite should not pay.
    from obelisk.storage.postgres import schema  # noqa: PLC0415
    from obelisk.storage.postgres.errors import DatabaseMissing  # noqa: PLC0415

    try:
        schema.connect(target).close()
        return None
    except DatabaseMissing as missing:
        if target.provision_policy != "auto":
            return f'{missing} (provision_policy = "never": create it, or set provision_policy = "auto")'
    except StorageError as error:
        return str(error)
    try:
        with schema.connect(target, MAINTENANCE_DATABASE) as conn:
            row = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except StorageError as error:
        return str(error)
    if row is None or not row[0]:
        return (
            f"database {target.describe()} does not exist, and user {target.user!r} may not create it"
            " (it needs CREATEDB): create the database, or grant CREATEDB"
        )
    return None


def sqlite_problem(file: Path) -> str | None:
    """Why a server could not use this SQLite file, found without creating or changing anything; ``None`` if
    nothing stands in the way. The WAL files are created beside the database, so its directory must be writable."""
    if file.exists():
        if not file.is_file():
            return f"SQLite database {file} is not a file"
        if not os.access(file, os.R_OK | os.W_OK):
            return f"SQLite database {file} is not writable"
        with file.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            return f"{file} is not an SQLite database"
        if not os.access(file.parent, os.W_OK | os.X_OK):
            return f"SQLite database {file} cannot be written: its directory is not writable (the WAL files go there)"
        return None
    ancestor = file.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"SQLite database {file} cannot be created: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"SQLite database {file} cannot be created: {ancestor} is not writable"
    return None
