"""SQLite errors as the storage's typed errors, by the primary result code of a ``sqlite3.Error``.

No space (``SQLITE_FULL``, a full disk or ``max_page_count``) is ``StorageFull``; a read-only, locked or failing
database is ``StorageUnavailable``; anything else a plain ``StorageError``. When SQLite's own message does not say
why a file cannot be opened or written, the message adds what the file system shows.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from obelisk.storage.interface import StorageError, StorageFull, StorageUnavailable

_FULL = frozenset({sqlite3.SQLITE_FULL})
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def as_storage_error(exc: BaseException, path: Path) -> BaseException:
    """The typed storage error for a ``sqlite3.Error`` (by its primary result code); other exceptions as they are."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or "no SQLite error code"
    primary = code & 0xFF if isinstance(code, int) else None
    error: StorageError
    if primary in _FULL:
        error = StorageFull(f"database {path} is full: {exc} ({name}); free disk space")
    elif primary in _UNAVAILABLE:
        error = StorageUnavailable(f"database {path} is unavailable: {exc} ({name}){file_system_hint(path)}")
    else:
        error = StorageError(f"database {path}: SQLite error: {exc} ({name})")
    error.__cause__ = exc
    return error


def open_error(exc: OSError | sqlite3.Error, path: Path) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return as_storage_error(exc, path)
    return StorageUnavailable(f"database {path} cannot be opened: {exc.strerror or exc}{file_system_hint(path)}")


def file_system_hint(path: Path) -> str:
    """Why SQLite may not open or write ``path`` when its own message ("unable to open database file") does not say:
    WAL mode needs to create and write ``-wal`` and ``-shm`` files next to the database."""
    try:
        flags = os.statvfs(path.parent).f_flag
    except OSError:
        return ""
    if flags & os.ST_RDONLY:
        return f"; the file system of {path.parent} is read-only"
    if not os.access(path.parent, os.W_OK):
        return f"; the directory {path.parent} is not writable (WAL mode creates files next to the database)"
    return ""
