"""The executions list with 100,000 executions in the database: every page and filter stays fast.

Rows are inserted with ``executemany`` exactly as the storage writes them (100,000 ``write`` calls would time
the writer, not the listing). The figures are printed (``pytest -s``); the bound asserted is loose on purpose
(timing belongs in ``bench/``), it only catches a listing that reads the whole table per page.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from obelisk.concepts.events import Created, event_to_json
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from obelisk.storage.row_codec import dumps
from tests.integration.server_harness import sqlite_file

Client = TestClient[web.Request, web.Application]
COUNT = 100_000
T0 = 1_700_000_000_000_000
FFQNS = ["testing:fibo/fibo.fibo", "testing:types/types.echo", "testing:trap/trap.trap", "testing:spin/spin.spin"]
PAGE_BOUND_SECONDS = 1.0


def _bulk_insert(path: Path) -> list[ExecutionId]:
    ids = [ExecutionId.generate(T0 // 1000 + i) for i in range(COUNT)]
    states, logs = [], []
    for i, eid in enumerate(ids):
        ffqn = FFQNS[i % len(FFQNS)]
        done = i % 3 != 0
        created = Created(Ffqn.parse(ffqn), [i % 10], T0 + i * 1000, "activity_wasm:bulk:0123456789abcdef", 0, 1000)
        states.append(
            (
                eid,
                ffqn,
                "Finished" if done else "PendingAt",
                T0 + i * 1000 + (500 if done else 0),
                T0 + i * 1000,
                T0 + i * 1000,
                "Ok" if done else None,
                T0 + i * 1000 + 500 if done else None,
            )
        )
        logs.append((eid, T0 + i * 1000, dumps(event_to_json(created))))
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO execution_state (execution_id, next_version, ffqn, state, pending_expires_finished,"
                " created_at, scheduled_at, max_retries, retry_exp_backoff_us, component_id, result_kind, finished_at)"
                " VALUES (?, 1, ?, ?, ?, ?, ?, 0, 1000, 'activity_wasm:bulk:0123456789abcdef', ?, ?)",
                states,
            )
            conn.executemany(
                "INSERT INTO execution_log (execution_id, version, created_at, event_type, json)"
                " VALUES (?, 0, ?, 'Created', ?)",
                logs,
            )
    finally:
        conn.close()
    return ids


async def _timed_get(client: Client, url: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = await client.get(url)
    page = await response.text()
    elapsed = time.perf_counter() - started
    assert response.status == 200, page
    return elapsed, page


def _ids(page: str) -> list[str]:
    return re.findall(r'class="mono id" href="/execution/([^"]+)"', page)


async def test_listing_100k_executions(client: Client, server: Server) -> None:
    ids = _bulk_insert(sqlite_file(server))
    middle = COUNT // 2
    cursor = f"{T0 + middle * 1000}-{ids[middle]}"
    cases = {
        "first page": "/",
        "by function": "/execution/list?ffqn=testing:types/types.echo",
        "by state": "/execution/list?state=PendingAt",
        "by function and state": "/execution/list?ffqn=testing:trap/trap.trap&state=Finished",
        "older, mid-table": f"/execution/list?older={cursor}",
        "newer, mid-table": f"/execution/list?newer={cursor}",
        "older, filtered": f"/execution/list?older={cursor}&ffqn=testing:fibo/fibo.fibo",
        "100 per page": "/execution/list?length=100",
        "one execution": f"/execution/{ids[middle]}",
    }
    timings: dict[str, float] = {}
    for name, url in cases.items():
        await _timed_get(client, url)  # warm the page cache once, then take the best of three
        timings[name] = min([(await _timed_get(client, url))[0] for _ in range(3)])
    print("\n100,000 executions, best of 3 per page:")
    for name, seconds in timings.items():
        print(f"  {name:24s} {seconds * 1000:7.1f} ms")
    assert max(timings.values()) < PAGE_BOUND_SECONDS, timings

    _, first = await _timed_get(client, "/")
    assert _ids(first) == [str(i) for i in reversed(ids[-20:])]
    _, older = await _timed_get(client, f"/execution/list?older={cursor}")
    assert _ids(older) == [str(i) for i in reversed(ids[middle - 20 : middle])]
    _, newer = await _timed_get(client, f"/execution/list?newer={cursor}")
    assert _ids(newer) == [str(i) for i in reversed(ids[middle + 1 : middle + 21])]
    _, echo = await _timed_get(client, "/execution/list?ffqn=testing:types/types.echo")
    assert _ids(echo) == [str(ids[i]) for i in range(COUNT - 1, COUNT - 81, -1) if i % 4 == 1]
