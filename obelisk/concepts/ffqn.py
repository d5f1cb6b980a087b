"""Fully qualified function names: ``namespace:package/interface[@version].function``.

An FFQN is split at its *last* dot. Function names never contain a dot, while interface versions do
(``docs:adder/add@0.1.0.add``), so splitting at the first dot, as the original did, breaks versioned interfaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from obelisk.concepts.errors import ParseError

_NAME = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_IFC_RE = re.compile(
    rf"^(?P<namespace>{_NAME}):(?P<package>{_NAME})/(?P<interface>{_NAME})(?:@(?P<version>[0-9A-Za-z.+-]+))?$"
)
_FN_RE = re.compile(rf"^\[?{_NAME}(?:\][a-z0-9.-]+)?$")

EXT_PACKAGE_SUFFIX = "-obelisk-ext"


@dataclass(frozen=True, slots=True, order=True)
class IfcFqn:
    """``namespace:package/interface[@version]``."""

    namespace: str
    package: str
    interface: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> IfcFqn:
        match = _IFC_RE.match(text)
        if match is None:
            raise ParseError(f"invalid interface name {text!r}: expected namespace:package/interface[@version]")
        return cls(match["namespace"], match["package"], match["interface"], match["version"])

    @property
    def package_name(self) -> str:
        """``namespace:package`` with the version, as a WIT ``package`` line writes it."""
        suffix = f"@{self.version}" if self.version else ""
        return f"{self.namespace}:{self.package}{suffix}"

    @property
    def is_extension(self) -> bool:
        return self.package.endswith(EXT_PACKAGE_SUFFIX)

    def extension(self) -> IfcFqn:
        """The host-synthesized ``-obelisk-ext`` interface of this exported interface."""
        return IfcFqn(self.namespace, self.package + EXT_PACKAGE_SUFFIX, self.interface, self.version)

    def without_extension(self) -> IfcFqn:
        if not self.is_extension:
            return self
        return IfcFqn(self.namespace, self.package[: -len(EXT_PACKAGE_SUFFIX)], self.interface, self.version)

    def __str__(self) -> str:
        suffix = f"@{self.version}" if self.version else ""
        return f"{self.namespace}:{self.package}/{self.interface}{suffix}"


@dataclass(frozen=True, slots=True, order=True)
class Ffqn:
    """An interface plus a function name; ``str()`` gives the canonical text form."""

    ifc_fqn: str
    function_name: str

    @classmethod
    def parse(cls, text: str) -> Ffqn:
        ifc, dot, function_name = text.rpartition(".")
        if not dot or not ifc or not function_name:
            raise ParseError(f"invalid function name {text!r}: expected namespace:package/interface[@version].function")
        IfcFqn.parse(ifc)
        if _FN_RE.match(function_name) is None:
            raise ParseError(f"invalid function name {text!r}: {function_name!r} is not a WIT identifier")
        return cls(ifc, function_name)

    @classmethod
    def of(cls, ifc: IfcFqn | str, function_name: str) -> Ffqn:
        return cls(str(ifc), function_name)

    @property
    def ifc(self) -> IfcFqn:
        return IfcFqn.parse(self.ifc_fqn)

    def __str__(self) -> str:
        return f"{self.ifc_fqn}.{self.function_name}"


WEBHOOK_FFQN = Ffqn("wasi:http/incoming-handler", "handle")
"""What the execution record of a webhook request is an execution of (its params: method and path)."""
