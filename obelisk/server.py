"""The composition root: builds storage, components, executors and the timers watcher from the config.

``Server.start`` is also the engine's Python API (tests and embedding programs use it directly); the CLI's
``obelisk server run`` is a thin wrapper that starts it and waits for a signal.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from obelisk import guest_log_sink
from obelisk.api.server import ApiServer
from obelisk.api.tls import ServerTls, load_listener_tls
from obelisk.api.tokens import TokenVerifier
from obelisk.concepts.clock import Clock, SystemClock, to_micros
from obelisk.concepts.component_id import ComponentId, ComponentType
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import UNLIMITED_RETRIES
from obelisk.concepts.ids import ExecutorId
from obelisk.config import (
    ActivityConfig,
    ComponentConfig,
    ExecConfig,
    ObeliskConfig,
    WebhookEndpointConfig,
    WorkflowConfig,
    resolve_env_vars,
)
from obelisk.config.values import parse_socket_addr
from obelisk.database import claim_identity, open_storage
from obelisk.executor.executor import Executor, ExecutorConfig
from obelisk.executor.held_locks import finish_unowned_webhook_records, release_held_locks
from obelisk.executor.identity import IdentityClaim
from obelisk.executor.live_runs import LiveRuns
from obelisk.executor.threads import AbandonedThreads
from obelisk.executor.timers import TimersWatcher
from obelisk.guest_log_sink import GuestLogSink
from obelisk.registry import ComponentEntry, ComponentRegistry, ResolvedImport, RetrySettings
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService
from obelisk.storage.interface import Storage, StorageError
from obelisk.tracing.setup import start_tracing, stop_tracing
from obelisk.wasm.activity_wasi import OutputForwarding
from obelisk.wasm.compile_cache import ComponentLoader, LoadedComponent
from obelisk.wasm.engine import PoolingLimits, WasmEngine
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.wasi_http.policy import OperatorPolicy, load_operator_policy
from obelisk.workers.activity import ActivitySettings, ActivityWorker
from obelisk.workers.workflow.inline import InlineActivities, InlineActivity
from obelisk.workers.workflow.run import BlockingStrategy, RunSettings
from obelisk.workers.workflow.worker import WorkflowSettings, WorkflowWorker

if TYPE_CHECKING:
    from obelisk.metrics import Metrics
    from obelisk.tracing.spans import Tracing
    from obelisk.webhooks.http_server import WebhookHttpServer
    from obelisk.webui.app import WebUiServer

log = logging.getLogger(__name__)

ACTIVITY_INFLIGHT_PER_CPU = 2
WORKFLOW_INFLIGHT_PER_CPU = 4
UNLIMITED_INFLIGHT = 1_000_000
SERVER_ABANDONED_THREADS_LIMIT = 32
"""At this many abandoned threads (guests stuck past their deadline, each keeping its instance's memory: ~20 MB
measured for a componentize-py activity) no component takes new work until one comes back. Each component's own
bound is its ``max_inflight_instances``."""


class StartupError(ObeliskError):
    """The server cannot start with this config; nothing was started."""


@dataclass(frozen=True, slots=True)
class PreparedComponents:
    """Components compiled, introspected and checked: everything ``verify`` needs and ``run`` builds on."""

    registry: ComponentRegistry
    loaded: dict[str, LoadedComponent]
    interfaces: dict[str, ComponentInterfaces]
    resolved_imports: dict[str, list[ResolvedImport]]
    """Per workflow and webhook: how each of its imports is served."""


def _retry_settings(component: ComponentConfig) -> RetrySettings:
    """What executions of this component inherit in their ``Created`` event (docs/compatibility.md#retry-policy)."""
    if isinstance(component, ActivityConfig):
        return RetrySettings(component.max_retries, to_micros(component.retry_exp_backoff))
    if isinstance(component, WorkflowConfig):
        return RetrySettings(UNLIMITED_RETRIES, to_micros(component.retry_exp_backoff))
    return RetrySettings(0, 0)


_KINDS: dict[type, ComponentType] = {
    ActivityConfig: ComponentType.ACTIVITY_WASM,
    WorkflowConfig: ComponentType.WORKFLOW,
    WebhookEndpointConfig: ComponentType.WEBHOOK_ENDPOINT,
}


def prepare_components(
    config: ObeliskConfig, engine: WasmEngine, env: Mapping[str, str], *, ignore_missing_env_vars: bool = False
) -> PreparedComponents:
    """Compile (or load from the codegen cache), introspect, register and link-check every configured component.

    Runs the checks of ``server verify``: every file exists and is a component, env vars resolve, no function is
    exported twice, every import of a workflow or webhook is satisfied. Blocking (it compiles); call it in a thread.
    """
    cache_dir = config.codegen_cache.directory if config.codegen_cache.enabled else None
    loader = ComponentLoader(engine, cache_dir)
    components: list[ComponentConfig] = [*config.activity_wasm, *config.workflow, *config.webhook_endpoint]
    loaded_list = loader.load_many([_location(component) for component in components])
    entries: list[ComponentEntry] = []
    loaded: dict[str, LoadedComponent] = {}
    interfaces_by_name: dict[str, ComponentInterfaces] = {}
    for component, compiled in zip(components, loaded_list, strict=True):
        env_vars = getattr(component, "env_vars", None)
        if env_vars:
            resolve_env_vars(env_vars, env, component.name, ignore_missing=ignore_missing_env_vars)
        interfaces = loader.interfaces(compiled)
        kind = _KINDS[type(component)]
        component_id = ComponentId.of(kind, component.name, compiled.digest)
        entries.append(
            ComponentEntry(
                component_id=component_id,
                name=component.name,
                kind=kind,
                digest=compiled.digest,
                path=compiled.path,
                exports=tuple(interfaces.exports),
                imports=tuple(interfaces.imports),
                retry=_retry_settings(component),
                config=component,
            )
        )
        loaded[component.name] = compiled
        interfaces_by_name[component.name] = interfaces
        log.info(
            "%s: %s in %.3f s",
            component_id,
            "loaded from the codegen cache" if compiled.compiled_from_cache else "compiled",
            compiled.seconds,
        )
    registry = ComponentRegistry(entries)
    resolved = {
        entry.name: registry.resolve_imports(entry.name, entry.imports)
        for entry in entries
        if entry.kind is not ComponentType.ACTIVITY_WASM
    }
    return PreparedComponents(registry, loaded, interfaces_by_name, resolved)


def wasm_engine(config: ObeliskConfig) -> WasmEngine:
    """The engine ``wasmtime_allocator_config`` asks for: on demand (``auto``, ``on_demand``) or pooling, with the
    limits of ``[wasmtime_pooling_config]``. Raises ``EngineConfigError`` when the pool cannot be reserved."""
    if config.wasmtime_allocator_config != "pooling":
        return WasmEngine()
    pooling = config.wasmtime_pooling_config
    limits = PoolingLimits(
        linear_memory_keep_resident=pooling.pooling_memory_keep_resident,
        table_keep_resident=pooling.pooling_table_keep_resident,
        total_core_instances=pooling.pooling_total_core_instances,
        total_component_instances=pooling.pooling_total_component_instances,
        total_memories=pooling.pooling_total_memories,
        total_tables=pooling.pooling_total_tables,
        max_memory_size=pooling.pooling_max_memory_size,
    )
    described = ", ".join(f"{name} {value}" for name, value in asdict(limits).items() if value is not None)
    log.info("wasmtime's pooling allocator, with %s", described or "wasmtime's default limits")
    return WasmEngine(pooling=limits)


def _location(component: ComponentConfig) -> Path:
    if component.location.path is None:
        raise StartupError(f"component {component.name!r}: location.path is required")
    return component.location.path


GC_GEN0_THRESHOLD = 50_000


def _tune_garbage_collector() -> None:
    """Move everything loaded at start-up (modules, pydantic and protobuf schemas, components) out of the cyclic
    collector's reach, and let it run less often: with the defaults a busy server spent about a third of its CPU
    scanning that unchanging heap. Stores and instances never depend on it: runs close their stores themselves."""
    gc.freeze()  # without a collection first: that costs ~60 ms of start-up, and the garbage it would free is small
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class Server:
    def __init__(
        self,
        *,
        config: ObeliskConfig,
        engine: WasmEngine,
        storage: Storage,
        registry: ComponentRegistry,
        executors: list[Executor],
        timers: TimersWatcher,
        claim: IdentityClaim,
        executor_id: ExecutorId,
        clock: Clock,
        loaded: dict[str, LoadedComponent],
        abandoned: AbandonedThreads,
        traces: Tracing | None = None,
    ) -> None:
        self.config = config
        self.traces = traces
        """The OpenTelemetry traces this server exports, when ``[otlp]`` enables them."""
        self.loaded = loaded
        """How each component's code was obtained (``compiled_from_cache`` shows a restart did not recompile)."""
        self.engine = engine
        self.storage = storage
        self.registry = registry
        self.executors = executors
        self.timers = timers
        self.claim = claim
        """This process's lock on its identity: no other server uses its executor id (nor, on SQLite, its database)
        meanwhile."""
        self.executor_id = executor_id
        self.clock = clock
        self.abandoned = abandoned
        """Threads abandoned at a deadline, per component; a component at its bound takes no new work."""
        self.log_sink = GuestLogSink(storage, clock)
        """Stores what guests log and print, per execution (``obelisk.guest_log_sink``)."""
        self.executions = ExecutionService(storage, registry, clock)
        self.components = ComponentService(registry)
        self.tokens = TokenVerifier.from_config(config)
        """Who may call the API and sign in to the web UI (``obelisk.api.tokens``)."""
        self.api: ApiServer | None = None
        """The gRPC API, listening on ``api.listening_addr`` once ``start`` returns."""
        self.webui: WebUiServer | None = None
        """The web UI, when ``webui.listening_addr`` is set."""
        self.http_servers: list[WebhookHttpServer] = []
        """One per ``[[http_server]]``, serving the webhook endpoints mounted on it."""
        self.metrics: Metrics | None = None
        """The Prometheus metrics, when ``metrics.listening_addr`` is set (served there once ``start`` returns)."""

    @property
    def api_port(self) -> int:
        """The port the gRPC API is bound to (useful with ``api.listening_addr = "127.0.0.1:0"``)."""
        if self.api is None:
            raise RuntimeError("the gRPC API is not started")
        return self.api.port

    @property
    def webui_port(self) -> int:
        """The port the web UI is bound to (useful with ``webui.listening_addr = "127.0.0.1:0"``)."""
        if self.webui is None:
            raise RuntimeError("the web UI is not started: webui.listening_addr is not set")
        return self.webui.port

    @property
    def metrics_port(self) -> int:
        """The port ``/metrics`` is served on (useful with ``metrics.listening_addr = "127.0.0.1:0"``)."""
        if self.metrics is None or self.metrics.port is None:
            raise RuntimeError("metrics are not served: metrics.listening_addr is not set")
        return self.metrics.port

    def http_server_port(self, name: str) -> int:
        """The port the ``[[http_server]]`` named ``name`` is bound to (e.g. with ``listening_addr = "...:0"``)."""
        for http_server in self.http_servers:
            if http_server.config.name == name and http_server.port is not None:
                return http_server.port
        raise RuntimeError(f"http_server {name!r} is not started")

    @classmethod
    async def start(
        cls,
        config: ObeliskConfig,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Server:
        clock = clock or SystemClock()
        env = os.environ if env is None else env
        started = time.perf_counter()
        tls = load_listener_tls(config)  # before anything starts: a bad TLS file starts nothing
        # The secrets too: a value that cannot be read stops the start before anything is claimed.
        operator = load_operator_policy(config.outbound_http, config.secrets, env)
        engine = wasm_engine(config)
        _ensure_dirs(config)
        claim = claim_identity(config)
        engine.start()
        storage: Storage | None = None
        traces: Tracing | None = None
        try:
            prepared_task = asyncio.create_task(asyncio.to_thread(prepare_components, config, engine, env))
            storage = await open_storage(config, clock)
            prepared = await prepared_task
            executor_id = claim.executor_id()
            traces = start_tracing(config.otlp, storage, executor_id)
            live_runs = LiveRuns()
            await release_held_locks(storage, executor_id, clock, after_crash=True)
            await finish_unowned_webhook_records(storage, clock)
            abandoned = AbandonedThreads(SERVER_ABANDONED_THREADS_LIMIT)
            metrics = _metrics(config, storage, clock, abandoned)
            executors = [
                _activity_executor(
                    entry,
                    prepared.loaded[entry.name],
                    engine,
                    storage,
                    executor_id,
                    clock,
                    live_runs,
                    env,
                    abandoned,
                    metrics,
                    operator,
                )
                for entry in prepared.registry.components
                if entry.kind is ComponentType.ACTIVITY_WASM
            ]
            inline = _inline_activities(executors)
            executors += [
                _workflow_executor(
                    entry, prepared, engine, storage, executor_id, clock, live_runs, inline, abandoned, metrics
                )
                for entry in prepared.registry.components
                if entry.kind is ComponentType.WORKFLOW
            ]
            if metrics is not None:
                for executor in executors:
                    metrics.add_executor(executor)
        except BaseException:
            await stop_tracing(traces)
            if storage is not None:
                await storage.close()
            engine.stop()
            claim.release()
            raise
        timers = TimersWatcher(storage, clock, live_runs, metrics=metrics)
        server = cls(
            config=config,
            engine=engine,
            storage=storage,
            registry=prepared.registry,
            executors=executors,
            timers=timers,
            claim=claim,
            executor_id=executor_id,
            clock=clock,
            loaded=prepared.loaded,
            abandoned=abandoned,
            traces=traces,
        )
        server.metrics = metrics
        abandoned.on_change = server._component_accepting
        server.log_sink.start()
        guest_log_sink.install(server.log_sink)
        for executor in executors:
            executor.start()
        timers.start()
        try:
            host, port = config.api.host_port
            server.api = await ApiServer.start(
                host,
                port,
                executions=server.executions,
                components=server.components,
                tls=tls.api,
                tokens=server.tokens,
            )
            for executor in executors:  # a component that stopped taking work before the API was up
                if not abandoned.accepting(executor.config.component_id):
                    server._component_accepting(executor.config.component_id, False)
            if config.webui_listening_addr is not None:
                server.webui = await _start_webui(server, config.webui_listening_addr, tls.webui)
            if config.http_server:
                server.http_servers = await _start_http_servers(server, prepared, env, operator)
            if metrics is not None and config.metrics.listening_addr is not None:
                await metrics.start(*parse_socket_addr(config.metrics.listening_addr))
        except BaseException:
            await server.stop()
            raise
        _tune_garbage_collector()
        log.info("server started in %.3f s with %d components", time.perf_counter() - started, len(executors))
        return server

    def _component_accepting(self, component_id: str, accepting: bool) -> None:
        """Health reports a component that takes no new work (at its bound of abandoned threads) as NOT_SERVING."""
        if self.api is not None:
            self.api.set_component_serving(ComponentId.parse(component_id).name, accepting)

    async def stop(self) -> None:
        """Stop taking work and close the database. In-flight attempts are not waited for: their locks are
        released here (or, if that write fails, by this server's next start), so they are retried, never lost or
        doubled; their late writes are refused by the version check.

        Webhook requests in flight get their server's ``shutdown_grace`` (the servers stop side by side, so the
        graces do not add up), then their guests are stopped and their execution records finished, before the
        database closes; the children they started are durable and go on after the next start."""
        if self.metrics is not None:
            await self.metrics.stop()
        await asyncio.gather(*(http_server.stop() for http_server in self.http_servers))
        if self.webui is not None:
            await self.webui.stop()
        if self.api is not None:
            await self.api.stop()
        await self.timers.stop()
        for executor in self.executors:
            await executor.stop()
        if guest_log_sink.installed() is self.log_sink:
            guest_log_sink.install(None)
        await self.log_sink.stop()
        try:
            await release_held_locks(self.storage, self.executor_id, self.clock, after_crash=False)
        except StorageError as error:
            log.warning("locks not released at stop (the next start releases them): %s", error)
        await stop_tracing(self.traces)
        await self.storage.close()
        self.engine.stop()
        self.claim.release()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _start_webui(server: Server, listening_addr: str, tls: ServerTls | None) -> WebUiServer:
    # Imported here: aiohttp and jinja2 cost ~0.4 s, which a server without a UI should not pay at start-up.
    from obelisk.webui import start_webui  # noqa: PLC0415

    host, port = parse_socket_addr(listening_addr)
    return await start_webui(
        server.executions,
        server.components,
        server.clock,
        host,
        port,
        server.config.webui,
        ssl_context=None if tls is None else tls.context,
        tokens=server.tokens,
    )


async def _start_http_servers(
    server: Server, prepared: PreparedComponents, env: Mapping[str, str], operator: OperatorPolicy | None
) -> list[WebhookHttpServer]:
    # Imported here for the same reason as the web UI: a server without webhooks need not load aiohttp.
    from obelisk.webhooks.setup import start_http_servers  # noqa: PLC0415

    return await start_http_servers(
        server.config,
        registry=prepared.registry,
        loaded=prepared.loaded,
        interfaces=prepared.interfaces,
        resolved_imports=prepared.resolved_imports,
        engine=server.engine,
        storage=server.storage,
        executions=server.executions,
        clock=server.clock,
        executor_id=server.executor_id,
        env=env,
        responded=server.metrics.webhook_responded if server.metrics is not None else None,
        operator=operator,
    )


def _activity_executor(
    entry: ComponentEntry,
    loaded: LoadedComponent,
    engine: WasmEngine,
    storage: Storage,
    executor_id: ExecutorId,
    clock: Clock,
    live_runs: LiveRuns,
    env: Mapping[str, str],
    abandoned: AbandonedThreads,
    metrics: Metrics | None,
    operator: OperatorPolicy | None,
) -> Executor:
    activity: ActivityConfig = entry.config
    worker = ActivityWorker(
        engine=engine,
        component=loaded.component,
        exports=entry.exports,
        settings=ActivitySettings(
            component_id=str(entry.component_id),
            env=resolve_env_vars(activity.env_vars, env, activity.name),
            forward_stdout=OutputForwarding(activity.forward_stdout),
            forward_stderr=OutputForwarding(activity.forward_stderr),
            retry_on_err=activity.retry_on_err,
            allows=activity.is_host_allowed if activity.allowed_hosts is not None else None,
            operator=operator,
            max_outbound_requests=activity.outbound_request_limit,
            memory_limit=activity.memory_limit,
        ),
        clock=clock,
    )
    return Executor(
        storage=storage,
        worker=worker,
        config=_executor_config(entry, activity.exec, ACTIVITY_INFLIGHT_PER_CPU),
        executor_id=executor_id,
        clock=clock,
        live_runs=live_runs,
        abandoned=abandoned,
        metrics=metrics,
    )


def _metrics(config: ObeliskConfig, storage: Storage, clock: Clock, abandoned: AbandonedThreads) -> Metrics | None:
    """The metrics when ``metrics.listening_addr`` asks for them, counting this storage's commits from now on.

    Imported only then, as the web UI is: a server without metrics loads neither prometheus_client nor aiohttp."""
    if config.metrics.listening_addr is None:
        return None
    from obelisk.metrics import Metrics  # noqa: PLC0415

    metrics = Metrics(storage, clock, abandoned)
    storage.observe_commits(metrics.committed)
    return metrics


def _ensure_dirs(config: ObeliskConfig) -> None:
    # The directory of the identity (the SQLite file's, or data_directory) is created by claim_identity.
    if config.codegen_cache.enabled:
        config.codegen_cache.directory.mkdir(parents=True, exist_ok=True)


def _inline_activities(activity_executors: list[Executor]) -> InlineActivities:
    """Every activity function, for workflows that call it directly (see ``obelisk.workers.workflow.inline``)."""
    return {
        ffqn: InlineActivity(executor.worker, executor.config.component_id, executor.config.lock_expiry_us)
        for executor in activity_executors
        for ffqn in executor.worker.ffqns
    }


def _workflow_executor(
    entry: ComponentEntry,
    prepared: PreparedComponents,
    engine: WasmEngine,
    storage: Storage,
    executor_id: ExecutorId,
    clock: Clock,
    live_runs: LiveRuns,
    inline: InlineActivities,
    abandoned: AbandonedThreads,
    metrics: Metrics | None,
) -> Executor:
    workflow: WorkflowConfig = entry.config
    worker = WorkflowWorker(
        engine=engine,
        component=prepared.loaded[entry.name].component,
        interfaces=prepared.interfaces[entry.name],
        resolved_imports=prepared.resolved_imports[entry.name],
        settings=WorkflowSettings(
            run=RunSettings(
                component_id=str(entry.component_id),
                strategy=BlockingStrategy(workflow.join_next_blocking_strategy),
                batch_limit=max(1, workflow.non_blocking_event_batching),
                lock_expiry_us=to_micros(workflow.exec.lock_expiry),
                max_uncommitted_steps=workflow.max_uncommitted_steps,
            ),
            retry_on_trap=workflow.retry_on_trap,
            memory_limit=workflow.memory_limit,
        ),
        storage=storage,
        loop=asyncio.get_running_loop(),
        registry=prepared.registry,
        clock=clock,
        executor_id=executor_id,
        inline_activities=inline,
    )
    return Executor(
        storage=storage,
        worker=worker,
        config=_executor_config(entry, workflow.exec, WORKFLOW_INFLIGHT_PER_CPU),
        executor_id=executor_id,
        clock=clock,
        live_runs=live_runs,
        abandoned=abandoned,
        metrics=metrics,
    )


def _executor_config(entry: ComponentEntry, exec_config: ExecConfig, per_cpu: int) -> ExecutorConfig:
    inflight = exec_config.resolve_max_inflight_instances(per_cpu)
    return ExecutorConfig(
        component_id=str(entry.component_id),
        batch_size=exec_config.batch_size,
        lock_expiry_us=to_micros(exec_config.lock_expiry),
        tick_sleep_seconds=exec_config.tick_sleep / timedelta(seconds=1),
        max_inflight_instances=inflight if inflight is not None else UNLIMITED_INFLIGHT,
        max_abandoned_threads=min(inflight or SERVER_ABANDONED_THREADS_LIMIT, SERVER_ABANDONED_THREADS_LIMIT),
    )
