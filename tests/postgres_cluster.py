"""A throwaway PostgreSQL cluster for the test session: its own data directory, port and socket, gone at the end.

Debian installs the server binaries in a versioned directory that is not on ``PATH``
(``/usr/lib/postgresql/15/bin``); they are found by globbing. ``initdb`` and the server refuse to run as root, so
the cluster lives in a directory of its own (pytest's temp dirs are root-only) owned by the ``postgres`` OS user,
and every server command runs as that user (``runuser``). Durability is switched off (``fsync``,
``synchronous_commit``): the tests check behaviour, not power-loss safety, and a CREATE DATABASE per test stays
fast.

The test role is what a deployment would use: a password over TCP (``scram-sha-256``) and ``CREATEDB``, no
superuser rights. The superuser ``postgres`` is reached over the cluster's Unix socket only (``trust``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from obelisk.storage.postgres.target import PostgresTarget

REQUIRE_ENV = "OBELISK_REQUIRE_POSTGRES"
OS_USER = "postgres"
ROLE = "obelisk_test"
START_TIMEOUT_SECONDS = 30


class ClusterUnavailable(Exception):
    """No cluster can be started here; the message says why in one line (the tests skip with it)."""


def find_bin_dir() -> Path | None:
    """The newest installed server's binaries (``initdb`` beside ``pg_ctl``), or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    bin_dir: Path
    root: Path
    port: int
    password: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def target(self, db_name: str, **overrides: object) -> PostgresTarget:
        """Where the test role reaches ``db_name`` over TCP with its password."""
        fields: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": ROLE,
            "password": self.password,
            "db_name": db_name,
            "pool_size": 2,
        }
        fields.update(overrides)
        return PostgresTarget(**fields)  # type: ignore[arg-type]

    def superuser_conninfo(self, db_name: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={db_name}"

    def sql(self, statement: str, db_name: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement as the superuser (autocommit: CREATE/DROP DATABASE need it); its rows, if any."""
        import psycopg

        with psycopg.connect(self.superuser_conninfo(db_name), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []

    def drop_database(self, db_name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    def _run(self, *args: str, check: bool = True) -> None:
        """Run a server command as the ``postgres`` OS user."""
        argv = ["runuser", "-u", OS_USER, "--", *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=START_TIMEOUT_SECONDS, cwd=self.root
        )
        if check and result.returncode != 0:
            name = Path(args[0]).name
            raise ClusterUnavailable(f"{name} failed ({result.returncode}): {result.stderr.strip() or self.log_tail()}")

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresCluster:
        """initdb, start on a free loopback port, create the test role. Raises ``ClusterUnavailable``."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise ClusterUnavailable("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or PATH")
        try:
            user = pwd.getpwnam(OS_USER)
        except KeyError:
            raise ClusterUnavailable(f"no {OS_USER!r} OS user to run the PostgreSQL server as") from None
        if shutil.which("runuser") is None:
            raise ClusterUnavailable("no runuser command to run the PostgreSQL server as another OS user")
        root = Path(tempfile.mkdtemp(prefix="obelisk-pg-"))
        os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(bin_dir, root, _free_port(), secrets.token_hex(12))
        try:
            cluster._init_and_start(durable)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _init_and_start(self, durable: bool) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(secrets.token_hex(12) + "\n")
        user = pwd.getpwnam(OS_USER)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = [
            "listen_addresses='127.0.0.1'",
            f"port={self.port}",
            f"unix_socket_directories='{self.socket_dir}'",
            "max_connections=200",
            "shared_buffers=64MB",
            "log_line_prefix='%m [%p] %d '",  # the database's name: a test counts what its own database logged
            "log_lock_waits=on",  # every lock wait longer than deadlock_timeout (1 s), with how long it lasted
        ]
        if not durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        self.sql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete everything; safe to call twice or after a failed start."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def deadlocks_in(self, db_name: str) -> int:
        """How many transactions on ``db_name`` PostgreSQL has ended as deadlock victims (its log says so at once,
        unlike its statistics views)."""
        return len(self.deadlock_reports(db_name))

    def deadlock_reports(self, db_name: str) -> list[str]:
        """What PostgreSQL logged of each deadlock on ``db_name``: the statements that waited for each other (each
        cut to its first 100 characters) and the lock the victim waited for."""
        reports = []
        for report in self._server_log().split(f" {db_name} ERROR:  deadlock detected")[1:]:
            lines = [line.strip() for line in report.splitlines()[1:8]]
            reports.append(
                "\n".join(
                    line[:100] for line in lines if (line.startswith("Process") and ": " in line) or "CONTEXT" in line
                )
            )
        return reports

    def long_lock_waits(self, db_name: str) -> list[float]:
        """Milliseconds of each lock wait on ``db_name`` that outlasted ``deadlock_timeout`` and then got its lock (a
        deadlock's victim gets none): what stalled a transaction without a deadlock."""
        pattern = re.compile(rf" {re.escape(db_name)} LOG:  process \d+ acquired .* after ([0-9.]+) ms")
        return [float(match.group(1)) for match in pattern.finditer(self._server_log())]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._server_log().splitlines()[-lines:])

    def _server_log(self) -> str:
        """The cluster's log so far; empty if it was never written (a failed start) or is gone (stopped)."""
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text()
        return ""


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start(durable=durable)
    try:
        yield cluster
    finally:
        cluster.stop()
