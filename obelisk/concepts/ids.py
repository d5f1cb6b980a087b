"""Identifiers of executions, runs, join sets, delays and executors.

Every id is a ``str`` subclass: ids are stored, logged and sent over the wire as text, and a subclass keeps that
free while letting the type checker tell an ``ExecutionId`` from a ``JoinSetId``. Top-level ids are
``<Prefix>_<ULID>`` as in the original (ULIDs sort by creation time, which makes listings cheap). Child executions
get derived ids ``E_<parent>.<n>`` so that a replay names the same child as the first run did.

Ids are ASCII and parsed strictly: ``str.isdigit`` and case-insensitive regular expressions accept non-ASCII
look-alikes (``"²"``, ``"٣"``, the Kelvin sign for ``K``), which would let one execution be named in several ways.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from typing import ClassVar, Self

from obelisk.concepts.errors import ParseError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_INDEX = {c: i for i, c in enumerate(_CROCKFORD)}
ULID_LENGTH = 26
_ULID_SHAPE = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE | re.ASCII)
"""A valid ULID: 26 Crockford digits, the first at most 7 (128 bits). Checked on every id the API receives."""
_CHILD_INDEX = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
MAX_CHILD_INDEX = 2**64 - 1
"""Child indexes are ``u64`` as in the original."""


def encode_ulid(timestamp_ms: int, randomness: int) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, in Crockford base32."""
    value = ((timestamp_ms & ((1 << 48) - 1)) << 80) | (randomness & ((1 << 80) - 1))
    chars = []
    for _ in range(ULID_LENGTH):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_ulid(text: str) -> tuple[int, int]:
    """Returns ``(timestamp_ms, randomness)``; raises ``ParseError`` on a malformed ULID."""
    if len(text) != ULID_LENGTH:
        raise ParseError(f"invalid ULID {text!r}: expected {ULID_LENGTH} characters")
    value = 0
    for char in text.upper():
        digit = _CROCKFORD_INDEX.get(char)
        if digit is None:
            raise ParseError(f"invalid ULID {text!r}: {char!r} is not a Crockford base32 digit")
        value = (value << 5) | digit
    if value >> 128:
        raise ParseError(f"invalid ULID {text!r}: out of range")
    return value >> 80, value & ((1 << 80) - 1)


def new_ulid(timestamp_ms: int | None = None) -> str:
    millis = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return encode_ulid(millis, int.from_bytes(os.urandom(10), "big"))


class PrefixedId(str):
    """``<PREFIX>_<ULID>``; subclasses set ``PREFIX``."""

    PREFIX: ClassVar[str] = ""
    __slots__ = ()

    @classmethod
    def generate(cls, timestamp_ms: int | None = None) -> Self:
        return cls(f"{cls.PREFIX}_{new_ulid(timestamp_ms)}")

    @classmethod
    def from_parts(cls, timestamp_ms: int, randomness: int) -> Self:
        return cls(f"{cls.PREFIX}_{encode_ulid(timestamp_ms, randomness)}")

    @classmethod
    def parse(cls, text: str) -> Self:
        prefix, sep, ulid = text.partition("_")
        if not sep or prefix != cls.PREFIX:
            raise ParseError(f"invalid {cls.__name__} {text!r}: expected {cls.PREFIX}_<ULID>")
        if not ulid.isascii():
            raise ParseError(f"invalid {cls.__name__} {text!r}: expected {cls.PREFIX}_<ULID> in ASCII characters")
        if _ULID_SHAPE.fullmatch(ulid) is None:
            try:
                decode_ulid(ulid)  # raises the error that says what is wrong
            except ParseError as error:
                raise ParseError(f"invalid {cls.__name__} {text!r}: {error}") from None
            raise ParseError(f"invalid {cls.__name__} {text!r}: invalid ULID {ulid!r}")
        return cls(text)


class ExecutionId(PrefixedId):
    """``E_<ULID>`` for top-level executions, ``E_<ULID>.<n>[.<m>...]`` for children."""

    PREFIX = "E"
    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Self:
        """A top-level or child id, as a lookup (status, events, a cursor) may name either."""
        top, *suffixes = text.split(".")
        super().parse(top)
        for suffix in suffixes:
            if _CHILD_INDEX.fullmatch(suffix) is None or int(suffix) > MAX_CHILD_INDEX:
                raise ParseError(
                    f"invalid ExecutionId {text!r}: child index {suffix!r} is not a number from 0 to {MAX_CHILD_INDEX} "
                    "in ASCII digits without leading zeros"
                )
        return cls(text)

    @classmethod
    def parse_top_level(cls, text: str) -> Self:
        """An id a client may create an execution under: ``E_<ULID>``, never a child's.

        Only the engine derives child ids, from the parent's run; an execution created under one beforehand would
        make the parent's own call of that child fail on every run.
        """
        parsed = cls.parse(text)
        if parsed.is_child:
            raise ParseError(
                f"{text!r} is a child execution id (E_<ULID>.<n>): only the engine creates those; "
                "submit a top-level id E_<ULID>"
            )
        return parsed

    @property
    def is_child(self) -> bool:
        return "." in self

    def child(self, index: int) -> ExecutionId:
        return ExecutionId(f"{self}.{index}")

    @property
    def parent_id(self) -> ExecutionId | None:
        """The id this one was derived from, or ``None`` for a top-level execution."""
        head, dot, _ = self.rpartition(".")
        return ExecutionId(head) if dot else None

    @property
    def top_level(self) -> ExecutionId:
        return ExecutionId(self.split(".", 1)[0])

    @property
    def timestamp_ms(self) -> int:
        return decode_ulid(self.top_level[2:])[0]

    def seed(self) -> int:
        """A 64-bit seed for this execution's deterministic PRNG (join-set, delay and scheduled ids, WASI random).

        Derived from the whole id, so children of one parent get different sequences.
        """
        return int.from_bytes(hashlib.sha256(self.encode()).digest()[:8], "big")


class RunId(PrefixedId):
    PREFIX = "Run"
    __slots__ = ()


class JoinSetId(PrefixedId):
    PREFIX = "JoinSet"
    __slots__ = ()


class DelayId(PrefixedId):
    PREFIX = "Delay"
    __slots__ = ()


class ExecutorId(PrefixedId):
    PREFIX = "Exr"
    __slots__ = ()


class DeterministicIds:
    """Generates the ids a workflow run creates, reproducibly for a given execution.

    A replay makes the same calls in the same order, so it draws the same ids; the first run and every replay
    therefore agree on join-set, delay and scheduled-execution ids without storing any generator state.
    """

    def __init__(self, execution_id: ExecutionId) -> None:
        self._timestamp_ms = execution_id.timestamp_ms
        self._rng = random.Random(execution_id.seed())

    def _randomness(self) -> int:
        return self._rng.getrandbits(80)

    def join_set_id(self) -> JoinSetId:
        return JoinSetId.from_parts(self._timestamp_ms, self._randomness())

    def delay_id(self) -> DelayId:
        return DelayId.from_parts(self._timestamp_ms, self._randomness())

    def execution_id(self) -> ExecutionId:
        return ExecutionId.from_parts(self._timestamp_ms, self._randomness())
