"""The methods ``@dataclass`` generates, compiled once and remembered between server starts.

On Python 3.11 ``@dataclass`` writes the source of ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and
the frozen ``__setattr__``/``__delattr__`` of every class and compiles it with ``exec``; importing the server
creates ~180 dataclasses (ours, pydantic's, annotated_types', wasmtime's), and compiling their ~900 methods was
~60-90 ms of every ``server run`` start-up (measured by caching the code objects: ``import obelisk.config,
obelisk.server`` went from 0.48-0.62 s to 0.41-0.57 s).

While installed, the ``dataclasses`` module's ``exec`` resolves to a function that looks up the code object
compiled from exactly the same source text in a cache file, and compiles (like the builtin would) on a miss. The
generated functions are the ones the builtin would produce: same source, same ``<string>`` file name, no
inherited ``__future__`` flags, executed in the same globals. The file sits in the package's ``__pycache__``
next to the bytecode it complements, is keyed by the interpreter's bytecode magic number, holds only the methods
the last start used, and is written on the same terms as ``.pyc`` files (not with ``PYTHONDONTWRITEBYTECODE``;
``prime`` writes it explicitly, as ``compileall`` does for bytecode). Only the ``server run`` fast entry installs
it, and only until the server is ready.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib.util
import logging
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

log = logging.getLogger(__name__)

FILE_STEM = "dataclass-methods"


def default_path() -> Path | None:
    """``obelisk/__pycache__/dataclass-methods.<cache tag>.marshal``, or None without a bytecode cache tag."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    package = Path(__file__).resolve().parent.parent
    return package / "__pycache__" / f"{FILE_STEM}.{tag}.marshal"


def _read(path: Path) -> dict[str, CodeType]:
    try:
        loaded = marshal.loads(path.read_bytes())  # marshal.load(file) reads in many small calls: ~6x slower
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] == importlib.util.MAGIC_NUMBER):
        return {}
    known = loaded[1]
    if not isinstance(known, dict):
        return {}
    return {source: code for source, code in known.items() if isinstance(source, str) and isinstance(code, CodeType)}


class DataclassMethodCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._known = _read(path)
        self._used: dict[str, CodeType] = {}
        self.hits = 0
        self.misses = 0

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if not isinstance(source, str):
            builtins.exec(source, globals, locals)
            return
        code = self._known.get(source)
        if code is None:
            # What exec(str) does: file name "<string>", and no __future__ flags (dataclasses.py has none).
            code = compile(source, "<string>", "exec", dont_inherit=True)
            self.misses += 1
        else:
            self.hits += 1
        self._used[source] = code
        builtins.exec(code, globals, locals)

    def install(self) -> None:
        dataclasses.__dict__["exec"] = self.exec

    def uninstall(self) -> None:
        if dataclasses.__dict__.get("exec") == self.exec:
            del dataclasses.__dict__["exec"]

    def save(self) -> bool:
        """Write the methods used since ``install`` (atomically); False when the file could not be written."""
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as file:
                marshal.dump((importlib.util.MAGIC_NUMBER, self._used), file)
            temporary.replace(self.path)
        except OSError as error:
            log.debug("cannot write %s: %s", self.path, error)
            temporary.unlink(missing_ok=True)
            return False
        return True

    def finish(self) -> None:
        """Uninstall, and save when anything had to be compiled and bytecode caches may be written."""
        self.uninstall()
        if self.misses and not sys.dont_write_bytecode:
            self.save()


def install(path: Path | None = None) -> DataclassMethodCache | None:
    """Start serving ``@dataclass`` methods from the cache; None where the cache does not apply."""
    path = path or default_path()
    if path is None or "exec" in dataclasses.__dict__:
        return None
    cache = DataclassMethodCache(path)
    cache.install()
    return cache


def prime(path: Path | None = None) -> int:
    """Import what ``server run`` imports and write the cache regardless of ``PYTHONDONTWRITEBYTECODE``.

    Meant for a fresh process (classes created before the call are not seen); returns the number of methods.
    """
    cache = install(path)
    if cache is None:
        return 0
    try:
        for module in ("obelisk.config", "obelisk.server"):
            importlib.import_module(module)
    finally:
        cache.uninstall()
    cache.save()
    return len(cache._used)
