"""The components of a running server and the functions they export.

Built once at start-up from the config and the introspected binaries; immutable afterwards. Every face of the
engine (submit through the API, the UI, a workflow's child call) finds a function here by its FFQN.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.wit_types import FunctionMetadata


class FunctionNotFound(ObeliskError):
    def __init__(self, ffqn: Ffqn | str, candidates: Sequence[str]) -> None:
        hint = f"; did you mean {', '.join(candidates)}?" if candidates else ""
        super().__init__(f"function {ffqn} not found{hint}")
        self.ffqn = str(ffqn)
        self.candidates = list(candidates)


class RegistryError(ObeliskError):
    """The configured components do not fit together (an FFQN exported twice, ...)."""


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Copied into each ``Created`` event of an execution of this component (reference §6.3)."""

    max_retries: int
    retry_exp_backoff_us: int


@dataclass(frozen=True, slots=True)
class ComponentEntry:
    component_id: ComponentId
    name: str
    kind: ComponentType
    digest: ContentDigest
    path: Path
    exports: tuple[FunctionMetadata, ...]
    imports: tuple[FunctionMetadata, ...]
    retry: RetrySettings
    config: Any = field(compare=False, repr=False)
    """The component's config section (``ActivityConfig``, ...), for its worker."""


@dataclass(frozen=True, slots=True)
class ExportedFunction:
    component: ComponentEntry
    metadata: FunctionMetadata


class ComponentRegistry:
    def __init__(self, components: Iterable[ComponentEntry]) -> None:
        self._components: dict[str, ComponentEntry] = {}
        self._exports: dict[Ffqn, ExportedFunction] = {}
        for component in components:
            if component.name in self._components:
                raise RegistryError(f"component name {component.name!r} is configured twice")
            self._components[component.name] = component
            for metadata in component.exports:
                previous = self._exports.get(metadata.ffqn)
                if previous is not None:
                    raise RegistryError(
                        f"function {metadata.ffqn} is exported by both {previous.component.name!r} "
                        f"and {component.name!r}"
                    )
                self._exports[metadata.ffqn] = ExportedFunction(component, metadata)

    @property
    def components(self) -> list[ComponentEntry]:
        return list(self._components.values())

    def component(self, name: str) -> ComponentEntry:
        return self._components[name]

    def component_by_id(self, component_id: str) -> ComponentEntry | None:
        for component in self._components.values():
            if str(component.component_id) == component_id:
                return component
        return None

    def exported_functions(self) -> list[ExportedFunction]:
        return list(self._exports.values())

    def find_export(self, ffqn: Ffqn | str) -> ExportedFunction:
        """Raises ``FunctionNotFound`` naming the closest exported functions."""
        parsed: Ffqn | None
        try:
            parsed = Ffqn.parse(ffqn) if isinstance(ffqn, str) else ffqn
        except ObeliskError:
            parsed = None
        found = self._exports.get(parsed) if parsed is not None else None
        if found is None:
            raise FunctionNotFound(ffqn, self.closest(str(ffqn)))
        return found

    def closest(self, text: str, limit: int = 3) -> list[str]:
        names = [str(ffqn) for ffqn in self._exports]
        return difflib.get_close_matches(text, names, n=limit, cutoff=0.5)
