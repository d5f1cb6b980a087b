"""WIT text: a component's own WIT, the ``-obelisk-ext`` packages of its exports, and both together.

The component's WIT is printed by ``wasm-tools``. The ext packages are rendered here from wasm-tools' resolved
JSON, which names every type and its owning interface: a named type of the original interface (or one it
``use``s) is referenced by name through ``use ns:pkg/ifc.{name}``, so the generated package resolves against
the original package instead of restating the types (a restated record would be a *different* type to a guest
that uses both packages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obelisk.concepts.ffqn import EXT_PACKAGE_SUFFIX, IfcFqn
from obelisk.wit.extensions import EXECUTION_IFC, JOIN_SET_PARAM, SCHEDULE_AT_PARAM, TIME_IFC, ExtensionError
from obelisk.wit.support import HOST_PACKAGES, WitSupportError, host_wit_files
from obelisk.wit.wasm_tools import component_wit_json, component_wit_text

INDENT = "    "

# Words that must be written with a leading `%` when used as identifiers (the WIT lexer's keywords).
WIT_KEYWORDS = frozenset(
    (  # noqa: SIM905 (a word list reads better than 44 one-word lines)
        "as async bool borrow char constructor enum export f32 f64 flags func future import include interface "
        "list option own package record resource result s16 s32 s64 s8 static stream string tuple type u16 u32 "
        "u64 u8 use variant with world error-context"
    ).split()
)

# Names the ext interface brings in from obelisk:types; the original's types are aliased around them.
_HOST_USES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (EXECUTION_IFC, ("execution-id", "join-set-id", "execution-error")),
    (TIME_IFC, ("schedule-at",)),
)


def ident(name: str) -> str:
    return f"%{name}" if name in WIT_KEYWORDS else name


# --- splitting wasm-tools output into packages ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WitPackageText:
    name: str
    """``ns:pkg[@v]``."""
    body: str
    """The lines between the braces of ``package ns:pkg { ... }``, dedented once."""

    def standalone(self) -> str:
        """A file of its own: ``package ns:pkg;`` followed by its items."""
        return f"package {self.name};\n\n{self.body.strip()}\n"

    def nested(self) -> str:
        """The block form several packages share a file with."""
        inner = "\n".join(f"{INDENT}{line}" if line else "" for line in self.body.strip().splitlines())
        return f"package {self.name} {{\n{inner}\n}}\n"


def split_packages(text: str) -> dict[str, WitPackageText]:
    """The ``package ns:pkg { ... }`` blocks of wasm-tools' multi-package output, by package name.

    wasm-tools writes each block's opening and closing line at column 0 and indents everything inside, so the
    blocks are found line by line without parsing WIT.
    """
    packages: dict[str, WitPackageText] = {}
    current: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if current is None:
            if line.startswith("package ") and line.rstrip().endswith("{"):
                current = line[len("package ") :].rstrip()[:-1].strip()
                body = []
            continue
        if line == "}":
            packages[current] = WitPackageText(current, _dedent(body))
            current = None
            continue
        body.append(line)
    return packages


def _dedent(lines: list[str]) -> str:
    widths = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return "\n".join(line[cut:] for line in lines)


def host_package(name: str) -> WitPackageText:
    """A host package (``obelisk:types``) from the shipped files, in the same shape as a split package."""
    for text in host_wit_files().values():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip() == f"package {name};":
                return WitPackageText(name, "\n".join(lines[i + 1 :]))
    raise WitSupportError(f"no host WIT file declares package {name}")


# --- the resolved JSON ----------------------------------------------------------------------------------------


class _Resolve:
    """Index of ``wasm-tools component wit --json`` output."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.types: list[dict[str, Any]] = data["types"]
        self.interfaces: list[dict[str, Any]] = data["interfaces"]
        self.packages: list[dict[str, Any]] = data["packages"]
        self.worlds: list[dict[str, Any]] = data["worlds"]

    def interface_fqn(self, index: int) -> IfcFqn | None:
        ifc = self.interfaces[index]
        if ifc.get("name") is None or ifc.get("package") is None:
            return None  # an inline interface of a world, e.g. componentize-py's `exports`
        package, _, version = self.packages[ifc["package"]]["name"].partition("@")
        namespace, _, name = package.partition(":")
        return IfcFqn(namespace, name, ifc["name"], version or None)

    def root_world(self) -> dict[str, Any]:
        for package in self.packages:
            if package["name"].startswith("root:"):
                for index in package.get("worlds", {}).values():
                    world: dict[str, Any] = self.worlds[index]
                    return world
        if len(self.worlds) != 1:
            raise ExtensionError("cannot tell which world of the WIT document is the component's")
        return self.worlds[0]

    def exported_interfaces(self) -> list[int]:
        found = []
        for item in self.root_world().get("exports", {}).values():
            interface = item.get("interface") if isinstance(item, dict) else None
            if isinstance(interface, dict) and isinstance(interface.get("id"), int):
                found.append(interface["id"])
        return found

    def interface_dependencies(self, index: int) -> set[int]:
        """Interfaces whose types this interface refers to (through ``use``), transitively, itself included."""
        seen = {index}
        todo = [index]
        while todo:
            current = todo.pop()
            for type_index in self.interfaces[current].get("types", {}).values():
                for owner in self._owners_reached(type_index):
                    if owner not in seen:
                        seen.add(owner)
                        todo.append(owner)
        return seen

    def _owners_reached(self, type_index: int) -> set[int]:
        owners: set[int] = set()
        todo: list[Any] = [type_index]
        visited: set[int] = set()
        while todo:
            ref = todo.pop()
            if not isinstance(ref, int) or ref in visited:
                continue
            visited.add(ref)
            t = self.types[ref]
            owner = t.get("owner")
            if isinstance(owner, dict) and isinstance(owner.get("interface"), int):
                owners.add(owner["interface"])
            todo.extend(_type_refs(t.get("kind")))
        return owners


def _type_refs(kind: Any) -> list[Any]:
    """Every type reference directly inside a type's ``kind``."""
    if not isinstance(kind, dict):
        return []
    refs: list[Any] = []
    for tag, body in kind.items():
        if tag in ("list", "option", "type", "future", "stream"):
            refs.append(body)
        elif tag == "result":
            refs.extend([body.get("ok"), body.get("err")])
        elif tag == "tuple":
            refs.extend(body.get("types", []))
        elif tag == "record":
            refs.extend(f["type"] for f in body.get("fields", []))
        elif tag == "variant":
            refs.extend(c.get("type") for c in body.get("cases", []))
        elif tag == "handle":
            refs.extend(body.values())
    return refs


# --- rendering an ext interface ---------------------------------------------------------------------------------


@dataclass
class _Uses:
    """The ``use`` lines of one ext interface: local name -> (owner interface, name in the owner)."""

    reserved: dict[str, tuple[str, str]] = field(default_factory=dict)
    by_owner: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """owner -> [(name in owner, local name)] in first-use order."""

    def __post_init__(self) -> None:
        for owner, names in _HOST_USES:
            for name in names:
                self.reserved[name] = (owner, name)
                self.by_owner.setdefault(owner, []).append((name, name))

    def local_name(self, owner: str, name: str, alias_hint: str) -> str:
        for local, target in self.reserved.items():
            if target == (owner, name):
                return local
        local = name
        while local in self.reserved:
            local = f"{alias_hint}-{local}"
        self.reserved[local] = (owner, name)
        self.by_owner.setdefault(owner, []).append((name, local))
        return local

    def lines(self) -> list[str]:
        out = []
        for owner, names in self.by_owner.items():
            items = ", ".join(ident(n) if n == local else f"{ident(n)} as {ident(local)}" for n, local in names)
            out.append(f"use {owner}.{{{items}}};")
        return out


class _TypeText:
    def __init__(self, resolve: _Resolve, uses: _Uses, alias_hint: str) -> None:
        self._resolve = resolve
        self._uses = uses
        self._hint = alias_hint

    def render(self, ref: Any, where: str) -> str:
        if isinstance(ref, str):
            return ref  # a primitive: u8, string, ...
        t = self._resolve.types[ref]
        owner = t.get("owner")
        if t.get("name") is not None:
            if not (isinstance(owner, dict) and isinstance(owner.get("interface"), int)):
                raise ExtensionError(f"{where} uses type {t['name']!r}, which belongs to a world, not an interface")
            owner_fqn = self._resolve.interface_fqn(owner["interface"])
            if owner_fqn is None:
                raise ExtensionError(f"{where} uses type {t['name']!r} of an unnamed interface")
            return ident(self._uses.local_name(str(owner_fqn), t["name"], self._hint))
        kind = t["kind"]
        if not isinstance(kind, dict) or len(kind) != 1:
            raise ExtensionError(f"{where} uses an anonymous type {kind!r} that WIT cannot write inline")
        ((tag, body),) = kind.items()
        if tag in ("list", "option"):
            return f"{tag}<{self.render(body, where)}>"
        if tag == "type":
            return self.render(body, where)
        if tag == "tuple":
            return "tuple<" + ", ".join(self.render(e, where) for e in body["types"]) + ">"
        if tag == "result":
            ok, err = body.get("ok"), body.get("err")
            if ok is None and err is None:
                return "result"
            if err is None:
                return f"result<{self.render(ok, where)}>"
            ok_text = "_" if ok is None else self.render(ok, where)
            return f"result<{ok_text}, {self.render(err, where)}>"
        if tag == "handle":
            ((handle, resource),) = body.items()
            name = self.render(resource, where)
            return name if handle == "own" else f"borrow<{name}>"
        raise ExtensionError(f"{where} uses a {tag} type, which extension functions do not support")


@dataclass(frozen=True, slots=True)
class ExtInterfaceText:
    original: IfcFqn
    ext: IfcFqn
    body: str
    """``interface ifc { ... }`` without the package line."""

    def standalone(self) -> str:
        return f"package {self.ext.package_name};\n\n{self.body}\n"


def _ext_interface(resolve: _Resolve, index: int, original: IfcFqn) -> ExtInterfaceText | None:
    ifc = resolve.interfaces[index]
    uses = _Uses()
    types = _TypeText(resolve, uses, original.interface)
    lines: list[str] = []
    for fn_name, fn in ifc.get("functions", {}).items():
        if fn.get("kind", "freestanding") != "freestanding":
            continue  # resource methods are not exported functions of the interface
        where = f"{original}.{fn_name}"
        results = fn.get("results")
        if results is not None and not (isinstance(results, list | dict) and len(results) <= 1):
            raise ExtensionError(f"{where} has several named results; extension functions cannot be made for it")
        params = [(p["name"], types.render(p["type"], where)) for p in fn.get("params", [])]
        result = fn.get("result")
        result_text = None if result is None else types.render(result, where)

        def joined(first: str, first_type: str, params: list[tuple[str, str]] = params) -> str:
            renamed = [(f"{n}-param" if n == first else n, t) for n, t in params]
            return ", ".join(f"{ident(n)}: {t}" for n, t in [(first, first_type), *renamed])

        ok = "execution-id" if result_text is None else f"tuple<execution-id, {result_text}>"
        lines += [
            f"{ident(fn_name + '-submit')}: func({joined(JOIN_SET_PARAM, 'borrow<join-set-id>')}) -> execution-id;",
            f"{ident(fn_name + '-await-next')}: func({JOIN_SET_PARAM}: borrow<join-set-id>) -> "
            f"result<{ok}, tuple<execution-id, execution-error>>;",
            f"{ident(fn_name + '-schedule')}: func({joined(SCHEDULE_AT_PARAM, 'schedule-at')}) -> execution-id;",
        ]
    if not lines:
        return None
    body = "\n".join(f"{INDENT}{line}" for line in [*uses.lines(), *lines])
    ext = original.extension()
    return ExtInterfaceText(original, ext, f"interface {ident(ext.interface)} {{\n{body}\n}}")


def _is_extended(ifc: IfcFqn) -> bool:
    """Exports that get ext packages: not WASI (a webhook's handler), not host packages, not ext packages."""
    return ifc.namespace != "wasi" and f"{ifc.namespace}:{ifc.package}" not in HOST_PACKAGES and not ifc.is_extension


def extension_interfaces(data: dict[str, Any]) -> list[ExtInterfaceText]:
    """One ext interface per exported interface with functions, in export order, from resolved JSON."""
    resolve = _Resolve(data)
    found = []
    for index in resolve.exported_interfaces():
        fqn = resolve.interface_fqn(index)
        if fqn is None or not _is_extended(fqn):
            continue
        ext = _ext_interface(resolve, index, fqn)
        if ext is not None:
            found.append(ext)
    return found


def _group_by_package(interfaces: list[ExtInterfaceText]) -> dict[str, list[ExtInterfaceText]]:
    grouped: dict[str, list[ExtInterfaceText]] = {}
    for ext in interfaces:
        grouped.setdefault(ext.ext.package_name, []).append(ext)
    return grouped


def extension_packages(data: dict[str, Any]) -> dict[str, WitPackageText]:
    """Ext package name (``testing:fibo-obelisk-ext``) -> its text, for the exports in resolved JSON."""
    return {
        name: WitPackageText(name, "\n\n".join(e.body for e in exts))
        for name, exts in _group_by_package(extension_interfaces(data)).items()
    }


def exported_packages(data: dict[str, Any]) -> list[str]:
    """Packages a guest needs to resolve the ext packages: those of the extended exports and of what their
    types ``use``, except WASI and the host packages (the guest brings those itself)."""
    resolve = _Resolve(data)
    names: list[str] = []
    for index in resolve.exported_interfaces():
        fqn = resolve.interface_fqn(index)
        if fqn is None or not _is_extended(fqn):
            continue
        for dep in sorted(resolve.interface_dependencies(index)):
            dep_fqn = resolve.interface_fqn(dep)
            if dep_fqn is None or dep_fqn.namespace == "wasi" or not _is_extended(dep_fqn):
                continue
            if dep_fqn.package_name not in names:
                names.append(dep_fqn.package_name)
    return names


# --- public entry points --------------------------------------------------------------------------------------


def component_wit(path: Path) -> str:
    """The component's WIT as ``wasm-tools component wit FILE`` prints it."""
    return component_wit_text(path)


def component_wit_with_extensions(path: Path) -> str:
    """The component's WIT, then its ext packages, then the whole ``obelisk:types`` (what ``GetWit`` returns).

    A partial ``obelisk:types`` block printed from the component (only the types it uses) is replaced by the
    complete package, so the result is one document ``wasm-tools component wit`` accepts.
    """
    text = component_wit_text(path)
    data = component_wit_json(path)
    host_types = "obelisk:types"
    without_partial = _remove_package_block(text, host_types).rstrip() + "\n"
    parts = [without_partial]
    parts += [pkg.nested() for pkg in extension_packages(data).values()]
    parts.append(host_package(host_types).nested())
    return "\n".join(parts)


def _remove_package_block(text: str, name: str) -> str:
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if not skipping and line.rstrip() == f"package {name} {{":
            skipping = True
            continue
        if skipping:
            if line == "}":
                skipping = False
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def package_folder(package_name: str) -> str:
    """``docs:adder@0.1.0`` -> ``docs-adder@0.1.0``: the folder of a package under ``wit/deps``."""
    return package_name.replace(":", "-")


def write_wit_extensions(path: Path, out_dir: Path) -> list[Path]:
    """Write the ext packages of a component's exports and the exported packages themselves into ``out_dir``.

    Layout (ready for a guest's ``wit/deps``): ``<ns>-<pkg>[@v]-obelisk-ext/<interface>.wit`` per exported
    interface and ``<ns>-<pkg>[@v]/<pkg>.wit`` per package the ext packages refer to. One file per ext
    interface lets several components that export interfaces of one package write into the same folder.
    """
    data = component_wit_json(path)
    packages = split_packages(component_wit_text(path))
    written: list[Path] = []

    def write(target: Path, text: str) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as e:
            raise WitSupportError(f"cannot write {target}: {e.strerror or e}") from e
        written.append(target)

    for name in exported_packages(data):
        package = packages.get(name)
        if package is None:
            raise WitSupportError(f"the WIT printed for {path} has no package {name}")
        bare = name.partition(":")[2].partition("@")[0]
        write(out_dir / package_folder(name) / f"{bare}.wit", package.standalone())
    for ext in extension_interfaces(data):
        folder = package_folder(ext.ext.package_name)
        write(out_dir / folder / f"{ext.ext.interface}.wit", ext.standalone())
    return written


__all__ = [
    "EXT_PACKAGE_SUFFIX",
    "ExtInterfaceText",
    "WitPackageText",
    "component_wit",
    "component_wit_with_extensions",
    "exported_packages",
    "extension_interfaces",
    "extension_packages",
    "split_packages",
    "write_wit_extensions",
]
