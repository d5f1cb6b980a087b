"""Shared parts of the benchmark suite: the machine, a real server subprocess, a gRPC client, statistics.

Every workload drives ``obelisk server run`` in a subprocess through the public gRPC API only, so a figure
includes everything a user pays for (process, API, SQLite with the default durable settings). The client runs
on the same machine and shares its cores with the server; that is stated next to every result table.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # so that `python bench/...` works without installing the package

from bench.databases import DATABASES, BenchDatabase  # noqa: E402
from obelisk.api.generated import obelisk_pb2 as pb  # noqa: E402
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc  # noqa: E402

if TYPE_CHECKING:
    from bench.counts import StepCounts

COMPONENTS = REPO / "build" / "components"
CACHE = REPO / "build" / "bench-cache"
"""Codegen and wasm caches shared by every benchmark server, warmed once by ``warm_caches`` before timing."""

FIBOA = "testing:fibo-workflow/workflow.fiboa"
SLEEP_HOST_ACTIVITY = "testing:sleep-workflow/workflow.sleep-host-activity"
FIBO_ACTIVITY = "testing:fibo/fibo.fibo"
REQUIRED_COMPONENTS = ("fibo_activity", "fibo_workflow", "sleep_activity", "sleep_workflow")

# Reconnect quickly: W3 measures how soon the API answers, and grpc's default first backoff is a whole second.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 50),
    ("grpc.primary_user_agent", "obelisk-bench"),
]


class BenchError(Exception):
    """A workload could not produce a trustworthy figure (wrong result, timeout, server died)."""


# ---------------------------------------------------------------------------------------------- machine
@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    python: str
    load_average: tuple[float, float, float]

    def describe(self) -> str:
        one, five, fifteen = self.load_average
        return (
            f"{self.cores} cores, {self.cpu_model}; Python {self.python}; "
            f"load average at start {one:.2f} {five:.2f} {fifteen:.2f}"
        )


def machine() -> Machine:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return Machine(
        cores=os.cpu_count() or 1,
        cpu_model=model,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        load_average=os.getloadavg(),
    )


def engine_revision() -> str:
    """The commit the figures belong to, and whether engine files had uncommitted changes (work in progress)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s", "--", "obelisk"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "obelisk"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    suffix = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"{head[:70]}{suffix}"


# ---------------------------------------------------------------------------------------------- statistics
@dataclass
class Row:
    """One figure of one workload: its runs, how it compares, and the checks that make it trustworthy."""

    workload: str
    metric: str
    unit: str
    values: list[float]
    higher_is_better: bool = False
    peers: dict[str, float] = field(default_factory=dict)
    target: float | None = None
    """Ours must be below (or above, when higher is better) this; None: no target."""
    decimals: int = 2
    peers_measured: bool = False
    """``peers`` were measured in this invocation (``bench/run.py --peers``), not the last recorded figures."""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self) -> str:
        d = self.decimals
        if not self.values:
            return "no runs"
        return f"{self.median:.{d}f} ({min(self.values):.{d}f}-{max(self.values):.{d}f})"

    def verdict(self) -> str:
        if self.target is None or not self.values:
            return ""
        met = self.median > self.target if self.higher_is_better else self.median < self.target
        sign = ">" if self.higher_is_better else "<"
        return f"{'met' if met else 'MISSED'} ({sign} {self.target:.3g})"

    def peers_text(self) -> str:
        text = ", ".join(f"{name} {value:.3g}" for name, value in self.peers.items())
        return text if self.peers_measured or not text else f"{text} (last recorded)"


@dataclass
class WorkloadResult:
    name: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    """Checks and breakdowns, one line each (printed under the table)."""
    counts: StepCounts | None = None
    """The COUNTS workload's figures, for ``bench/run.py --check``."""


def ms(seconds: float) -> float:
    return seconds * 1000.0


# ---------------------------------------------------------------------------------------------- server process
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REPOSITORY_EXEC_SETTINGS = True
"""Give the components the exec settings of the repository's obelisk.toml (the quick-start configuration:
``fibo_workflow`` ``exec.lock_expiry = 2 s``, ``sleep_activity`` 10 s); False leaves every exec key at its default
(``bench/run.py --engine-defaults``)."""


@dataclass(frozen=True)
class Components:
    """Which builds of ``fibo_activity`` and ``fibo_workflow`` a benchmark server runs (the ffqns are the same)."""

    name: str
    fibo_activity: Path
    fibo_workflow: Path
    sleep_components: bool
    """Also configure ``sleep_activity`` and ``sleep_workflow`` (the example builds; SLEEP-RSS needs them)."""


EXAMPLES = Components("examples", COMPONENTS / "fibo_activity.wasm", COMPONENTS / "fibo_workflow.wasm", True)
"""The componentize-py examples of ``scripts/build-components``."""


def wat_components() -> Components:
    """The project's tiny WAT fixtures (``tests/fixtures/wat/fibo*.wat``), built with ``wasm-tools`` into
    ``build/bench-cache/wat/``: a step with almost no guest in it, so what is left is the engine's."""
    from tests.wat_fixtures import build_wat_fixture

    out = CACHE / "wat"
    try:
        return Components(
            "wat", build_wat_fixture("fibo", out), build_wat_fixture("fibo_workflow", out), sleep_components=False
        )
    except Exception as error:  # wasm-tools missing or failing: say so as a workload failure
        raise BenchError(f"cannot build the WAT fixtures: {error}") from error


QUIET_TICK = "exec.tick_sleep = {secs = 60}"
"""For counted servers: executors wake on notifications only, so no idle poll lands in a counting window."""


def write_config(
    directory: Path,
    api_port: int,
    database: BenchDatabase,
    components: Components = EXAMPLES,
    *,
    quiet: bool = False,
) -> Path:
    """The benchmark config: ``components`` by absolute path, ``database``, the shared caches.

    The database and everything else stay at their defaults (SQLite: durable ``synchronous = FULL``; no web UI);
    the component settings are those of the repository's obelisk.toml unless ``REPOSITORY_EXEC_SETTINGS`` is
    False. Each config has a data directory of its own, so servers sharing a PostgreSQL database have identities
    of their own. ``quiet``: the fibo components' executors poll only when notified (``QUIET_TICK``).
    """
    workflow_exec = "exec.lock_expiry = {secs = 2}" if REPOSITORY_EXEC_SETTINGS else ""
    tick = QUIET_TICK if quiet else ""
    sleep_exec = "exec.lock_expiry = {secs = 10}" if REPOSITORY_EXEC_SETTINGS else ""
    sleep = (
        f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{COMPONENTS / "sleep_activity.wasm"}"
{sleep_exec}

[[workflow]]
name = "sleep_workflow"
location.path = "{COMPONENTS / "sleep_workflow.wasm"}"
"""
        if components.sleep_components
        else ""
    )
    path = directory / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api_port}"
wasm_cache_directory = "{CACHE / "wasm"}"
data_directory = "{directory / "data"}"

{database.config_toml}
[codegen_cache]
directory = "{CACHE / "codegen"}"

[[activity_wasm]]
name = "fibo_activity"
location.path = "{components.fibo_activity}"
max_retries = 0
{tick}

[[workflow]]
name = "fibo_workflow"
location.path = "{components.fibo_workflow}"
{workflow_exec}
{tick}
{sleep}"""
    )
    return path


def check_components() -> None:
    missing = [name for name in REQUIRED_COMPONENTS if not (COMPONENTS / f"{name}.wasm").exists()]
    if missing:
        raise BenchError(
            f"missing {', '.join(missing)} in {COMPONENTS}; build them: .venv/bin/python scripts/build-components"
        )


class ServerProcess:
    """``python -m obelisk server run -c CONFIG`` with its output drained by a thread (last lines kept)."""

    def __init__(self, config_path: Path, *, counts_file: Path | None = None) -> None:
        self.config_path = config_path
        self.counts_file = counts_file
        """Run the server as ``bench.counted_server``, which writes its counters here (``dump_counts``)."""
        self.process: subprocess.Popen[str] | None = None
        self.launched_perf = 0.0
        """``time.perf_counter()`` just before the process was created."""
        self.launched_wall = 0.0
        """``time.time()`` at the same moment, to compare with event timestamps in the database."""
        self.ready_perf: float | None = None
        self._ready = threading.Event()
        self._tail: collections.deque[str] = collections.deque(maxlen=60)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        module = "obelisk"
        if self.counts_file is not None:
            from bench.counted_server import COUNTS_ENV

            module = "bench.counted_server"
            env[COUNTS_ENV] = str(self.counts_file)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self._ready.clear()
        self.ready_perf = None
        self.launched_wall = time.time()
        self.launched_perf = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "server", "run", "-c", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=self.config_path.parent,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        return self

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Server is ready") and self.ready_perf is None:
                self.ready_perf = time.perf_counter()
                self._ready.set()
            self._tail.append(line)

    def output(self) -> str:
        return "".join(self._tail)

    async def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from launch to the ``Server is ready`` line."""
        deadline = time.monotonic() + timeout
        while not self._ready.is_set():
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"server exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise BenchError(f"server not ready within {timeout:.0f} s:\n{self.output()}")
            await asyncio.sleep(0.005)
        assert self.ready_perf is not None
        return self.ready_perf - self.launched_perf

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    async def dump_counts(self, timeout: float = 10.0) -> dict[str, int]:
        """The counters of a server launched with ``counts_file``, as of now (SIGUSR1, then read the file)."""
        assert self.counts_file is not None and self.process is not None
        previous = _counts_sequence(self.counts_file)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            document = _counts_document(self.counts_file)
            if document is not None and document["sequence"] != previous:
                counts: dict[str, int] = document["counts"]
                return counts
            if self.process.poll() is not None:
                raise BenchError(f"server exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the server did not write its counts to {self.counts_file} in {timeout:.0f} s")
            await asyncio.sleep(0.005)

    def proc_status(self) -> dict[str, str]:
        """``/proc/<pid>/status`` as a dict (VmRSS, VmHWM, Threads, ...)."""
        fields: dict[str, str] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return fields

    def rss_kib(self) -> int:
        return int(self.proc_status()["VmRSS"].split()[0])


def _counts_document(path: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document


def _counts_sequence(path: Path) -> int | None:
    document = _counts_document(path)
    return None if document is None else int(document["sequence"])


@contextlib.asynccontextmanager
async def running_server(
    *, wait_ready: bool = True, components: Components = EXAMPLES, counted: bool = False
) -> AsyncIterator[tuple[ServerProcess, Api, BenchDatabase]]:
    """A fresh temp dir and database, a launched server and a client; everything is torn down on exit.

    ``counted``: the server runs with the counters of ``bench.counted_server`` (``ServerProcess.dump_counts``)."""
    with tempfile.TemporaryDirectory(prefix="obelisk-bench-") as tmp, DATABASES.fresh(Path(tmp)) as database:
        port = free_port()
        config = write_config(Path(tmp), port, database, components, quiet=counted)
        counts_file = Path(tmp) / "counts.json" if counted else None
        server = ServerProcess(config, counts_file=counts_file).launch()
        api: Api | None = None
        try:
            if wait_ready:
                await server.wait_ready()
            api = Api(port)
            yield server, api, database
        finally:
            if api is not None:
                await api.close()
            server.stop()
            server.kill()


# ---------------------------------------------------------------------------------------------- client
def status_name(status: pb.ExecutionStatus) -> str:
    return status.WhichOneof("status") or "unknown"


class Api:
    """The generated grpc.aio stubs with the few calls the workloads need; no compression, like peer clients."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        self.executions = pb_grpc.ExecutionRepositoryStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def generate_ids(self, count: int) -> list[str]:
        responses = await asyncio.gather(
            *(
                self.executions.GenerateExecutionId(pb.GenerateExecutionIdRequest(), wait_for_ready=True)
                for _ in range(count)
            )
        )
        return [str(response.execution_id.id) for response in responses]

    async def submit(
        self, execution_id: str, ffqn: str, params: Sequence[Any], *, timeout: float = 60.0, wait_for_ready: bool = True
    ) -> None:
        interface, _, function = ffqn.rpartition(".")
        request = pb.SubmitRequest(
            execution_id=pb.ExecutionId(id=execution_id),
            function_name=pb.FunctionName(interface_name=interface, function_name=function),
        )
        request.params.type_url = f"urn:obelisk:json:params:{ffqn}"
        request.params.value = json.dumps(list(params)).encode()
        await self.executions.Submit(request, timeout=timeout, wait_for_ready=wait_for_ready)

    async def finished(self, execution_id: str, *, timeout: float) -> pb.FinishedStatus:
        """Follow the execution (GetStatus stream) until its finished status arrives."""
        request = pb.GetStatusRequest(
            execution_id=pb.ExecutionId(id=execution_id), follow=True, send_finished_status=True
        )
        call = self.executions.GetStatus(request, timeout=timeout, wait_for_ready=True)
        try:
            async for message in call:
                if message.WhichOneof("message") == "finished_status":
                    finished: pb.FinishedStatus = message.finished_status
                    return finished
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise BenchError(f"{execution_id} not finished within {timeout:.0f} s") from None
            raise
        finally:
            call.cancel()
        raise BenchError(f"the status stream of {execution_id} ended without a finished status")

    async def states(self, ffqn: str, limit: int = 1000) -> collections.Counter[str]:
        """How many executions of ``ffqn`` are in each state (ListExecutions, newest ``limit``)."""
        request = pb.ListExecutionsRequest(
            function_name=pb.FunctionName(
                interface_name=ffqn.rpartition(".")[0], function_name=ffqn.rpartition(".")[2]
            ),
            older_than=pb.ListExecutionsRequest.OlderThan(length=limit),
        )
        response = await self.executions.ListExecutions(request, timeout=30)
        return collections.Counter(status_name(summary.current_status) for summary in response.executions)


def ok_value(status: pb.FinishedStatus) -> Any:
    """The JSON return value of a finished-OK status; anything else is a ``BenchError``."""
    detail = status.result_detail
    kind = detail.WhichOneof("value")
    if kind != "ok":
        raise BenchError(f"execution did not finish OK: {kind}: {detail}")
    if not detail.ok.HasField("return_value"):
        return None
    return json.loads(detail.ok.return_value.value)


async def run_fiboa(api: Api, n: int, iterations: int, *, timeout: float) -> tuple[str, float]:
    """Submit ``fiboa(n, iterations)``, follow it, check 55-style result; returns (id, seconds submit→finished)."""
    (execution_id,) = await api.generate_ids(1)
    started = time.perf_counter()
    await api.submit(execution_id, FIBOA, [n, iterations])
    status = await api.finished(execution_id, timeout=timeout)
    elapsed = time.perf_counter() - started
    value = ok_value(status)
    if value != fibo(n):
        raise BenchError(f"fiboa({n}, {iterations}) returned {value!r}, expected {fibo(n)}")
    return execution_id, elapsed


def fibo(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


# ---------------------------------------------------------------------------------------------- warm-up
async def warm_caches() -> float:
    """Start a server once so the shared codegen/wasm caches hold every component; returns the seconds taken."""
    check_components()
    started = time.perf_counter()
    async with running_server() as (_server, api, _tmp):
        await run_fiboa(api, 10, 1, timeout=60)
    return time.perf_counter() - started


@dataclass(frozen=True)
class StepBreakdown:
    """Where one serial step's time goes, from the event timestamps a workflow and its children left in the DB."""

    dispatch_ms: float
    """Child ``Created`` → child ``Locked`` (an activity worker picks it up)."""
    run_ms: float
    """Child ``Locked`` → child ``Finished`` (instantiate, call, record the result)."""
    resume_ms: float
    """Child ``Finished`` → the next child's ``Created`` (the workflow continues and records its next call)."""
    writes_per_step: float
    """Distinct event timestamps per step: every write stamps its events with one ``now``. Writes are not commits:
    group commit puts several writes (of several steps) into one transaction; COUNTS counts the commits."""
    shootdowns_per_step: float | None = None
    """The machine's TLB shootdowns during the workflow, per step (``ShootdownCount``); None: not read."""

    def describe(self) -> str:
        shootdowns = "" if self.shootdowns_per_step is None else f", {self.shootdowns_per_step:.1f} TLB shootdowns/step"
        return (
            f"created→locked {self.dispatch_ms:.2f} ms, locked→finished {self.run_ms:.2f} ms, "
            f"finished→next created {self.resume_ms:.2f} ms, ~{self.writes_per_step:.1f} writes/step{shootdowns}"
        )


def step_breakdown(
    database: BenchDatabase, parent_id: str, shootdowns_per_step: float | None = None
) -> StepBreakdown | None:
    """Medians over the children of ``parent_id``; None when the database does not have the expected shape.

    Reads the engine's tables directly (the schema of either backend's migrations), so it is a diagnostic only.
    """
    try:
        rows = database.rows(
            "SELECT l.execution_id, l.event_type, l.created_at, s.created_at FROM execution_log AS l "
            "JOIN execution_state AS s ON s.execution_id = l.execution_id WHERE s.parent_execution_id = ?",
            (parent_id,),
        )
        parent = database.rows("SELECT created_at FROM execution_log WHERE execution_id = ?", (parent_id,))
        responses = database.rows("SELECT created_at FROM join_set_response WHERE execution_id = ?", (parent_id,))
    except Exception:
        return None
    children: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for child, kind, at, created in rows:
        children[child].setdefault("Created", created)
        children[child].setdefault(kind, at)  # the first Locked, the first Finished
    ordered = sorted(children.values(), key=lambda events: events["Created"])
    if len(ordered) < 2 or any(not {"Locked", "Finished"} <= events.keys() for events in ordered):
        return None
    dispatch = [events["Locked"] - events["Created"] for events in ordered]
    run = [events["Finished"] - events["Locked"] for events in ordered]
    resume = [later["Created"] - earlier["Finished"] for earlier, later in itertools.pairwise(ordered)]
    stamps = {row[2] for row in rows} | {row[0] for row in parent} | {row[0] for row in responses}
    return StepBreakdown(
        statistics.median(dispatch) / 1000,
        statistics.median(run) / 1000,
        statistics.median(resume) / 1000,
        len(stamps) / len(ordered),
        shootdowns_per_step,
    )
