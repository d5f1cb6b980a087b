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
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from obelisk.api.client import ApiClient, ApiError
from obelisk.concepts.events import Finished, event_from_json
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok
from obelisk.config.models import DEFAULT_MAX_UNCOMMITTED_STEPS
from obelisk.workers.outcome_events import MAX_CRASHES_IN_A_ROW
from tests.faults.attempt_log import ATTEMPT_LOG_ENV
from tests.faults.conftest import scaled
from tests.integration.server_harness import write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

SEED_ENV = "OBELISK_CHAOS_SEED"
FIBOA = "testing:fibo-workflow/workflow.fiboa"
FIBOA_CONCURRENT = "testing:fibo-workflow/workflow.fiboa-concurrent"
START_FIBOAS = "testing:fibo-workflow/workflow-nesting.fibo-start-fiboas"
SLEEP_HOST = "testing:sleep-workflow/workflow.sleep-host-activity"
SLEEP_ACTIVITY = "testing:sleep-workflow/workflow.sleep-activity"
AWAIT_SLEEP = "testing:sleep-workflow/workflow.await-sleep-activity"
SERIAL_FFQNS = (FIBOA, SLEEP_ACTIVITY)
"""Workflows whose activity steps run inline, with their commits in flight."""

ACTIVITY_SLOTS = 4
"""``max_inflight_instances`` of each activity component below: at most this many of its attempts run at once."""
BOUND = DEFAULT_MAX_UNCOMMITTED_STEPS + 1
"""What a crash may run again per running workflow: the steps with commits in flight, and the one running."""
LOAD_SECONDS = 50.0
"""How long new work is submitted (times the fault scale): a wave whenever the server is nearly idle, so that a
kill finds work in flight rather than a finished load, whatever the machine's speed."""
BUSY = 5
"""Fewer unfinished fibo workflows (parents and children) than this: the next wave is due."""
MIN_WAVE_GAP = 2.0
MIN_KILL_GAP = 5.0
"""Longer than any single activity attempt below (1.5 s) plus a start: every execution running at one kill makes
progress before the next, so none reaches ``MAX_CRASHES_IN_A_ROW`` (a documented end, not what is tested here)."""
SETTLE_TIMEOUT = 180.0


def _components(built: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"
max_retries = 0
exec.max_inflight_instances = {ACTIVITY_SLOTS}

[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"
exec.lock_expiry = {{secs = 10}}
exec.max_inflight_instances = {ACTIVITY_SLOTS}

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"
exec.lock_expiry = {{secs = 10}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
exec.lock_expiry = {{secs = 10}}
"""


def _fibo(n: int) -> int:
    return n if n <= 1 else _fibo(n - 1) + _fibo(n - 2)


@dataclass
class Submitted:
    execution_id: str
    ffqn: str
    params: list[object]
    expected: object
    """The JSON of the return value when it finishes Ok (``None``: it returns nothing; a str ending in ``*``: a
    prefix)."""
    cancel_requested: bool = False
    cancel_refused: bool = False


@dataclass
class Chaos:
    """The run's state as the driver knows it, for the final checks and the failure messages."""

    seed: int
    database: Path
    attempt_log: Path
    submitted: list[Submitted] = field(default_factory=list)
    recorded_at_kills: list[dict[str, tuple[int, int, str]]] = field(default_factory=list)
    lost_at_kills: list[set[str]] = field(default_factory=list)
    attempts_before: int = 0
    """Attempts logged before the current server's life (the file only grows)."""
    actions: list[str] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    """Paused by the driver and not resumed yet: top-level executions and child workflows."""
    disturbed: set[str] = field(default_factory=set)
    """Top-level executions with a descendant that was cancelled: they may fail (their code does not expect it)."""
    cancelled_children: set[str] = field(default_factory=set)
    delays_cancelled: int = 0

    def note(self, started: float, what: str) -> None:
        line = f"{time.monotonic() - started:6.1f}s {what}"
        self.actions.append(line)
        print(line, flush=True)


def _load(rng: random.Random, scale: float) -> list[tuple[str, list[object], object]]:
    """One wave of submissions: (ffqn, params, expected return JSON)."""
    load: list[tuple[str, list[object], object]] = []
    for _ in range(scaled(2, scale)):
        n, steps = rng.randint(14, 19), rng.randint(150, 500)
        load.append((FIBOA, [n, steps], _fibo(n)))
    for _ in range(scaled(2, scale)):
        n, count = rng.randint(14, 19), rng.randint(20, 60)
        load.append((FIBOA_CONCURRENT, [n, count], _fibo(n)))
    for _ in range(scaled(1, scale)):
        n, fiboas, each = rng.randint(14, 19), rng.randint(2, 4), rng.randint(5, 20)
        load.append((START_FIBOAS, [n, fiboas, each], _fibo(n)))
    for _ in range(scaled(1, scale)):
        load.append((SLEEP_HOST, [{"milliseconds": rng.randint(1000, 8000)}], None))
        load.append((SLEEP_ACTIVITY, [{"milliseconds": rng.randint(200, 1500)}], None))
        load.append((AWAIT_SLEEP, [{"milliseconds": rng.randint(200, 1500)}], "ok *"))
    rng.shuffle(load)
    return load


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(database, timeout=30)


def _recorded(database: Path) -> dict[str, tuple[int, int, str]]:
    """Every committed ``Finished``: execution id -> (version, time, JSON)."""
    with _connect(database) as conn:
        rows = conn.execute(
            "SELECT execution_id, version, created_at, json FROM execution_log WHERE event_type = 'Finished'"
        ).fetchall()
    recorded: dict[str, tuple[int, int, str]] = {}
    for execution_id, version, created_at, payload in rows:
        assert execution_id not in recorded, f"{execution_id} finished twice"
        recorded[execution_id] = (version, created_at, payload)
    return recorded


def _parents(database: Path, children: set[str]) -> dict[str, str]:
    """The function of each child's parent (a child's id is its parent's and an index: its ``Created`` may be lost
    with the commit in flight that carried it, its parent's is not)."""
    parents = {child: str(ExecutionId.parse(child).parent_id) for child in children}
    with _connect(database) as conn:
        ffqns = dict(conn.execute("SELECT execution_id, ffqn FROM execution_state").fetchall())
    return {child: ffqns[parent] for child, parent in parents.items()}


def _unfinished(database: Path) -> int:
    with _connect(database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM execution_state WHERE state != 'Finished'").fetchone()
    return int(count)


def _busy(database: Path) -> int:
    with _connect(database) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM execution_state WHERE state != 'Finished' AND ffqn LIKE 'testing:fibo-workflow/%'"
        ).fetchone()
    return int(count)


def now_in(started: float) -> float:
    return time.monotonic() - started


def _attempts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _kill_during_start(server: ServerProcess, chaos: Chaos, after: float) -> None:
    """Start a server and ``kill -9`` it ``after`` seconds, ready or not: while it releases what the previous
    process held, or just as it takes its first work."""
    env = dict(os.environ, HOME=str(server.config_path.parent), **server.extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", server.module, "server", "run", "-c", str(server.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    time.sleep(after)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    _count_lost(chaos)


def _kill(server: ServerProcess, chaos: Chaos) -> None:
    server.kill()
    _count_lost(chaos)


def _count_lost(chaos: Chaos) -> None:
    """What a ``kill -9`` may have lost: the activity attempts of the dead server's life without a recorded result.
    A serial workflow (its steps inline, commits in flight) may lose ``BOUND``; the activities run on their own
    (join sets) are lost only while running: at most the activity components' slots."""
    recorded = _recorded(chaos.database)
    attempts = _attempts(chaos.attempt_log)
    lost = set(attempts[chaos.attempts_before :]) - set(recorded)
    parent_ffqns = _parents(chaos.database, lost)
    serial = Counter(ExecutionId.parse(child).parent_id for child, ffqn in parent_ffqns.items() if ffqn in SERIAL_FFQNS)
    over = {parent: count for parent, count in serial.items() if count > BOUND}
    assert not over, f"seed {chaos.seed}: a kill lost more than {BOUND} steps of serial workflows: {over}"
    on_their_own = sum(ffqn not in SERIAL_FFQNS for ffqn in parent_ffqns.values())
    assert on_their_own <= 2 * ACTIVITY_SLOTS, f"seed {chaos.seed}: {on_their_own} running activities lost"
    print(f"lost: {dict(serial)} serial steps, {on_their_own} activities on their own", flush=True)
    chaos.recorded_at_kills.append(recorded)
    chaos.lost_at_kills.append(lost)
    chaos.attempts_before = len(attempts)


def _finished_result(conn: sqlite3.Connection, execution_id: str) -> tuple[str, dict[str, object]]:
    rows = conn.execute(
        "SELECT json FROM execution_log WHERE execution_id = ? AND event_type = 'Finished'", (execution_id,)
    ).fetchall()
    assert len(rows) == 1, f"{execution_id}: {len(rows)} Finished events"
    (kind,) = conn.execute("SELECT result_kind FROM execution_state WHERE execution_id = ?", (execution_id,)).fetchone()
    return str(kind), json.loads(rows[0][0])


def _check_value(item: Submitted, kind: str, event: dict[str, object], seed: int) -> None:
    where = f"seed {seed}: {item.ffqn}{item.params} {item.execution_id}"
    assert kind == "Ok", f"{where}: finished {kind}: {event}"
    value = _value_of(event)
    if isinstance(item.expected, str) and item.expected.endswith("*"):
        assert isinstance(value, str) and value.startswith(item.expected[:-1]), f"{where}: returned {value!r}"
    else:
        assert value == item.expected, f"{where}: returned {value!r}, expected {item.expected!r}"


def _value_of(event: dict[str, object]) -> object:
    """The return value in a stored ``Finished`` event of an ``Ok`` result."""
    decoded = event_from_json(event)
    assert isinstance(decoded, Finished) and isinstance(decoded.result, Ok), decoded
    return None if decoded.result.value is None else decoded.result.value.json


def test_random_kill_9_during_mixed_load_and_operator_actions_loses_corrupts_and_repeats_nothing(
    tmp_path: Path, built_components: Path, codegen_cache: Path, fault_scale: float
) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.randrange(2**32))
    print(f"chaos seed {seed} ({SEED_ENV}={seed} replays it), scale {fault_scale}", flush=True)
    rng = random.Random(seed)
    port = _free_port()
    attempt_log = tmp_path / "attempts.log"
    config = write_config(
        tmp_path, codegen_cache, _components(built_components), extra=f'api.listening_addr = "127.0.0.1:{port}"'
    )
    config.write_text(config.read_text().replace('api.listening_addr = "127.0.0.1:0"\n', "", 1))
    chaos = Chaos(seed, tmp_path / "db" / "obelisk.sqlite", attempt_log)
    server = ServerProcess(config, module="tests.faults.attempt_log", env={ATTEMPT_LOG_ENV: str(attempt_log)})

    # The schedule: kills at random moments (MIN_KILL_GAP apart) over the waves, and the operator's actions.
    load_span = LOAD_SECONDS * fault_scale
    kills = scaled(5, fault_scale)
    kill_at: list[float] = []
    while len(kill_at) < kills:
        moment = rng.uniform(3.0, load_span)
        if all(abs(moment - other) >= MIN_KILL_GAP for other in kill_at):
            kill_at.append(moment)
        elif len(kill_at) * MIN_KILL_GAP > load_span:
            load_span += MIN_KILL_GAP  # more kills than fit: stretch the run rather than crowd them
    kill_at.sort()
    operator_at = sorted(rng.uniform(0.5, load_span) for _ in range(scaled(30, fault_scale)))
    started = time.monotonic()
    server.start()
    client = ApiClient(f"http://127.0.0.1:{port}")
    pending_unpause: list[tuple[float, str]] = []
    try:
        waves = 0
        last_wave = -MIN_WAVE_GAP
        while now_in(started) < load_span or kill_at or operator_at or pending_unpause:
            now = now_in(started)
            if now < load_span and now >= last_wave + MIN_WAVE_GAP and _busy(chaos.database) < BUSY:
                for ffqn, params, expected in _load(rng, fault_scale):
                    execution_id = client.generate_execution_id()
                    client.submit(execution_id, ffqn, params)
                    chaos.submitted.append(Submitted(execution_id, ffqn, params, expected))
                chaos.note(started, f"wave {waves}: {len(chaos.submitted)} submitted")
                waves += 1
                last_wave = now
            elif kill_at and now >= kill_at[0]:
                kill_at.pop(0)
                if rng.random() < 0.5:  # an operator's write the instant before a crash
                    _operate(rng, client, chaos, pending_unpause, now, started)
                _kill(server, chaos)
                chaos.note(
                    started,
                    f"kill -9 with {_unfinished(chaos.database)} executions unfinished:"
                    f" {len(chaos.lost_at_kills[-1])} activity attempts lost",
                )
                if rng.random() < 0.3:  # and once more while it starts again
                    after = rng.uniform(0.2, 2.0)
                    _kill_during_start(server, chaos, after)
                    chaos.note(started, f"kill -9 {after:.1f} s into a start: {len(chaos.lost_at_kills[-1])} lost")
                server.start()
                client.close()  # a fresh channel: the old one may still be backing off from the dead server
                client = ApiClient(f"http://127.0.0.1:{port}")
                chaos.note(started, "restarted")
            elif operator_at and now >= operator_at[0] and chaos.submitted:
                operator_at.pop(0)
                _operate(rng, client, chaos, pending_unpause, now, started)
            elif pending_unpause and now >= pending_unpause[0][0]:
                _, execution_id = pending_unpause.pop(0)
                _unpause(client, execution_id, chaos, started)
            else:
                time.sleep(0.02)
        assert not chaos.paused, chaos.paused  # every pause was resumed on schedule

        deadline = time.monotonic() + SETTLE_TIMEOUT
        while _unfinished(chaos.database):
            assert time.monotonic() < deadline, (
                f"seed {seed}: {_unfinished(chaos.database)} executions unfinished {SETTLE_TIMEOUT} s after the last"
                f" kill:\n{_stuck(chaos.database)}\n{''.join(server.output[-40:])}"
            )
            time.sleep(0.1)
        chaos.note(started, "all finished")
        assert server.terminate() == 0
    finally:
        client.close()
        server.kill()
    _check(chaos)
    print(f"chaos seed {seed}: passed in {time.monotonic() - started:.1f} s", flush=True)


def _operate(
    rng: random.Random,
    client: ApiClient,
    chaos: Chaos,
    pending_unpause: list[tuple[float, str]],
    now: float,
    started: float,
) -> None:
    """Cancel one submitted execution, or pause one (or a child workflow) to resume it later: one still running if
    there is one (the finished are there to see a refusal now and then). Children are paused, never cancelled: a
    cancelled child is an error its parent's code does not expect (and the parent's result would change)."""
    with _connect(chaos.database) as conn:
        unfinished = dict(
            conn.execute(
                "SELECT execution_id, parent_execution_id FROM execution_state WHERE state != 'Finished'"
                " AND ffqn NOT IN ('testing:fibo/fibo.fibo', 'testing:sleep/sleep.sleep')"
            ).fetchall()
        )
        children = [row[0] for row in conn.execute(_UNFINISHED_CHILDREN).fetchall()]
        delays = [row[0] for row in conn.execute("SELECT delay_id FROM delay").fetchall()]
    child_workflows = [execution_id for execution_id, parent in unfinished.items() if parent is not None]
    choice = rng.random()
    if children and choice < 0.15:
        child = rng.choice(children)
        done = client.cancel(child)
        if done:
            chaos.disturbed.add(str(ExecutionId.parse(child).top_level))
            chaos.cancelled_children.add(child)
        chaos.note(started, f"cancel child {child}: {'done' if done else 'refused'}")
        return
    if delays and choice < 0.23:
        delay = rng.choice(delays)
        done = client.cancel_delay(delay)
        chaos.delays_cancelled += done
        chaos.note(started, f"cancel delay {delay}: {'done' if done else 'refused'}")
        return
    if child_workflows and choice < 0.4:
        _pause(rng, client, chaos, pending_unpause, rng.choice(child_workflows), "child workflow", now, started)
        return
    candidates = [item for item in chaos.submitted if item.execution_id in unfinished] or chaos.submitted
    item = rng.choice(candidates if rng.random() < 0.9 else chaos.submitted)
    if item.cancel_requested or item.cancel_refused:
        return
    if rng.random() < 1 / 3:
        if client.cancel(item.execution_id):
            item.cancel_requested = True
        else:
            item.cancel_refused = True
        chaos.note(started, f"cancel {item.execution_id} {item.ffqn}: {'done' if item.cancel_requested else 'refused'}")
        return
    _pause(rng, client, chaos, pending_unpause, item.execution_id, item.ffqn, now, started)


_UNFINISHED_CHILDREN = (
    "SELECT execution_id FROM execution_state WHERE state != 'Finished' AND parent_execution_id IS NOT NULL"
)


def _pause(
    rng: random.Random,
    client: ApiClient,
    chaos: Chaos,
    pending_unpause: list[tuple[float, str]],
    execution_id: str,
    what: str,
    now: float,
    started: float,
) -> None:
    if execution_id in chaos.paused:
        return
    try:
        client.pause(execution_id)
    except ApiError as error:
        assert error.code is grpc.StatusCode.FAILED_PRECONDITION, error
        chaos.note(started, f"pause {execution_id} refused: {error}")
        return
    chaos.paused.add(execution_id)
    resume_at = now + rng.uniform(1.0, 8.0)
    pending_unpause.append((resume_at, execution_id))
    pending_unpause.sort(key=lambda pair: pair[0])
    chaos.note(started, f"pause {execution_id} {what} until {resume_at:.1f}s")


def _unpause(client: ApiClient, execution_id: str, chaos: Chaos, started: float) -> None:
    try:
        client.unpause(execution_id)
        chaos.note(started, f"resume {execution_id}")
    except ApiError as error:
        # Not paused any more: only a finish clears the flag (an attempt running at the pause, or a cancel).
        assert error.code is grpc.StatusCode.FAILED_PRECONDITION, error
        with _connect(chaos.database) as conn:
            (state,) = conn.execute(
                "SELECT state FROM execution_state WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        assert state == "Finished", f"seed {chaos.seed}: resume of {execution_id} refused in {state}: {error}"
        chaos.note(started, f"resume {execution_id} refused: finished meanwhile")
    chaos.paused.discard(execution_id)


def _stuck(database: Path) -> str:
    with _connect(database) as conn:
        rows = conn.execute(
            "SELECT execution_id, ffqn, state, paused, parent_execution_id FROM execution_state"
            " WHERE state != 'Finished'"
        ).fetchall()
    return "\n".join(map(str, rows))


def _check(chaos: Chaos) -> None:
    seed = chaos.seed
    with sqlite3.connect(f"file:{chaos.database}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"seed {seed}"
        states = conn.execute(
            "SELECT execution_id, state, paused, parent_execution_id, result_kind FROM execution_state"
        ).fetchall()
        not_done = [row for row in states if row[1] != "Finished" or row[2]]
        assert not not_done, f"seed {seed}: left unfinished or paused: {not_done}"
        finishes = Counter(
            execution_id
            for (execution_id,) in conn.execute("SELECT execution_id FROM execution_log WHERE event_type = 'Finished'")
        )
        twice = {execution_id: count for execution_id, count in finishes.items() if count != 1}
        assert not twice, f"seed {seed}: finished more than once: {twice}"
        assert set(finishes) == {row[0] for row in states}, f"seed {seed}"

        # Children: each finished once (above); Ok, unless an ancestor was cancelled.
        parent_of = {row[0]: row[3] for row in states}
        kind_of = {row[0]: row[4] for row in states}
        cancelled_top = {item.execution_id for item in chaos.submitted if item.cancel_requested}
        for execution_id, parent in parent_of.items():
            if parent is None:
                continue
            top = parent
            while parent_of.get(top) is not None:
                top = parent_of[top]
            if top in chaos.disturbed:
                expected = ("Ok", "Cancelled", "ExecutionFailure", "FallibleError")
                assert kind_of[execution_id] in expected, f"seed {seed}: {execution_id}: {kind_of[execution_id]}"
                continue
            crashed_out = kind_of[execution_id] == "ExecutionFailure"
            assert not crashed_out, (
                f"seed {seed}: child {execution_id} failed (MAX_CRASHES_IN_A_ROW is {MAX_CRASHES_IN_A_ROW}?)"
            )
            if top not in cancelled_top:
                assert kind_of[execution_id] == "Ok", (
                    f"seed {seed}: child {execution_id} of {top}: {kind_of[execution_id]}"
                )
            else:
                assert kind_of[execution_id] in ("Ok", "Cancelled"), f"seed {seed}: {execution_id}"

        submitted_ids = {item.execution_id for item in chaos.submitted}
        top_level = {execution_id for execution_id, parent in parent_of.items() if parent is None}
        assert top_level == submitted_ids, f"seed {seed}: top-level executions missing or made up"
        for item in chaos.submitted:
            kind, event = _finished_result(conn, item.execution_id)
            if item.cancel_requested:
                assert kind == "Cancelled", f"seed {seed}: cancelled {item.execution_id} finished {kind}: {event}"
            elif item.execution_id in chaos.disturbed and kind != "Ok":
                assert kind in ("ExecutionFailure", "FallibleError"), f"seed {seed}: {item.execution_id}: {event}"
            elif item.execution_id in chaos.disturbed and item.ffqn == AWAIT_SLEEP:
                # It describes how its child ended: an error, if the cancel (of the child or the child's activity)
                # came first.
                value = _value_of(event)
                child = f"{item.execution_id}.0"
                cancelled = any(c == child or c.startswith(f"{child}.") for c in chaos.cancelled_children)
                assert value == f"ok {child}" or (isinstance(value, str) and value.startswith(f"err {child} ")), value
                assert value == f"ok {child}" or cancelled, f"seed {seed}: {item.execution_id}: {value}"
            else:  # never cancelled, or the cancel was refused: it had finished Ok already
                _check_value(item, kind, event, seed)

    final = _recorded(chaos.database)
    for kill, recorded in enumerate(chaos.recorded_at_kills):
        changed = {key: (value, final.get(key)) for key, value in recorded.items() if final.get(key) != value}
        assert not changed, f"seed {seed}: results recorded by kill {kill} changed: {changed}"
    attempts = Counter(_attempts(chaos.attempt_log))
    for child, runs in attempts.items():
        # Only a result a kill lost runs again, once per kill that lost it at most; a recorded one never.
        times_lost = sum(child in lost for lost in chaos.lost_at_kills)
        assert runs - 1 <= times_lost, f"seed {seed}: activity {child} ran {runs} times, lost by {times_lost} kills"
    reruns = sum(attempts.values()) - len(attempts)
    print(
        f"chaos seed {seed}: {len(chaos.submitted)} submitted, {len(final)} executions, {len(attempts)} activities,"
        f" {reruns} re-runs after {len(chaos.lost_at_kills)} kills, {len(chaos.disturbed)} disturbed by a child's"
        f" cancel, {chaos.delays_cancelled} delays cancelled"
        f" (lost per kill {[len(lost) for lost in chaos.lost_at_kills]})",
        flush=True,
    )
