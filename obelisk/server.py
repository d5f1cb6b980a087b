"""The composition root: builds storage, components, executors and the timers watcher from the config.

``Server.start`` is also the engine's Python API (tests and embedding programs use it directly); the CLI's
``obelisk server run`` is a thin wrapper that starts it and waits for a signal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from obelisk.concepts.clock import Clock, SystemClock, to_micros
from obelisk.concepts.component_id import ComponentId, ComponentType
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ids import ExecutorId
from obelisk.config import ActivityConfig, ObeliskConfig, resolve_env_vars
from obelisk.executor.executor import Executor, ExecutorConfig
from obelisk.executor.timers import TimersWatcher
from obelisk.registry import ComponentEntry, ComponentRegistry, RetrySettings
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService
from obelisk.storage.interface import Storage
from obelisk.storage.sqlite import SqliteStorage
from obelisk.wasm.activity_wasi import OutputForwarding
from obelisk.wasm.compile_cache import ComponentLoader, LoadedComponent
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.introspect import inspect_component
from obelisk.workers.activity import ActivitySettings, ActivityWorker

log = logging.getLogger(__name__)

ACTIVITY_INFLIGHT_PER_CPU = 2


class StartupError(ObeliskError):
    """The server cannot start with this config; nothing was started."""


@dataclass(frozen=True, slots=True)
class PreparedComponents:
    """Components compiled, introspected and checked: everything ``verify`` needs and ``run`` builds on."""

    registry: ComponentRegistry
    loaded: dict[str, LoadedComponent]


def prepare_components(
    config: ObeliskConfig, engine: WasmEngine, env: Mapping[str, str], *, ignore_missing_env_vars: bool = False
) -> PreparedComponents:
    """Compile (or load from the codegen cache), introspect and register every configured component.

    Runs the checks of ``server verify``: every file exists and is a component, env vars resolve, no function is
    exported twice. Blocking (it compiles); call it in a thread.
    """
    cache_dir = config.codegen_cache.directory if config.codegen_cache.enabled else None
    loader = ComponentLoader(engine, cache_dir)
    activities = list(config.activity_wasm)
    paths = [_location(activity) for activity in activities]
    loaded_list = loader.load_many(paths)
    entries: list[ComponentEntry] = []
    loaded: dict[str, LoadedComponent] = {}
    for activity, component in zip(activities, loaded_list, strict=True):
        resolve_env_vars(activity.env_vars, env, activity.name, ignore_missing=ignore_missing_env_vars)
        interfaces = inspect_component(engine.engine, component.component)
        component_id = ComponentId.of(ComponentType.ACTIVITY_WASM, activity.name, component.digest)
        entries.append(
            ComponentEntry(
                component_id=component_id,
                name=activity.name,
                kind=ComponentType.ACTIVITY_WASM,
                digest=component.digest,
                path=component.path,
                exports=tuple(interfaces.exports),
                imports=tuple(interfaces.imports),
                retry=RetrySettings(activity.max_retries, to_micros(activity.retry_exp_backoff)),
                config=activity,
            )
        )
        loaded[activity.name] = component
        log.info(
            "%s: %s in %.3f s",
            component_id,
            "loaded from the codegen cache" if component.compiled_from_cache else "compiled",
            component.seconds,
        )
    return PreparedComponents(ComponentRegistry(entries), loaded)


def _location(component: ActivityConfig) -> Path:
    if component.location.path is None:
        raise StartupError(f"component {component.name!r}: location.path is required")
    return component.location.path


def executor_identity(sqlite_file: Path) -> ExecutorId:
    """This server's persistent executor id, kept next to its database (DESIGN §10 "Restart").

    Locks held under it at start-up belong to this server's previous, dead process and can be released at once.
    """
    path = sqlite_file.with_name(sqlite_file.name + ".executor-id")
    if path.exists():
        return ExecutorId.parse(path.read_text().strip())
    executor_id = ExecutorId.generate()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(executor_id + "\n")
    tmp.replace(path)
    return executor_id


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
        executor_id: ExecutorId,
        clock: Clock,
        loaded: dict[str, LoadedComponent],
    ) -> None:
        self.config = config
        self.loaded = loaded
        """How each component's code was obtained (``compiled_from_cache`` shows a restart did not recompile)."""
        self.engine = engine
        self.storage = storage
        self.registry = registry
        self.executors = executors
        self.timers = timers
        self.executor_id = executor_id
        self.clock = clock
        self.executions = ExecutionService(storage, registry, clock)
        self.components = ComponentService(registry)

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
        _ensure_dirs(config)
        engine = WasmEngine()
        engine.start()
        storage: Storage | None = None
        try:
            prepared_task = asyncio.create_task(asyncio.to_thread(prepare_components, config, engine, env))
            storage = await SqliteStorage.open(config.sqlite.file, synchronous=config.sqlite.synchronous, clock=clock)
            prepared = await prepared_task
            executor_id = executor_identity(config.sqlite.file)
            released = await storage.unlock_executor(executor_id, clock.now_us(), "server restarted")
            if released:
                log.info("released %d executions locked by this server's previous process", len(released))
            executors = [
                _activity_executor(entry, prepared.loaded[entry.name], engine, storage, executor_id, clock, env)
                for entry in prepared.registry.components
                if entry.kind is ComponentType.ACTIVITY_WASM
            ]
        except BaseException:
            if storage is not None:
                await storage.close()
            engine.stop()
            raise
        timers = TimersWatcher(storage, clock)
        server = cls(
            config=config,
            engine=engine,
            storage=storage,
            registry=prepared.registry,
            executors=executors,
            timers=timers,
            executor_id=executor_id,
            clock=clock,
            loaded=prepared.loaded,
        )
        for executor in executors:
            executor.start()
        timers.start()
        log.info("server started in %.3f s with %d components", time.perf_counter() - started, len(executors))
        return server

    async def stop(self) -> None:
        """Stop taking work and close the database. In-flight attempts are not waited for: their locks are
        released by this server's next start (or expire), so they are retried, never lost or doubled."""
        await self.timers.stop()
        for executor in self.executors:
            await executor.stop()
        await self.storage.close()
        self.engine.stop()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _activity_executor(
    entry: ComponentEntry,
    loaded: LoadedComponent,
    engine: WasmEngine,
    storage: Storage,
    executor_id: ExecutorId,
    clock: Clock,
    env: Mapping[str, str],
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
        ),
        clock=clock,
    )
    inflight = activity.exec.resolve_max_inflight_instances(ACTIVITY_INFLIGHT_PER_CPU)
    return Executor(
        storage=storage,
        worker=worker,
        config=ExecutorConfig(
            component_id=str(entry.component_id),
            batch_size=activity.exec.batch_size,
            lock_expiry_us=to_micros(activity.exec.lock_expiry),
            tick_sleep_seconds=activity.exec.tick_sleep / timedelta(seconds=1),
            max_inflight_instances=inflight if inflight is not None else 1_000_000,
        ),
        executor_id=executor_id,
        clock=clock,
    )


def _ensure_dirs(config: ObeliskConfig) -> None:
    config.sqlite.file.parent.mkdir(parents=True, exist_ok=True)
    if config.codegen_cache.enabled:
        config.codegen_cache.directory.mkdir(parents=True, exist_ok=True)
