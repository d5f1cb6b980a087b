"""W3: cold start to the first finished workflow, with a warm compile cache.

The clock starts just before the server process is created. The client (already imported, so its start-up is
not counted) tries a TCP connect to the API port every 2 ms until one succeeds (grpc's own reconnect backoff
would add tens of milliseconds of its own), then submits ``fiboa(10, 1)`` and follows the execution until its
finished status arrives. The database is fresh; only the compile caches are warm: wasm code, and Python
bytecode of the ``obelisk`` package (an installed package has it; in a checkout that others keep editing, with
``PYTHONDONTWRITEBYTECODE`` set, the server would otherwise recompile every changed module at each start).
"""

from __future__ import annotations

import asyncio
import compileall
import importlib.util
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import obelisk
from bench.databases import DATABASES
from bench.harness import (
    FIBOA,
    Api,
    BenchError,
    Row,
    ServerProcess,
    WorkloadResult,
    free_port,
    ok_value,
    write_config,
)
from obelisk.concepts.ids import ExecutionId

PEERS = {"DBOS": 0.46, "Temporal": 0.45, "Restate": 0.73}
TARGET_SECONDS = 0.6
TIMEOUT_SECONDS = 60.0
RETRY_SECONDS = 0.002


@dataclass(frozen=True)
class ColdStart:
    to_finished: float
    to_accepted: float
    """Launch → the first Submit the API accepted."""
    to_listening: float
    """Launch → the API port accepting TCP connections."""
    to_ready_line: float
    """Launch → the ``Server is ready`` line (read from the pipe, so possibly a little late)."""


def warm_bytecode_cache() -> int:
    """Compile the ``obelisk`` package's stale or missing ``.pyc`` files; returns how many there were.

    Also primes the cache of compiled ``@dataclass`` methods (``obelisk.cli.dataclass_methods``), which a server
    writes itself only where bytecode may be written (``PYTHONDONTWRITEBYTECODE`` unset).
    """
    package = Path(obelisk.__file__).parent
    stale = 0
    for source in package.rglob("*.py"):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            stale += 1
    if not compileall.compile_dir(package, quiet=1):
        raise BenchError(f"compiling the bytecode of {package} failed")
    prime = "from obelisk.cli.dataclass_methods import prime; prime()"
    primed = subprocess.run([sys.executable, "-c", prime], capture_output=True, text=True, check=False)
    if primed.returncode != 0:
        raise BenchError(f"priming the dataclass method cache failed:\n{primed.stderr}")
    return stale


async def _wait_for_port(server: ServerProcess, port: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            pass
        else:
            writer.close()
            return
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"server exited with {server.process.returncode}:\n{server.output()}")
        if time.monotonic() > deadline:
            raise BenchError(f"the API did not listen within {TIMEOUT_SECONDS:.0f} s:\n{server.output()}")
        await asyncio.sleep(RETRY_SECONDS)


async def one_run() -> ColdStart:
    with tempfile.TemporaryDirectory(prefix="obelisk-bench-") as tmp, DATABASES.fresh(Path(tmp)) as database:
        port = free_port()
        server = ServerProcess(write_config(Path(tmp), port, database))
        api = Api(port)
        execution_id = str(ExecutionId.generate())
        try:
            server.launch()
            await _wait_for_port(server, port)
            listening = time.perf_counter()
            await api.submit(execution_id, FIBOA, [10, 1], timeout=TIMEOUT_SECONDS)
            accepted = time.perf_counter()
            status = await api.finished(execution_id, timeout=TIMEOUT_SECONDS)
            finished = time.perf_counter()
            if ok_value(status) != 55:
                raise BenchError(f"fiboa(10, 1) returned {ok_value(status)!r}, expected 55")
            ready = await server.wait_ready(10)
            launched = server.launched_perf
            return ColdStart(finished - launched, accepted - launched, listening - launched, ready)
        finally:
            await api.close()
            server.stop()
            server.kill()


async def run(runs: int) -> WorkloadResult:
    stale = warm_bytecode_cache()
    results = [await one_run() for _ in range(runs)]
    return WorkloadResult(
        "W3",
        [
            Row(
                "W3",
                "launch→first fiboa(10, 1) finished",
                "s",
                [r.to_finished for r in results],
                peers=PEERS,
                target=TARGET_SECONDS,
            ),
            Row("W3", "launch→'Server is ready' line", "s", [r.to_ready_line for r in results]),
            Row("W3", "launch→API port accepts TCP", "s", [r.to_listening for r in results]),
            Row("W3", "launch→first Submit accepted", "s", [r.to_accepted for r in results]),
        ],
        [
            "W3: warm codegen/wasm caches and obelisk bytecode "
            f"({stale} stale .pyc files compiled first), fresh database; every first workflow returned 55"
        ],
    )
