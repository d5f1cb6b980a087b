"""Loading components: content addressing and an on-disk cache of compiled code (docs/architecture.md#compile-cache).

Compiling a componentize-py component takes ~5 s and ~300 MB RSS; loading its serialized artifact with
``Component.deserialize_file`` takes ~2 ms (it is mmapped). Artifacts are keyed by (source digest, wasmtime
version, engine-config tag) because wasmtime refuses artifacts made by another version or configuration. The
directory is a cache: deleting it only costs time, and an artifact that does not load is recompiled and
replaced, never trusted. Nor is one that loads: an artifact is native code, so it is checked against the digest
written beside it before it is deserialized (``obelisk.wasm.cache_files``), and recompiled when it does not match.

Next to each artifact the loader keeps the component's introspected interfaces (``interfaces``): walking the
types of a componentize-py component through wasmtime-py costs ~10 ms each, the largest part of a warm start's
``Server.start``. They are keyed by the component digest and a fingerprint of the code that produces and
defines them (``introspection_fingerprint``), so a change of that code recomputes them instead of reusing them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime.component import Component

from obelisk.concepts import wit_types
from obelisk.concepts.component_id import ContentDigest
from obelisk.wasm import introspect
from obelisk.wasm.cache_files import (
    ARTIFACT_DIGEST_SUFFIX,
    ARTIFACT_SUFFIX,
    DIGEST_MEMO,
    ComponentLoadError,
    DigestMemo,
    check_artifact,
    digest_file,
    remove_artifact,
    write_artifact,
    write_atomically,
)
from obelisk.wasm.engine import WasmEngine, wasmtime_version
from obelisk.wasm.introspect import ComponentInterfaces, inspect_component

logger = logging.getLogger(__name__)

INTERFACES_SUFFIX = ".interfaces.pickle"


@dataclass(frozen=True, slots=True)
class LoadedComponent:
    """A compiled component and how it was obtained.

    ``compiled_from_cache`` is True when the code came from the codegen cache (no compilation happened), which
    is how a second start-up proves it did not recompile.
    """

    path: Path
    digest: ContentDigest
    component: Component
    compiled_from_cache: bool
    seconds: float


class ComponentLoader:
    """Loads components for one ``WasmEngine``, through the codegen cache when ``cache_dir`` is given.

    Thread-safe: a digest being compiled by one thread is waited for by others instead of compiled twice, and
    a digest already loaded in this process is returned from memory (Components are shareable across threads).
    """

    def __init__(self, engine: WasmEngine, cache_dir: Path | None):
        self.engine = engine
        self.cache_dir = cache_dir
        self._version = wasmtime_version()
        self._loaded: dict[ContentDigest, Component] = {}
        self._digest_locks: dict[ContentDigest, threading.Lock] = {}
        self._lock = threading.Lock()
        self._digests = DigestMemo(cache_dir / DIGEST_MEMO if cache_dir is not None else None)

    def artifact_path(self, digest: ContentDigest) -> Path | None:
        """Where the artifact for ``digest`` lives under this engine, or None when caching is disabled."""
        if self.cache_dir is None:
            return None
        name = f"{digest.hex}-wasmtime{self._version}-{self.engine.config_tag}{ARTIFACT_SUFFIX}"
        return self.cache_dir / name

    def interfaces_path(self, digest: ContentDigest) -> Path | None:
        """Where the introspected interfaces of ``digest`` are kept, or None when caching is disabled."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{digest.hex}-{introspection_fingerprint()}{INTERFACES_SUFFIX}"

    # ---- synchronous API (call from worker threads) -------------------------------------------------------

    def interfaces(self, loaded: LoadedComponent) -> ComponentInterfaces:
        """``inspect_component`` of a loaded component, through the codegen cache when there is one.

        A cached result that does not load is recomputed and replaced, like an artifact.
        """
        path = self.interfaces_path(loaded.digest)
        if path is not None:
            cached = _read_interfaces(path)
            if cached is not None:
                return cached
        interfaces = inspect_component(self.engine.engine, loaded.component)
        if path is not None:
            try:
                write_atomically(path, pickle.dumps(interfaces, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError as err:
                logger.warning("cannot write the interfaces of %s to %s: %s", loaded.path, path, err)
        return interfaces

    def load(self, path: Path) -> LoadedComponent:
        """Digest, then load from memory, the codegen cache, or by compiling (and caching) the file."""
        started = time.perf_counter()
        path = Path(path)
        digest = self._digests.digest(path)
        with self._lock_for(digest):
            component = self._loaded.get(digest)
            if component is not None:
                return LoadedComponent(path, digest, component, True, time.perf_counter() - started)
            component = self._load_cached(path, digest)
            from_cache = component is not None
            if component is None:
                component, digest = self._compile(path, digest)
                self._store_artifact(path, digest, component)
            self._loaded[digest] = component
        seconds = time.perf_counter() - started
        if from_cache:
            logger.info(
                "component %s (%s) loaded from codegen cache in %.1f ms, not recompiled",
                path,
                digest,
                seconds * 1000,
            )
        else:
            logger.info("component %s (%s) compiled in %.2f s", path, digest, seconds)
        return LoadedComponent(path, digest, component, from_cache, seconds)

    def load_many(self, paths: Sequence[Path], *, max_workers: int | None = None) -> list[LoadedComponent]:
        """Loads several components in parallel threads (wasmtime compiles without holding the GIL).

        Results are in the order of ``paths``; the first failure is raised after all have finished.
        """
        if not paths:
            return []
        workers = max_workers or min(len(paths), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wasm-compile") as pool:
            futures = [pool.submit(self.load, Path(p)) for p in paths]
            return [future.result() for future in futures]

    # ---- asyncio API --------------------------------------------------------------------------------------

    async def load_async(self, path: Path) -> LoadedComponent:
        """``load`` on a worker thread, so the event loop keeps serving while a component compiles."""
        return await asyncio.to_thread(self.load, path)

    async def load_many_async(self, paths: Sequence[Path], *, max_workers: int | None = None) -> list[LoadedComponent]:
        return await asyncio.to_thread(self.load_many, paths, max_workers=max_workers)

    # ---- internals ----------------------------------------------------------------------------------------

    def _lock_for(self, digest: ContentDigest) -> threading.Lock:
        with self._lock:
            return self._digest_locks.setdefault(digest, threading.Lock())

    def _load_cached(self, path: Path, digest: ContentDigest) -> Component | None:
        artifact = self.artifact_path(digest)
        if artifact is None or not artifact.is_file():
            return None
        problem = check_artifact(artifact)
        if problem is not None:
            logger.warning(
                "codegen cache artifact %s for %s is not used: %s; deleting and recompiling it", artifact, path, problem
            )
            remove_artifact(artifact)
            return None
        try:
            return Component.deserialize_file(self.engine.engine, str(artifact))
        except wasmtime.WasmtimeError as err:
            misfit = self._pooling_misfit(path, err)
            if misfit is not None:  # compiling it again would not make it fit
                raise misfit from err
            logger.warning(
                "codegen cache artifact %s for %s does not load (%s); recompiling and replacing it",
                artifact,
                path,
                _first_line(err),
            )
            return None

    def _compile(self, path: Path, digest: ContentDigest) -> tuple[Component, ContentDigest]:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ComponentLoadError(path, f"cannot read file: {err.strerror or err}") from err
        actual = ContentDigest.of_bytes(data)
        if actual != digest:
            # The file changed between hashing and reading: the bytes compiled are what the digest must name.
            logger.warning("component %s changed while loading (%s -> %s)", path, digest, actual)
            digest = actual
        try:
            return Component(self.engine.engine, data), digest
        except wasmtime.WasmtimeError as err:
            if _is_core_module(self.engine, data):
                raise ComponentLoadError(
                    path,
                    "a core WebAssembly module, not a component: build it as a component (this implementation does"
                    " not convert core modules, whatever convert_core_module says)",
                ) from err
            raise self._pooling_misfit(path, err) or ComponentLoadError(
                path, f"not a valid WebAssembly component: {_first_line(err)}"
            ) from err

    def _pooling_misfit(self, path: Path, err: wasmtime.WasmtimeError) -> ComponentLoadError | None:
        """The error for a component whose memories or tables exceed the pooling allocator's per-instance limits."""
        if self.engine.pooling is None or "pooling allocator" not in str(err):
            return None
        causes = [line.strip() for line in str(err).splitlines()[1:]]
        reason = "; ".join(c.split(": ", 1)[-1] for c in causes if c and c != "Caused by:")
        return ComponentLoadError(
            path, f"does not fit the limits of [wasmtime_pooling_config]: {reason or _first_line(err)}"
        )

    def _store_artifact(self, path: Path, digest: ContentDigest, component: Component) -> None:
        artifact = self.artifact_path(digest)
        if artifact is None:
            return
        try:
            write_artifact(artifact, component.serialize())
        except (OSError, wasmtime.WasmtimeError) as err:
            # A cache that cannot be written only costs the next start-up time; it must not stop this one.
            logger.warning("cannot write codegen cache artifact %s for %s: %s", artifact, path, err)


@functools.cache
def introspection_fingerprint() -> str:
    """Digest of what a cached ``ComponentInterfaces`` depends on besides the component: the introspection
    module, the ``obelisk.concepts`` modules whose classes it pickles, wasmtime-py and the Python version."""
    sources = [Path(introspect.__file__), *sorted(Path(wit_types.__file__).parent.glob("*.py"))]
    digest = hashlib.sha256(f"{wasmtime_version()};{sys.version_info[:2]}".encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _read_interfaces(path: Path) -> ComponentInterfaces | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.warning("cannot read cached interfaces %s (%s); introspecting again", path, err)
        return None
    try:
        loaded = pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError) as err:
        logger.warning("cached interfaces %s do not load (%s); introspecting again", path, _first_line(err))
        return None
    return loaded if isinstance(loaded, ComponentInterfaces) else None


def digest_of(path: Path) -> ContentDigest:
    """The content digest of a component file, with a typed error naming the file."""
    return digest_file(Path(path))


CORE_MODULE_HEADER = b"\0asm\x01\x00\x00\x00"
"""The magic and version of a core module; a component's differ in their version and layer bytes."""


def _is_core_module(engine: WasmEngine, data: bytes) -> bool:
    if data[:8] != CORE_MODULE_HEADER:
        return False
    try:
        wasmtime.Module.validate(engine.engine, data)
    except wasmtime.WasmtimeError:
        return False
    return True


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def remove_stale_artifacts(cache_dir: Path, keep: Iterable[Path]) -> int:
    """Deletes artifacts not in ``keep`` (e.g. of older wasmtime versions); returns how many were removed."""
    keep_set = {Path(p).resolve() for p in keep}
    removed = 0
    for candidate in cache_dir.glob(f"*{ARTIFACT_SUFFIX}"):
        if candidate.resolve() not in keep_set:
            remove_artifact(candidate)
            removed += 1
    for digest in cache_dir.glob(f"*{ARTIFACT_SUFFIX}{ARTIFACT_DIGEST_SUFFIX}"):
        if not digest.with_name(digest.name.removesuffix(ARTIFACT_DIGEST_SUFFIX)).exists():
            digest.unlink(missing_ok=True)
    return removed
