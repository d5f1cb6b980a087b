"""The deterministic WASI of workflows (docs/architecture.md#deterministic-wasi-of-workflows).

componentize-py guests import WASI whatever their world says, so workflows get WASI too, but a deterministic one:
wall and monotonic clocks read the workflow clock (derived from the event log), ``wasi:random`` is a PRNG seeded
by the execution id, stdout/stderr go to the server log, and there is no environment, no preopened directory,
no network and no ``wasi:http``. The overrides are defined at the exact interface versions the guest imports,
which win over wasmtime's built-in definitions without shadowing; ``pollable`` is not redefined (it must stay
wasmtime's type), so subscribing to a clock traps instead of sleeping: workflows sleep durably through
``obelisk:workflow/host-activities.sleep``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import wasmtime
from wasmtime.component import Linker, Record

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import GuestCallRefused, store_data

WALL_CLOCK = "wasi:clocks/wall-clock"
MONOTONIC_CLOCK = "wasi:clocks/monotonic-clock"
RANDOM = "wasi:random/random"
INSECURE_RANDOM = "wasi:random/insecure"
INSECURE_SEED = "wasi:random/insecure-seed"
HOST_SLEEP = "obelisk:workflow/host-activities.sleep"
_NANOS_PER_SECOND = 1_000_000_000


class DeterministicSource(Protocol):
    """What a workflow run offers its guest in place of the real clock, entropy and terminal."""

    def clock_ns(self) -> int:
        """Nanoseconds since the Unix epoch on the workflow clock."""
        ...

    def random_bytes(self, length: int) -> bytes: ...

    def random_u64(self) -> int: ...

    def write_output(self, stream: str, data: bytes) -> None: ...


class NonDeterministicCall(GuestCallRefused):
    """The guest asked for something a workflow cannot have (waiting on a clock, a timer). It recurs on every
    replay, so the execution ends with this message, which names the call and what to use instead."""


def _source(context: Any) -> DeterministicSource:
    source: DeterministicSource = store_data(context)
    return source


def _datetime(nanos: int) -> Record:
    record = Record()
    seconds, nanoseconds = divmod(nanos, _NANOS_PER_SECOND)
    setattr(record, "seconds", seconds)  # noqa: B010 - Record is an attribute bag without declared fields
    setattr(record, "nanoseconds", nanoseconds)  # noqa: B010
    return record


def _wall_now(context: Any) -> Record:
    return _datetime(_source(context).clock_ns())


def _wall_resolution(_context: Any) -> Record:
    return _datetime(1_000)


def _monotonic_now(context: Any) -> int:
    return _source(context).clock_ns()


def _monotonic_resolution(_context: Any) -> int:
    return 1_000


def _no_timer(interface: str, function: str) -> Callable[..., Any]:
    """A refusal of ``interface#function``, which a guest calls to wait on the real clock (Python's ``time.sleep``
    subscribes to an instant; asyncio's timers and ``select`` to an instant or a duration)."""

    def refuse(_context: Any, *_args: Any) -> Any:
        raise NonDeterministicCall(
            f"the workflow called {interface}#{function} (Python's time.sleep, or an asyncio timer): a workflow"
            " cannot wait on the real clock, its time is the workflow clock of its event log;"
            f" use {HOST_SLEEP} instead, a durable sleep"
        )

    return refuse


def _random_bytes(context: Any, length: int) -> bytes:
    return _source(context).random_bytes(length)


def _random_u64(context: Any) -> int:
    return _source(context).random_u64()


def _insecure_seed(context: Any) -> tuple[int, int]:
    source = _source(context)
    return source.random_u64(), source.random_u64()


def _versions(imported: Iterable[str], interface: str) -> list[str]:
    return [name for name in imported if name == interface or name.startswith(f"{interface}@")]


def add_deterministic_wasi(linker: Linker, imported_interfaces: Iterable[str]) -> None:
    """WASI p2 with clocks and random replaced, at the versions in ``imported_interfaces`` (from introspection)."""
    imported = list(imported_interfaces)
    linker.add_wasip2()
    with linker.root() as root:
        for name in _versions(imported, WALL_CLOCK):
            with root.add_instance(name) as instance:
                instance.add_func("now", _wall_now)
                instance.add_func("resolution", _wall_resolution)
        for name in _versions(imported, MONOTONIC_CLOCK):
            with root.add_instance(name) as instance:
                instance.add_func("now", _monotonic_now)
                instance.add_func("resolution", _monotonic_resolution)
                instance.add_func("subscribe-instant", _no_timer(name, "subscribe-instant"))
                instance.add_func("subscribe-duration", _no_timer(name, "subscribe-duration"))
        for name in _versions(imported, RANDOM):
            with root.add_instance(name) as instance:
                instance.add_func("get-random-bytes", _random_bytes)
                instance.add_func("get-random-u64", _random_u64)
        for name in _versions(imported, INSECURE_RANDOM):
            with root.add_instance(name) as instance:
                instance.add_func("get-insecure-random-bytes", _random_bytes)
                instance.add_func("get-insecure-random-u64", _random_u64)
        for name in _versions(imported, INSECURE_SEED):
            with root.add_instance(name) as instance:
                instance.add_func("insecure-seed", _insecure_seed)


def new_workflow_store(
    engine: WasmEngine, source: DeterministicSource, *, deadline_seconds: float | None, memory_limit: int | None = None
) -> wasmtime.Store:
    """A Store for one workflow run: the run is the store's data (host functions find it there), WASI has no
    environment, arguments, directories or network, and guest output goes to ``source.write_output``."""
    # A fresh WasiConfig has no arguments and no environment. Setting them to empty lists anyway cost two ctypes
    # calls per run, each dropping the GIL and winning it back from the other runs' threads.
    wasi = wasmtime.WasiConfig()
    wasi.stdout_custom = lambda data: source.write_output("stdout", bytes(data))
    wasi.stderr_custom = lambda data: source.write_output("stderr", bytes(data))
    store = engine.new_store(deadline_seconds=deadline_seconds, data=source, memory_limit=memory_limit)
    store.set_wasi(wasi)
    return store
