"""Reading a component's imported and exported functions, with their WIT types, from its compiled form.

wasmtime reports types structurally (a parameter shows ``record { seconds: u64, nanoseconds: u32 }``, not
``datetime``). Named types appear only as type exports of each interface instance, so names are recovered by
matching structures against those exports: a structure that two names of one interface share (wasmtime cannot
tell them apart either) stays anonymous. Resources are compared by identity, which wasmtime supports, so every
``own``/``borrow`` is tied to the interface that defines its resource (the first import that exports it),
e.g. ``obelisk:types/execution.join-set-id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import component as C

from obelisk.concepts.errors import ObeliskError, ParseError
from obelisk.concepts.ffqn import Ffqn, IfcFqn
from obelisk.concepts.wit_types import (
    Case,
    Field,
    FunctionExtension,
    FunctionMetadata,
    Param,
    PrimitiveKind,
    ResourceRef,
    WitBorrow,
    WitEnum,
    WitFlags,
    WitList,
    WitOption,
    WitOwn,
    WitPrimitive,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
    with_name,
)


class IntrospectionError(ObeliskError):
    """A component uses something this host cannot represent (e.g. streams or futures)."""


class _UnsupportedType(Exception):
    """Internal: raised deep in type conversion, turned into an IntrospectionError naming the function."""


_PRIMITIVES: dict[type, WitPrimitive] = {
    C.Bool: WitPrimitive(PrimitiveKind.BOOL),
    C.U8: WitPrimitive(PrimitiveKind.U8),
    C.U16: WitPrimitive(PrimitiveKind.U16),
    C.U32: WitPrimitive(PrimitiveKind.U32),
    C.U64: WitPrimitive(PrimitiveKind.U64),
    C.S8: WitPrimitive(PrimitiveKind.S8),
    C.S16: WitPrimitive(PrimitiveKind.S16),
    C.S32: WitPrimitive(PrimitiveKind.S32),
    C.S64: WitPrimitive(PrimitiveKind.S64),
    C.F32: WitPrimitive(PrimitiveKind.F32),
    C.F64: WitPrimitive(PrimitiveKind.F64),
    C.Char: WitPrimitive(PrimitiveKind.CHAR),
    C.String: WitPrimitive(PrimitiveKind.STRING),
}

_NOMINAL = (C.RecordType, C.VariantType, C.EnumType, C.FlagsType)


@dataclass
class ComponentInterfaces:
    """What a component imports and exports, as the registry and the API need it."""

    exports: list[FunctionMetadata] = field(default_factory=list)
    """Functions of exported interfaces (``ns:pkg/ifc[@v]``), submittable."""
    imports: list[FunctionMetadata] = field(default_factory=list)
    """Functions of imported non-WASI interfaces (host packages included: the caller decides what is host)."""
    wasi_imports: list[FunctionMetadata] = field(default_factory=list)
    """Functions of imported ``wasi:*`` interfaces, kept apart so callers can ignore them."""
    imported_interfaces: list[str] = field(default_factory=list)
    """Every imported interface with its exact version (``wasi:clocks/wall-clock@0.2.9``), in import order."""
    exported_interfaces: list[str] = field(default_factory=list)
    resources: list[ResourceRef] = field(default_factory=list)
    """Resource types of imported/exported interfaces, each listed once, at the interface defining it."""
    named_types: dict[str, dict[str, WitType]] = field(default_factory=dict)
    """Per interface: the named types it exports (or ``use``s), with their names attached."""
    ignored: list[str] = field(default_factory=list)
    """Top-level import/export names that are not interfaces, e.g. componentize-py's ``exports`` instance."""

    def imports_of(self, interface: str) -> list[FunctionMetadata]:
        return [f for f in (*self.imports, *self.wasi_imports) if f.ffqn.ifc_fqn == interface]

    def imported_resources(self) -> list[ResourceRef]:
        imported = set(self.imported_interfaces)
        return [r for r in self.resources if r.interface in imported]


def inspect_component(
    engine: wasmtime.Engine, component: C.Component, *, wasi_functions: bool = False
) -> ComponentInterfaces:
    """List the interface functions of a compiled component.

    Converting the ~100 functions of the 25 WASI interfaces every componentize-py guest imports costs more
    than everything else together, and no caller needs them as metadata (the WASI layers work from wasmtime's
    own types), so ``wasi_imports`` is filled only when ``wasi_functions`` is set; ``imported_interfaces``
    and ``resources`` always cover WASI.
    """
    return _Inspector(engine, wasi_functions).run(component)


def _interface_name(name: str) -> IfcFqn | None:
    try:
        return IfcFqn.parse(name)
    except ParseError:
        return None


class _ResourceTable:
    """Resource identity -> where it is defined; wasmtime's ResourceType supports ``==`` but not hashing."""

    def __init__(self) -> None:
        self._known: list[tuple[Any, ResourceRef]] = []

    def find(self, rt: Any) -> ResourceRef | None:
        return next((ref for known, ref in self._known if known == rt), None)

    def define(self, rt: Any, ref: ResourceRef) -> bool:
        if self.find(rt) is not None:
            return False
        self._known.append((rt, ref))
        return True


class _Inspector:
    def __init__(self, engine: wasmtime.Engine, wasi_functions: bool) -> None:
        self._engine = engine
        self._wasi_functions = wasi_functions
        self._out = ComponentInterfaces()
        self._resources = _ResourceTable()
        self._converter = _Converter(self._resources)
        # Structure -> name over every interface seen so far, for types nested in types of a later
        # interface (imports come in dependency order). None marks a structure known under several names.
        self._known_names: dict[WitType, str | None] = {}

    def run(self, component: C.Component) -> ComponentInterfaces:
        out, engine = self._out, self._engine
        ctype = component.type
        for is_import, items in ((True, ctype.imports(engine)), (False, ctype.exports(engine))):
            for name, ext in items.items():
                item = ext.ty
                ifc = _interface_name(name)
                if ifc is None or not isinstance(item, C.ComponentInstanceType):
                    out.ignored.append(name)
                    continue
                (out.imported_interfaces if is_import else out.exported_interfaces).append(name)
                is_wasi = ifc.namespace == "wasi"
                functions = self._instance(name, ifc, item, is_import, is_wasi and not self._wasi_functions)
                if not is_import:
                    out.exports.extend(functions)
                elif is_wasi:
                    out.wasi_imports.extend(functions)
                else:
                    out.imports.extend(functions)
        return out

    def _instance(
        self, name: str, ifc: IfcFqn, instance: C.ComponentInstanceType, is_import: bool, types_only: bool
    ) -> list[FunctionMetadata]:
        items = [(n, ext.ty) for n, ext in instance.exports(self._engine).items()]
        for item_name, item in items:
            if isinstance(item, C.ResourceType):
                ref = ResourceRef(name, item_name)
                if self._resources.define(item, ref):
                    self._out.resources.append(ref)
        if types_only:
            return []
        namer = self._named_types(name, [(n, t) for n, t in items if isinstance(t, _NOMINAL)])

        functions = []
        for fn_name, item in items:
            if not isinstance(item, C.FuncType):
                continue
            ffqn = Ffqn.of(ifc, fn_name)
            try:
                params = tuple(Param(p, namer.apply(self._converter.convert(t))) for p, t in item.params)
                result_type = item.result
                result = None if result_type is None else namer.apply(self._converter.convert(result_type))
            except _UnsupportedType as e:
                if ifc.namespace == "wasi":
                    continue  # a WASI function this model never has to describe
                raise IntrospectionError(f"function {ffqn} uses {e}, which this host does not support") from None
            extension = FunctionExtension.of_function_name(fn_name) if ifc.is_extension else None
            functions.append(FunctionMetadata(ffqn, params, result, extension, submittable=not is_import))
        return functions

    def _named_types(self, interface: str, nominal: list[tuple[str, Any]]) -> _Namer:
        """Learn the names of an interface's record/variant/enum/flags types; return a namer using them."""
        converted: list[tuple[str, WitType]] = []
        candidates: dict[WitType, str | None] = {}
        for type_name, item in nominal:
            try:
                t = self._converter.convert(item)
            except _UnsupportedType:
                continue
            converted.append((type_name, t))
            candidates[t] = None if t in candidates else type_name
        local: dict[WitType, str] = {}
        for key, candidate in candidates.items():
            if candidate is not None:
                local[key] = candidate
            known = self._known_names.get(key, candidate)
            self._known_names[key] = candidate if known == candidate else None
        namer = _Namer(local, self._known_names)
        self._out.named_types[interface] = {n: with_name(namer.apply(t), n) for n, t in converted}
        return namer


class _Namer:
    """Attaches recovered names to a converted type tree (pure Python, no FFI calls)."""

    def __init__(self, local: dict[WitType, str], known: dict[WitType, str | None]) -> None:
        self._local = local
        self._known = known

    def apply(self, t: WitType) -> WitType:
        if isinstance(t, WitList):
            return WitList(self.apply(t.element))
        if isinstance(t, WitTuple):
            return WitTuple(tuple(self.apply(e) for e in t.elements))
        if isinstance(t, WitOption):
            return WitOption(self.apply(t.payload))
        if isinstance(t, WitResult):
            return WitResult(self._maybe(t.ok), self._maybe(t.err))
        if isinstance(t, WitRecord):
            t = WitRecord(tuple(Field(f.name, self.apply(f.type)) for f in t.fields))
        elif isinstance(t, WitVariant):
            t = WitVariant(tuple(Case(c.name, self._maybe(c.payload)) for c in t.cases))
        elif not isinstance(t, WitEnum | WitFlags):
            return t
        name = self._local.get(t)
        return with_name(t, name if name is not None else self._known.get(t))

    def _maybe(self, t: WitType | None) -> WitType | None:
        return None if t is None else self.apply(t)


class _Converter:
    """wasmtime ValType -> WitType, structurally (no names except resources)."""

    def __init__(self, resources: _ResourceTable) -> None:
        self._resources = resources

    def convert(self, t: Any) -> WitType:
        primitive = _PRIMITIVES.get(type(t))
        if primitive is not None:
            return primitive
        if isinstance(t, C.ListType):
            return WitList(self.convert(t.element))
        if isinstance(t, C.TupleType):
            return WitTuple(tuple(self.convert(e) for e in t.elements))
        if isinstance(t, C.OptionType):
            return WitOption(self.convert(t.payload))
        if isinstance(t, C.ResultType):
            ok, err = t.ok, t.err
            return WitResult(None if ok is None else self.convert(ok), None if err is None else self.convert(err))
        if isinstance(t, C.RecordType):
            return WitRecord(tuple(Field(n, self.convert(ft)) for n, ft in t.fields))
        if isinstance(t, C.VariantType):
            return WitVariant(tuple(Case(n, None if p is None else self.convert(p)) for n, p in t.cases))
        if isinstance(t, C.EnumType):
            return WitEnum(tuple(t.names))
        if isinstance(t, C.FlagsType):
            return WitFlags(tuple(t.names))
        if isinstance(t, C.OwnType):
            return WitOwn(self._resources.find(t.ty))
        if isinstance(t, C.BorrowType):
            return WitBorrow(self._resources.find(t.ty))
        raise _UnsupportedType(type(t).__name__)


@dataclass(frozen=True, slots=True)
class CallableExport:
    """An exported function and its index in the component, looked up once so each call skips the name lookup."""

    metadata: FunctionMetadata
    index: C.ExportIndex


def callable_exports(
    component: C.Component, functions: Iterable[FunctionMetadata], what: str
) -> dict[Ffqn, CallableExport]:
    """The export index of each of ``functions``; ``what`` (e.g. the component id) names the component in errors."""
    exports: dict[Ffqn, CallableExport] = {}
    for metadata in functions:
        ifc_index = component.get_export_index(metadata.ffqn.ifc_fqn)
        fn_index = component.get_export_index(metadata.ffqn.function_name, ifc_index) if ifc_index else None
        if fn_index is None:
            raise IntrospectionError(f"{what}: export {metadata.ffqn} not found in the binary")
        exports[metadata.ffqn] = CallableExport(metadata, fn_index)
    return exports
