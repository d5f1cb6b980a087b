"""The host packages (``obelisk:types``, ``obelisk:workflow``, ``obelisk:log``) shipped as package data.

They live in ``obelisk/wit/host/<folder>/<file>.wit`` so that an installed ``obelisk`` can hand them to guest
authors (``obelisk generate wit-support``) without a checkout of this repository; the repository's ``wit/`` is a
symlink to the same folder for authors who work from a checkout.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import IfcFqn

HOST_PACKAGES: tuple[str, ...] = ("obelisk:types", "obelisk:workflow", "obelisk:log")
"""Packages the host implements itself; their interfaces are never resolved against component exports."""


class WitSupportError(ObeliskError):
    """The host WIT files cannot be read or written."""


def is_host_interface(interface: str | IfcFqn) -> bool:
    """``obelisk:types/*``, ``obelisk:workflow/*`` and ``obelisk:log/*``, whatever the version."""
    ifc = IfcFqn.parse(interface) if isinstance(interface, str) else interface
    return f"{ifc.namespace}:{ifc.package}" in HOST_PACKAGES


def _host_root() -> Traversable:
    return resources.files("obelisk.wit").joinpath("host")


def host_wit_files() -> dict[str, str]:
    """Relative path (``obelisk-types/types.wit``) -> text, for every host package file, sorted by path."""
    found: dict[str, str] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif child.name.endswith(".wit"):
                found[rel] = child.read_text(encoding="utf-8")

    root = _host_root()
    if not root.is_dir():
        raise WitSupportError(f"the host WIT folder {root} is missing from the installed obelisk package")
    walk(root, "")
    if not found:
        raise WitSupportError(f"the host WIT folder {root} holds no .wit files")
    return found


def write_wit_support(out_dir: Path) -> list[Path]:
    """Write one folder per host package into ``out_dir`` (meant to be a guest's ``wit/deps``).

    Existing files with the same names are overwritten, so re-running after an upgrade refreshes them; other
    files in ``out_dir`` are left alone.
    """
    written = []
    for rel, text in host_wit_files().items():
        target = out_dir / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as e:
            raise WitSupportError(f"cannot write {target}: {e.strerror or e}") from e
        written.append(target)
    return written
