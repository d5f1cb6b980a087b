"""Identity of a configured component: its kind, its configured name and the binary it runs.

An execution runs with the component configured under its name *now*, so the name is what routes
work; the digest prefix is in the id so that logs, events and the UI show *which binary* ran, and an upgrade
(same name, new file) yields a new id.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from obelisk.concepts.errors import ParseError

_SHA256_PREFIX = "sha256:"
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_HEX16_RE = re.compile(r"^[0-9a-f]{16}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

DIGEST_PREFIX_LEN = 16


class ComponentType(StrEnum):
    """The three kinds of component a server runs; the value is the first part of a ``ComponentId``."""

    ACTIVITY_WASM = "activity_wasm"
    WORKFLOW = "workflow"
    WEBHOOK_ENDPOINT = "webhook_endpoint"


@dataclass(frozen=True, slots=True, order=True)
class ContentDigest:
    """``sha256:<64 lowercase hex>`` of a file's bytes; content addressing survives renames and re-downloads."""

    hex: str

    def __post_init__(self) -> None:
        if not _HEX64_RE.match(self.hex):
            raise ParseError(f"invalid sha256 digest {self.hex!r}: expected 64 lowercase hex digits")

    @classmethod
    def parse(cls, text: str) -> ContentDigest:
        if not text.startswith(_SHA256_PREFIX):
            raise ParseError(f"invalid content digest {text!r}: expected 'sha256:<64 hex digits>'")
        return cls(text[len(_SHA256_PREFIX) :])

    @classmethod
    def of_bytes(cls, data: bytes) -> ContentDigest:
        return cls(hashlib.sha256(data).hexdigest())

    @classmethod
    def of_file(cls, path: Path) -> ContentDigest:
        """Hashes the file through a read-only mapping in one call, which releases the GIL once: a hashing thread
        then runs beside other Python work (a server's imports at start-up). Read in chunks, it waited for the GIL
        after each one (the imports took +120 ms); read whole into a buffer, the copy and the fresh pages cost
        +80 ms. The price: a file truncated *in place* while it is hashed kills the process with SIGBUS, as it
        would once wasmtime has mapped it; files here are replaced by renaming, which leaves a mapping intact."""
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return cls.of_bytes(b"")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return cls(hashlib.sha256(mapped).hexdigest())

    @property
    def short(self) -> str:
        """The first 16 hex digits, as used in ``ComponentId``."""
        return self.hex[:DIGEST_PREFIX_LEN]

    def __str__(self) -> str:
        return f"{_SHA256_PREFIX}{self.hex}"


@dataclass(frozen=True, slots=True, order=True)
class ComponentId:
    """``<kind>:<name>:<first 16 hex of the sha256 digest>`` (docs/architecture.md#component-identity)."""

    kind: ComponentType
    name: str
    digest_prefix: str

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ParseError(
                f"invalid component name {self.name!r}: expected letters, digits, '_', '.', '-' "
                "(no ':' and not starting with '.' or '-')"
            )
        if not _HEX16_RE.match(self.digest_prefix):
            raise ParseError(
                f"invalid digest prefix {self.digest_prefix!r} in component id: expected 16 lowercase hex digits"
            )

    @classmethod
    def of(cls, kind: ComponentType, name: str, digest: ContentDigest) -> ComponentId:
        return cls(kind, name, digest.short)

    @classmethod
    def parse(cls, text: str) -> ComponentId:
        kind_text, sep1, rest = text.partition(":")
        name, sep2, prefix = rest.rpartition(":")
        if not sep1 or not sep2:
            raise ParseError(f"invalid component id {text!r}: expected <kind>:<name>:<16 hex digits>")
        try:
            kind = ComponentType(kind_text)
        except ValueError:
            kinds = ", ".join(k.value for k in ComponentType)
            raise ParseError(
                f"invalid component id {text!r}: unknown kind {kind_text!r}, expected one of {kinds}"
            ) from None
        return cls(kind, name, prefix)

    def matches(self, digest: ContentDigest) -> bool:
        """Whether ``digest`` is (by its prefix) the binary this id names."""
        return digest.short == self.digest_prefix

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}:{self.digest_prefix}"
