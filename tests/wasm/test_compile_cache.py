"""The codegen cache: compile once, then load the artifact; never trust an artifact that does not load."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from obelisk.concepts.component_id import ContentDigest
from obelisk.wasm.cache_files import (
    DIGEST_MEMO,
    VERIFIED_MEMO,
    ComponentLoadError,
    DigestMemo,
    artifact_digest_path,
    check_artifact,
    start_checks,
)
from obelisk.wasm.compile_cache import ComponentLoader, digest_of
from obelisk.wasm.engine import EngineOptions, WasmEngine, wasmtime_version

from .runtime_fixtures import activity_nolog_wasm, activity_wasm, hostcall_wasm

REPO = Path(__file__).resolve().parents[2]


def _guest_works(engine: WasmEngine, loader_component: Component) -> None:
    """The loaded component really runs: instantiate and call ``spin``."""
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("test:runtime/host") as host:
        host.add_func("fail", lambda _ctx, token: token)
    store = engine.new_store(deadline_seconds=None)
    instance = linker.instantiate(store, loader_component)
    spin = instance.get_export_index(store, "spin", instance.get_export_index(store, "test:runtime/guest"))
    assert spin is not None
    func = instance.get_func(store, spin)
    assert func is not None
    assert func(store, 3) == ((0 * 31 + 3) * 31 + 2) * 31 + 1


def test_first_load_compiles_second_loader_uses_the_artifact(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = WasmEngine()
    source = hostcall_wasm()
    caplog.set_level(logging.INFO, logger="obelisk.wasm.compile_cache")

    first = ComponentLoader(engine, tmp_path).load(source)
    assert not first.compiled_from_cache
    assert first.digest == ContentDigest.of_bytes(source.read_bytes())
    artifact = tmp_path / f"{first.digest.hex}-wasmtime{wasmtime_version()}-{engine.config_tag}.cwasm"
    assert artifact.is_file()
    assert ComponentLoader(engine, tmp_path).artifact_path(first.digest) == artifact
    assert "compiled" in caplog.text

    caplog.clear()
    second = ComponentLoader(engine, tmp_path).load(source)  # a new loader: nothing in memory
    assert second.compiled_from_cache
    assert second.digest == first.digest
    assert "loaded from codegen cache" in caplog.text and "not recompiled" in caplog.text
    _guest_works(engine, second.component)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    expected = [artifact.name, f"{artifact.name}.sha256", DIGEST_MEMO, VERIFIED_MEMO]
    assert leftovers == sorted(expected), "no temp files left behind"
    assert (tmp_path / f"{artifact.name}.sha256").read_text().strip() == str(ContentDigest.of_file(artifact))


def test_same_loader_returns_the_loaded_component(tmp_path: Path) -> None:
    loader = ComponentLoader(WasmEngine(), tmp_path)
    first = loader.load(hostcall_wasm())
    again = loader.load(hostcall_wasm())
    assert again.component is first.component


def test_disabled_cache_always_compiles_and_writes_nothing(tmp_path: Path) -> None:
    engine = WasmEngine()
    for _ in range(2):
        loaded = ComponentLoader(engine, None).load(hostcall_wasm())
        assert not loaded.compiled_from_cache
    assert ComponentLoader(engine, None).artifact_path(loaded.digest) is None
    assert list(tmp_path.iterdir()) == []


def test_corrupt_artifact_is_recompiled_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = WasmEngine()
    first = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    artifact = ComponentLoader(engine, tmp_path).artifact_path(first.digest)
    assert artifact is not None
    good_size = artifact.stat().st_size
    artifact.write_bytes(b"\x7fELF this is not a wasmtime artifact")

    caplog.set_level(logging.WARNING, logger="obelisk.wasm.compile_cache")
    recovered = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    assert not recovered.compiled_from_cache
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(artifact) in warnings[0] and "does not match its digest file" in warnings[0]
    _guest_works(engine, recovered.component)
    assert artifact.stat().st_size == good_size
    assert ComponentLoader(engine, tmp_path).load(hostcall_wasm()).compiled_from_cache


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_flipped_byte_or_a_missing_digest_means_recompiling(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An artifact is native code: a damaged one is never deserialized, and one without its digest file neither
    (a crash between writing the artifact and its digest leaves that)."""
    engine = WasmEngine()
    caplog.set_level(logging.WARNING, logger="obelisk.wasm.compile_cache")
    first = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    artifact = ComponentLoader(engine, tmp_path).artifact_path(first.digest)
    assert artifact is not None
    good = artifact.read_bytes()

    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    artifact.write_bytes(damaged)
    assert not ComponentLoader(engine, tmp_path).load(hostcall_wasm()).compiled_from_cache
    assert len(_warnings(caplog)) == 1 and str(artifact) in _warnings(caplog)[0]
    assert "does not match its digest file" in _warnings(caplog)[0]
    assert artifact.read_bytes() == good

    caplog.clear()
    artifact_digest_path(artifact).unlink()
    loaded = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    assert not loaded.compiled_from_cache
    assert len(_warnings(caplog)) == 1 and str(artifact) in _warnings(caplog)[0]
    assert "digest file" in _warnings(caplog)[0] and "is missing" in _warnings(caplog)[0]
    _guest_works(engine, loaded.component)
    assert artifact_digest_path(artifact).read_text().strip() == str(ContentDigest.of_bytes(good))

    caplog.clear()
    assert ComponentLoader(engine, tmp_path).load(hostcall_wasm()).compiled_from_cache
    assert _warnings(caplog) == []


def test_an_artifact_found_intact_is_trusted_only_while_unchanged(tmp_path: Path) -> None:
    """Once hashed and found intact, an artifact is not hashed again at the next start of this boot unless it
    changed; an in-place change is noticed even with its mtime set back (its ctime cannot be)."""
    engine = WasmEngine()
    first = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    artifact = ComponentLoader(engine, tmp_path).artifact_path(first.digest)
    assert artifact is not None
    assert check_artifact(artifact) is None
    memo = json.loads((tmp_path / VERIFIED_MEMO).read_text())
    assert memo[artifact.name][-1] == str(ContentDigest.of_file(artifact))

    before = artifact.stat()
    damaged = bytearray(artifact.read_bytes())
    damaged[len(damaged) // 3] ^= 0x10
    with artifact.open("r+b") as handle:
        handle.write(damaged)
    os.utime(artifact, ns=(before.st_atime_ns, before.st_mtime_ns))
    problem = check_artifact(artifact)
    assert problem is not None and "does not match its digest file" in problem


def test_checks_started_ahead_are_used_only_for_the_bytes_they_read(tmp_path: Path) -> None:
    """``start_checks`` hashes artifacts on a thread while the server imports; a file changed after the check
    began is checked again by the load, so its verdict is always about the bytes being loaded."""
    engine = WasmEngine()
    source = hostcall_wasm()
    first = ComponentLoader(engine, tmp_path).load(source)
    artifact = ComponentLoader(engine, tmp_path).artifact_path(first.digest)
    assert artifact is not None

    start_checks(tmp_path, [source])
    assert check_artifact(artifact) is None

    start_checks(tmp_path, [source])
    damaged = bytearray(artifact.read_bytes())
    damaged[-1] ^= 0x01
    replacement = tmp_path / "replacement"
    replacement.write_bytes(damaged)
    replacement.replace(artifact)  # as files here change: never truncated in place while a check may map them
    problem = check_artifact(artifact)
    assert problem is not None and "does not match its digest file" in problem

    start_checks(tmp_path, [tmp_path / "not-a-component.wasm", source])  # unknown files are left to the load
    assert check_artifact(artifact) is not None


def test_artifact_of_another_engine_config_is_refused(tmp_path: Path) -> None:
    """An artifact compiled without epoch interruption, lying at this engine's path (say, copied by hand),
    is refused by wasmtime; the loader recompiles and replaces it instead of trusting it."""
    engine = WasmEngine()
    digest = digest_of(hostcall_wasm())
    path = ComponentLoader(engine, tmp_path).artifact_path(digest)
    assert path is not None
    foreign = Component(wasmtime.Engine(), hostcall_wasm().read_bytes()).serialize()
    path.write_bytes(foreign)
    artifact_digest_path(path).write_text(f"{ContentDigest.of_bytes(bytes(foreign))}\n")  # intact, just not ours

    loaded = ComponentLoader(engine, tmp_path).load(hostcall_wasm())
    assert not loaded.compiled_from_cache
    _guest_works(engine, loaded.component)
    assert path.read_bytes() != foreign
    assert ComponentLoader(engine, tmp_path).load(hostcall_wasm()).compiled_from_cache


def test_codegen_options_get_their_own_artifacts(tmp_path: Path) -> None:
    fast = WasmEngine()
    plain = WasmEngine(EngineOptions(cranelift_opt_level="none"))
    assert not ComponentLoader(fast, tmp_path).load(hostcall_wasm()).compiled_from_cache
    assert not ComponentLoader(plain, tmp_path).load(hostcall_wasm()).compiled_from_cache
    assert len(list(tmp_path.glob("*.cwasm"))) == 2


def test_invalid_and_missing_files_are_named(tmp_path: Path) -> None:
    loader = ComponentLoader(WasmEngine(), tmp_path / "cache")
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"\x00asm\x01\x00\x00\x00garbage")
    with pytest.raises(ComponentLoadError, match=r"bogus\.wasm: not a valid WebAssembly component"):
        loader.load(bogus)
    with pytest.raises(ComponentLoadError, match=r"missing\.wasm: cannot read file"):
        loader.load(tmp_path / "missing.wasm")
    with pytest.raises(ComponentLoadError, match=r"missing\.wasm"):
        digest_of(tmp_path / "missing.wasm")


def test_load_many_keeps_order(tmp_path: Path) -> None:
    paths = [activity_wasm(), hostcall_wasm(), activity_nolog_wasm(), hostcall_wasm()]
    loaded = ComponentLoader(WasmEngine(), tmp_path).load_many(paths)
    assert [item.path for item in loaded] == paths
    assert [item.digest for item in loaded] == [ContentDigest.of_file(p) for p in paths]
    assert loaded[1].component is loaded[3].component, "one digest is compiled once"
    assert len(list(tmp_path.glob("*.cwasm"))) == 3


async def test_async_loading_from_the_event_loop(tmp_path: Path) -> None:
    loader = ComponentLoader(WasmEngine(), tmp_path)
    single = await loader.load_async(hostcall_wasm())
    assert not single.compiled_from_cache
    both = await ComponentLoader(WasmEngine(), tmp_path).load_many_async([hostcall_wasm(), activity_wasm()])
    assert [item.compiled_from_cache for item in both] == [True, False]


def test_a_second_process_does_not_recompile(tmp_path: Path) -> None:
    """What a server restart sees: the second process loads every component from the codegen cache."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from obelisk.wasm.compile_cache import ComponentLoader
        from obelisk.wasm.engine import WasmEngine
        paths = [Path(p) for p in sys.argv[1:]]
        loaded = ComponentLoader(WasmEngine(), Path({str(tmp_path / "codegen")!r})).load_many(paths)
        print(json.dumps([item.compiled_from_cache for item in loaded]))
        """
    )
    paths = [str(hostcall_wasm()), str(activity_wasm())]

    def run() -> list[bool]:
        done = subprocess.run(
            [sys.executable, "-c", script, *paths], capture_output=True, text=True, check=True, cwd=REPO
        )
        result: list[bool] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    assert run() == [False, False]
    assert run() == [True, True]


def test_digests_are_remembered_until_the_file_changes(tmp_path: Path) -> None:
    """A restart does not hash unchanged files again; any rewrite of a file is noticed."""
    memo_file = tmp_path / DIGEST_MEMO
    wasm = tmp_path / "x.wasm"
    wasm.write_bytes(b"first version")
    first = DigestMemo(memo_file).digest(wasm)
    assert first == ContentDigest.of_bytes(b"first version")
    assert str(first) in memo_file.read_text()
    assert DigestMemo(memo_file).digest(wasm) == first  # from the memo: a new loader, same answer
    wasm.write_bytes(b"second version, longer")
    assert DigestMemo(memo_file).digest(wasm) == ContentDigest.of_bytes(b"second version, longer")
