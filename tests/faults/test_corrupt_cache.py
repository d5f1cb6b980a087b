"""A damaged codegen cache: a compiled artifact is native code, so a damaged one must never run.

Overwriting bytes in the middle of a cached ``.cwasm`` once made the server segfault on the next call, and again
at every restart. Here three artifacts of real components are damaged three ways (bytes overwritten in the middle,
truncated, digest file deleted) and a real ``obelisk server run`` subprocess (it would die, not the test) must
notice each, say so in one warning naming the file, recompile it, and run a workflow that uses two of them
correctly. A restart then loads the repaired artifacts without a warning.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from pathlib import Path

import pytest

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.events import UNLIMITED_RETRIES, Created, FinishedState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import ExecutionLog
from obelisk.storage.sqlite import SqliteStorage
from obelisk.wasm.cache_files import DIGEST_MEMO, artifact_digest_path, check_artifact
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine
from tests.faults.conftest import scaled_timeout
from tests.integration.server_harness import event_kinds, finished, write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

COMPONENTS = ("fibo_activity", "fibo_workflow", "sleep_activity")
START_TIMEOUT_SECONDS = scaled_timeout(300.0)  # three componentize-py compiles on 2 shared cores


def _components_toml(components: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{components / "fibo_activity.wasm"}"
exec.tick_sleep = {{millis = 50}}

[[activity_wasm]]
name = "sleep_activity"
location.path = "{components / "sleep_activity.wasm"}"

[[workflow]]
name = "fibo_workflow"
location.path = "{components / "fibo_workflow.wasm"}"
exec.tick_sleep = {{millis = 50}}
"""


def _private_cache(shared: Path, private: Path, components: Path) -> dict[str, Path]:
    """A copy of the shared test cache holding these components' artifacts (compiled into it first if needed),
    so damaging them leaves the shared cache alone. Returns each component's artifact in the copy."""
    paths = [components / f"{name}.wasm" for name in COMPONENTS]
    loader = ComponentLoader(WasmEngine(), shared)
    loader.load_many(paths)
    private.mkdir()
    artifacts: dict[str, Path] = {}
    for name, path in zip(COMPONENTS, paths, strict=True):
        artifact = loader.artifact_path(ContentDigest.of_file(path))
        assert artifact is not None
        for file in shared.glob(f"{artifact.name.split('-', 1)[0]}-*"):
            shutil.copy2(file, private / file.name)
        artifacts[name] = private / artifact.name
    shutil.copy2(shared / DIGEST_MEMO, private / DIGEST_MEMO)
    return artifacts


async def _wait_finished(storage: SqliteStorage, execution_id: ExecutionId, server: ServerProcess) -> ExecutionLog:
    deadline = time.monotonic() + scaled_timeout(60)
    while True:
        log = await storage.get(execution_id)
        if isinstance(log.pending_state, FinishedState):
            return log
        assert server.process is not None
        if server.process.poll() is not None:
            raise AssertionError(
                f"the server died with exit code {server.process.returncode} running {event_kinds(log.events)}:\n"
                + "".join(server.output[-30:])
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; events: {event_kinds(log.events)}")
        await asyncio.sleep(0.05)


async def test_damaged_artifacts_are_detected_recompiled_and_never_run(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    cache = tmp_path / "codegen"
    artifacts = _private_cache(codegen_cache, cache, built_components)
    corrupted, truncated, undigested = (artifacts[name] for name in COMPONENTS)
    # Random bytes over the middle half: its compiled code (the first call of fibo crashed the server before).
    data = bytearray(corrupted.read_bytes())
    quarter = len(data) // 4
    data[quarter : 3 * quarter] = random.Random(7).randbytes(2 * quarter)
    corrupted.write_bytes(data)
    with truncated.open("r+b") as handle:
        handle.truncate(truncated.stat().st_size // 2)
    artifact_digest_path(undigested).unlink(missing_ok=True)

    config = write_config(tmp_path, cache, _components_toml(built_components))
    server = ServerProcess(config).start(timeout=START_TIMEOUT_SECONDS)
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:
        execution_id = ExecutionId.generate()
        now = SystemClock().now_us()
        wasm = built_components / "fibo_workflow.wasm"
        component_id = ComponentId.of(ComponentType.WORKFLOW, "fibo_workflow", ContentDigest.of_file(wasm))
        ffqn = Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
        await storage.create(execution_id, Created(ffqn, [10, 1], now, str(component_id), UNLIMITED_RETRIES, 0), now)
        log = await _wait_finished(storage, execution_id, server)
        assert finished(log.events) == Ok(ReturnValue(55))

        warnings = [line for line in server.output if " WARNING " in line]
        assert len(warnings) == 3, "".join(warnings)
        for artifact, why in (
            (corrupted, "does not match its digest file"),
            (truncated, "does not match its digest file"),
            (undigested, "is missing"),
        ):
            [warning] = [line for line in warnings if str(artifact) in line]
            assert why in warning and "recompiling" in warning
            assert check_artifact(artifact) is None, "the artifact was replaced, with its digest"
        assert server.terminate() == 0

        server.output.clear()
        server.start()
        assert [line for line in server.output if " WARNING " in line] == []
        assert sum("loaded from codegen cache" in line for line in server.output) == len(COMPONENTS)
        assert server.terminate() == 0
    finally:
        server.kill()
        await storage.close()
