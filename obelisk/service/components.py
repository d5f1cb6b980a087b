"""Components and their functions, for every face (gRPC ``FunctionRepository``, the web UI, the CLI)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from obelisk.concepts.component_id import ComponentType
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ComponentEntry, ComponentRegistry, FunctionNotFound
from obelisk.wit.extensions import extensions_of


class ComponentNotFound(ObeliskError):
    def __init__(self, component_id: str, known: list[str]) -> None:
        super().__init__(f"component {component_id} not found; known: {', '.join(known) or 'none'}")
        self.component_id = component_id


@dataclass(frozen=True, slots=True)
class ComponentView:
    entry: ComponentEntry
    exports: tuple[FunctionMetadata, ...]
    """The exported functions, followed by their ``-obelisk-ext`` functions when asked for."""
    imports: tuple[FunctionMetadata, ...]


class ComponentService:
    def __init__(self, registry: ComponentRegistry) -> None:
        self._registry = registry
        self._wit_cache: dict[str, str] = {}

    def list_components(self, *, extensions: bool = False) -> list[ComponentView]:
        views = []
        for entry in self._registry.components:
            exports = entry.exports
            if extensions and entry.kind.value != "webhook_endpoint":
                exports = exports + tuple(extensions_of(entry.exports))
            views.append(ComponentView(entry, exports, entry.imports))
        return views

    def component(self, component_id: str) -> ComponentEntry:
        entry = self._registry.component_by_id(component_id)
        if entry is None:
            raise ComponentNotFound(component_id, [str(c.component_id) for c in self._registry.components])
        return entry

    def submittable_function(self, ffqn: Ffqn | str) -> FunctionMetadata:
        """A function a person can start by hand: an export of an activity or a workflow.

        Raises ``FunctionNotFound`` (with candidates) for anything else, ext functions included: those only make
        sense inside a workflow (``-schedule`` is reachable through the API).
        """
        exported = self._registry.find_export(ffqn)
        if exported.original is not None or exported.component.kind is ComponentType.WEBHOOK_ENDPOINT:
            raise FunctionNotFound(ffqn, [str(exported.target_ffqn)] if exported.original is not None else [])
        return exported.metadata

    def function_metadata(self, ffqn: Ffqn | str) -> FunctionMetadata | None:
        """The signature of an export or ext function, or None when no configured component offers it (any more)."""
        try:
            return self._registry.find_function(ffqn).metadata
        except FunctionNotFound:
            return None

    async def get_wit(self, component_id: str) -> str:
        """The component's WIT with the synthesized extension packages (printed once, then cached)."""
        entry = self.component(component_id)
        cached = self._wit_cache.get(component_id)
        if cached is None:
            # Imported on first use: the WIT printer is not needed to start the server or to run executions.
            from obelisk.wit.printer import component_wit_with_extensions  # noqa: PLC0415

            cached = await asyncio.to_thread(component_wit_with_extensions, entry.path)
            self._wit_cache[component_id] = cached
        return cached
