"""The process-wide wasmtime Engine and the epoch ticker that turns wall-clock budgets into interrupts.

One Engine serves every component: compiled code, linkers and components are only shareable within
one Engine, and its configuration decides which cached artifacts are loadable (so it is part of the compile
cache key). Timeouts use epoch interruption rather than fuel: it costs 0-20% instead of 25-34% and measures
wall-clock time, which is what an attempt timeout means.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from obelisk.concepts.errors import ObeliskError
from obelisk.wasm import fast_bytes, fast_host_calls, variant_lowering

logger = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 0.010
# A deadline this far away never fires (2**62 ticks of 10 ms is ~1.5e9 years) but stays within u64 after the
# engine adds its current epoch.
NO_DEADLINE_TICKS = 2**62


class EngineConfigError(ObeliskError):
    """A WasmEngine option is out of range."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The knobs that change generated code. Every field goes into ``config_tag``."""

    cranelift_opt_level: str = "speed"
    parallel_compilation: bool = True

    def tag_fields(self) -> dict[str, str]:
        # epoch_interruption and the component model are always on; they are listed so a future change of
        # either invalidates old artifacts instead of failing to load them.
        return {
            "epoch": "1",
            "component_model": "1",
            "opt": self.cranelift_opt_level,
            "arch": platform.machine() or "unknown",
        }


@dataclass(frozen=True, slots=True)
class PoolingLimits:
    """Allocate instances from wasmtime's pooling allocator, with these limits (``None``: wasmtime's default).

    The pool is reserved when the engine is created and sized by these limits: an instantiation past one fails
    (and is retried like any instantiation failure), and a component whose memory or tables exceed a per-instance
    limit fails to load. Not part of ``config_tag``: compiled artifacts load under either allocator.
    wasmtime-py has no Python API for it; the field names are those of the C API's setters, called through its
    ctypes bindings.

    wasmtime's C API aborts the process when the pool cannot be reserved (limits whose address space the machine
    does not have), so ``check`` first creates an engine with these limits in a child process.
    """

    linear_memory_keep_resident: int | None = None
    table_keep_resident: int | None = None
    total_core_instances: int | None = None
    total_component_instances: int | None = None
    total_memories: int | None = None
    total_tables: int | None = None
    max_memory_size: int | None = None

    def apply(self, config: wasmtime.Config) -> None:
        _apply_pooling(config, {field.name: getattr(self, field.name) for field in fields(self)})

    def check(self) -> None:
        """``EngineConfigError`` with wasmtime's reason when an engine with this pool cannot be created."""
        # The child imports this module and wasmtime, found where this process found them.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)))
        try:
            probe = subprocess.run(
                [sys.executable, "-c", _POOLING_PROBE, json.dumps(asdict(self))],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise EngineConfigError(f"wasmtime's pooling allocator cannot be checked: {err}") from err
        if probe.returncode != 0:
            raise EngineConfigError(f"wasmtime's pooling allocator cannot be set up: {_panic_reason(probe.stderr)}")


def _apply_pooling(config: wasmtime.Config, limits: dict[str, int | None]) -> None:
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        for name, value in limits.items():
            if value is not None:
                getattr(ffi, f"wasmtime_pooling_allocation_config_{name}_set")(pool, value)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)  # copies the pool's configuration
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


_POOLING_PROBE = "from obelisk.wasm.engine import probe_pooling; probe_pooling()"


def probe_pooling() -> None:
    """The child of ``PoolingLimits.check``: create an engine with the limits in ``argv[1]``; aborts if it cannot."""
    config = wasmtime.Config()
    config.wasm_component_model = True
    _apply_pooling(config, json.loads(sys.argv[1]))
    wasmtime.Engine(config)


def _panic_reason(stderr: str) -> str:
    """wasmtime's error from the panic message of a failed engine creation, without the Rust backtrace."""
    lines = [line.strip() for line in stderr.splitlines()]
    reason: list[str] = []
    for line in lines:
        if line.startswith("stack backtrace:") or line.startswith("note:"):
            break
        if "Result::unwrap()" in line:
            reason.append(line.split("value:", 1)[-1].strip())
        elif reason and line and line != "Caused by:":
            reason.append(line.split(": ", 1)[-1] if line[:1].isdigit() else line)
    return "; ".join(reason) or (lines[-1] if lines else "the engine could not be created")


@functools.cache
def wasmtime_version() -> str:
    """The installed wasmtime-py version; artifacts of another version are refused by wasmtime.

    Read from the name of the ``wasmtime-<version>.dist-info`` directory next to the package: one directory
    listing instead of ``importlib.metadata``, whose search of every ``sys.path`` entry cost ~3 ms of start-up.
    """
    site_dir = os.path.dirname(os.path.dirname(wasmtime.__file__))
    prefix, suffix = "wasmtime-", ".dist-info"
    found = [name for name in os.listdir(site_dir) if name.startswith(prefix) and name.endswith(suffix)]
    if len(found) == 1:
        return found[0][len(prefix) : -len(suffix)]
    import importlib.metadata  # noqa: PLC0415  (an unusual installation: let importlib find it)

    return importlib.metadata.version("wasmtime")


class WasmEngine:
    """Owns the one ``wasmtime.Engine`` of the process and its epoch ticker thread.

    The ticker is what makes ``set_epoch_deadline`` mean seconds: each tick is ``tick_seconds`` of wall time.
    It catches up after stalls (GIL contention, a suspended VM) by incrementing once per missed tick, so a
    deadline never stretches because the ticker was late.
    """

    def __init__(
        self,
        options: EngineOptions | None = None,
        *,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        pooling: PoolingLimits | None = None,
    ):
        """``pooling``: allocate instances from wasmtime's pooling allocator; ``None``: on demand (the default)."""
        if not (0.0005 <= tick_seconds <= 1.0):
            raise EngineConfigError(f"tick_seconds must be within [0.0005, 1.0] seconds, got {tick_seconds}")
        self.options = options or EngineOptions()
        self.tick_seconds = tick_seconds
        self.pooling = pooling
        fast_bytes.install()
        fast_host_calls.install()
        variant_lowering.install()
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.wasm_component_model = True
        config.cranelift_opt_level = self.options.cranelift_opt_level
        config.parallel_compilation = self.options.parallel_compilation
        if pooling is not None:
            pooling.check()
            pooling.apply(config)
        self.engine = wasmtime.Engine(config)
        self.config_tag = _config_tag(self.options)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- ticker -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the ticker thread; idempotent. Without it, deadlines never fire."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._tick_loop, name="wasm-epoch-ticker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the ticker and waits for its thread to end; idempotent."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join()

    @property
    def ticking(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def __enter__(self) -> WasmEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        started = time.monotonic()
        done = 0
        while True:
            due = int((time.monotonic() - started) / self.tick_seconds)
            for _ in range(due - done):
                self.engine.increment_epoch()
            done = max(done, due)
            next_at = started + (done + 1) * self.tick_seconds
            if self._stop.wait(max(0.0, next_at - time.monotonic())):
                return

    # ---- deadlines ----------------------------------------------------------------------------------------

    def deadline_ticks(self, seconds: float | None) -> int:
        """Epoch ticks that give a guest at least ``seconds`` of wall time (``None``: no deadline).

        The ticker's phase is unknown when the deadline is set, so a deadline of n ticks fires after
        (n-1)..n ticks; one extra tick makes the budget a lower bound, overshooting by at most one tick.
        """
        if seconds is None:
            return NO_DEADLINE_TICKS
        if math.isnan(seconds) or seconds < 0:
            raise EngineConfigError(f"deadline must be a non-negative number of seconds, got {seconds}")
        if math.isinf(seconds):
            return NO_DEADLINE_TICKS
        return min(NO_DEADLINE_TICKS, math.ceil(seconds / self.tick_seconds) + 1)

    def new_store(
        self, *, deadline_seconds: float | None, data: Any = None, memory_limit: int | None = None
    ) -> wasmtime.Store:
        """A Store whose epoch deadline is already set, so instantiation cannot trap with ``interrupt``.

        The deadline counts from now and covers instantiation and every call made in this store; use
        ``extend_deadline`` to give a later call a fresh budget. ``memory_limit`` caps each linear memory of the
        store in bytes (``max_memory_size``): a ``memory.grow`` past it returns -1 to the guest, whose allocator
        then fails; an instance whose initial memory exceeds it fails to instantiate.
        """
        store = wasmtime.Store(self.engine, data=data)
        store.set_epoch_deadline(self.deadline_ticks(deadline_seconds))
        if memory_limit is not None:
            store.set_limits(memory_size=memory_limit)
        return store

    def extend_deadline(self, store: wasmtime.Store, deadline_seconds: float | None) -> None:
        """Resets the store's deadline to ``deadline_seconds`` from now."""
        store.set_epoch_deadline(self.deadline_ticks(deadline_seconds))


def _config_tag(options: EngineOptions) -> str:
    """Short, filename-safe, stable digest of everything that changes generated code."""
    fields = options.tag_fields()
    canonical = ";".join(f"{key}={fields[key]}" for key in sorted(fields))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
