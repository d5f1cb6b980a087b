"""A server's executor identity, and the guarantee that no two live processes share it.

Every lock a server takes carries its executor id, and a starting server releases at once the locks held under
its own id: they belong to its previous process, which is dead. That is only true if one process at a time
uses the id, so the identity comes with an OS lock (``flock``) on a file beside the file that keeps the id, held
for the server's life and dropped by the kernel when the process dies, however it dies.

Where the identity is kept depends on who else may use the database:

* SQLite: beside the database file (``<file>.executor-id``, ``<file>.lock``). One server uses a file at a time,
  so a second server on the same file is refused before it touches anything, with the PID of the one that runs.
* PostgreSQL: in the server's own ``data_directory`` (``obelisk-server.executor-id``, ``obelisk-server.lock``).
  Several servers share the database, each with its own directory and id; a second server on the same directory
  is refused the same way, since it would take over the first one's id and release its locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ids import ExecutorId

DATA_DIRECTORY_STEM = "obelisk-server"
"""The identity files in a data directory are ``obelisk-server.executor-id`` and ``obelisk-server.lock``."""


class IdentityInUse(ObeliskError):
    """Another live server process holds the identity this one would use."""

    def __init__(self, message: str, holder_pid: int | None) -> None:
        super().__init__(message)
        self.holder_pid = holder_pid


def _holder(pid: int | None) -> str:
    return f"PID {pid}" if pid is not None else "a process that did not record its PID"


class DatabaseInUse(IdentityInUse):
    """Another live server process holds the SQLite database."""

    def __init__(self, database: Path, holder_pid: int | None) -> None:
        super().__init__(
            f"database {database} is in use by another Obelisk server ({_holder(holder_pid)}): stop that server"
            " first, or give this one another SQLite database",
            holder_pid,
        )
        self.database = database


class DataDirectoryInUse(IdentityInUse):
    """Another live server process holds the data directory (and so the executor id kept in it)."""

    def __init__(self, directory: Path, holder_pid: int | None) -> None:
        super().__init__(
            f"data directory {directory} is in use by another Obelisk server ({_holder(holder_pid)}): each server"
            " sharing a database needs its own data_directory",
            holder_pid,
        )
        self.directory = directory


@dataclass(slots=True)
class IdentityClaim:
    """This process's lock on an identity, which makes the executor id kept beside the lock this process's alone.
    ``release`` on stop."""

    stem: Path
    """The identity's files are ``<stem>.executor-id`` and ``<stem>.lock``."""
    lock_path: Path
    _fd: int | None

    def executor_id(self) -> ExecutorId:
        """The persistent executor id of this identity (created on first use)."""
        path = self.stem.with_name(self.stem.name + ".executor-id")
        if path.exists():
            return ExecutorId.parse(path.read_text().strip())
        executor_id = ExecutorId.generate()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(executor_id + "\n")
        tmp.replace(path)
        return executor_id

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


def claim_database(sqlite_file: Path) -> IdentityClaim:
    """The identity of the server of this SQLite file, or ``DatabaseInUse``."""
    return _claim(sqlite_file, lambda pid: DatabaseInUse(sqlite_file, pid))


def claim_data_directory(directory: Path) -> IdentityClaim:
    """The identity kept in this server's data directory (PostgreSQL), or ``DataDirectoryInUse``."""
    return _claim(directory / DATA_DIRECTORY_STEM, lambda pid: DataDirectoryInUse(directory, pid))


def _claim(stem: Path, in_use: Callable[[int | None], IdentityInUse]) -> IdentityClaim:
    """Lock ``<stem>.lock`` for this process, recording its PID there, or raise what ``in_use`` makes."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    lock_path = stem.with_name(stem.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise in_use(_recorded_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return IdentityClaim(stem, lock_path, fd)
    except BaseException:
        os.close(fd)
        raise


def _recorded_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
