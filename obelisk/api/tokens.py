"""API tokens: how they are made, hashed, given roles and checked, for the gRPC API and the web UI alike.

A token is a random string; the configuration holds only its digest (``api.token_hashes = ["sha256:<hex>"]``),
which is safe to commit, and the one plaintext token the server may know comes from the environment
(``OBELISK__API__TOKEN``). A presented token is hashed and its digest compared with each accepted one in constant
time, so the comparison says nothing about the accepted tokens. Each token has a role: ``viewer`` may read,
``operator`` (the default, and the role of the environment's token) may also submit, cancel and pause.

With no token configured nothing is required (``TokenVerifier.required`` is false): the server then listens on
loopback only, unless ``api.allow_unauthenticated`` says otherwise (``obelisk.config.exposure``).

Pure standard library, so the config models can validate hashes with it without importing grpc.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obelisk.config.models import ObeliskConfig

HASH_PREFIX = "sha256:"
TOKEN_BYTES = 32
"""Random bytes of a generated token (64 hex characters)."""
TOKEN_ENV_VAR = "OBELISK__API__TOKEN"
"""The server's plaintext token (an ``operator``), never written in a file."""
CLIENT_TOKEN_ENV_VAR = "OBELISK_API_TOKEN"
"""What ``obelisk client --api-token`` falls back to (then ``OBELISK__API__TOKEN``, as the original does)."""


class Role(enum.StrEnum):
    VIEWER = "viewer"
    """Reads: lists, statuses, events, logs, components, WIT."""
    OPERATOR = "operator"
    """Reads and changes: submit, cancel, cancel a delay, pause and resume."""

    def may(self, access: Access) -> bool:
        return access is not Access.WRITE or self is Role.OPERATOR


class Access(enum.Enum):
    """What a request needs: nothing (health), a valid token of any role, or an operator's token."""

    OPEN = "open"
    READ = "read"
    WRITE = "write"


def generate_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The ``sha256:<hex>`` form that ``api.token_hashes`` holds."""
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def parse_token_hash(text: str) -> bytes:
    """The 32-byte digest of ``sha256:<64 hex digits>``; a ``ValueError`` naming what is wrong otherwise."""
    if not text.startswith(HASH_PREFIX):
        raise ValueError(
            f'expected "sha256:" followed by 64 hex digits (obelisk generate token prints one), got "{text[:80]}"'
        )
    hex_digits = text[len(HASH_PREFIX) :]
    if len(hex_digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hex_digits):
        raise ValueError(f'expected 64 hex digits after "sha256:", got {len(hex_digits)} characters: "{text[:80]}"')
    return bytes.fromhex(hex_digits)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a request: the role of the token, and a label for log lines that does not reveal it."""

    role: Role
    label: str


ANONYMOUS = Identity(Role.OPERATOR, "anonymous")
"""Every request when no token is configured (loopback, or ``allow_unauthenticated``)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not authenticated: one line for the client and the log."""

    reason: str


class TokenVerifier:
    """The accepted tokens (as digests) with their roles."""

    def __init__(self, accepted: Iterable[tuple[bytes, Role]]) -> None:
        self._accepted = tuple(accepted)

    @classmethod
    def from_config(cls, config: ObeliskConfig) -> TokenVerifier:
        api = config.api
        accepted = [(parse_token_hash(entry.hash), Role(entry.role)) for entry in api.token_hashes]
        if api.token is not None:
            accepted.append((hashlib.sha256(api.token.encode()).digest(), Role.OPERATOR))
        return cls(accepted)

    @property
    def required(self) -> bool:
        """Whether a request must present a token (some token is configured)."""
        return bool(self._accepted)

    def identify(self, token: str) -> Identity | None:
        """The identity of ``token``, or ``None`` when no accepted token matches. Every accepted digest is compared,
        each in constant time, so neither the time taken nor the answer says which came close."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Identity | None = None
        for accepted, role in self._accepted:
            if hmac.compare_digest(accepted, digest) and found is None:
                found = Identity(role, f"token:{accepted.hex()[:8]}")
        return found

    def authenticate(self, authorization: str | None) -> Identity | Refusal:
        """The identity of an ``authorization: Bearer <token>`` header value (gRPC metadata)."""
        if not self.required:
            return ANONYMOUS
        if authorization is None:
            return Refusal(f"missing API token: send `authorization: Bearer <token>` ({CLIENT_HINT})")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Refusal(f"malformed authorization: expected `Bearer <token>` ({CLIENT_HINT})")
        identity = self.identify(token.strip())
        if identity is None:
            return Refusal("unknown API token")
        return identity


CLIENT_HINT = f"obelisk client: --api-token or {CLIENT_TOKEN_ENV_VAR}"


def permission_refusal(identity: Identity, what: str) -> str:
    """The one line a ``viewer`` gets for a change."""
    return f"{what} needs an operator token; this {identity.role} token ({identity.label}) may only read"
