"""The gRPC server: both repositories plus the standard health and reflection services, gzip by default.

gRPC-web and zstd are not offered (grpcio has neither). Reflection lets ``grpcurl`` work without
the ``.proto`` file; health answers ``SERVING`` for the whole server and each repository once they are added, and
``NOT_SERVING`` for the server and ``ExecutionRepository`` while the database cannot be written (disk full,
read-only: the storage's ``WriteHealth``), and for each component under ``component:<name>``, ``NOT_SERVING``
while the component takes no new work (at its bound of threads abandoned by stuck guests). Every method handler
is wrapped by ``request_guard.guard``, so a request that is not a valid message is an ``INVALID_ARGUMENT`` with
one log line.

Health and reflection are built on their first call (``StandardServices``): their modules cost ~10 ms of
imports at every start, and the first request of a freshly started server is never one of theirs.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from obelisk.api.executions import ExecutionRepository
from obelisk.api.functions import FunctionRepository
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.api.request_guard import guard
from obelisk.api.tls import ServerTls
from obelisk.concepts.errors import ObeliskError
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService
from obelisk.storage.write_health import WriteHealth

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())
WRITING_SERVICES = ("", "obelisk.ExecutionRepository")
"""Reported ``NOT_SERVING`` while the database cannot be written (listing components needs no database)."""
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"


class ApiBindError(ObeliskError):
    """The API address cannot be listened on (in use, or not an address of this host)."""


class ApiServer:
    def __init__(self, server: grpc.aio.Server, port: int, standard: StandardServices) -> None:
        self._server = server
        self.port = port
        """The bound port (the configured one, or the one the OS chose for port 0)."""
        self._standard = standard

    @classmethod
    async def start(
        cls,
        host: str,
        port: int,
        *,
        executions: ExecutionService,
        components: ComponentService,
        tls: ServerTls | None = None,
    ) -> ApiServer:
        """Listen on ``host:port``, with TLS (and mutual TLS when it has a client CA) when ``tls`` is given."""
        server = grpc.aio.server(compression=grpc.Compression.Gzip)
        _add_guarded(server, pb_grpc.add_ExecutionRepositoryServicer_to_server, ExecutionRepository(executions))
        _add_guarded(server, pb_grpc.add_FunctionRepositoryServicer_to_server, FunctionRepository(components))
        component_names = tuple(component_service_name(view.entry.name) for view in components.list_components())
        standard = StandardServices(SERVICE_NAMES, executions.write_health, component_names)
        server.add_generic_rpc_handlers((standard,))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = (
                server.add_insecure_port(address)
                if tls is None
                else server.add_secure_port(address, tls.grpc_credentials())
            )
        except RuntimeError as error:
            raise ApiBindError(f"api.listening_addr {address}: cannot listen: {error}") from None
        if bound == 0:
            raise ApiBindError(f"api.listening_addr {address}: cannot listen (address in use?)")
        await server.start()
        log.info("gRPC API listening on %s:%d%s", host, bound, _tls_note(tls))
        return cls(server, bound, standard)

    def set_component_serving(self, name: str, serving: bool) -> None:
        """Health of the component ``name``: ``NOT_SERVING`` while it takes no new work."""
        self._standard.set_serving(component_service_name(name), serving)

    async def stop(self, grace: float = 1.0) -> None:
        """Refuse new calls and end open streams (followers of an execution) after ``grace`` seconds."""
        await self._standard.enter_graceful_shutdown()
        await self._server.stop(grace)


def _add_guarded(server: grpc.aio.Server, add_to_server: Callable[[Any, Any], None], servicer: Any) -> None:
    """Register ``servicer`` as its generated ``add_..._to_server`` would, with every handler guarded."""
    collector = _HandlerCollector()
    add_to_server(servicer, collector)
    for service_name, handlers in collector.registered.items():
        guarded = {name: guard(handler, f"/{service_name}/{name}") for name, handler in handlers.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, guarded),))
        server.add_registered_method_handlers(service_name, guarded)


def _tls_note(tls: ServerTls | None) -> str:
    if tls is None:
        return " (plaintext)"
    return " (TLS, client certificates required)" if tls.client_ca is not None else " (TLS)"


def component_service_name(name: str) -> str:
    """The health service name of a component."""
    return f"component:{name}"


class StandardServices(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc has no type hints
    """gRPC health and reflection, imported and built when one of their methods is first called.

    The handlers are the ones the libraries register themselves (their ``add_..._to_server`` functions are given
    a stand-in for the server). Health reports ``SERVING`` for the whole server and each repository, set just
    before its first call is served, ``NOT_SERVING`` for the server and ``ExecutionRepository`` while the database
    cannot be written, and ``NOT_SERVING`` for everything once the server is stopping.
    """

    def __init__(
        self, service_names: tuple[str, ...], write_health: WriteHealth, component_names: tuple[str, ...] = ()
    ) -> None:
        self._service_names = service_names
        self._write_health = write_health
        self._component_names = component_names
        self._not_serving: set[str] = set()
        """Components that take no new work."""
        self._handlers: list[Any] | None = None
        self._guarded: dict[str, Any] = {}
        self._health: Any = None
        self._health_prepared = False
        self._stopping = False
        self._updates: set[asyncio.Task[None]] = set()
        write_health.subscribe(self._statuses_changed)

    def service(self, handler_call_details: Any) -> Any:
        method: str = handler_call_details.method
        if not method.startswith((f"/{HEALTH_SERVICE}/", f"/{REFLECTION_SERVICE}/")):
            return None
        if method in self._guarded:
            return self._guarded[method]
        if self._handlers is None:
            self._handlers = self._build()
        for handler in self._handlers:
            found = handler.service(handler_call_details)
            if found is not None:
                self._guarded[method] = guard(found, method)
                return self._guarded[method]
        return None

    def set_serving(self, component_name: str, serving: bool) -> None:
        """Report a component (``component_service_name``) as ``SERVING`` or ``NOT_SERVING``."""
        if serving:
            self._not_serving.discard(component_name)
        else:
            self._not_serving.add(component_name)
        self._statuses_changed()

    async def enter_graceful_shutdown(self) -> None:
        self._stopping = True
        if self._health is not None and self._health_prepared:
            await self._health.enter_graceful_shutdown()

    def _build(self) -> list[Any]:
        from grpc_health.v1 import health, health_pb2_grpc  # noqa: PLC0415
        from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc  # noqa: PLC0415

        collector = _HandlerCollector()
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(_AfterPreparing(self._health, self._prepare_health), collector)
        names = (*self._service_names, HEALTH_SERVICE, REFLECTION_SERVICE)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection.aio.ReflectionServicer(names), collector)
        return collector.handlers

    async def _prepare_health(self) -> None:
        if self._health_prepared:
            return
        await self._apply_statuses()
        self._health_prepared = True
        if self._stopping:
            await self._health.enter_graceful_shutdown()

    async def _apply_statuses(self) -> None:
        """Set every status from the database's and the components' current state (idempotent: updates may run
        in any order)."""
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        serving = health_pb2.HealthCheckResponse.SERVING
        writing = serving if self._write_health.writable else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self._service_names):
            await self._health.set(name, writing if name in WRITING_SERVICES else serving)
        for name in self._component_names:
            stopped = name in self._not_serving
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING if stopped else serving)

    def _statuses_changed(self) -> None:
        if not self._health_prepared or self._stopping:
            return  # the first health call reads the state then
        task = asyncio.get_running_loop().create_task(self._apply_statuses())
        self._updates.add(task)
        task.add_done_callback(self._updates.discard)


class _HandlerCollector:
    """Stands in for the server while a service registers itself, and keeps its handlers (generic, and by name)."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.registered: dict[str, dict[str, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        """The same methods as the generic handlers collected above, by name (what ``_add_guarded`` wraps)."""
        self.registered[service_name] = dict(method_handlers)


class _AfterPreparing:
    """The servicer's coroutine methods, each run after ``prepare`` (the health statuses are set first)."""

    def __init__(self, servicer: Any, prepare: Callable[[], Awaitable[None]]) -> None:
        self._servicer = servicer
        self._prepare = prepare

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._servicer, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def after_preparing(request: Any, context: Any) -> Any:
            await self._prepare()
            return await method(request, context)

        return after_preparing
