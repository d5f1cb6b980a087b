"""A server's executor identity, and the guarantee that no two live processes share it.

Every lock a server takes carries its executor id, and a starting server releases at once the locks held under
its own id: they belong to its previous process, which is dead. That is only true if one process at a time
uses the id, so the identity comes with an OS lock (``flock``) on a file next to the database, held for the
server's life and dropped by the kernel when the process dies, however it dies. A second server on the same
SQLite file is refused before it touches anything, with the PID of the one that runs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ids import ExecutorId


class DatabaseInUse(ObeliskError):
    """Another live server process holds the database."""

    def __init__(self, database: Path, holder_pid: int | None) -> None:
        holder = f"PID {holder_pid}" if holder_pid is not None else "a process that did not record its PID"
        super().__init__(
            f"database {database} is in use by another Obelisk server ({holder}): stop that server first, or give"
            " this one another sqlite.file"
        )
        self.database = database
        self.holder_pid = holder_pid


@dataclass(slots=True)
class DatabaseClaim:
    """This process's lock on a database, which makes the executor id kept beside the database this process's
    alone. ``release`` on stop."""

    database: Path
    lock_path: Path
    _fd: int | None

    def executor_id(self) -> ExecutorId:
        """The persistent executor id of the server of this database (created on first use)."""
        path = self.database.with_name(self.database.name + ".executor-id")
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


def claim_database(sqlite_file: Path) -> DatabaseClaim:
    """Lock ``<database>.lock`` for this process, recording its PID there, or raise ``DatabaseInUse``."""
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    lock_path = sqlite_file.with_name(sqlite_file.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise DatabaseInUse(sqlite_file, _recorded_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return DatabaseClaim(sqlite_file, lock_path, fd)
    except BaseException:
        os.close(fd)
        raise


def _recorded_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
