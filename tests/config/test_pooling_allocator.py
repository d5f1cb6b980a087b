"""``wasmtime_allocator_config`` and ``[wasmtime_pooling_config]``: the pool is what the config says, and a pool
the machine cannot hold is one error line rather than an aborted process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from obelisk.concepts.results import Ok, ReturnValue
from obelisk.config import load_config
from obelisk.server import wasm_engine
from obelisk.wasm.activity_wasi import build_activity_linker, new_activity_store
from obelisk.wasm.cache_files import ComponentLoadError
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import PoolingLimits, WasmEngine
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow

API = 'api.listening_addr = "127.0.0.1:5005"\n'


def _engine(tmp_path: Path, text: str) -> WasmEngine:
    path = tmp_path / "obelisk.toml"
    path.write_text(API + text, encoding="utf-8")
    return wasm_engine(load_config(path, {"HOME": str(tmp_path)}, cwd=tmp_path).config)


def _instantiate(engine: WasmEngine, loader: ComponentLoader, wasm: Path) -> wasmtime.Store:
    component = loader.load(wasm).component
    store = new_activity_store(
        engine,
        component_id="activity_wasm:fibo_activity:0123456789abcdef",
        execution_id="E_POOL",
        env={},
        forward_stdout="none",
        forward_stderr="none",
        deadline_seconds=10,
    )
    build_activity_linker(engine, component).instantiate(store, component)
    return store


@pytest.mark.parametrize("allocator", ["auto", "on_demand"])
def test_auto_and_on_demand_allocate_on_demand(tmp_path: Path, allocator: str) -> None:
    assert _engine(tmp_path, f'wasmtime_allocator_config = "{allocator}"\n').pooling is None


def test_the_pool_has_the_configured_limits(tmp_path: Path, built_components: Path, codegen_cache: Path) -> None:
    engine = _engine(
        tmp_path,
        'wasmtime_allocator_config = "pooling"\n'
        "[wasmtime_pooling_config]\n"
        "pooling_total_component_instances = 2\n"
        "pooling_memory_keep_resident = 65536\n",
    )
    assert engine.pooling == PoolingLimits(total_component_instances=2, linear_memory_keep_resident=65536)
    loader = ComponentLoader(engine, codegen_cache)
    wasm = built_components / "fibo_activity.wasm"
    live = [_instantiate(engine, loader, wasm), _instantiate(engine, loader, wasm)]
    with pytest.raises(wasmtime.WasmtimeError, match="maximum concurrent limit of 2 for component instances"):
        _instantiate(engine, loader, wasm)
    live.pop().close()  # a slot comes back when its store is dropped
    live.append(_instantiate(engine, loader, wasm))


def test_a_component_larger_than_the_pool_allows_fails_to_load_naming_the_table(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    engine = _engine(
        tmp_path,
        'wasmtime_allocator_config = "pooling"\n[wasmtime_pooling_config]\npooling_max_memory_size = 1048576\n',
    )
    wasm = built_components / "fibo_workflow.wasm"
    ComponentLoader(WasmEngine(), codegen_cache).load(wasm)  # the artifact both allocators load
    with pytest.raises(ComponentLoadError) as err:
        ComponentLoader(engine, codegen_cache).load(wasm)  # refused when the artifact is loaded: no compiling again
    assert "does not fit the limits of [wasmtime_pooling_config]" in str(err.value)
    assert "exceeds the limit of 0x100000 bytes" in str(err.value)


async def test_a_server_on_the_pool_runs_workflows(tmp_path: Path, built_components: Path, codegen_cache: Path) -> None:
    components = f"""
wasmtime_allocator_config = "pooling"
wasmtime_pooling_config.pooling_total_component_instances = 50

[[activity_wasm]]
name = "fibo_activity"
location.path = "{built_components / "fibo_activity.wasm"}"

[[workflow]]
name = "fibo_workflow"
location.path = "{built_components / "fibo_workflow.wasm"}"
"""
    async with running_server(write_config(tmp_path, codegen_cache, components)) as server:
        assert server.engine.pooling == PoolingLimits(total_component_instances=50)
        _, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.fiboa-concurrent", [10, 20])
    assert result == Ok(ReturnValue(55))


def test_a_pool_the_machine_cannot_reserve_is_one_error_line(tmp_path: Path, codegen_cache: Path) -> None:
    config = write_config(
        tmp_path,
        codegen_cache,
        'wasmtime_allocator_config = "pooling"\nwasmtime_pooling_config.pooling_total_memories = 4000000000\n',
    )
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "server", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HOME=str(tmp_path)),
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: wasmtime's pooling allocator cannot be set up: failed to create memory pool")
    assert "mmap failed to reserve" in error
    assert "panicked" not in run.stderr and "backtrace" not in run.stderr
