"""What only the PostgreSQL backend has: opening a target (typed errors, provisioning), notifications between
servers, lost connections, and the notification payloads' size limit."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from obelisk.concepts.events import ChildExecutionFinished, JoinSetCreated, PendingAt
from obelisk.concepts.ids import JoinSetId
from obelisk.concepts.results import Ok
from obelisk.storage import state_machine
from obelisk.storage.interface import DeliverResponse, StorageUnavailable
from obelisk.storage.postgres import notify
from obelisk.storage.postgres.backend import PostgresStorage
from obelisk.storage.postgres.errors import AuthenticationFailed, DatabaseMissing, DatabaseUnreachable
from obelisk.storage.state_machine import Effects
from tests.postgres_cluster import PostgresCluster, _free_port

from .helpers import ACTIVITY, T0, WORKFLOW, created, new_id


# ---------------------------------------------------------------------------------------------- opening
async def test_auto_provisioning_creates_the_database_and_never_refuses_a_missing_one(
    postgres_cluster: PostgresCluster,
) -> None:
    name = f"provisioned_{new_id().lower()[-8:]}"
    never = postgres_cluster.target(name, provision_policy="never")
    with pytest.raises(DatabaseMissing) as info:
        await PostgresStorage.open(never)
    message = str(info.value)
    assert name in message and "provision_policy" in message and "\n" not in message
    assert postgres_cluster.password not in message
    try:
        storage = await PostgresStorage.open(postgres_cluster.target(name))  # auto is the default
        try:
            eid = new_id()
            await storage.create(eid, created(), T0)
        finally:
            await storage.close()
        storage = await PostgresStorage.open(never)  # exists now: "never" opens it
        try:
            assert await storage.get_pending_state(eid) == PendingAt(T0)
        finally:
            await storage.close()
    finally:
        postgres_cluster.drop_database(name)


async def test_open_errors_say_what_is_wrong_in_one_line(postgres_cluster: PostgresCluster) -> None:
    wrong_password = postgres_cluster.target("postgres", password="not-the-password")
    with pytest.raises(AuthenticationFailed) as auth:
        await PostgresStorage.open(wrong_password)
    assert "authentication failed" in str(auth.value) and "not-the-password" not in str(auth.value)
    assert wrong_password.describe() in str(auth.value)

    nobody_listens = postgres_cluster.target("postgres", port=_free_port(), connect_timeout_seconds=2)
    started = time.perf_counter()
    with pytest.raises(DatabaseUnreachable) as unreachable:
        await PostgresStorage.open(nobody_listens)
    assert time.perf_counter() - started < 5
    assert isinstance(unreachable.value, StorageUnavailable)
    assert "unreachable" in str(unreachable.value) and nobody_listens.describe() in str(unreachable.value)

    no_create = postgres_cluster.target("postgres", user="nobody_here", password="x")
    with pytest.raises(AuthenticationFailed):
        await PostgresStorage.open(no_create)
    for error in (auth.value, unreachable.value):
        assert "\n" not in str(error)


async def test_a_read_only_database_is_refused_at_open(
    postgres_cluster: PostgresCluster, postgres_database: str
) -> None:
    target = postgres_cluster.target(postgres_database)
    storage = await PostgresStorage.open(target)  # migrates
    await storage.close()
    postgres_cluster.sql(f'ALTER DATABASE "{postgres_database}" SET default_transaction_read_only = on')
    with pytest.raises(StorageUnavailable, match="read-only"):
        await PostgresStorage.open(target)


# ---------------------------------------------------------------------------------------------- notifications
async def test_another_servers_commits_wake_executors_and_followers_at_once(
    postgres_cluster: PostgresCluster, postgres_database: str
) -> None:
    target = postgres_cluster.target(postgres_database)
    a = await PostgresStorage.open(target)
    b = await PostgresStorage.open(target)
    try:
        # An executor on A waits for work; B creates it.
        waiter = asyncio.create_task(a.wait_for_pending([ACTIVITY], timeout=5.0))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        started = time.perf_counter()
        await b.create(new_id(), created(), T0)
        await asyncio.wait_for(waiter, 2.0)
        assert time.perf_counter() - started < 0.5

        # A follower on A sees B's change with its new status, without reading.
        wf = new_id(1)
        with a.watch_status(wf) as watch:
            # The creation's notification first: arriving after the watch opened, it must not be taken for the
            # append's.
            await b.create(wf, created(WORKFLOW), T0)
            assert await watch.wait(2.0)
            created_status = watch.take()
            assert created_status is not None and created_status.change_count == 1
            js = JoinSetId.generate()
            await b.append(wf, 1, [JoinSetCreated(js)], T0)
            assert await watch.wait(2.0)
            pushed = watch.take()
            assert pushed == await a.get_status(wf)
            assert pushed is not None and pushed.change_count == 2
            # ... and wait_for_change returns as soon as B delivers a response.
            waiting = asyncio.create_task(a.wait_for_change(wf, 2, timeout=5.0))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            started = time.perf_counter()
            await b.write([DeliverResponse(wf, js, ChildExecutionFinished(wf.child(0), Ok(None)))], T0)
            await asyncio.wait_for(waiting, 2.0)
            assert time.perf_counter() - started < 0.5
    finally:
        await a.close()
        await b.close()


def test_one_commits_announcements_are_split_under_the_payload_limit() -> None:
    effects = Effects()
    for i in range(300):
        row = state_machine.new_execution(new_id(i), created())
        row.join_set_id = "JoinSet_" + "x" * 40
        effects.note_created(row, T0)
    payloads = notify.encode("me", effects)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    decoded = [notify.decode(p) for p in payloads]
    assert decoded[0].pending_now == [str(ACTIVITY)]
    statuses = {eid: s for d in decoded for eid, s in d.statuses.items()}
    assert statuses == {eid: state_machine.status(row) for eid, row in effects.changed.items()}
    assert notify.encode("me", Effects()) == []


# ---------------------------------------------------------------------------------------------- lost connections
async def test_writes_and_reads_reconnect_after_the_connections_were_killed(
    postgres_cluster: PostgresCluster, postgres_database: str
) -> None:
    target = postgres_cluster.target(postgres_database)
    storage = await PostgresStorage.open(target)
    follower = await PostgresStorage.open(target)
    try:
        eid = new_id()
        await storage.create(eid, created(), T0)
        kill = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{postgres_database}' AND pid <> pg_backend_pid()"
        )
        postgres_cluster.sql(kill)
        await asyncio.sleep(0.1)
        # Nothing was in flight: the next read and write find their connections dead and make new ones.
        assert await storage.get_pending_state(eid) == PendingAt(T0)
        await storage.append(eid, 1, [JoinSetCreated(JoinSetId.generate())], T0)
        assert storage.write_health.writable
        assert (await storage.get(eid)).next_version == 2
        # The follower's listener came back too: it hears the next change.
        with follower.watch_status(eid) as watch:
            deadline = time.monotonic() + 10
            while True:
                await storage.append(
                    eid, (await storage.get(eid)).next_version, [JoinSetCreated(JoinSetId.generate())], T0
                )
                if await watch.wait(0.5) or time.monotonic() > deadline:
                    break
            assert watch.take() is not None
    finally:
        await storage.close()
        await follower.close()


def test_describe_never_shows_the_password(postgres_cluster: PostgresCluster) -> None:
    target = postgres_cluster.target("x")
    assert target.password and target.password not in target.describe()
    assert (
        dataclasses.replace(target, host="/run/postgresql").describe()
        == f"postgresql://{target.user}@/run/postgresql/x"
    )


async def test_a_failed_write_marks_the_database_unwritable_until_a_write_would_work(
    postgres_cluster: PostgresCluster, postgres_database: str
) -> None:
    """The server's sessions become read-only (as after a failover to a standby): writes fail as unavailable, the
    health says so, and the probe finds the database writable again once it is, on a new connection."""
    target = postgres_cluster.target(postgres_database)
    storage = await PostgresStorage.open(target)
    storage.write_probe_seconds = 0.1
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{postgres_database}' AND pid <> pg_backend_pid()"
    )
    try:
        eid = new_id()
        await storage.create(eid, created(), T0)
        postgres_cluster.sql(f'ALTER DATABASE "{postgres_database}" SET default_transaction_read_only = on')
        postgres_cluster.sql(kill)
        with pytest.raises(StorageUnavailable, match="read-only"):
            await storage.append(eid, 1, [JoinSetCreated(JoinSetId.generate())], T0)
        assert not storage.write_health.writable
        await asyncio.sleep(0.3)
        assert not storage.write_health.writable  # the probe writes nothing and still fails
        assert await storage.get_pending_state(eid) == PendingAt(T0)  # reads go on
        postgres_cluster.sql(f'ALTER DATABASE "{postgres_database}" RESET default_transaction_read_only')
        deadline = time.monotonic() + 5
        while not storage.write_health.writable and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert storage.write_health.writable
        await storage.append(eid, 1, [JoinSetCreated(JoinSetId.generate())], T0)
        assert (await storage.get(eid)).next_version == 2
    finally:
        await storage.close()
