"""``FunctionRepository``: the server's components, their functions and WIT, via ``ComponentService``."""

from __future__ import annotations

import grpc

from obelisk.api import convert
from obelisk.api.errors import InvalidRequest, unary
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.service.components import ComponentService


class FunctionRepository(pb_grpc.FunctionRepositoryServicer):
    def __init__(self, components: ComponentService) -> None:
        self._components = components

    @unary
    async def ListComponents(
        self, request: pb.ListComponentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListComponentsResponse:
        views = self._components.list_components(extensions=request.extensions)
        if request.HasField("component_id"):
            views = [v for v in views if str(v.entry.component_id) == request.component_id.id]
        if request.HasField("function_name"):
            wanted = convert.ffqn_text(request.function_name)
            views = [v for v in views if any(str(f.ffqn) == wanted for f in v.exports)]
        return pb.ListComponentsResponse(components=[convert.component(v) for v in views])

    @unary
    async def GetWit(self, request: pb.GetWitRequest, context: grpc.aio.ServicerContext) -> pb.GetWitResponse:
        if not request.component_id.id:
            raise InvalidRequest("component_id is required")
        return pb.GetWitResponse(content=await self._components.get_wit(request.component_id.id))
