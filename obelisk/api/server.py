"""The gRPC server: both repositories plus the standard health and reflection services, gzip by default.

gRPC-web and zstd are not offered (grpcio has neither; DESIGN §10). Reflection lets ``grpcurl`` work without
the ``.proto`` file; health answers ``SERVING`` for the whole server and each repository once they are added.
"""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from obelisk.api.executions import ExecutionRepository
from obelisk.api.functions import FunctionRepository
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.errors import ObeliskError
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())


class ApiBindError(ObeliskError):
    """The API address cannot be listened on (in use, or not an address of this host)."""


class ApiServer:
    def __init__(self, server: grpc.aio.Server, port: int, health_servicer: health.aio.HealthServicer) -> None:
        self._server = server
        self.port = port
        """The bound port (the configured one, or the one the OS chose for port 0)."""
        self._health = health_servicer

    @classmethod
    async def start(
        cls, host: str, port: int, *, executions: ExecutionService, components: ComponentService
    ) -> ApiServer:
        server = grpc.aio.server(compression=grpc.Compression.Gzip)
        pb_grpc.add_ExecutionRepositoryServicer_to_server(ExecutionRepository(executions), server)
        pb_grpc.add_FunctionRepositoryServicer_to_server(FunctionRepository(components), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise ApiBindError(f"api.listening_addr {address}: cannot listen: {error}") from None
        if bound == 0:
            raise ApiBindError(f"api.listening_addr {address}: cannot listen (address in use?)")
        await server.start()
        for name in ("", *SERVICE_NAMES):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC API listening on %s:%d", host, bound)
        return cls(server, bound, health_servicer)

    async def stop(self, grace: float = 1.0) -> None:
        """Refuse new calls and end open streams (followers of an execution) after ``grace`` seconds."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
