"""Connecting, provisioning the database, and the migrations of the PostgreSQL backend.

The migrations are this package's ``migrations/NNNN_*.sql`` files (loaded and checked by
``obelisk.storage.migrations``), each applied in its own transaction together with its ``schema_version`` row.
Servers that start together on one database take turns (a transaction-scoped advisory lock): the second finds the
work done.
"""

from __future__ import annotations

import math

import psycopg
from psycopg import sql

from obelisk.storage.migrations import MigrationFailed, load_migrations, refuse_newer
from obelisk.storage.postgres.errors import DatabaseMissing, as_storage_error, connect_error
from obelisk.storage.postgres.target import PostgresTarget

MIGRATIONS_PACKAGE = "obelisk.storage.postgres"
MIGRATION_LOCK = 0x0B_E1_15_C0
"""The advisory lock key servers take turns on while migrating (any constant of this program's own)."""
APPLICATION_NAME = "obelisk"
_MAINTENANCE_DATABASES = ("postgres", "template1")
"""Where ``CREATE DATABASE`` is sent from: a connection needs some database, and these exist on every server."""


def connect(target: PostgresTarget, db_name: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection (transactions are opened explicitly) to the target's database or ``db_name``.

    Raises ``DatabaseUnreachable``, ``AuthenticationFailed`` or ``DatabaseMissing``."""
    try:
        return psycopg.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            dbname=db_name or target.db_name,
            # libpq takes whole seconds; below 2 it uses 2.
            connect_timeout=max(1, math.ceil(target.connect_timeout_seconds)),
            application_name=APPLICATION_NAME,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise connect_error(exc, target) from exc


def connect_provisioning(target: PostgresTarget) -> psycopg.Connection[tuple[object, ...]]:
    """``connect``, creating a missing database first when the target's policy is ``auto``."""
    try:
        return connect(target)
    except DatabaseMissing:
        if target.provision_policy != "auto":
            raise DatabaseMissing(
                target, 'provision_policy is "never": create it, or set provision_policy = "auto"'
            ) from None
    create_database(target)
    return connect(target)


def create_database(target: PostgresTarget) -> None:
    """``CREATE DATABASE`` from a maintenance database; one created meanwhile by another server is fine."""
    conn = None
    for maintenance in _MAINTENANCE_DATABASES:
        try:
            conn = connect(target, maintenance)
            break
        except DatabaseMissing:
            continue
    if conn is None:
        raise DatabaseMissing(target, "no maintenance database (postgres, template1) to create it from")
    try:
        with conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.db_name)))
    except psycopg.errors.DuplicateDatabase:
        pass
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseMissing(
            target, f"user {target.user!r} may not create it (it needs CREATEDB, or create it yourself): {exc}"
        ) from exc
    except psycopg.Error as exc:
        raise as_storage_error(exc, target) from exc


def migrate(conn: psycopg.Connection[tuple[object, ...]], target: PostgresTarget) -> int:
    """Bring the schema up to date; returns the resulting version."""
    migrations = load_migrations(MIGRATIONS_PACKAGE)
    current = 0
    for migration in [None, *migrations]:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            current = int(found[0]) if found else 0  # type: ignore[call-overload]
            refuse_newer(target.describe(), current, migrations)
            if migration is None or migration.version <= current:
                continue
            try:
                conn.execute(migration.sql.encode())
            except psycopg.Error as exc:
                raise MigrationFailed(f"migration {migration.name} failed on {target.describe()}: {exc}") from exc
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
            current = migration.version
    return current


def schema_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(found[0]) if found else 0  # type: ignore[call-overload]
