"""Prometheus metrics: what the server counts as it works, and the ``/metrics`` listener that serves them.

Counters and histograms are plain in-memory increments made where the event happens (a commit, an attempt's end, a
timer, a webhook response): nothing is written or read for them, so turning metrics on adds no SQL to any step. The
gauges that must be right after a restart, and for every server on a shared database, are read from the database
when Prometheus scrapes (one grouped query for the executions by state, one over the pending index for the due
backlog, and the database size); the executor gauges are read from the executors at that moment.

Every metric lives in a registry of this server's own, not prometheus_client's global one, so that several servers
in one process (the tests) each serve their own. Labels are bounded by the configuration: function names, component
names, webhook endpoint names, result kinds and HTTP statuses, never execution ids. The listener is aiohttp on the
server's event loop, like the web UI. docs/observability.md lists every metric.
"""

from __future__ import annotations

import logging

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from obelisk.concepts.clock import MICROS_PER_SECOND, Clock
from obelisk.concepts.component_id import ComponentId
from obelisk.config.models import HttpConnectionLimits
from obelisk.executor.executor import Executor
from obelisk.executor.threads import AbandonedThreads
from obelisk.storage.interface import Storage, StorageError
from obelisk.storage.state_machine import STATES, Effects
from obelisk.webhooks.connection_watchdog import ConnectionTimeouts, WatchedAppRunner
from obelisk.webhooks.http_server import NO_ENDPOINT
from obelisk.workers.outcome import WorkerOutcome

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text format every Prometheus reads. Newer prometheus_client versions call theirs 1.0.0, which differs only for
names outside the classic character set: none of ours is."""

ATTEMPT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Attempts run from a millisecond (a workflow replaying to its next wait) to minutes (an activity's whole budget)."""
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""A commit is tens of microseconds (SQLite, synchronous NORMAL) to milliseconds (an fsync, a PostgreSQL round trip)."""
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""The timers watcher polls every 100 ms: lags are that order normally, seconds only when the server falls behind."""


def component_name(component_id: str) -> str:
    """The label of a component: its configured name, stable across new builds (the id carries the digest)."""
    return ComponentId.parse(component_id).name


def outcome_label(outcome: WorkerOutcome) -> str:
    """``Succeeded`` -> ``succeeded``, ``FailedTemporarily`` -> ``failed_temporarily``: one value per outcome type."""
    name = type(outcome).__name__
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


class Metrics:
    """The server's metrics; the recording methods are called on the event loop and never block."""

    def __init__(self, storage: Storage, clock: Clock, abandoned: AbandonedThreads) -> None:
        # The `_created` timestamp series would read as obelisk_executions_created_created; nobody needs them. The
        # switch is process-wide (prometheus_client has no per-registry one).
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call,unused-ignore]
        self._storage = storage
        self._clock = clock
        self._abandoned = abandoned
        self._executors: list[Executor] = []
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.executions_created = Counter(
            "obelisk_executions_created", "Executions created by this server, by function.", ["ffqn"], registry=registry
        )
        self.executions_finished = Counter(
            "obelisk_executions_finished",
            "Executions this server finished, by function and result kind (Ok, FallibleError, Cancelled, ...).",
            ["ffqn", "outcome"],
            registry=registry,
        )
        self.executions = Gauge(
            "obelisk_executions",
            "Executions in the database by function and pending state, read at scrape time.",
            ["ffqn", "state"],
            registry=registry,
        )
        self.attempt_duration = Histogram(
            "obelisk_attempt_duration_seconds",
            "Attempts (activity attempts, workflow runs) from their start to their outcome, by component and outcome.",
            ["component", "outcome"],
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )
        self.commit_duration = Histogram(
            "obelisk_storage_commit_duration_seconds",
            "Write transactions (group commits) of this server, from the hand-off to the database thread to commit.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.permits_in_use = Gauge(
            "obelisk_executor_permits_in_use",
            "Permits of max_inflight_instances held by runs in flight, per component.",
            ["component"],
            registry=registry,
        )
        self.permits = Gauge(
            "obelisk_executor_permits",
            "max_inflight_instances per component (1000000 stands for unlimited).",
            ["component"],
            registry=registry,
        )
        self.due_backlog = Gauge(
            "obelisk_executor_due_backlog",
            "Executions of the component's functions that are due and not locked yet, read at scrape time.",
            ["component"],
            registry=registry,
        )
        self.expired_locks = Counter(
            "obelisk_expired_locks",
            "Locks this server's timers watcher found expired (a run nobody recorded the end of), by function.",
            ["ffqn"],
            registry=registry,
        )
        self.abandoned_attempts = Counter(
            "obelisk_abandoned_attempts",
            "Attempts whose thread was abandoned at its deadline or cancel, per component.",
            ["component"],
            registry=registry,
        )
        self.abandoned_threads = Gauge(
            "obelisk_abandoned_threads",
            "Abandoned threads whose guest has not returned yet, per component.",
            ["component"],
            registry=registry,
        )
        self.timer_lag = Histogram(
            "obelisk_timer_lag_seconds",
            "How late timers were handled after they were due: delays (sleeps) and expired locks.",
            ["kind"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.webhook_requests = Counter(
            "obelisk_webhook_requests",
            "Webhook HTTP requests answered, by endpoint (empty when no route matched) and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.database_size = Gauge(
            "obelisk_database_size_bytes", "Size of the database, read at scrape time.", registry=registry
        )
        for kind in ("delay", "lock"):
            self.timer_lag.labels(kind)
        self._created: dict[str, Counter] = {}
        self._finished: dict[tuple[str, str], Counter] = {}
        self._endpoints: dict[str, str] = {}
        self._attempts: dict[tuple[str, type], Histogram] = {}
        self._runner: WatchedAppRunner | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------------------------------ recording
    def committed(self, effects: Effects, seconds: float) -> None:
        """A commit of this server: its duration, and the executions it created and finished."""
        self.commit_duration.observe(seconds)
        for ffqn in effects.created:
            child = self._created.get(ffqn)
            if child is None:
                child = self._created[ffqn] = self.executions_created.labels(ffqn)
            child.inc()
        for key in effects.finished:
            finished = self._finished.get(key)
            if finished is None:
                finished = self._finished[key] = self.executions_finished.labels(*key)
            finished.inc()

    def attempt_ended(self, component_id: str, outcome: WorkerOutcome, seconds: float) -> None:
        key = component_id, type(outcome)
        child = self._attempts.get(key)
        if child is None:
            child = self._attempts[key] = self.attempt_duration.labels(
                component_name(component_id), outcome_label(outcome)
            )
        child.observe(seconds)

    def attempt_abandoned(self, component_id: str) -> None:
        self.abandoned_attempts.labels(component_name(component_id)).inc()

    def delay_fired(self, lag_us: int) -> None:
        self.timer_lag.labels("delay").observe(max(0, lag_us) / MICROS_PER_SECOND)

    def lock_expired(self, ffqn: str, lag_us: int) -> None:
        self.expired_locks.labels(ffqn).inc()
        self.timer_lag.labels("lock").observe(max(0, lag_us) / MICROS_PER_SECOND)

    def webhook_responded(self, component_id: str, status: int) -> None:
        """A webhook request answered; ``component_id`` of its endpoint, or ``NO_ENDPOINT`` when no route matched."""
        endpoint = self._endpoints.get(component_id)
        if endpoint is None:
            endpoint = self._endpoints[component_id] = component_name(component_id) if component_id else NO_ENDPOINT
        self.webhook_requests.labels(endpoint, str(status)).inc()

    def add_executor(self, executor: Executor) -> None:
        """An executor whose permits, runs in flight, abandoned threads and due backlog are reported."""
        self._executors.append(executor)
        name = component_name(executor.config.component_id)
        self.permits.labels(name).set(executor.config.max_inflight_instances)
        self.abandoned_attempts.labels(name)  # series known in advance start at zero, so that rate() sees the first
        for ffqn in executor.worker.ffqns:
            self.expired_locks.labels(str(ffqn))
        self.permits_in_use.labels(name).set(0)
        self.abandoned_threads.labels(name).set(0)
        self.due_backlog.labels(name).set(0)

    # ------------------------------------------------------------------------------------------ scraping
    async def refresh(self) -> None:
        """Read the gauges: the database's now, and the executors'. A database that cannot be read leaves its
        gauges at their last values (the counters are served regardless)."""
        for executor in self._executors:
            component_id = executor.config.component_id
            name = component_name(component_id)
            self.permits_in_use.labels(name).set(executor.runs_in_flight)
            self.abandoned_threads.labels(name).set(self._abandoned.count(component_id))
        try:
            gauges = await self._storage.gauges(self._clock.now_us())
        except StorageError as error:
            log.warning("metrics: the database gauges were not read: %s", error)
            return
        self.executions.clear()
        for ffqn in sorted({ffqn for ffqn, _ in gauges.executions}):
            for state in STATES:
                self.executions.labels(ffqn, state).set(gauges.executions.get((ffqn, state), 0))
        for executor in self._executors:
            due = sum(gauges.due.get(str(ffqn), 0) for ffqn in executor.worker.ffqns)
            self.due_backlog.labels(component_name(executor.config.component_id)).set(due)
        self.database_size.set(gauges.size_bytes)

    async def exposition(self) -> bytes:
        """The text format Prometheus scrapes, with the gauges read now."""
        await self.refresh()
        return generate_latest(self.registry)

    # ------------------------------------------------------------------------------------------ the listener
    async def start(self, host: str, port: int) -> int:
        """Serve ``GET /metrics`` on ``host:port`` (on this event loop); returns the bound port."""
        app = web.Application()
        app.router.add_get(METRICS_PATH, self._scrape)
        timeouts = ConnectionTimeouts.of(HttpConnectionLimits())
        self._runner = WatchedAppRunner(
            app,
            timeouts=timeouts,
            shutdown_timeout=1.0,
            access_log=None,
            keepalive_timeout=timeouts.idle_seconds,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        log.info("metrics at http://%s:%s%s", host if ":" not in host else f"[{host}]", self.port, METRICS_PATH)
        return self.port or port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, request: web.Request) -> web.Response:
        body = await self.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
