"""What the chaos tests share: the mixed load, the schedule of kills and operator actions, the driver that kills,
restarts and operates over gRPC, what each kill lost, and the final checks.

``tests/faults/test_chaos.py`` runs it with one server on a SQLite file, ``tests/faults/test_chaos_postgres.py``
with two servers on one PostgreSQL database. Both backends have the same tables; a test gives the driver its
database (``ChaosDatabase``: rows, what a kill must wait for, the backend's own integrity check) and its servers
(``ChaosServer``), each with its own attempt log.

What a kill lost is counted per killed server: its activity attempts since its last kill (its attempt log) whose
result was not recorded before it died. Only the results recorded before the kill count as the dead server's:
another server may run a lost attempt again, and record it, before the accounting reads the database.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc

from obelisk.api.client import ApiClient, ApiError
from obelisk.concepts.events import Finished, event_from_json
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok
from obelisk.config.models import DEFAULT_MAX_UNCOMMITTED_STEPS
from obelisk.workers.outcome_events import MAX_CRASHES_IN_A_ROW
from tests.faults.attempt_log import ATTEMPT_LOG_ENV
from tests.faults.conftest import scaled
from tests.integration.server_process import ServerProcess

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
"""``max_inflight_instances`` of each activity component (on each server): at most this many of its attempts run
at once."""
BOUND = DEFAULT_MAX_UNCOMMITTED_STEPS + 1
"""What a crash may run again per running workflow: the steps with commits in flight, and the one running."""
LOAD_SECONDS = 50.0
"""How long new work is submitted (times the fault scale): a wave whenever the servers are nearly idle, so that a
kill finds work in flight rather than a finished load, whatever the machine's speed."""
BUSY = 5
"""Fewer unfinished fibo workflows (parents and children) than this: the next wave is due."""
MIN_WAVE_GAP = 2.0
MIN_KILL_GAP = 5.0
"""Longer than any single activity attempt (1.5 s) plus a start: every execution running at one kill makes
progress before the next, so none reaches ``MAX_CRASHES_IN_A_ROW`` (a documented end, not what is tested here)."""
BOTH_KILLED = 0.25
"""With several servers: the share of kills that take all of them at once (the others take one, at random)."""
SETTLE_TIMEOUT = 180.0
WAIT_CLOSED_TIMEOUT = 10.0


def components(built: Path, *, fibo_activity: str, sleep_activity_lock: int, workflow_lock: int) -> str:
    """The components of the load (``fibo_activity``: its settings, TOML lines; the locks in seconds)."""
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"
{fibo_activity}
exec.max_inflight_instances = {ACTIVITY_SLOTS}

[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"
exec.lock_expiry = {{secs = {sleep_activity_lock}}}
exec.max_inflight_instances = {ACTIVITY_SLOTS}

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"
exec.lock_expiry = {{secs = {workflow_lock}}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
exec.lock_expiry = {{secs = {workflow_lock}}}
"""


class ChaosDatabase(Protocol):
    """The run's database, read from outside the servers."""

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """The rows of ``query``, with ``?`` for each of ``params``."""
        ...

    def connections_of(self, pid: int) -> frozenset[int]:
        """What the server process ``pid`` has open on the database: read just before it is killed."""
        ...

    def wait_closed(self, connections: frozenset[int]) -> None:
        """Return once nothing a killed process sent over ``connections`` can still commit."""
        ...

    def integrity_problems(self) -> list[object]:
        """What the database's own consistency check finds (nothing: intact)."""
        ...


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
class AttemptLog:
    """One server's attempt log (``tests/faults/attempt_log.py``): an execution id a line, and only growing."""

    path: Path
    counted: int = 0
    """Lines of the server's lives already accounted for at a kill."""

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []


@dataclass
class Chaos:
    """The run's state as the driver knows it, for the final checks and the failure messages."""

    seed: int
    db: ChaosDatabase
    attempt_logs: list[AttemptLog]
    started: float = field(default_factory=time.monotonic)
    submitted: list[Submitted] = field(default_factory=list)
    recorded_at_kills: list[dict[str, tuple[int, int, str]]] = field(default_factory=list)
    lost_at_kills: list[set[str]] = field(default_factory=list)
    """What each killed server lost (a kill of two servers adds two)."""
    actions: list[str] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    """Paused by the driver and not resumed yet: top-level executions and child workflows."""
    disturbed: set[str] = field(default_factory=set)
    """Top-level executions with a descendant that was cancelled: they may fail (their code does not expect it)."""
    cancelled_children: set[str] = field(default_factory=set)
    delays_cancelled: int = 0
    operator_retries: int = 0
    """Operator calls the server answered with a retryable fault (a deadlock it gave up on) and that were sent again."""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, what: str) -> None:
        line = f"{self.elapsed():6.1f}s {what}"
        self.actions.append(line)
        print(line, flush=True)


class ChaosServer:
    """One ``obelisk server run`` of the run, with its attempts logged to a file of its own and its API on
    ``127.0.0.1:port``; restarted in the background, so that the driver goes on through the other servers."""

    def __init__(self, name: str, config: Path, port: int, attempts: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.log = AttemptLog(attempts)
        self.process = ServerProcess(
            config, module="tests.faults.attempt_log", env={ATTEMPT_LOG_ENV: str(attempts), **(env or {})}
        )
        self._client: ApiClient | None = None
        self._starting: threading.Thread | None = None
        self._announced = True
        self._start_failure: BaseException | None = None

    def start_in_background(self) -> None:
        self.close_client()  # a fresh channel after a start: the old one may still be backing off from the dead one

        def start() -> None:
            try:
                self.process.start()
            except BaseException as failure:
                self._start_failure = failure

        self._announced = False
        self._starting = threading.Thread(target=start, name=f"start {self.name}", daemon=True)
        self._starting.start()

    @property
    def up(self) -> bool:
        return self._starting is None or not self._starting.is_alive()

    def wait_up(self) -> ChaosServer:
        if self._starting is not None:
            self._starting.join()
        if self._start_failure is not None:
            raise self._start_failure
        return self

    def just_started(self) -> bool:
        """Whether the last start in the background has ended and was not reported yet (a failed one raises)."""
        if self._announced or not self.up:
            return False
        self._announced = True
        self.wait_up()
        return True

    def client(self) -> ApiClient:
        self.wait_up()
        if self._client is None:
            self._client = ApiClient(f"http://127.0.0.1:{self.port}")
        return self._client

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def kill(self) -> None:
        """``kill -9``, whatever it is doing (a start under way is waited for first: it ends within its timeout)."""
        self.close_client()
        if self._starting is not None:
            self._starting.join()
        self.process.kill()

    def output_tail(self, lines: int = 40) -> str:
        return f"--- server {self.name}:\n" + "".join(self.process.output[-lines:])


def chaos_seed(scale: float) -> int:
    seed = int(os.environ.get(SEED_ENV) or random.randrange(2**32))
    print(f"chaos seed {seed} ({SEED_ENV}={seed} replays it), scale {scale}", flush=True)
    return seed


def _fibo(n: int) -> int:
    return n if n <= 1 else _fibo(n - 1) + _fibo(n - 2)


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


def _schedule(rng: random.Random, scale: float, load_seconds: float) -> tuple[float, list[float], list[float]]:
    """How long work is submitted, when kills come (``MIN_KILL_GAP`` apart) and when the operator acts."""
    load_span = load_seconds * scale
    kills = scaled(5, scale)
    kill_at: list[float] = []
    while len(kill_at) < kills:
        moment = rng.uniform(3.0, load_span)
        if all(abs(moment - other) >= MIN_KILL_GAP for other in kill_at):
            kill_at.append(moment)
        elif len(kill_at) * MIN_KILL_GAP > load_span:
            load_span += MIN_KILL_GAP  # more kills than fit: stretch the run rather than crowd them
    kill_at.sort()
    operator_at = sorted(rng.uniform(0.5, load_span) for _ in range(scaled(30, scale)))
    return load_span, kill_at, operator_at


_T = TypeVar("_T")


def _pick(rng: random.Random, items: Sequence[_T]) -> _T:
    """One of ``items`` at random (without a draw when there is one: one server's run replays as before)."""
    return items[0] if len(items) == 1 else rng.choice(items)


def _through(rng: random.Random, servers: Sequence[ChaosServer]) -> ApiClient:
    """The API of a server that is up, at random (if all are starting: once the first is up)."""
    return _pick(rng, [server for server in servers if server.up] or [servers[0].wait_up()]).client()


def run_chaos(
    chaos: Chaos,
    servers: Sequence[ChaosServer],
    rng: random.Random,
    scale: float,
    *,
    load_seconds: float = LOAD_SECONDS,
) -> None:
    """Start the servers, submit waves through them, kill and restart them and operate as scheduled, wait until
    everything finished, stop them cleanly, and check the outcome."""
    load_span, kill_at, operator_at = _schedule(rng, scale, load_seconds)
    chaos.started = time.monotonic()
    for server in servers:
        server.start_in_background()
    for server in servers:
        server.wait_up()
    pending_unpause: list[tuple[float, str]] = []
    try:
        waves = 0
        last_wave = -MIN_WAVE_GAP
        while chaos.elapsed() < load_span or kill_at or operator_at or pending_unpause:
            now = chaos.elapsed()
            for server in servers:
                if server.just_started():
                    chaos.note(f"server {server.name} up")
            if now < load_span and now >= last_wave + MIN_WAVE_GAP and _busy(chaos.db) < BUSY:
                for ffqn, params, expected in _load(rng, scale):
                    client = _through(rng, servers)
                    execution_id = client.generate_execution_id()
                    client.submit(execution_id, ffqn, params)
                    chaos.submitted.append(Submitted(execution_id, ffqn, params, expected))
                chaos.note(f"wave {waves}: {len(chaos.submitted)} submitted")
                waves += 1
                last_wave = now
            elif kill_at and now >= kill_at[0]:
                kill_at.pop(0)
                victims = list(servers) if len(servers) > 1 and rng.random() < BOTH_KILLED else [_pick(rng, servers)]
                if rng.random() < 0.5:  # an operator's write through a victim, the instant before it dies
                    _operate(rng, victims[0].client(), chaos, pending_unpause, now)
                _kill(chaos, victims)
                for victim in victims:
                    if rng.random() < 0.3:  # and once more while it starts again
                        _kill_during_start(victim, chaos, rng.uniform(0.2, 2.0))
                    victim.start_in_background()
            elif operator_at and now >= operator_at[0] and chaos.submitted:
                operator_at.pop(0)
                _operate(rng, _through(rng, servers), chaos, pending_unpause, now)
            elif pending_unpause and now >= pending_unpause[0][0]:
                _, execution_id = pending_unpause.pop(0)
                _unpause(_through(rng, servers), execution_id, chaos)
            else:
                time.sleep(0.02)
        assert not chaos.paused, chaos.paused  # every pause was resumed on schedule
        for server in servers:
            server.wait_up()

        deadline = time.monotonic() + SETTLE_TIMEOUT
        while unfinished := _unfinished(chaos.db):
            assert time.monotonic() < deadline, (
                f"seed {chaos.seed}: {unfinished} executions unfinished {SETTLE_TIMEOUT} s after the last kill:\n"
                f"{_stuck(chaos.db)}\n" + "".join(server.output_tail() for server in servers)
            )
            time.sleep(0.1)
        chaos.note("all finished")
        for server in servers:
            server.close_client()
            assert server.process.terminate() == 0, server.output_tail()
    finally:
        for server in servers:
            server.kill()
    try:
        check(chaos)
    except AssertionError as failure:
        _print_server_lines(servers, str(failure))
        raise
    print(f"chaos seed {chaos.seed}: passed in {chaos.elapsed():.1f} s", flush=True)


def _print_server_lines(servers: Sequence[ChaosServer], message: str, most: int = 40) -> None:
    """What the servers logged about the executions a failure names (their ids, and their parents')."""
    ids = set(re.findall(r"E_[0-9A-Z]{26}(?:\.\d+)*", message))
    ids |= {str(ExecutionId.parse(execution_id).parent_id) for execution_id in ids if "." in execution_id}
    for server in servers:
        lines = [line for line in server.process.output if any(execution_id in line for execution_id in ids)]
        print(f"--- server {server.name} on {sorted(ids)[:10]}:\n" + "".join(lines[-most:]), flush=True)


def _recorded(db: ChaosDatabase, before_us: int | None = None) -> dict[str, tuple[int, int, str]]:
    """Every committed ``Finished`` (created before ``before_us``): execution id -> (version, time, JSON)."""
    query = "SELECT execution_id, version, created_at, json FROM execution_log WHERE event_type = 'Finished'"
    rows = db.rows(query) if before_us is None else db.rows(f"{query} AND created_at < ?", before_us)
    recorded: dict[str, tuple[int, int, str]] = {}
    for execution_id, version, created_at, payload in rows:
        assert execution_id not in recorded, f"{execution_id} finished twice"
        recorded[execution_id] = (version, created_at, payload)
    return recorded


def _parents(db: ChaosDatabase, children: set[str]) -> dict[str, str]:
    """The function of each child's parent (a child's id is its parent's and an index: its ``Created`` may be lost
    with the commit in flight that carried it, its parent's is not)."""
    parents = {child: str(ExecutionId.parse(child).parent_id) for child in children}
    ffqns = dict(db.rows("SELECT execution_id, ffqn FROM execution_state"))
    return {child: ffqns[parent] for child, parent in parents.items()}


def _unfinished(db: ChaosDatabase) -> int:
    ((count,),) = db.rows("SELECT count(*) FROM execution_state WHERE state != 'Finished'")
    return int(count)


def _busy(db: ChaosDatabase) -> int:
    ((count,),) = db.rows(
        "SELECT count(*) FROM execution_state WHERE state != 'Finished' AND ffqn LIKE 'testing:fibo-workflow/%'"
    )
    return int(count)


def _stuck(db: ChaosDatabase) -> str:
    rows = db.rows(
        "SELECT execution_id, ffqn, state, paused, parent_execution_id FROM execution_state WHERE state != 'Finished'"
    )
    return "\n".join(map(str, rows))


def _kill(chaos: Chaos, victims: Sequence[ChaosServer]) -> None:
    """``kill -9`` of ``victims`` at once (each up, and alive until then), then what each lost."""
    processes = []
    for victim in victims:
        process = victim.wait_up().process.process
        assert process is not None and process.poll() is None, f"server {victim.name} died on its own:\n" + (
            victim.output_tail()
        )
        processes.append(process)
    connections = [chaos.db.connections_of(process.pid) for process in processes]
    for process in processes:
        process.send_signal(signal.SIGKILL)
    for process in processes:
        process.wait(10)
    lost = _count_lost(chaos, victims, connections, killed_at=time.time_ns() // 1_000)
    names = " and ".join(victim.name for victim in victims)
    chaos.note(f"kill -9 {names} with {_unfinished(chaos.db)} executions unfinished: {lost} activity attempts lost")


def _kill_during_start(server: ChaosServer, chaos: Chaos, after: float) -> None:
    """Start a server and ``kill -9`` it ``after`` seconds, ready or not: while it releases what the previous
    process held, or just as it takes its first work."""
    process = server.process
    env = dict(os.environ, HOME=str(process.config_path.parent), **process.extra_env)
    starting = subprocess.Popen(
        [sys.executable, "-m", process.module, "server", "run", "-c", str(process.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    time.sleep(after)
    connections = chaos.db.connections_of(starting.pid)
    starting.send_signal(signal.SIGKILL)
    starting.wait(10)
    lost = _count_lost(chaos, [server], [connections], killed_at=time.time_ns() // 1_000)
    chaos.note(f"kill -9 {server.name} {after:.1f} s into a start: {lost} lost")


def _count_lost(
    chaos: Chaos, killed: Sequence[ChaosServer], connections: Sequence[frozenset[int]], *, killed_at: int
) -> int:
    """What a ``kill -9`` of ``killed`` (dead at ``killed_at``, in microseconds) may have lost: per server, the
    activity attempts of its life since its last kill without a result recorded before it died. A serial workflow
    (its steps inline, commits in flight) may lose ``BOUND``; the activities run on their own (join sets) are lost
    only while running: at most the activity components' slots. Returns how many were lost."""
    for held in connections:
        chaos.db.wait_closed(held)
    recorded = _recorded(chaos.db, before_us=killed_at)
    chaos.recorded_at_kills.append(recorded)
    total = 0
    for server in killed:
        attempts = server.log.lines()
        lost = set(attempts[server.log.counted :]) - set(recorded)
        server.log.counted = len(attempts)
        parent_ffqns = _parents(chaos.db, lost)
        serial = Counter(
            ExecutionId.parse(child).parent_id for child, ffqn in parent_ffqns.items() if ffqn in SERIAL_FFQNS
        )
        over = {parent: count for parent, count in serial.items() if count > BOUND}
        assert not over, (
            f"seed {chaos.seed}: a kill of {server.name} lost more than {BOUND} steps of serial workflows: {over}"
        )
        on_their_own = sum(ffqn not in SERIAL_FFQNS for ffqn in parent_ffqns.values())
        assert on_their_own <= 2 * ACTIVITY_SLOTS, (
            f"seed {chaos.seed}: {on_their_own} running activities lost by a kill of {server.name}"
        )
        print(f"{server.name} lost: {dict(serial)} serial steps, {on_their_own} activities on their own", flush=True)
        chaos.lost_at_kills.append(lost)
        total += len(lost)
    return total


def _operate(
    rng: random.Random, client: ApiClient, chaos: Chaos, pending_unpause: list[tuple[float, str]], now: float
) -> None:
    """Cancel one submitted execution, or pause one (or a child workflow) to resume it later: one still running if
    there is one (the finished are there to see a refusal now and then). Children are paused, never cancelled: a
    cancelled child is an error its parent's code does not expect (and the parent's result would change)."""
    unfinished = dict(
        chaos.db.rows(
            "SELECT execution_id, parent_execution_id FROM execution_state WHERE state != 'Finished'"
            " AND ffqn NOT IN ('testing:fibo/fibo.fibo', 'testing:sleep/sleep.sleep')"
        )
    )
    children = [row[0] for row in chaos.db.rows(_UNFINISHED_CHILDREN)]
    delays = [row[0] for row in chaos.db.rows("SELECT delay_id FROM delay")]
    child_workflows = [execution_id for execution_id, parent in unfinished.items() if parent is not None]
    choice = rng.random()
    if children and choice < 0.15:
        child = rng.choice(children)
        done = _as_an_operator_would(lambda: client.cancel(child), chaos, f"cancel of child {child}")
        if done:
            chaos.disturbed.add(str(ExecutionId.parse(child).top_level))
            chaos.cancelled_children.add(child)
        chaos.note(f"cancel child {child}: {'done' if done else 'refused'}")
        return
    if delays and choice < 0.23:
        delay = rng.choice(delays)
        done = _as_an_operator_would(lambda: client.cancel_delay(delay), chaos, f"cancel of delay {delay}")
        chaos.delays_cancelled += done
        chaos.note(f"cancel delay {delay}: {'done' if done else 'refused'}")
        return
    if child_workflows and choice < 0.4:
        _pause(rng, client, chaos, pending_unpause, rng.choice(child_workflows), "child workflow", now)
        return
    candidates = [item for item in chaos.submitted if item.execution_id in unfinished] or chaos.submitted
    item = rng.choice(candidates if rng.random() < 0.9 else chaos.submitted)
    if item.cancel_requested or item.cancel_refused:
        return
    if rng.random() < 1 / 3:
        if _as_an_operator_would(lambda: client.cancel(item.execution_id), chaos, f"cancel of {item.execution_id}"):
            item.cancel_requested = True
        else:
            item.cancel_refused = True
        chaos.note(f"cancel {item.execution_id} {item.ffqn}: {'done' if item.cancel_requested else 'refused'}")
        return
    _pause(rng, client, chaos, pending_unpause, item.execution_id, item.ffqn, now)


OPERATOR_ATTEMPTS = 5
"""How many times the driver sends an operator's call the server answered with a retryable fault."""

R = TypeVar("R")


def _as_an_operator_would(call: Callable[[], R], chaos: Chaos, what: str) -> R:
    """``call``, sent again (after a pause) while the server answers that it could not take it now.

    On PostgreSQL two servers' transactions can wait for each other's rows (seen: a cancel walking an execution's
    tree while the other server finishes and answers its children); PostgreSQL breaks the deadlock by rolling one of
    them back, and the group commit runs the victim again, up to ``MAX_JOB_ATTEMPTS`` times. Past that its caller
    gets UNAVAILABLE, "retry the write", with nothing written, and an operator retries. Any other error is the
    caller's to judge."""
    for attempt in range(1, OPERATOR_ATTEMPTS + 1):
        try:
            return call()
        except ApiError as error:
            if not (error.reached and error.retryable) or attempt == OPERATOR_ATTEMPTS:
                raise
            chaos.operator_retries += 1
            chaos.note(f"{what}: {error}; sent again")
            time.sleep(0.3 * attempt)
    raise AssertionError("unreachable")


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
) -> None:
    if execution_id in chaos.paused:
        return
    try:
        _as_an_operator_would(lambda: client.pause(execution_id), chaos, f"pause of {execution_id}")
    except ApiError as error:
        # Finished (for good): the driver never pauses what it paused and did not resume.
        assert error.code is grpc.StatusCode.FAILED_PRECONDITION, error
        _assert_finished(chaos, execution_id, f"pause of {execution_id} refused", error)
        chaos.note(f"pause {execution_id} refused: {error}")
        return
    chaos.paused.add(execution_id)
    resume_at = now + rng.uniform(1.0, 8.0)
    pending_unpause.append((resume_at, execution_id))
    pending_unpause.sort(key=lambda pair: pair[0])
    chaos.note(f"pause {execution_id} {what} until {resume_at:.1f}s")


def _unpause(client: ApiClient, execution_id: str, chaos: Chaos) -> None:
    try:
        _as_an_operator_would(lambda: client.unpause(execution_id), chaos, f"resume of {execution_id}")
        chaos.note(f"resume {execution_id}")
    except ApiError as error:
        # Not paused any more: only a finish clears the flag (an attempt running at the pause, or a cancel).
        assert error.code is grpc.StatusCode.FAILED_PRECONDITION, error
        _assert_finished(chaos, execution_id, f"resume of {execution_id} refused", error)
        chaos.note(f"resume {execution_id} refused: finished meanwhile")
    chaos.paused.discard(execution_id)


def _assert_finished(chaos: Chaos, execution_id: str, what: str, error: ApiError) -> None:
    ((state, paused),) = chaos.db.rows("SELECT state, paused FROM execution_state WHERE execution_id = ?", execution_id)
    assert state == "Finished", (
        f"seed {chaos.seed}: {what} ({error}), yet it is {state}, paused {paused}:\n" + _history(chaos.db, execution_id)
    )


def _history(db: ChaosDatabase, execution_id: str, last: int = 30, skip: tuple[str, ...] = ()) -> str:
    """The end of an execution's log (without the events of types ``skip``) and its state row, for a failure's
    message."""
    events = [
        row
        for row in db.rows(
            "SELECT version, created_at, event_type, json FROM execution_log WHERE execution_id = ? ORDER BY version",
            execution_id,
        )
        if row[2] not in skip
    ]
    state = db.rows("SELECT * FROM execution_state WHERE execution_id = ?", execution_id)
    return "\n".join(map(str, [f"{len(events)} events, the last {last}:", *events[-last:], *state]))


def _rerun_story(db: ChaosDatabase, child: str, per_server: list[list[str]]) -> str:
    """Where an activity ran, its log, and its parent's log without the parent's requests, for a failure's
    message."""
    parent = str(ExecutionId.parse(child).parent_id)
    requests = ("JoinSetCreated", "JoinSetRequest", "JoinNext")
    return (
        f"attempts per server's log: {[lines.count(child) for lines in per_server]}\n{_history(db, child)}\n"
        f"its parent's, without its requests:\n{_history(db, parent, skip=requests)}"
    )


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


_BROKEN_LOGS = """
SELECT s.execution_id, s.next_version, count(l.version), max(l.version) FROM execution_state s
LEFT JOIN execution_log l ON l.execution_id = s.execution_id
GROUP BY s.execution_id, s.next_version
HAVING s.next_version != count(l.version) OR s.next_version != max(l.version) + 1
"""
"""Executions whose log is not whole: versions 0 to ``next_version`` - 1, each once."""
_LOGS_WITHOUT_STATE = """
SELECT DISTINCT execution_id FROM execution_log WHERE execution_id NOT IN (SELECT execution_id FROM execution_state)
"""
_MISCOUNTED_RESPONSES = """
SELECT s.execution_id, s.response_count, count(r.id) FROM execution_state s
LEFT JOIN join_set_response r ON r.execution_id = s.execution_id
GROUP BY s.execution_id, s.response_count HAVING s.response_count != count(r.id)
"""
_UNANSWERED_PARENTS = """
SELECT s.execution_id FROM execution_state s WHERE s.parent_execution_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM join_set_response r
    WHERE r.execution_id = s.parent_execution_id AND r.child_execution_id = s.execution_id
)
"""
"""Children whose end never reached their parent as a response."""


def check(chaos: Chaos) -> None:
    """The outcome, read from the database and the attempt logs once every server has stopped."""
    seed = chaos.seed
    db = chaos.db
    problems = db.integrity_problems()
    assert not problems, f"seed {seed}: the database's integrity check: {problems}"
    for query in (_BROKEN_LOGS, _LOGS_WITHOUT_STATE, _MISCOUNTED_RESPONSES, _UNANSWERED_PARENTS):
        broken = db.rows(query)
        assert not broken, f"seed {seed}: {broken[:20]} from{query}"
    delays = db.rows("SELECT execution_id, delay_id FROM delay")
    assert not delays, f"seed {seed}: delays left pending: {delays}"
    states = db.rows("SELECT execution_id, state, paused, parent_execution_id, result_kind FROM execution_state")
    not_done = [row for row in states if row[1] != "Finished" or row[2]]
    assert not not_done, f"seed {seed}: left unfinished or paused: {not_done}"
    finished_events: defaultdict[str, list[str]] = defaultdict(list)
    for execution_id, payload in db.rows("SELECT execution_id, json FROM execution_log WHERE event_type = 'Finished'"):
        finished_events[execution_id].append(payload)
    twice = {execution_id: len(events) for execution_id, events in finished_events.items() if len(events) != 1}
    assert not twice, f"seed {seed}: finished more than once: {twice}"
    without = {row[0] for row in states} - set(finished_events)
    assert not without, f"seed {seed}: finished without a Finished event: {sorted(without)[:20]}"

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
            assert kind_of[execution_id] == "Ok", f"seed {seed}: child {execution_id} of {top}: {kind_of[execution_id]}"
        else:
            assert kind_of[execution_id] in ("Ok", "Cancelled"), f"seed {seed}: {execution_id}"

    submitted_ids = {item.execution_id for item in chaos.submitted}
    top_level = {execution_id for execution_id, parent in parent_of.items() if parent is None}
    assert top_level == submitted_ids, (
        f"seed {seed}: top-level executions missing {sorted(submitted_ids - top_level)}"
        f" or made up {sorted(top_level - submitted_ids)}"
    )
    for item in chaos.submitted:
        kind, event = kind_of[item.execution_id], json.loads(finished_events[item.execution_id][0])
        if item.cancel_requested:
            assert kind == "Cancelled", f"seed {seed}: cancelled {item.execution_id} finished {kind}: {event}"
        elif item.execution_id in chaos.disturbed and kind != "Ok":
            assert kind in ("ExecutionFailure", "FallibleError"), f"seed {seed}: {item.execution_id}: {event}"
        elif item.execution_id in chaos.disturbed and item.ffqn == AWAIT_SLEEP:
            # It describes how its child ended: an error, if the cancel (of the child or the child's activity) came
            # first.
            value = _value_of(event)
            child = f"{item.execution_id}.0"
            cancelled = any(c == child or c.startswith(f"{child}.") for c in chaos.cancelled_children)
            assert value == f"ok {child}" or (isinstance(value, str) and value.startswith(f"err {child} ")), value
            assert value == f"ok {child}" or cancelled, f"seed {seed}: {item.execution_id}: {value}"
        else:  # never cancelled, or the cancel was refused: it had finished Ok already
            _check_value(item, kind, event, seed)

    final = _recorded(db)
    for kill, recorded in enumerate(chaos.recorded_at_kills):
        changed = {key: (value, final.get(key)) for key, value in recorded.items() if final.get(key) != value}
        assert not changed, f"seed {seed}: results recorded by kill {kill} changed: {changed}"
    per_server = [log.lines() for log in chaos.attempt_logs]
    attempts = Counter(line for lines in per_server for line in lines)
    # An attempt whose lock expired before its result was recorded timed out: its result was never recorded, and the
    # retry the timeout takes runs it again, as documented. On 2 cores beside two servers and PostgreSQL, a stall
    # of the machine or of the database's commits can outlast even the 3 s lock of a millisecond's attempt.
    timeouts = Counter(
        {
            str(execution_id): int(count)
            for execution_id, count in db.rows(
                "SELECT execution_id, COUNT(*) FROM execution_log WHERE event_type = 'TemporarilyTimedOut'"
                " GROUP BY execution_id"
            )
        }
    )
    for child, runs in attempts.items():
        # Only a result a kill lost runs again (on any server), once per kill that lost it at most, or a timed-out
        # attempt's, once per timeout; a recorded one never.
        times_lost = sum(child in lost for lost in chaos.lost_at_kills)
        assert runs - 1 <= times_lost + timeouts[child], (
            f"seed {seed}: activity {child} ran {runs} times, lost by {times_lost} kills, timed out"
            f" {timeouts[child]} times\n" + _rerun_story(db, child, per_server)
        )
    reruns = sum(attempts.values()) - len(attempts)
    timed_out_reruns = sum(min(runs - 1, timeouts[child]) for child, runs in attempts.items())
    assert timed_out_reruns <= len(attempts) // 100, (
        f"seed {seed}: {timed_out_reruns} activities ran again after a timeout: attempts of milliseconds should not"
        " outlive their 3 s locks but in a rare stall"
    )
    print(
        f"chaos seed {seed}: {len(chaos.submitted)} submitted, {len(final)} executions, {len(attempts)} activities"
        f" (attempts per server {[len(lines) for lines in per_server]}), {reruns} re-runs after"
        f" {len(chaos.lost_at_kills)} kills ({timed_out_reruns} of them by activities that also timed out),"
        f" {len(chaos.disturbed)} disturbed by a child's cancel,"
        f" {chaos.delays_cancelled} delays cancelled, {chaos.operator_retries} operator calls sent again"
        f" (lost per kill {[len(lost) for lost in chaos.lost_at_kills]})",
        flush=True,
    )
