"""The Python objects behind the ``wasi:http/types`` resources.

A resource handle the guest holds maps to one of these through the store's ``ResourceTable``. Bodies are where
the two directions meet: an ``OutgoingBody`` writes into a ``BodySink`` (a webhook's response on its way to the
client, or an outgoing request's body being collected), an ``IncomingBody`` reads an ``InputStream``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from obelisk.wasm.wasi_http.io import InputStream, OutputStream

# Headers a guest may not set (the host frames the message itself), as in wasmtime's wasi:http.
FORBIDDEN_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "http2-settings"}
)


class HeaderError(Exception):
    """``header-error``: ``case`` is ``invalid-syntax``, ``forbidden`` or ``immutable``."""

    def __init__(self, case: str) -> None:
        super().__init__(case)
        self.case = case


def _valid_name(name: str) -> bool:
    return bool(name) and all(33 <= ord(c) < 127 and c not in '"(),/:;<=>?@[\\]{}' for c in name)


def _valid_value(value: bytes) -> bool:
    return all(b == 9 or 32 <= b != 127 for b in value)


class Fields:
    """``fields`` (also ``headers`` and ``trailers``): an ordered multimap, names compared case-insensitively."""

    def __init__(self, entries: list[tuple[str, bytes]] | None = None, *, immutable: bool = False) -> None:
        self.entries: list[tuple[str, bytes]] = list(entries or [])
        self.immutable = immutable

    @classmethod
    def checked(cls, entries: list[tuple[str, bytes]]) -> Fields:
        for name, value in entries:
            cls._check(name, value)
        return cls([(name, bytes(value)) for name, value in entries])

    @staticmethod
    def _check(name: str, value: bytes | None = None) -> None:
        if not _valid_name(name) or (value is not None and not _valid_value(value)):
            raise HeaderError("invalid-syntax")
        if name.lower() in FORBIDDEN_HEADERS:
            raise HeaderError("forbidden")

    def _mutable(self) -> None:
        if self.immutable:
            raise HeaderError("immutable")

    def get(self, name: str) -> list[bytes]:
        key = name.lower()
        return [v for n, v in self.entries if n.lower() == key]

    def has(self, name: str) -> bool:
        key = name.lower()
        return any(n.lower() == key for n, _ in self.entries)

    def set(self, name: str, values: list[bytes]) -> None:
        self._mutable()
        for value in values:
            self._check(name, value)
        self._check(name)
        key = name.lower()
        self.entries = [(n, v) for n, v in self.entries if n.lower() != key]
        self.entries += [(name, bytes(v)) for v in values]

    def delete(self, name: str) -> None:
        self._mutable()
        self._check(name)
        key = name.lower()
        self.entries = [(n, v) for n, v in self.entries if n.lower() != key]

    def append(self, name: str, value: bytes) -> None:
        self._mutable()
        self._check(name, value)
        self.entries.append((name, bytes(value)))

    def copy(self, *, immutable: bool = False) -> Fields:
        return Fields(self.entries, immutable=immutable)


class BodySink:
    """Where an outgoing body's bytes go. The default collects them (an outgoing request's body)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done = threading.Event()
        self.error: str | None = None

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def finish(self) -> None:
        self.done.set()

    def abort(self, reason: str) -> None:
        if not self.done.is_set():
            self.error = reason
            self.done.set()

    def data(self) -> bytes:
        return b"".join(self.chunks)


class OutgoingBody:
    def __init__(self, sink: BodySink) -> None:
        self.sink = sink
        self.stream: OutputStream | None = None
        self.finished = False

    def write_stream(self) -> OutputStream:
        if self.stream is not None:
            raise HeaderError("already-taken")
        self.stream = OutputStream(self.sink.write)
        return self.stream

    def finish(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.finished = True
        self.sink.finish()

    def dropped(self) -> None:
        """Dropping a body without ``finish`` means the message is incomplete."""
        if not self.finished:
            if self.stream is not None:
                self.stream.close()
            self.sink.abort("the outgoing body was dropped without outgoing-body.finish")


@dataclass
class OutgoingResponse:
    headers: Fields
    sink: BodySink
    status: int = 200
    body: OutgoingBody | None = None


@dataclass
class ResponseOutparam:
    """Delivers the guest's response (or its error code) to whoever waits for it, at most once."""

    deliver: Callable[[OutgoingResponse | str], None]
    used: bool = False


@dataclass
class IncomingBody:
    stream: InputStream
    stream_taken: bool = False


@dataclass
class IncomingRequest:
    method: str
    """Upper-case HTTP method."""
    path_with_query: str
    scheme: str
    authority: str
    headers: Fields
    body: IncomingBody
    body_taken: bool = False


@dataclass
class IncomingResponse:
    status: int
    headers: Fields
    body: IncomingBody
    body_taken: bool = False


@dataclass
class OutgoingRequest:
    headers: Fields
    method: str = "GET"
    scheme: str | None = None
    authority: str | None = None
    path_with_query: str | None = None
    body: OutgoingBody | None = None
    body_taken: bool = False


@dataclass
class RequestOptions:
    connect_timeout_ns: int | None = None
    first_byte_timeout_ns: int | None = None
    between_bytes_timeout_ns: int | None = None


@dataclass
class ErrorCode:
    """An ``error-code`` case with its payload (``None``, a string for ``internal-error``, ...)."""

    case: str
    payload: object = None


@dataclass
class FutureIncomingResponse:
    """Set once by the thread performing the request; read by the guest after its pollable is ready."""

    done: threading.Event = field(default_factory=threading.Event)
    response: IncomingResponse | None = None
    error: ErrorCode | None = None
    consumed: bool = False

    def resolve(self, response: IncomingResponse | None = None, error: ErrorCode | None = None) -> None:
        self.response, self.error = response, error
        self.done.set()
