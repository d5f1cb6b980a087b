"""Chaos: ``kill -9`` of a real server at random moments of a mixed load, while an operator cancels, pauses and
resumes executions (top-level ones and children) and cancels pending delays; the server is started again on the
same SQLite file after every kill, and some of those starts are killed too, 0.2-2 s in.

The other fault tests provoke one fault at a time; here they meet. The load mixes serial activity steps (inline,
with commits in flight), join sets, child workflows, durable timers and blocking activities, submitted in waves.
Some operator actions land the instant before a kill.
The schedule of kills and operator actions comes from a seeded RNG: the seed is printed (``-s`` shows it, and a
failure's captured output has it) and ``OBELISK_CHAOS_SEED`` replays it. ``OBELISK_FAULT_SCALE`` multiplies the
load and the number of kills.

At the end every execution (submitted or a child) must have finished exactly once with the right result, nothing
is left locked, pending or paused, the database is intact, no recorded result was rewritten or its activity run
again, and the activities a kill made run again stay within the crash bound of
``obelisk/workers/workflow/write_pipeline.py`` (the attempts are counted outside the database by
``tests/faults/attempt_log.py``).

The load, the driver and the checks are ``tests/faults/chaos_support.py``, shared with the run of two servers on
PostgreSQL (``tests/faults/test_chaos_postgres.py``).
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.faults.chaos_support import Chaos, ChaosServer, chaos_seed, components, run_chaos
from tests.integration.server_harness import write_config
from tests.postgres_cluster import _free_port

pytestmark = pytest.mark.slow


class SqliteDatabase:
    """The server's SQLite file, read beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            return conn.execute(query, params).fetchall()

    def connections_of(self, pid: int) -> frozenset[int]:
        return frozenset()  # the server writes in its own process: a dead one commits nothing more

    def wait_closed(self, connections: frozenset[int]) -> None:
        pass

    def integrity_problems(self) -> list[object]:
        found = self.rows("PRAGMA integrity_check")
        return [] if found == [("ok",)] else list(found)


def test_random_kill_9_during_mixed_load_and_operator_actions_loses_corrupts_and_repeats_nothing(
    tmp_path: Path, built_components: Path, codegen_cache: Path, fault_scale: float
) -> None:
    seed = chaos_seed(fault_scale)
    port = _free_port()
    # No retries: an activity that timed out would make its workflow fail (a kill costs none: a restart gives the
    # dead process's locks back without charging one).
    loaded = components(built_components, fibo_activity="max_retries = 0", sleep_activity_lock=10, workflow_lock=10)
    config = write_config(tmp_path, codegen_cache, loaded, extra=f'api.listening_addr = "127.0.0.1:{port}"')
    config.write_text(config.read_text().replace('api.listening_addr = "127.0.0.1:0"\n', "", 1))
    server = ChaosServer("server", config, port, tmp_path / "attempts.log")
    chaos = Chaos(seed, SqliteDatabase(tmp_path / "db" / "obelisk.sqlite"), [server.log])
    run_chaos(chaos, [server], random.Random(seed), fault_scale)
