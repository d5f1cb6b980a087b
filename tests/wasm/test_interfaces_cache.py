"""Introspected interfaces kept in the codegen cache: the same result as introspecting, recomputed when broken."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from obelisk.wasm.compile_cache import INTERFACES_SUFFIX, ComponentLoader, introspection_fingerprint
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.introspect import inspect_component

from .runtime_fixtures import activity_wasm, hostcall_wasm


@pytest.mark.parametrize("fixture", [hostcall_wasm, activity_wasm])
def test_cached_interfaces_equal_a_fresh_introspection(tmp_path: Path, fixture: object) -> None:
    assert callable(fixture)
    source: Path = fixture()
    engine = WasmEngine()
    loaded = ComponentLoader(engine, tmp_path).load(source)
    fresh = inspect_component(engine.engine, loaded.component)
    assert fresh.exports, "the fixture exports functions"

    first = ComponentLoader(engine, tmp_path).interfaces(loaded)
    path = tmp_path / f"{loaded.digest.hex}-{introspection_fingerprint()}{INTERFACES_SUFFIX}"
    assert path.is_file()
    second = ComponentLoader(engine, tmp_path).interfaces(loaded)  # from the file
    assert first == second == fresh
    assert [str(f.ffqn) for f in second.exports] == [str(f.ffqn) for f in fresh.exports]
    assert [f.to_wit_signature() for f in second.exports] == [f.to_wit_signature() for f in fresh.exports]
    assert second.resources == fresh.resources and second.named_types == fresh.named_types


def test_a_broken_cache_file_is_recomputed_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = WasmEngine()
    loader = ComponentLoader(engine, tmp_path)
    loaded = loader.load(hostcall_wasm())
    path = loader.interfaces_path(loaded.digest)
    assert path is not None
    path.write_bytes(b"\x80\x05 not a pickle")
    caplog.set_level(logging.WARNING, logger="obelisk.wasm.compile_cache")
    interfaces = loader.interfaces(loaded)
    assert interfaces == inspect_component(engine.engine, loaded.component)
    assert "do not load" in caplog.text
    assert loader.interfaces(loaded) == interfaces
    assert path.read_bytes() != b"\x80\x05 not a pickle"


def test_without_a_cache_directory_nothing_is_written(tmp_path: Path) -> None:
    engine = WasmEngine()
    loader = ComponentLoader(engine, None)
    loaded = loader.load(hostcall_wasm())
    assert loader.interfaces_path(loaded.digest) is None
    assert loader.interfaces(loaded) == inspect_component(engine.engine, loaded.component)
    assert list(tmp_path.iterdir()) == []
