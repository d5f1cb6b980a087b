"""Several ``obelisk server run`` processes on one PostgreSQL database, as a user runs them: each with its own
data directory, driven over gRPC, one killed with ``kill -9``. The outcome is read from the database itself."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest

from obelisk.api.client import ApiClient, ApiError
from obelisk.concepts.clock import SystemClock
from obelisk.concepts.events import (
    ExecutionEvent,
    Finished,
    FinishedState,
    JoinNext,
    Locked,
    LockedState,
    Paused,
    PausedState,
    Unlocked,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.concepts.results import Cancelled, Ok, ReturnValue
from obelisk.storage.interface import ExecutionLog, ExecutionQuery, ExecutionSummary
from obelisk.storage.postgres.backend import PostgresStorage
from tests.integration.server_process import ServerProcess
from tests.postgres_cluster import ROLE, PostgresCluster

pytestmark = pytest.mark.slow

FIBOA = "testing:fibo-workflow/workflow.fiboa"
FIBO = "testing:fibo/fibo.fibo"
SLEEP = "testing:sleep/sleep.sleep"
SLEEP_ACTIVITY_IN_WORKFLOW = "testing:sleep-workflow/workflow.sleep-activity"
SLEEP_HOST_IN_WORKFLOW = "testing:sleep-workflow/workflow.sleep-host-activity"
PASSWORD_VARIABLE = "OBELISK_TEST_DB_PASSWORD"
WORKFLOWS = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _fibo_components(built: Path) -> str:
    # Short locks, so that the survivor takes over the work of the killed server within seconds.
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"
exec.lock_expiry = {{secs = 1}}
exec.tick_sleep = {{millis = 50}}

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"
exec.lock_expiry = {{secs = 2}}
exec.tick_sleep = {{millis = 50}}
"""


def _sleep_components(built: Path) -> str:
    # Long locks: the restarted server must give its own back at start, not wait for them to expire.
    return f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"
exec.lock_expiry = {{secs = 60}}
exec.tick_sleep = {{millis = 50}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
exec.lock_expiry = {{secs = 90}}
exec.tick_sleep = {{millis = 50}}
"""


def _write_config(
    home: Path, cluster: PostgresCluster, db_name: str, codegen_cache: Path, components: str
) -> tuple[Path, int]:
    """A server's config in ``home``: its own data directory and API port, the shared database (the password
    through ``${...}`` from the environment, as a deployment keeps it out of the file)."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = home / "obelisk.toml"
    config.write_text(
        f"""
api.listening_addr = "127.0.0.1:{port}"
data_directory = "{home / "data"}"
wasm_cache_directory = "{home / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[database.postgres]
host = "127.0.0.1"
port = {cluster.port}
user = "{ROLE}"
password = "${{{PASSWORD_VARIABLE}}}"
db_name = "{db_name}"
pool_size = 2
{components}
"""
    )
    return config, port


def _executor_id(home: Path) -> ExecutorId:
    return ExecutorId.parse((home / "data" / "obelisk-server.executor-id").read_text().strip())


@contextmanager
def _servers(*configs: Path) -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    try:
        for config in configs:
            servers.append(ServerProcess(config).start())
        yield servers
    finally:
        for server in servers:
            server.kill()


@asynccontextmanager
async def _database(cluster: PostgresCluster, db_name: str) -> AsyncIterator[PostgresStorage]:
    storage = await PostgresStorage.open(cluster.target(db_name))
    try:
        yield storage
    finally:
        await storage.close()


async def _all_of(storage: PostgresStorage, ffqn: str, state: str | None = None) -> list[ExecutionSummary]:
    return await storage.list_executions(ExecutionQuery(ffqn=Ffqn.parse(ffqn), state=state, length=10_000))


def _finished_by(log: ExecutionLog) -> ExecutorId:
    """The executor of the run that finished the execution: the last ``Locked`` before its ``Finished``."""
    locks = [e.event for e in log.events if isinstance(e.event, Locked)]
    assert locks, [type(e.event).__name__ for e in log.events]
    return locks[-1].executor_id


def _finished_events(events: list[ExecutionEvent]) -> list[Finished]:
    return [e.event for e in events if isinstance(e.event, Finished)]


@pytest.fixture
def cluster_env(postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers read the database password from the environment they inherit."""
    monkeypatch.setenv(PASSWORD_VARIABLE, postgres_cluster.password)


async def test_two_servers_share_300_workflows_and_one_killed_midway_loses_nothing(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """300 ``fiboa(10, 3)`` (three activity children each) on two servers; server B is killed with ``kill -9`` when a
    third are done and not started again. Server A takes over what B held once its locks expire: every workflow
    finishes with 55, every child exactly once, and both servers finished some."""
    components = _fibo_components(built_components)
    config_a, port_a = _write_config(tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, components)
    config_b, port_b = _write_config(tmp_path / "b", postgres_cluster, postgres_database, codegen_cache, components)
    with _servers(config_a, config_b) as (server_a, server_b):
        id_a, id_b = _executor_id(tmp_path / "a"), _executor_id(tmp_path / "b")
        assert id_a != id_b

        def submit_all() -> list[str]:
            """Through both servers in turn, so that each has work of its own besides what it takes from the other;
            once B is gone, its share goes to A (a submit is idempotent: the same id again is no second execution)."""
            submitted = []
            with ApiClient(f"http://127.0.0.1:{port_a}") as a, ApiClient(f"http://127.0.0.1:{port_b}") as b:
                for n in range(WORKFLOWS):
                    execution_id = str(ExecutionId.generate())
                    try:
                        submitted.append((b if n % 2 else a).submit(execution_id, FIBOA, [10, 3]))
                    except ApiError:
                        assert n % 2, "server A refused a submit"
                        submitted.append(a.submit(execution_id, FIBOA, [10, 3]))
            return submitted

        submitting = asyncio.create_task(asyncio.to_thread(submit_all))
        async with _database(postgres_cluster, postgres_database) as storage:
            deadline = time.monotonic() + 120
            while len(await _all_of(storage, FIBOA, "Finished")) < WORKFLOWS // 3:
                assert time.monotonic() < deadline, "a third of the workflows did not finish in 120 s"
                await asyncio.sleep(0.02)
            # Killed while it holds work: between two of its commits B may hold nothing for a moment.
            while not (held_by_b := len(await storage.held_locks(id_b, SystemClock().now_us()))):
                assert time.monotonic() < deadline, "server B held nothing to take over"
                await asyncio.sleep(0.005)
            server_b.kill()
            killed_at = time.monotonic()
            finished_at_kill = len(await _all_of(storage, FIBOA, "Finished"))
            workflows = await submitting
            while len(done := await _all_of(storage, FIBOA, "Finished")) < WORKFLOWS:
                assert time.monotonic() < deadline + 120, f"{WORKFLOWS - len(done)} workflows unfinished after the kill"
                await asyncio.sleep(0.2)
            took_over_in = time.monotonic() - killed_at

            assert sorted(s.execution_id for s in done) == sorted(ExecutionId.parse(w) for w in workflows)
            finishers: set[ExecutorId] = set()
            taken_over = 0
            children = await _all_of(storage, FIBO)
            children_of: dict[ExecutionId, list[ExecutionId]] = {}
            for child in children:
                assert child.parent_execution_id is not None
                children_of.setdefault(child.parent_execution_id, []).append(child.execution_id)
            for summary in done:
                log = await storage.get(summary.execution_id)
                (finished,) = _finished_events(log.events)
                assert finished.result == Ok(ReturnValue(55)), summary.execution_id
                finishers.add(_finished_by(log))
                lockers = [e.event.executor_id for e in log.events if isinstance(e.event, Locked)]
                taken_over += id_b in lockers and lockers[-1] == id_a
                assert len(children_of[summary.execution_id]) == 3, summary.execution_id
            assert len(children) == 3 * WORKFLOWS
            for child in children:
                child_log = await storage.get(child.execution_id)
                assert isinstance(child_log.pending_state, FinishedState), child.execution_id
                assert len(_finished_events(child_log.events)) == 1, child.execution_id
                lockers = [e.event.executor_id for e in child_log.events if isinstance(e.event, Locked)]
                taken_over += id_b in lockers and lockers[-1] == id_a
            assert finishers == {id_a, id_b}, "both servers must have finished some workflows"
            assert taken_over > 0, "nothing the killed server held was finished by the survivor"
        assert server_a.terminate() == 0
    print(
        f"{finished_at_kill} of {WORKFLOWS} finished at the kill (B held {held_by_b}); the survivor finished the rest"
        f" in {took_over_in:.1f} s, {taken_over} of them taken over from the killed server"
    )


async def test_a_follower_on_one_server_sees_an_execution_run_by_the_other_finish_at_once(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """Server A has no components, so the execution can only run on server B; A's follower is told of each change
    as B commits it, not by A's 5 s poll of the database."""
    config_a, port_a = _write_config(tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, "")
    config_b, port_b = _write_config(
        tmp_path / "b", postgres_cluster, postgres_database, codegen_cache, _sleep_components(built_components)
    )
    with _servers(config_a, config_b):

        def submit_and_follow() -> tuple[str, list[str], float]:
            with ApiClient(f"http://127.0.0.1:{port_a}") as a, ApiClient(f"http://127.0.0.1:{port_b}") as b:
                execution_id = b.submit(b.generate_execution_id(), SLEEP, [{"milliseconds": 1500}])
                seen = []
                for response in a.get_status(execution_id, follow=True):
                    seen.append(response.WhichOneof("message"))
                    if response.HasField("finished_status"):
                        return execution_id, seen, time.time()
            raise AssertionError(f"the follow ended without a finished status: {seen}")

        execution_id, seen, seen_at = await asyncio.to_thread(submit_and_follow)
        assert seen[-1] == "finished_status", seen
        async with _database(postgres_cluster, postgres_database) as storage:
            log = await storage.get(ExecutionId.parse(execution_id))
        assert _finished_by(log) == _executor_id(tmp_path / "b")
        finished_at = log.events[-1].created_at / 1_000_000
        assert seen_at - finished_at < 1.0, f"the follower on A saw the finish {seen_at - finished_at:.2f} s late"
        print(f"the follower on A saw B's finish {seen_at - finished_at:.3f} s after its commit")


async def test_a_cancel_through_one_server_stops_the_attempt_running_on_the_other(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """Server A has no components, so the 20 s sleep (submitted through B) runs on B. Cancelled through A's API (a
    write to the shared database), B hears of it through LISTEN/NOTIFY and stops the attempt at once."""
    config_a, port_a = _write_config(tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, "")
    config_b, port_b = _write_config(
        tmp_path / "b", postgres_cluster, postgres_database, codegen_cache, _sleep_components(built_components)
    )
    with (
        _servers(config_a, config_b) as (_, server_b),
        ApiClient(f"http://127.0.0.1:{port_a}") as a,
        ApiClient(f"http://127.0.0.1:{port_b}") as b,
    ):
        execution_id = ExecutionId.parse(b.submit(b.generate_execution_id(), SLEEP, [{"seconds": 20}]))
        async with _database(postgres_cluster, postgres_database) as storage:
            deadline = time.monotonic() + 30
            while not isinstance(await storage.get_pending_state(execution_id), LockedState):
                assert time.monotonic() < deadline, "the sleep was not locked in 30 s"
                await asyncio.sleep(0.05)
            assert await asyncio.to_thread(a.cancel, execution_id)
            cancelled_at = time.monotonic()
            await asyncio.to_thread(server_b.wait_for_output, f"{execution_id}: cancelled while its attempt ran", 5)
            assert time.monotonic() - cancelled_at < 5
            log = await storage.get(execution_id)
        assert _finished_events(log.events) == [Finished(Cancelled("cancelled by an operator"))]
        assert _finished_by(log) == _executor_id(tmp_path / "b")
        assert not await asyncio.to_thread(a.cancel, execution_id)  # finished: refused, nothing changed


async def test_a_pause_through_one_server_holds_the_workflow_the_other_runs_until_resumed(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """Server A has no components: the workflow (sleeping on a durable timer, waiting in place) runs on B. Paused
    through A, B's run hears of it through LISTEN/NOTIFY, stops and gives its lock back; B's lock query then leaves
    the workflow alone although its delay expired and it is due. Resumed through A, B runs it to its end."""
    config_a, port_a = _write_config(tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, "")
    config_b, port_b = _write_config(
        tmp_path / "b", postgres_cluster, postgres_database, codegen_cache, _sleep_components(built_components)
    )
    with (
        _servers(config_a, config_b) as (_, server_b),
        ApiClient(f"http://127.0.0.1:{port_a}") as a,
        ApiClient(f"http://127.0.0.1:{port_b}") as b,
    ):
        params = [{"milliseconds": 2000}]
        execution_id = ExecutionId.parse(b.submit(b.generate_execution_id(), SLEEP_HOST_IN_WORKFLOW, params))
        async with _database(postgres_cluster, postgres_database) as storage:
            deadline = time.monotonic() + 30
            while not any(isinstance(e.event, JoinNext) for e in (await storage.get(execution_id)).events):
                assert time.monotonic() < deadline, "the workflow did not start sleeping in 30 s"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(a.pause, execution_id)
            paused_at = time.monotonic()
            deadline = paused_at + 5
            while True:  # B's run, waiting in place for its delay, stops at once and gives its lock back
                events = [e.event for e in (await storage.get(execution_id)).events]
                after = events[[type(e) for e in events].index(Paused) :]
                if any(isinstance(e, Unlocked) and e.reason == "paused by an operator" for e in after):
                    break
                assert time.monotonic() < deadline, f"{events}\n{''.join(server_b.output)}"
                await asyncio.sleep(0.05)
            assert time.monotonic() - paused_at < 1.5, "B's run stopped only when its delay expired"
            await asyncio.sleep(3)  # the delay expired: the workflow would be due, were it not paused
            state = await storage.get_pending_state(execution_id)
            assert isinstance(state, PausedState), state
            events = [e.event for e in (await storage.get(execution_id)).events]
            assert not any(isinstance(e, Locked) for e in events[[type(e) for e in events].index(Paused) :]), events
            await asyncio.to_thread(a.unpause, execution_id)
            deadline = time.monotonic() + 30
            while not isinstance(await storage.get_pending_state(execution_id), FinishedState):
                assert time.monotonic() < deadline, "the resumed workflow did not finish in 30 s"
                await asyncio.sleep(0.05)
            log = await storage.get(execution_id)
        assert [f.result.kind.value for f in _finished_events(log.events)] == ["Ok"]
        assert _finished_by(log) == _executor_id(tmp_path / "b")


async def test_a_server_killed_and_restarted_gives_back_its_own_locks_at_once(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """A workflow waits in place for its child with a 90 s lock, and the child runs under a 60 s one. The server is
    killed and started again on the same data directory: its executor id is the same, so it releases both at once
    and the workflow finishes within seconds, not when the locks expire."""
    config, port = _write_config(
        tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, _sleep_components(built_components)
    )
    with _servers(config) as (server,):
        executor_id = _executor_id(tmp_path / "a")
        with ApiClient(f"http://127.0.0.1:{port}") as client:
            workflow = ExecutionId.parse(
                client.submit(client.generate_execution_id(), SLEEP_ACTIVITY_IN_WORKFLOW, [{"milliseconds": 500}])
            )
        async with _database(postgres_cluster, postgres_database) as storage:
            deadline = time.monotonic() + 30
            while not [s for s in await _all_of(storage, SLEEP, "Locked") if s.parent_execution_id == workflow]:
                assert time.monotonic() < deadline, "the workflow's child was not locked in 30 s"
                await asyncio.sleep(0.05)
            server.kill()
            server.start()
            restarted = time.monotonic()
            assert _executor_id(tmp_path / "a") == executor_id
            while not isinstance((log := await storage.get(workflow)).pending_state, FinishedState):
                assert time.monotonic() - restarted < 15, [type(e.event).__name__ for e in log.events]
                await asyncio.sleep(0.05)
            assert _finished_events(log.events)[0].result == Ok(None)
        server.wait_for_output("held by this server's previous process")
        assert server.terminate() == 0


async def test_the_cli_and_the_web_ui_work_unchanged_on_postgres(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    cluster_env: None,
) -> None:
    """The faces a user meets first, on a server whose database is PostgreSQL: the CLI submits and follows a workflow
    and lists it, the web UI shows it in its list and on its own page with its children and result."""
    ui_port = _free_port()
    config, port = _write_config(
        tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, _fibo_components(built_components)
    )
    config.write_text(f'webui.listening_addr = "127.0.0.1:{ui_port}"\n' + config.read_text())
    api_url = f"http://127.0.0.1:{port}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "obelisk", "client", "execution", *args, "--api-url", api_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    with _servers(config) as (server,):
        execution_id = str(ExecutionId.generate())
        submitted = await asyncio.to_thread(cli, "submit", FIBOA, "[10, 2]", "--execution-id", execution_id, "--follow")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "OK: 55" in submitted.stdout, submitted.stdout
        listed = await asyncio.to_thread(cli, "list")
        assert listed.returncode == 0 and execution_id in listed.stdout, listed.stdout + listed.stderr
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.get(f"http://127.0.0.1:{ui_port}/execution/list") as response:
                assert response.status == 200
                assert execution_id in await response.text()
            async with session.get(f"http://127.0.0.1:{ui_port}/execution/{execution_id}") as response:
                assert response.status == 200
                page = await response.text()
        async with _database(postgres_cluster, postgres_database) as storage:
            children = [s.execution_id for s in await _all_of(storage, FIBO) if s.parent_execution_id == execution_id]
        assert len(children) == 2
        assert all(child in page for child in children), "the children are not on the page"
        assert "55" in page
        assert server.terminate() == 0
