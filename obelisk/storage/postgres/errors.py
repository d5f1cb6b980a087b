"""PostgreSQL errors as the storage's typed errors.

Opening a target fails for a reason a person must fix, and each reason has its type so that ``obelisk server
verify`` can say it in one line: the server cannot be reached, the credentials are refused, the database does not
exist. Every message names the target by ``PostgresTarget.describe()``, never with its password.

Once open, a failed statement is mapped by its SQLSTATE: no space is ``StorageFull``; a lost or refused
connection, a shutdown, a read-only server or an I/O error is ``StorageUnavailable`` (the write may succeed later,
after a reconnect); anything else is a plain ``StorageError``.
"""

from __future__ import annotations

import psycopg

from obelisk.storage.interface import StorageError, StorageFault, StorageFull, StorageUnavailable
from obelisk.storage.postgres.target import PostgresTarget


class DatabaseUnreachable(StorageUnavailable):
    """No PostgreSQL server answers at the target's host and port (or socket directory)."""

    def __init__(self, target: PostgresTarget, reason: str) -> None:
        super().__init__(f"database {target.describe()} is unreachable: {reason}")
        self.target = target


class AuthenticationFailed(StorageError):
    """The server refused the target's user and password (or its peer/ident identity)."""

    def __init__(self, target: PostgresTarget, reason: str) -> None:
        super().__init__(f"database {target.describe()}: authentication failed for user {target.user!r}: {reason}")
        self.target = target


class DatabaseMissing(StorageError):
    """The database does not exist and the target's ``provision_policy`` does not create it (or could not)."""

    def __init__(self, target: PostgresTarget, reason: str) -> None:
        super().__init__(f"database {target.describe()} does not exist: {reason}")
        self.target = target


RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""Serialization failure and deadlock: PostgreSQL rolled back the statement of one of two transactions that
locked rows in opposite orders (servers writing the same executions in another order); running it again works."""

_AUTH_SQLSTATES = frozenset({"28000", "28P01"})
_MISSING_DATABASE = "3D000"
_FULL = "53100"
_UNAVAILABLE_CLASSES = ("08", "57", "58", "53", "25006", "55P03", "57014")
"""Connection exceptions, operator intervention (shutdown, cannot connect now, query cancelled), system (I/O)
errors, insufficient resources other than disk space, a read-only transaction (a standby, or
``default_transaction_read_only``), a lock not available."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_error(exc: psycopg.Error, target: PostgresTarget) -> StorageError:
    """The typed error for a failed ``connect`` to ``target``."""
    sqlstate = exc.sqlstate
    message = str(exc)
    reason = _first_line(exc)
    if sqlstate in _AUTH_SQLSTATES or "authentication failed" in message or "no password supplied" in message:
        error: StorageError = AuthenticationFailed(target, reason)
    elif sqlstate == _MISSING_DATABASE or ("database" in message and "does not exist" in message):
        error = DatabaseMissing(target, reason)
    elif sqlstate is None or sqlstate.startswith(("08", "57")):
        error = DatabaseUnreachable(target, reason)
    else:
        error = as_storage_error(exc, target)  # type: ignore[assignment]
    error.__cause__ = exc
    return error


def as_storage_error(exc: BaseException, target: PostgresTarget) -> BaseException:
    """The typed storage error for a ``psycopg.Error`` (by its SQLSTATE); other exceptions as they are."""
    if not isinstance(exc, psycopg.Error):
        return exc
    sqlstate = exc.sqlstate
    reason = _first_line(exc)
    error: StorageError
    if sqlstate == _FULL:
        error = StorageFull(f"database {target.describe()} is full: {reason} (SQLSTATE {sqlstate}); free disk space")
    elif sqlstate is None and isinstance(exc, psycopg.OperationalError):
        error = StorageUnavailable(f"database {target.describe()} is unavailable: {reason}")
    elif sqlstate is not None and sqlstate.startswith(_UNAVAILABLE_CLASSES):
        error = StorageUnavailable(f"database {target.describe()} is unavailable: {reason} (SQLSTATE {sqlstate})")
    elif sqlstate in RETRYABLE_SQLSTATES:
        error = StorageFault(f"database {target.describe()}: {reason} (SQLSTATE {sqlstate}); retry the write")
    else:
        error = StorageError(f"database {target.describe()}: PostgreSQL error: {reason} (SQLSTATE {sqlstate})")
    error.__cause__ = exc
    return error
