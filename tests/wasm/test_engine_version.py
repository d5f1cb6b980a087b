"""The wasmtime version in compile-cache keys is read without importlib.metadata, and must agree with it."""

from __future__ import annotations

import importlib.metadata

from obelisk.wasm.engine import wasmtime_version


def test_wasmtime_version_matches_the_installed_distribution() -> None:
    assert wasmtime_version() == importlib.metadata.version("wasmtime")
