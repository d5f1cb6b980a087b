"""The files of the codegen cache that need no wasmtime: atomic writes, the digest memo of component files, and
the digests that guard compiled artifacts.

A compiled artifact is native code: ``Component.deserialize_file`` maps it and trusts every byte, so a damaged
artifact (a flipped byte, a torn write, a disk error) runs as machine code. Measured: overwriting bytes in the
middle of a cached ``.cwasm`` made the server segfault on the next call, and again at every restart. So each
artifact is written with the sha256 of its bytes in a file beside it (``<artifact>.sha256``), both atomically
(temp file, fsync, rename), and the loader checks an artifact against it before deserializing; a mismatch or a
missing digest file means the artifact is deleted and recompiled. A crash between the two renames leaves an
artifact whose digest file is missing or names the previous content: both fail the check, none passes.

Hashing costs ~25 ms per 35 MB artifact. An artifact found intact is not hashed again in the same boot while
its size, times and inode are unchanged (``VERIFIED_MEMO``, see ``artifact_problem``); the hashing that remains
(after a reboot, a compile, a change) is begun by ``start_checks`` on a thread of its own as soon as a server's
config is known, before it imports its heavy modules (the hash releases the GIL, so it runs on another core if
one is idle); the loader then takes the finished result (``check_artifact``). This module imports no wasmtime for
that reason.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from obelisk.concepts.component_id import ContentDigest
from obelisk.concepts.errors import ObeliskError, ParseError

logger = logging.getLogger(__name__)

ARTIFACT_SUFFIX = ".cwasm"
ARTIFACT_DIGEST_SUFFIX = ".sha256"
DIGEST_MEMO = "digests.json"


class ComponentLoadError(ObeliskError):
    """A component file cannot be read or is not a valid component for this engine."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"cannot load component {path}: {reason}")
        self.path = path
        self.reason = reason


# ---- artifact digests -----------------------------------------------------------------------------------------


def artifact_digest_path(artifact: Path) -> Path:
    """Where the digest of ``artifact`` is kept: beside it, ``<artifact>.sha256``."""
    return artifact.with_name(artifact.name + ARTIFACT_DIGEST_SUFFIX)


def write_artifact(artifact: Path, blob: bytes | bytearray) -> None:
    """Writes a compiled artifact and then its digest, each atomically."""
    write_atomically(artifact, blob)
    write_atomically(artifact_digest_path(artifact), f"{ContentDigest.of_bytes(bytes(blob))}\n".encode())


def remove_artifact(artifact: Path) -> None:
    """Deletes an artifact and its digest file (either may be missing)."""
    artifact.unlink(missing_ok=True)
    artifact_digest_path(artifact).unlink(missing_ok=True)


def artifact_problem(artifact: Path) -> str | None:
    """Why ``artifact`` must not be loaded (its digest file is missing or unreadable, or its bytes do not match
    it), or ``None`` when it is intact.

    Reads the whole artifact (~25 ms per 35 MB, the GIL released) unless this very file was found intact since
    the machine booted: same size, mtime, ctime and inode, so not written through the file system since (ctime
    cannot be set back), and the same digest file (``VERIFIED_MEMO``). Hashing every artifact at every start
    cost W3 ~130 ms on a busy 2-core machine, where no idle core hides it. After a reboot, when damage from below
    the file system would show, each artifact is hashed again.
    """
    digest_file = artifact_digest_path(artifact)
    try:
        recorded = digest_file.read_text().strip()
    except FileNotFoundError:
        return f"its digest file {digest_file.name} is missing"
    except OSError as err:
        return f"its digest file {digest_file.name} cannot be read ({err.strerror or err})"
    try:
        expected = ContentDigest.parse(recorded)
    except ParseError:
        return f"its digest file {digest_file.name} is malformed"
    memo = _verified_memo(artifact.parent)
    signature = _signature(artifact)
    if signature is not None and memo.intact(artifact.name, signature, expected):
        return None
    try:
        actual = ContentDigest.of_file(artifact)
    except OSError as err:
        return f"it cannot be read ({err.strerror or err})"
    if actual != expected:
        return f"its content ({actual.short}) does not match its digest file ({expected.short})"
    if signature is not None and signature == _signature(artifact):
        memo.record(artifact.name, signature, expected)
    return None


VERIFIED_MEMO = "verified.json"


@functools.cache
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None  # not Linux: nothing is trusted without hashing


class _VerifiedMemo:
    """Artifacts of one cache directory found intact in this boot, by name: ``[size, mtime_ns, ctime_ns, inode,
    boot id, digest]``. A cache like the rest: deleting it costs one hash per artifact."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: dict[str, list[Any]] | None = None

    def intact(self, name: str, signature: _Signature, digest: ContentDigest) -> bool:
        boot = _boot_id()
        with self._lock:
            entry = self._load().get(name)
        return boot is not None and entry == [*signature, boot, str(digest)]

    def record(self, name: str, signature: _Signature, digest: ContentDigest) -> None:
        boot = _boot_id()
        if boot is None:
            return
        with self._lock:
            entries = self._load()
            entries[name] = [*signature, boot, str(digest)]
            try:
                write_atomically(self._path, json.dumps(entries).encode())
            except OSError as err:
                logger.warning("cannot write %s: %s", self._path, err)

    def _load(self) -> dict[str, list[Any]]:
        if self._entries is None:
            try:
                loaded = json.loads(self._path.read_text())
            except (OSError, ValueError):
                loaded = None
            self._entries = loaded if isinstance(loaded, dict) else {}
        return self._entries


_memos: dict[Path, _VerifiedMemo] = {}
_memos_lock = threading.Lock()


def _verified_memo(cache_dir: Path) -> _VerifiedMemo:
    with _memos_lock:
        return _memos.setdefault(cache_dir, _VerifiedMemo(cache_dir / VERIFIED_MEMO))


_Signature = tuple[int, int, int, int]


def _signature(path: Path) -> _Signature | None:
    """What changes whenever a file's bytes are changed through the file system (ctime cannot be set back)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class _ArtifactChecks:
    """Checks started ahead of the loads that need them; each result is used by at most one load."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[Path, tuple[_Signature | None, Future[str | None]]] = {}

    def start(self, artifacts: list[Path]) -> None:
        jobs: list[tuple[Path, Future[str | None]]] = []
        with self._lock:
            for artifact in artifacts:
                if artifact not in self._started:
                    future: Future[str | None] = Future()
                    self._started[artifact] = (_signature(artifact), future)
                    jobs.append((artifact, future))
        if jobs:
            threading.Thread(target=self._run, args=(jobs,), name="artifact-check", daemon=True).start()

    @staticmethod
    def _run(jobs: list[tuple[Path, Future[str | None]]]) -> None:
        for artifact, future in jobs:
            try:
                future.set_result(artifact_problem(artifact))
            except BaseException as error:  # handed to the load that waits for it
                future.set_exception(error)

    def result(self, artifact: Path) -> str | None:
        with self._lock:
            started = self._started.pop(artifact, None)
        if started is not None:
            signature, future = started
            problem = future.result()
            # A file changed since the check began gets checked again: the result must be about these bytes.
            if signature is not None and signature == _signature(artifact):
                return problem
        return artifact_problem(artifact)


_checks = _ArtifactChecks()


def check_artifact(artifact: Path) -> str | None:
    """``artifact_problem``, using the result of a check begun by ``start_checks`` when there is one."""
    return _checks.result(artifact)


def start_checks(cache_dir: Path | None, component_files: Iterable[Path]) -> None:
    """Begins checking the cached artifacts of ``component_files`` on a background thread.

    Only what is cheap to know is looked up here (component digests remembered in the memo, artifacts found by
    that digest); a component not in the memo is hashed and checked later by its load, as without this call.
    """
    if cache_dir is None:
        return
    memo = DigestMemo(cache_dir / DIGEST_MEMO)
    artifacts: list[Path] = []
    for file in component_files:
        digest = memo.known(Path(file))
        if digest is None:
            continue
        artifacts += sorted(cache_dir.glob(f"{digest.hex}-*{ARTIFACT_SUFFIX}"))
    _checks.start([artifact for artifact in artifacts if artifact_digest_path(artifact).is_file()])


# ---- component digests ----------------------------------------------------------------------------------------


class DigestMemo:
    """Remembers file digests by (size, mtime in ns, inode), so a restart does not hash every component again
    (~25 ms for an 18 MB componentize-py file). A file rewritten in any way gets a new mtime and is hashed anew;
    the memo is a cache like the artifacts next to it, and deleting it only costs time."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: dict[str, list[Any]] | None = None

    def known(self, file: Path) -> ContentDigest | None:
        """The remembered digest of ``file`` if it is unchanged since, else ``None`` (nothing is hashed)."""
        try:
            key, signature = self._key(file)
        except ComponentLoadError:
            return None
        with self._lock:
            known = self._load().get(key)
        if known is None or known[:3] != signature:
            return None
        try:
            return ContentDigest.parse(known[3])
        except (ParseError, IndexError, TypeError):
            return None

    def digest(self, file: Path) -> ContentDigest:
        key, signature = self._key(file)
        with self._lock:
            entries = self._load()
            known = entries.get(key)
            if known is not None and known[:3] == signature:
                return ContentDigest.parse(known[3])
        digest = digest_file(file)
        with self._lock:
            self._load()[key] = [*signature, str(digest)]
            self._save()
        return digest

    @staticmethod
    def _key(file: Path) -> tuple[str, list[int]]:
        try:
            stat = file.stat()
        except OSError as err:
            raise ComponentLoadError(file, f"cannot read file: {err.strerror or err}") from err
        return str(file.resolve()), [stat.st_size, stat.st_mtime_ns, stat.st_ino]

    def _load(self) -> dict[str, list[Any]]:
        if self._entries is None:
            self._entries = {}
            if self._path is not None:
                try:
                    loaded = json.loads(self._path.read_text())
                    if isinstance(loaded, dict):
                        self._entries = loaded
                except (OSError, ValueError):
                    pass
        return self._entries

    def _save(self) -> None:
        if self._path is not None and self._entries is not None:
            try:
                write_atomically(self._path, json.dumps(self._entries).encode())
            except OSError as err:
                logger.warning("cannot write the digest memo %s: %s", self._path, err)


def digest_file(path: Path) -> ContentDigest:
    """The content digest of a component file, with a typed error naming the file."""
    try:
        return ContentDigest.of_file(path)
    except OSError as err:
        raise ComponentLoadError(path, f"cannot read file: {err.strerror or err}") from err


def write_atomically(target: Path, data: bytes | bytearray) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the whole new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
