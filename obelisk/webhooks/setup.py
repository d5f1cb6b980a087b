"""Builds and starts the ``[[http_server]]``s with their ``[[webhook_endpoint]]``s (called by ``Server.start``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from obelisk.concepts.clock import Clock, to_micros
from obelisk.concepts.ids import ExecutorId
from obelisk.config import ObeliskConfig, WebhookEndpointConfig, resolve_env_vars
from obelisk.registry import ComponentEntry, ComponentRegistry, ResolvedImport
from obelisk.service.executions import ExecutionService
from obelisk.storage.interface import Storage
from obelisk.wasm.activity_wasi import OutputForwarding
from obelisk.wasm.compile_cache import LoadedComponent
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.wasi_http.policy import OperatorPolicy
from obelisk.webhooks.executions import WebhookExecutions
from obelisk.webhooks.http_server import Mount, ResponseObserver, WebhookHttpServer
from obelisk.webhooks.worker import WebhookCalls, WebhookSettings, WebhookWorker

RECORD_LOCK_MARGIN = timedelta(seconds=10)


def record_lock_us(config: ObeliskConfig) -> int:
    """How long a webhook request's record is locked by its server: past the longest request deadline and the longest
    shutdown grace, after which a request is answered (and its record finished) or its server is gone."""
    longest_request = max((w.request_timeout for w in config.webhook_endpoint), default=timedelta(0))
    longest_grace = max((s.shutdown_grace for s in config.http_server), default=timedelta(0))
    return to_micros(longest_request + longest_grace + RECORD_LOCK_MARGIN)


def build_webhook_worker(
    entry: ComponentEntry,
    loaded: LoadedComponent,
    interfaces: ComponentInterfaces,
    resolved: list[ResolvedImport],
    engine: WasmEngine,
    calls: WebhookCalls | None,
    env: Mapping[str, str],
    operator: OperatorPolicy | None = None,
) -> WebhookWorker:
    webhook: WebhookEndpointConfig = entry.config
    return WebhookWorker(
        engine=engine,
        component=loaded.component,
        interfaces=interfaces,
        resolved_imports=resolved,
        settings=WebhookSettings(
            component_id=str(entry.component_id),
            env=resolve_env_vars(webhook.env_vars, env, webhook.name),
            forward_stdout=OutputForwarding(webhook.forward_stdout),
            forward_stderr=OutputForwarding(webhook.forward_stderr),
            request_timeout_seconds=webhook.request_timeout.total_seconds(),
            memory_limit=webhook.memory_limit,
            operator=operator,
        ),
        calls=calls,
    )


async def start_http_servers(
    config: ObeliskConfig,
    *,
    registry: ComponentRegistry,
    loaded: Mapping[str, LoadedComponent],
    interfaces: Mapping[str, ComponentInterfaces],
    resolved_imports: Mapping[str, list[ResolvedImport]],
    engine: WasmEngine,
    storage: Storage,
    executions: ExecutionService,
    clock: Clock,
    executor_id: ExecutorId,
    env: Mapping[str, str],
    responded: ResponseObserver | None = None,
    operator: OperatorPolicy | None = None,
) -> list[WebhookHttpServer]:
    """One started server per ``[[http_server]]``; on failure the ones already started are stopped."""
    records = WebhookExecutions(storage, executions, clock, executor_id, record_lock_us(config))
    calls = WebhookCalls(records, asyncio.get_running_loop())
    mounts: dict[str, list[Mount]] = {server.name: [] for server in config.http_server}
    for webhook in config.webhook_endpoint:
        entry = registry.component(webhook.name)
        worker = build_webhook_worker(
            entry,
            loaded[webhook.name],
            interfaces[webhook.name],
            resolved_imports.get(webhook.name, []),
            engine,
            calls,
            env,
            operator,
        )
        for route in webhook.routes:
            mounts[webhook.http_server].append(Mount(worker, route.route, route.methods))
    started: list[WebhookHttpServer] = []
    try:
        for server_config in config.http_server:
            server = WebhookHttpServer(server_config, mounts[server_config.name], responded)
            await server.start()
            started.append(server)
    except BaseException:
        for server in started:
            await server.stop()
        raise
    return started
