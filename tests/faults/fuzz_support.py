"""What the seeded fuzz of the gRPC API and of the web UI's forms share: a server with work in every state, pools
of values (real ids and function names next to malformed, non-ASCII and huge ones, JSON that is valid, wrong or
broken), and a read-only look at the database to tell that a refused request wrote nothing.

Every random choice comes from one ``random.Random(seed)``, so a failure names its seed and case number and
replays exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.faults.conftest import scaled_timeout
from tests.integration.server_harness import running_server, sqlite_file, write_config
from tests.wat_fixtures import build_wat_fixture

FIBO = "testing:fibo/fibo.fibo"
FIBOA = "testing:fibo-workflow/workflow.fiboa"
SLEEP = "testing:fibo-workflow/workflow.sleep-ms"
FFQNS = (FIBO, FIBOA, SLEEP)
SEED = int(os.environ.get("OBELISK_FUZZ_SEED", "16"))
"""Fixed, so that CI replays the same cases; set ``OBELISK_FUZZ_SEED`` to explore others by hand."""
HUGE = 300_000
"""Characters of a huge string: far past any id or name, well below gRPC's 4 MiB message limit."""


def fuzz_config(tmp_path: Path, *, webui: bool = False) -> Path:
    wat = tmp_path / "wat"
    return write_config(
        tmp_path,
        tmp_path / "codegen",
        f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", wat)}"
max_retries = 0

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", wat)}"
""",
        extra='webui.listening_addr = "127.0.0.1:0"\n' if webui else "",
    )


@dataclass
class Known:
    """Real ids of the fuzzed server: finished executions, workflows asleep on a pending delay, their delays."""

    finished: list[str] = field(default_factory=list)
    sleeping: list[str] = field(default_factory=list)
    delays: list[str] = field(default_factory=list)
    component_ids: list[str] = field(default_factory=list)

    @property
    def execution_ids(self) -> list[str]:
        return [*self.finished, *self.sleeping]


@asynccontextmanager
async def fuzzed_server(tmp_path: Path, *, webui: bool = False) -> AsyncIterator[tuple[Server, Known]]:
    async with running_server(fuzz_config(tmp_path, webui=webui)) as server:
        yield server, await _populate(server)


async def _populate(server: Server) -> Known:
    known = Known(component_ids=[str(view.entry.component_id) for view in server.components.list_components()])
    for n in (1, 10):
        execution_id = ExecutionId.generate()
        await server.executions.submit(execution_id, FIBO, [n])
        await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(20))
        known.finished.append(str(execution_id))
    for _ in range(3):
        execution_id = ExecutionId.generate()
        await server.executions.submit(execution_id, SLEEP, [3_600_000])
        known.sleeping.append(str(execution_id))
    db = Database(sqlite_file(server))
    for _ in range(round(scaled_timeout(10) / 0.05)):  # the workflows reach their delays within a few runs
        known.delays = db.delay_ids()
        if len(known.delays) == len(known.sleeping):
            break
        await asyncio.sleep(0.05)
    assert len(known.delays) == len(known.sleeping), "the sleeping workflows did not reach their delays"
    return known


Snapshot = tuple[int, tuple[int | None, ...], tuple[tuple[str, str], ...]]
"""Top-level executions, versions of the watched ones, their pending delays (``Database.snapshot``)."""


class Database:
    """Read-only queries on the server's SQLite file (WAL: they never block the server's writes)."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)

    def top_level_count(self) -> int:
        row = self._connection.execute(
            "SELECT count(*) FROM execution_state WHERE parent_execution_id IS NULL"
        ).fetchone()
        return int(row[0])

    def version(self, execution_id: str) -> int | None:
        row = self._connection.execute(
            "SELECT next_version FROM execution_state WHERE execution_id = ?", (execution_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def state(self, execution_id: str) -> str | None:
        row = self._connection.execute(
            "SELECT state FROM execution_state WHERE execution_id = ?", (execution_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def delay_ids(self) -> list[str]:
        return [delay_id for _, delay_id in self.pending_delays()]

    def pending_delays(self) -> list[tuple[str, str]]:
        """(execution id, delay id) of every pending delay."""
        query = "SELECT execution_id, delay_id FROM delay ORDER BY delay_id"
        return [(str(row[0]), str(row[1])) for row in self._connection.execute(query)]

    def snapshot(self, execution_ids: list[str]) -> tuple[int, tuple[int | None, ...], tuple[tuple[str, str], ...]]:
        """What a refused request must leave as it was: how many top-level executions there are, the versions of
        the given ones and their pending delays (executions the fuzz did not submit: nothing but an accepted cancel
        changes them)."""
        versions = tuple(self.version(execution_id) for execution_id in execution_ids)
        delays = tuple(delay for delay in self.pending_delays() if delay[0] in execution_ids)
        return self.top_level_count(), versions, delays

    def close(self) -> None:
        self._connection.close()


async def settled(db: Database, watched: list[str], before: Snapshot) -> Snapshot:
    """The snapshot once what an accepted request started has run out: a cancelled workflow, or one whose delay
    was ended, runs on until it finishes (the top-level count changes only by a submit, at once)."""
    _, versions, _ = db.snapshot(watched)
    changed = [execution_id for execution_id, old, new in zip(watched, before[1], versions, strict=True) if old != new]
    pending = set(db.pending_delays())
    changed += [execution_id for execution_id, delay_id in before[2] if (execution_id, delay_id) not in pending]
    for _ in range(round(scaled_timeout(10) / 0.025)):
        if all(db.state(execution_id) == "Finished" for execution_id in changed):
            return db.snapshot(watched)
        await asyncio.sleep(0.025)
    raise AssertionError(f"{changed} did not finish within {scaled_timeout(10)} s of an accepted cancel")


# ---------------------------------------------------------------------------------------------- value pools


def junk_strings(rng: random.Random) -> list[str]:
    """Malformed values of every kind a string field or a form field might get."""
    return [
        "",
        " ",
        "E_",
        "E_01J000000000000000000000\u212a",
        "E_" + "\uff10" * 26,
        "\u0395_01J0000000000000000000000Z",
        "E_01J0000000000000000000000Z.0",
        "E_01J0000000000000000000000Z.\u0663",
        "Delay_",
        "Delay_01J0000000000000000000000Z",
        "Run_01J0000000000000000000000Z",
        "testing:fibo/fibo",
        "testing:fibo/fibo.",
        ".fibo",
        "testing:fibo/fibo.fibo.extra",
        "a:b/c.d",
        "x" * 1000,
        "\x00\x01\x02",
        "\ud7ff\ue000\U0010ffff",
        "'; DROP TABLE execution_state; --",
        "../../../../etc/passwd",
        "%s%n%x",
        "{{ 7 * 7 }}",
        "<script>alert(1)</script>",
        "null",
        "-1",
        "9" * 40,
        rng.choice(["a", "\u00e9", "\u4e2d", "\U0001f600"]) * HUGE,
    ]


def json_texts(rng: random.Random) -> list[str]:
    """Params as JSON: right, of the wrong types, out of range, malformed, deep and huge."""
    small = rng.randint(0, 12)
    return [
        f"[{small}]",
        f"[{small}, {rng.randint(0, 3)}]",
        "[10]",
        "[256]",
        "[-1]",
        f"[{2**64}]",
        f"[{2**32}, 1]",
        "[1e308]",
        "[1.5]",
        '["10"]',
        "[null]",
        "[true]",
        "[[1]]",
        '[{"n": 1}]',
        "[]",
        "[1, 2, 3]",
        "{}",
        "1",
        '"x"',
        "null",
        "",
        "[",
        "[1,]",
        "[NaN]",
        "[Infinity]",
        "[\u00a010]",
        "\ufeff[10]",
        "[" * 200 + "]" * 200,
        '[{"a":' * 150 + "1" + "}]" * 150,
        "[" + ",".join(["1"] * 20_000) + "]",
        '["' + "x" * HUGE + '"]',
    ]


def id_pool(known: Known, rng: random.Random) -> list[str]:
    return [*known.execution_ids, *[e + ".0" for e in known.execution_ids[:2]], str(ExecutionId.generate())] + [
        rng.choice(junk_strings(rng)) for _ in range(4)
    ]


def json_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def describe(value: object, limit: int = 120) -> str:
    """A value for a failure message, cut short (huge strings are the point of some cases)."""
    text = json.dumps(value, default=repr, ensure_ascii=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
