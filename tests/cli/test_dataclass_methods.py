"""The start-up cache of ``@dataclass`` methods: same classes as without it, compiled once, kept in a file."""

from __future__ import annotations

import dataclasses
import marshal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from obelisk.cli.dataclass_methods import DataclassMethodCache, install

SOURCE = textwrap.dedent(
    """
    from dataclasses import dataclass, field

    @dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0
        tags: tuple[str, ...] = field(default_factory=tuple)

    @dataclass(order=True)
    class Version:
        major: int
        minor: int
    """
)


def define() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "probe"}
    exec(compile(SOURCE, "probe.py", "exec", dont_inherit=True), namespace)
    return namespace


def behaviour(namespace: dict[str, Any]) -> list[object]:
    point_type, version_type = namespace["Point"], namespace["Version"]
    point = point_type(1, tags=("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2
    return [
        repr(point),
        point == point_type(1, 0, ("a",)),
        point == point_type(2),
        hash(point_type(1)) == hash(point_type(1)),
        point_type.__init__.__annotations__,
        point_type.__init__.__qualname__,
        [f.name for f in dataclasses.fields(point_type)],
        version_type(1, 2) < version_type(1, 3),
        repr(sorted([version_type(2, 0), version_type(1, 5)])),
    ]


def test_classes_are_the_same_with_and_without_the_cache(tmp_path: Path) -> None:
    expected = behaviour(define())
    for _ in range(2):  # compiled on the first round, from the file on the second
        cache = install(tmp_path / "methods.marshal")
        assert cache is not None
        try:
            got = behaviour(define())
        finally:
            cache.uninstall()
        cache.save()
        assert got[:4] == expected[:4] and got[5:] == expected[5:]
        # Not stringified by this module's `from __future__ import annotations`: the same objects as without.
        assert got[4] == expected[4] == {"x": int, "y": int, "tags": tuple[str, ...], "return": None}
    assert "exec" not in dataclasses.__dict__


def test_second_start_compiles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "methods.marshal"
    first = install(path)
    assert first is not None
    define()
    first.uninstall()
    assert first.misses > 0 and first.hits == 0
    assert first.save()
    second = install(path)
    assert second is not None
    define()
    second.uninstall()
    assert second.misses == 0 and second.hits == first.misses


def test_unreadable_or_foreign_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "methods.marshal"
    for content in (b"", b"not marshal", marshal.dumps((b"\x00\x00\r\n", {})), marshal.dumps([1, 2])):
        path.write_bytes(content)
        cache = install(path)
        assert cache is not None
        try:
            assert behaviour(define())[0] == "Point(x=1, y=0, tags=('a',))"
        finally:
            cache.uninstall()
        assert cache.hits == 0 and cache.misses > 0


def test_nothing_is_written_without_bytecode_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "methods.marshal"
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cache = DataclassMethodCache(path)
    cache.install()
    define()
    cache.finish()
    assert not path.exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = DataclassMethodCache(path)
    cache.install()
    define()
    cache.finish()
    assert path.exists()


def test_prime_covers_the_server_imports(tmp_path: Path) -> None:
    path = tmp_path / "methods.marshal"
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from obelisk.cli.dataclass_methods import install, prime\n"
        "count = prime(Path(sys.argv[1]))\n"
        "cache = install(Path(sys.argv[1]))\n"
        "import obelisk.concepts.events, obelisk.config, obelisk.server\n"
        "print(count, cache.hits, cache.misses)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    count, hits, misses = (int(word) for word in run.stdout.split())
    assert count > 100  # the server's dataclasses, pydantic's and wasmtime's: several methods each
    assert (hits, misses) == (0, 0)  # everything was imported by prime already, in the same process
