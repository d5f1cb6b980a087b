"""Server start-up: the compile cache, versioned interfaces, restart after a crash, bad configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from obelisk.concepts.results import Ok, ReturnValue
from obelisk.config import ConfigError, load_config
from obelisk.server import Server
from obelisk.wasm.cache_files import ComponentLoadError
from tests.integration.server_harness import running_server, submit_and_wait, write_config
from tests.wat_fixtures import build_wat_fixture


def wat_activities(tmp_path: Path) -> str:
    out = tmp_path / "wat"
    return f"""
[[activity_wasm]]
name = "fibo_wat"
location.path = "{build_wat_fixture("fibo", out)}"

[[activity_wasm]]
name = "adder"
location.path = "{build_wat_fixture("versioned", out)}"
"""


async def test_second_start_loads_from_the_codegen_cache(tmp_path: Path) -> None:
    cache = tmp_path / "codegen"
    path = write_config(tmp_path, cache, wat_activities(tmp_path))
    async with running_server(path) as server:
        assert {name: c.compiled_from_cache for name, c in server.loaded.items()} == {
            "fibo_wat": False,
            "adder": False,
        }
    assert any(cache.iterdir())
    async with running_server(path) as server:
        assert {name: c.compiled_from_cache for name, c in server.loaded.items()} == {
            "fibo_wat": True,
            "adder": True,
        }
        _, result = await submit_and_wait(server, "testing:fibo/fibo.fibo", [10])
        assert result == Ok(ReturnValue(55))


async def test_versioned_interfaces_work_end_to_end(tmp_path: Path) -> None:
    path = write_config(tmp_path, tmp_path / "codegen", wat_activities(tmp_path))
    async with running_server(path) as server:
        assert "docs:adder/add@0.1.0.add" in {str(f.ffqn) for c in server.registry.components for f in c.exports}
        _, result = await submit_and_wait(server, "docs:adder/add@0.1.0.add", [2, 40])
        assert result == Ok(ReturnValue(42))


async def test_a_config_naming_a_missing_component_file_starts_nothing(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        tmp_path / "codegen",
        f'[[activity_wasm]]\nname = "ghost"\nlocation.path = "{tmp_path / "missing.wasm"}"\n',
    )
    loaded = load_config(path, env={"HOME": str(tmp_path)})
    with pytest.raises(ComponentLoadError, match=r"missing\.wasm"):
        await Server.start(loaded.config)
    assert not (tmp_path / "db" / "obelisk.sqlite.executor-id").exists()


def test_an_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, tmp_path / "codegen", "[[activity_wasm]]\nname = 'x'\nlocation.path = 'x.wasm'\nmax_retry = 3\n"
    )
    with pytest.raises(ConfigError, match=r"obelisk\.toml:\d+: activity_wasm\[0\]\.max_retry"):
        load_config(path, env={"HOME": str(tmp_path)})
