"""The components of a running server and the functions they export.

Built once at start-up from the config and the introspected binaries; immutable afterwards. Every face of the
engine (submit through the API, the UI, a workflow's child call) finds a function here by its FFQN.

Besides the exports, the registry holds the ``-obelisk-ext`` functions the host synthesizes for every export of
an activity or workflow (docs/compatibility.md#extension-functions), and resolves the imports of workflows and
webhooks against both (docs/compatibility.md#import-resolution): exact FFQN, structurally equal types, names
ignored.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import Created, ParentRef
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.trace_context import TraceContext
from obelisk.concepts.wit_types import FunctionExtension, FunctionMetadata
from obelisk.wit.extensions import extension_functions
from obelisk.wit.support import is_host_interface


class FunctionNotFound(ObeliskError):
    def __init__(self, ffqn: Ffqn | str, candidates: Sequence[str]) -> None:
        hint = f"; did you mean {', '.join(candidates)}?" if candidates else ""
        super().__init__(f"function {ffqn} not found{hint}")
        self.ffqn = str(ffqn)
        self.candidates = list(candidates)


class NotSubmittable(FunctionNotFound):
    """An ext function other than ``-schedule``: it exists, but only a workflow can call it."""

    def __init__(self, ffqn: Ffqn, original: Ffqn) -> None:
        ObeliskError.__init__(
            self,
            f"function {ffqn} is an extension function that only a workflow can call; "
            f"submit {original} or {original.ifc_fqn.replace('/', '-obelisk-ext/', 1)}."
            f"{original.function_name}-schedule instead",
        )
        self.ffqn = str(ffqn)
        self.candidates = [str(original)]


class RegistryError(ObeliskError):
    """The configured components do not fit together (an FFQN exported twice, ...)."""


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Copied into each ``Created`` event of an execution of this component (docs/compatibility.md#retry-policy)."""

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
    original: FunctionMetadata | None = None
    """For an ext function (``metadata.extension`` is set): the export it stands for; None for an export."""

    @property
    def extension(self) -> FunctionExtension | None:
        return self.metadata.extension

    @property
    def target_ffqn(self) -> Ffqn:
        """The function an execution started through this entry runs: the original for an ext function."""
        return (self.original or self.metadata).ffqn

    def created(
        self,
        params: list[Any],
        scheduled_at: int,
        *,
        parent: ParentRef | None = None,
        scheduled_by: ExecutionId | None = None,
        trace: TraceContext | None = None,
    ) -> Created:
        """The ``Created`` event of an execution of this function: the retry settings are the callee's own
        (docs/compatibility.md#retry-policy), whoever starts it (a client, a workflow, a webhook)."""
        return Created(
            ffqn=self.target_ffqn,
            params=params,
            scheduled_at=scheduled_at,
            component_id=str(self.component.component_id),
            max_retries=self.component.retry.max_retries,
            retry_exp_backoff_us=self.component.retry.retry_exp_backoff_us,
            parent=parent,
            scheduled_by=scheduled_by,
            trace=trace,
        )


_EXTENDED_KINDS = (ComponentType.ACTIVITY_WASM, ComponentType.WORKFLOW)


class ImportKind(enum.Enum):
    """How a workflow's call of an imported function is carried out (docs/compatibility.md#import-resolution)."""

    DIRECT_CALL = "direct-call"
    """A blocking child execution of the callee."""
    SUBMIT = "submit"
    AWAIT_NEXT = "await-next"
    SCHEDULE = "schedule"

    @classmethod
    def of(cls, extension: FunctionExtension | None) -> ImportKind:
        return cls.DIRECT_CALL if extension is None else cls(extension.value)


@dataclass(frozen=True, slots=True)
class ResolvedImport:
    imported: FunctionMetadata
    """The import as the importing component declares it."""
    kind: ImportKind
    callee: ExportedFunction
    """The original export that runs (for ext imports too): its component, metadata and retry settings."""

    @property
    def callee_ffqn(self) -> Ffqn:
        return self.callee.metadata.ffqn


@dataclass(frozen=True, slots=True)
class ImportProblem:
    imported: FunctionMetadata
    candidates: tuple[str, ...]
    """Closest FFQNs by name (ext functions included)."""
    mismatch: ExportedFunction | None = None
    """Set when the FFQN exists but its types differ."""

    def describe(self) -> str:
        head = f"import {self.imported.ffqn} : {self.imported.to_wit_signature()}"
        if self.mismatch is not None:
            return (
                f"{head}: type mismatch, component {self.mismatch.component.name!r} has "
                f"{self.mismatch.metadata.ffqn} : {self.mismatch.metadata.to_wit_signature()}"
            )
        hint = f"; closest: {', '.join(self.candidates)}" if self.candidates else "; no similar function"
        return f"{head}: no component exports it{hint}"


class UnresolvedImport(ObeliskError):
    """Imports of a component that no configured component satisfies; lists every one of them."""

    def __init__(self, component_name: str, problems: Sequence[ImportProblem]) -> None:
        count = f"{len(problems)} unresolved import{'s' if len(problems) != 1 else ''}"
        lines = [f"component {component_name!r} has {count}:"]
        lines += [f"  - {problem.describe()}" for problem in problems]
        super().__init__("\n".join(lines))
        self.component_name = component_name
        self.problems = list(problems)


class ComponentRegistry:
    def __init__(self, components: Iterable[ComponentEntry]) -> None:
        self._components: dict[str, ComponentEntry] = {}
        self._exports: dict[Ffqn, ExportedFunction] = {}
        self._functions: dict[Ffqn, ExportedFunction] = {}
        """Exports and ext functions."""
        for component in components:
            if component.name in self._components:
                raise RegistryError(f"component name {component.name!r} is configured twice")
            self._components[component.name] = component
            for metadata in component.exports:
                entry = ExportedFunction(component, metadata)
                self._add(entry)
                self._exports[metadata.ffqn] = entry
                if component.kind in _EXTENDED_KINDS and metadata.extension is None:
                    for ext in extension_functions(metadata):
                        self._add(ExportedFunction(component, ext, original=metadata))

    def _add(self, entry: ExportedFunction) -> None:
        ffqn = entry.metadata.ffqn
        previous = self._functions.get(ffqn)
        if previous is not None:
            what = "exported" if previous.original is None and entry.original is None else "offered"
            raise RegistryError(
                f"function {ffqn} is {what} by both {previous.component.name!r} and {entry.component.name!r}"
            )
        self._functions[ffqn] = entry

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

    def functions(self) -> list[ExportedFunction]:
        """Exports and their ext functions (each ext function right after the export it belongs to)."""
        return list(self._functions.values())

    def find_function(self, ffqn: Ffqn | str) -> ExportedFunction:
        """An export or an ext function; raises ``FunctionNotFound`` naming the closest ones."""
        found = self._lookup(ffqn)
        if found is None:
            raise FunctionNotFound(ffqn, self.closest(str(ffqn), include_extensions=True))
        return found

    def find_export(self, ffqn: Ffqn | str) -> ExportedFunction:
        """A function that can be submitted: an export, or an ext ``-schedule`` (then ``original`` tells which
        export it schedules and ``target_ffqn`` is the FFQN to create). ``-submit``/``-await-next`` raise
        ``NotSubmittable``; unknown names raise ``FunctionNotFound`` naming the closest exported functions."""
        found = self._lookup(ffqn)
        if found is None:
            raise FunctionNotFound(ffqn, self.closest(str(ffqn)))
        if found.original is not None and not found.metadata.submittable:
            raise NotSubmittable(found.metadata.ffqn, found.original.ffqn)
        return found

    def _lookup(self, ffqn: Ffqn | str) -> ExportedFunction | None:
        """An export or ext function by FFQN; a malformed name is simply not found (the caller suggests names)."""
        try:
            parsed = Ffqn.parse(ffqn) if isinstance(ffqn, str) else ffqn
        except ObeliskError:
            return None
        return self._functions.get(parsed)

    def closest(self, text: str, limit: int = 3, *, include_extensions: bool = False) -> list[str]:
        names = [str(ffqn) for ffqn in (self._functions if include_extensions else self._exports)]
        return difflib.get_close_matches(text, names, n=limit, cutoff=0.5)

    def resolve_imports(self, component_name: str, imports: Sequence[FunctionMetadata]) -> list[ResolvedImport]:
        """Match every import that is not WASI or a host package to an export or ext function.

        Raises ``UnresolvedImport`` listing every import of the component that has no match by exact FFQN or
        whose types differ (parameter names are ignored), with the closest candidates.
        """
        resolved: list[ResolvedImport] = []
        problems: list[ImportProblem] = []
        for imported in imports:
            ifc = imported.ffqn.ifc
            if ifc.namespace == "wasi" or is_host_interface(ifc):
                continue
            found = self._functions.get(imported.ffqn)
            if found is not None and found.metadata.signature_matches(imported):
                callee = found if found.original is None else self._exports[found.original.ffqn]
                resolved.append(ResolvedImport(imported, ImportKind.of(found.metadata.extension), callee))
                continue
            candidates = self._import_candidates(imported)
            problems.append(ImportProblem(imported, tuple(candidates), mismatch=found))
        if problems:
            raise UnresolvedImport(component_name, problems)
        return resolved

    def _import_candidates(self, imported: FunctionMetadata) -> list[str]:
        text = str(imported.ffqn)
        names = [str(ffqn) for ffqn in self._functions if str(ffqn) != text]
        close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
        same_interface = [n for n in names if n.startswith(imported.ffqn.ifc_fqn + ".") and n not in close]
        return (close + same_interface)[:3]

    def resolve_all_imports(self) -> dict[str, list[ResolvedImport]]:
        """``resolve_imports`` for every workflow and webhook; the first component with problems raises."""
        return {
            c.name: self.resolve_imports(c.name, c.imports)
            for c in self._components.values()
            if c.kind is not ComponentType.ACTIVITY_WASM
        }
