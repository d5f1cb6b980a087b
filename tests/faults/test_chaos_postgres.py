"""Chaos with two servers on one PostgreSQL database: ``kill -9`` of server A, of server B or of both at once, at
random moments of the mixed load of ``tests/faults/test_chaos.py``, while an operator cancels, pauses and resumes
executions and cancels pending delays through either server's API.

Each server (``obelisk server run``, its own data directory, API port and attempt log) runs the same components
with short locks, so that the survivor of a kill takes over the dead server's work once its locks expire, unless
the dead one, started again at once in the background, gives them back first; some of those starts are killed
too, 0.2-2 s in. Work is submitted and operated through a server that is up, chosen at random.

At the end, read from PostgreSQL: every execution (submitted or a child) finished exactly once with the right
result, nothing is locked, pending or paused, the database is intact (amcheck over its tables and indexes), no
recorded result changed, and only attempts that a kill lost ran again, on either server, within the crash bound
per killed server (the attempts of both servers are counted outside the database by
``tests/faults/attempt_log.py``, a file per server). The load, the driver and the checks are
``tests/faults/chaos_support.py``. ``OBELISK_CHAOS_SEED`` replays a printed seed, ``OBELISK_FAULT_SCALE``
multiplies the load and the number of kills.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from obelisk.concepts.events import Locked, event_from_json
from tests.e2e.test_two_servers import PASSWORD_VARIABLE, _write_config
from tests.faults.chaos_support import (
    WAIT_CLOSED_TIMEOUT,
    Chaos,
    ChaosServer,
    chaos_seed,
    components,
    run_chaos,
)
from tests.postgres_cluster import PostgresCluster

pytestmark = pytest.mark.slow


class PostgresDatabase:
    """The shared database, read over TCP as the servers' role (autocommit: each read sees what is committed)."""

    def __init__(self, cluster: PostgresCluster, db_name: str) -> None:
        self._cluster = cluster
        self._db_name = db_name
        target = cluster.target(db_name)
        self._conn = psycopg.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            dbname=db_name,
            autocommit=True,
        )

    def close(self) -> None:
        self._conn.close()

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        if not params:  # sent as it is: a % (in a LIKE pattern) is no placeholder
            return self._conn.execute(query).fetchall()
        return self._conn.execute(query.replace("?", "%s"), params).fetchall()

    def connections_of(self, pid: int) -> frozenset[int]:
        """The local ports of ``pid``'s TCP connections to the cluster: its socket descriptors, found in the
        kernel's table of TCP sockets."""
        inodes = set()
        with contextlib.suppress(FileNotFoundError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:["):
                        inodes.add(link.removeprefix("socket:[").removesuffix("]"))
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError):
                for line in Path(table).read_text().splitlines()[1:]:
                    local, remote, inode = line.split()[1], line.split()[2], line.split()[9]
                    if inode in inodes and int(remote.rpartition(":")[2], 16) == self._cluster.port:
                        ports.add(int(local.rpartition(":")[2], 16))
        return frozenset(ports)

    def wait_closed(self, connections: frozenset[int]) -> None:
        """Until the sessions of a killed process have ended: a session runs what is already in its socket (a
        ``COMMIT``) before it sees that its client is gone, so the dead server's last transaction may commit after
        the kill."""
        deadline = time.monotonic() + WAIT_CLOSED_TIMEOUT
        query = "SELECT client_port FROM pg_stat_activity WHERE client_port = ANY(?)"
        while left := self.rows(query, sorted(connections)):
            assert time.monotonic() < deadline, f"the killed server's sessions {left} still open"
            time.sleep(0.01)

    def integrity_problems(self) -> list[object]:
        """amcheck, as the superuser: every B-tree index against its table, every table's heap."""
        problems: list[object] = []
        with psycopg.connect(self._cluster.superuser_conninfo(self._db_name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            relations = conn.execute(
                "SELECT c.oid::regclass::text, c.relkind FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am a ON a.oid = c.relam"
                " WHERE n.nspname = 'public' AND (c.relkind = 'r' OR (c.relkind = 'i' AND a.amname = 'btree'))"
            ).fetchall()
            for name, kind in relations:
                if kind == "i":
                    try:
                        conn.execute("SELECT bt_index_parent_check(%s::regclass, true)", (name,))
                    except psycopg.Error as error:
                        problems.append(f"index {name}: {error}")
                else:
                    problems += conn.execute(
                        "SELECT %s::text, blkno, offnum, msg FROM verify_heapam(%s::regclass)", (name, name)
                    ).fetchall()
            assert len(relations) > 10, relations  # the tables and indexes were found
        return problems

    def ran_on_both(self) -> int:
        """How many executions were locked by both servers' executors (taken over, or given back and taken)."""
        executors: defaultdict[str, set[str]] = defaultdict(set)
        locks = self.rows("SELECT execution_id, json FROM execution_log WHERE event_type = 'Locked'")
        for execution_id, payload in locks:
            event = event_from_json(json.loads(payload))
            assert isinstance(event, Locked), event
            executors[execution_id].add(event.executor_id)
        return sum(len(ids) > 1 for ids in executors.values())


def test_two_servers_on_one_postgres_database_killed_at_random_lose_corrupt_and_repeat_nothing(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    fault_scale: float,
) -> None:
    seed = chaos_seed(fault_scale)
    # Short locks, so that the survivor takes over within seconds; longer than test_two_servers.py's 1 s and 2 s, as
    # the lock expiry is also the attempt's time limit: on 2 cores, an attempt of a few milliseconds could stall past
    # 1 s (beside a server starting, another busy one and PostgreSQL) and time out, running again without a kill. An
    # expired lock is a timeout, which takes a retry: the activities keep their default retries (a restarted server
    # gives its own locks back without charging one).
    loaded = components(
        built_components, fibo_activity="exec.lock_expiry = { secs = 3 }", sleep_activity_lock=4, workflow_lock=4
    )
    servers = []
    for name in ("A", "B"):
        home = tmp_path / name
        config, port = _write_config(home, postgres_cluster, postgres_database, codegen_cache, loaded)
        env = {PASSWORD_VARIABLE: postgres_cluster.password}
        servers.append(ChaosServer(name, config, port, tmp_path / f"attempts-{name}.log", env))
    database = PostgresDatabase(postgres_cluster, postgres_database)
    try:
        chaos = Chaos(seed, database, [server.log for server in servers])
        run_chaos(chaos, servers, random.Random(seed), fault_scale)
        print(f"chaos seed {seed}: {database.ran_on_both()} executions were locked by both servers", flush=True)
    finally:
        # Also when the run failed: a stall of the database's commits is the first thing to rule out.
        waits = postgres_cluster.long_lock_waits(postgres_database)
        deadlocks = postgres_cluster.deadlock_reports(postgres_database)
        print(
            f"chaos seed {seed}: PostgreSQL ended {len(deadlocks)} transactions as deadlock victims;"
            f" {len(waits)} lock waits outlasted 1 s" + (f" (longest {max(waits) / 1000:.1f} s)" if waits else ""),
            flush=True,
        )
        for report in deadlocks[:5]:
            print(f"deadlock:\n{report}", flush=True)
        database.close()
