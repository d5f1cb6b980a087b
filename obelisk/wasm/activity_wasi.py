"""The sandbox an activity runs in: WASI p2 without ambient authority, outgoing wasi:http, and ``obelisk:log``.

Activities are the side-effecting kind of component, so they get real clocks, randomness and outgoing HTTP, but
nothing of the server itself: no preopened directories, no argv, no inherited environment (only the configured
``env_vars``), no stdin, no sockets.

``wasi:io`` (polling, streams), the monotonic clock's timers, stdio and ``wasi:http`` are the Python layer of
``obelisk.wasm.wasi_http``, not wasmtime's built-ins: an epoch deadline cannot interrupt a guest blocked inside
wasmtime's WASI (a ``time.sleep`` of a day kept its thread and instance for the day, long after the attempt had
timed out), whereas every wait of the Python layer ends at the store's deadline. It also sees each outgoing
request, which the outbound policy (``[[outbound_http.allowed_host]]``, ``allowed_hosts``, secrets) needs.
Random, the wall clock and the environment stay built-in.

Two objects per component and attempt:
* ``build_activity_linker`` - once per component; a Linker is immutable once used and shareable by threads.
* ``new_activity_store`` - once per attempt; it does ``set_wasi`` *and* ``set_wasi_http`` together, because a
  store without ``set_wasi_http`` aborts the whole process (a Rust panic) when the guest touches wasi:http.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

import wasmtime
from wasmtime.component import Component, Linker

from obelisk import guest_log_sink
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.guest_logs import LogKind
from obelisk.guest_log_sink import StreamLines
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.guest_output import GuestOutput, tee
from obelisk.wasm.host_calls import store_data
from obelisk.wasm.wasi_http.linking import define_python_wasi
from obelisk.wasm.wasi_http.policy import OutboundPolicy
from obelisk.wasm.wasi_http.state import WasiHttpState

LOG_INTERFACE = "obelisk:log/log"
TRACE = 5  # below logging.DEBUG; the guest API has one more level than Python's logging.
logging.addLevelName(TRACE, "TRACE")

guest_logger = logging.getLogger("obelisk.guest")

LOG_LEVELS: dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
"""The Python logging level of each function of ``obelisk:log/log``, for every kind of guest that imports it."""
# A guest that writes without newlines must not grow the buffer without bound.
_MAX_PENDING_LINE = 64 * 1024
_write_lock = threading.Lock()


class OutputForwarding(StrEnum):
    """Where a guest stream goes (``forward_stdout`` / ``forward_stderr`` in the config)."""

    NONE = "none"
    STDOUT = "stdout"
    STDERR = "stderr"

    @classmethod
    def parse(cls, value: str, *, setting: str) -> OutputForwarding:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(v.value) for v in cls)
            raise ActivitySandboxError(f"{setting} must be one of {allowed}, got {value!r}") from None


class ActivitySandboxError(ObeliskError):
    """The sandbox settings of an activity are invalid."""


@dataclass(frozen=True, slots=True)
class ActivityStoreData:
    """What host functions of an activity need to know about the attempt they serve (the Store's data)."""

    component_id: str
    execution_id: str
    wasi_http: WasiHttpState
    """The attempt's state in the Python WASI layer: its resources, output, allowlist and deadline."""
    run_id: str = ""
    """The attempt's run, for its stored log lines (``obelisk.guest_log_sink``)."""


def component_imports(engine: WasmEngine, component: Component) -> set[str]:
    """Names of the instances a component imports (``wasi:cli/environment@0.2.9``, ``obelisk:log/log``, ...)."""
    return set(component.type.imports(engine.engine))


def imports_interface(imports: set[str], interface: str) -> bool:
    """Whether ``interface`` is imported, at any version."""
    return any(name == interface or name.startswith(f"{interface}@") for name in imports)


def build_activity_linker(engine: WasmEngine, component: Component) -> Linker:
    """The Linker for every attempt of one activity component: WASI p2 with the Python ``wasi:io`` and
    ``wasi:http`` layer, plus ``obelisk:log/log`` only if the component imports it (a host defines no more than
    the guest asks for). Stores for it are made by ``new_activity_store``; the ``OutboundPolicy`` given there
    decides which outgoing requests are refused with ``HTTP-request-denied``.
    """
    linker = Linker(engine.engine)
    linker.add_wasip2()
    define_python_wasi(linker, engine.engine, component)
    imports = component_imports(engine, component)
    if imports_interface(imports, LOG_INTERFACE):
        name = next(n for n in imports if n == LOG_INTERFACE or n.startswith(f"{LOG_INTERFACE}@"))
        with linker.root() as root, root.add_instance(name) as instance:
            for function, level in LOG_LEVELS.items():
                instance.add_func(function, _log_function(level))
    return linker


def new_activity_store(
    engine: WasmEngine,
    *,
    component_id: str,
    execution_id: str,
    env: Mapping[str, str],
    forward_stdout: OutputForwarding | str = OutputForwarding.NONE,
    forward_stderr: OutputForwarding | str = OutputForwarding.NONE,
    deadline_seconds: float | None,
    outbound: OutboundPolicy | None = None,
    output: GuestOutput | None = None,
    run_id: str = "",
    memory_limit: int | None = None,
) -> wasmtime.Store:
    """A fresh Store for one attempt, ready to instantiate: sandboxed WASI, wasi:http, its deadline set (the epoch
    deadline for running code, the Python WASI layer's for waits), each linear memory capped at ``memory_limit``
    bytes. ``outbound`` ``None`` allows every request.

    The guest's stdout and stderr are kept in ``output`` (the last bytes of each, to explain a failure), and
    forwarded if configured: line by line to the server's stdout/stderr, each line prefixed with
    ``[<component_id> <execution_id> stdout]`` (or ``stderr``), so lines of concurrent attempts stay apart.
    """
    stdout_target = OutputForwarding.parse(str(forward_stdout), setting="forward_stdout")
    stderr_target = OutputForwarding.parse(str(forward_stderr), setting="forward_stderr")
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or "=" in key:
            raise ActivitySandboxError(
                f"env_vars of {component_id}: invalid entry {key!r}={value!r}: "
                "expected a non-empty string name without '=' and a string value"
            )
    wasi = wasmtime.WasiConfig()  # no arguments, and no environment unless configured (see new_workflow_store)
    if env:
        wasi.env = [(key, value) for key, value in env.items()]
    captured = output if output is not None else GuestOutput()
    stdout = tee(
        captured.stdout,
        _forwarder(f"[{component_id} {execution_id} stdout] ", stdout_target),
        StreamLines(execution_id, run_id, LogKind.STDOUT),
    )
    stderr = tee(
        captured.stderr,
        _forwarder(f"[{component_id} {execution_id} stderr] ", stderr_target),
        StreamLines(execution_id, run_id, LogKind.STDERR),
    )
    # The Python layer shadows wasi:cli/stdout and stderr too, so its streams do the forwarding.
    deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds
    http_state = WasiHttpState(outbound=outbound, stdout=stdout, stderr=stderr, deadline=deadline)
    data = ActivityStoreData(component_id, execution_id, http_state, run_id)
    store = engine.new_store(deadline_seconds=deadline_seconds, data=data, memory_limit=memory_limit)
    store.set_wasi(wasi)
    store.set_wasi_http()
    return store


def _forwarder(prefix: str, target: OutputForwarding) -> LineForwarder | None:
    return None if target is OutputForwarding.NONE else LineForwarder(prefix, target)


class LineForwarder:
    """Receives a guest stream's bytes and writes whole prefixed lines to the server's stdout or stderr.

    The target stream is looked up at each write (not captured), so redirection of ``sys.stdout`` (tests,
    daemons) is honoured. A trailing partial line is written when the store's WASI context drops this object.
    """

    def __init__(self, prefix: str, target: OutputForwarding):
        self._prefix = prefix
        self._target = target
        self._pending = b""
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> None:
        with self._lock:
            self._pending += data
            *lines, self._pending = self._pending.split(b"\n")
            if len(self._pending) > _MAX_PENDING_LINE:
                lines.append(self._pending)
                self._pending = b""
        if lines:
            self._emit(lines)

    def flush(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, b""
        if rest:
            self._emit([rest])

    def __del__(self) -> None:
        # Runs when wasmtime drops the store's WASI context; at interpreter exit sys.stdout may be gone already.
        with contextlib.suppress(Exception):
            self.flush()

    def _emit(self, lines: list[bytes]) -> None:
        stream: TextIO = sys.stdout if self._target is OutputForwarding.STDOUT else sys.stderr
        text = "".join(f"{self._prefix}{line.decode('utf-8', errors='replace').rstrip(chr(13))}\n" for line in lines)
        with _write_lock:
            stream.write(text)
            stream.flush()


def _log_function(level: int) -> Any:
    def log(context: Any, message: str) -> None:
        data = store_data(context)
        if isinstance(data, ActivityStoreData):
            guest_logger.log(
                level,
                "[%s %s] %s",
                data.component_id,
                data.execution_id,
                message,
                extra={"component_id": data.component_id, "execution_id": data.execution_id},
            )
            guest_log_sink.emit(data.execution_id, data.run_id, LogKind.of_level(level), message)
        else:
            guest_logger.log(level, "[unknown store] %s", message)

    return log
