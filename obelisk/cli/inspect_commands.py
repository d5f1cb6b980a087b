"""``obelisk client component inspect PATH``: a component's functions, read from the file (no server needed).

Output follows the original CLI (docs/compatibility.md#cli): ``Exports:`` then ``\\t<ffqn> : func(...) -> R``
per function; ``-v`` adds ``Imports:``, ``--extensions`` lists each export's ``-obelisk-ext`` functions after it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.wit_types import FunctionMetadata


def _fail(error: BaseException) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def _codegen_cache() -> Path | None:
    """The server's default codegen cache, so inspecting a component the server already compiled is fast."""
    from obelisk.config.paths import ConfigDirs

    cache_dir = ConfigDirs.from_env(os.environ).cache_dir
    if cache_dir is None:
        return None
    target = cache_dir / "codegen"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return target


def _line(function: FunctionMetadata) -> str:
    return f"\t{function.ffqn} : {function.to_wit_signature()}"


def _json(function: FunctionMetadata, original: FunctionMetadata | None = None) -> dict[str, Any]:
    return {
        "ffqn": str(function.ffqn),
        "signature": function.to_wit_signature(),
        "params": [{"name": p.name, "type": p.type.to_wit()} for p in function.params],
        "result": None if function.result is None else function.result.to_wit(),
        "submittable": function.submittable,
        "extension": None if function.extension is None else function.extension.value,
        "extension_of": None if original is None else str(original.ffqn),
    }


def inspect_component_file(path: Path, *, verbose: int = 0, extensions: bool = False, as_json: bool = False) -> int:
    from obelisk.wasm.compile_cache import ComponentLoader
    from obelisk.wasm.engine import WasmEngine
    from obelisk.wasm.introspect import inspect_component
    from obelisk.wit.extensions import ExtensionError, extension_functions

    if not path.is_file():
        return _fail(ObeliskError(f"{path}: no such file"))
    try:
        engine = WasmEngine()
        loaded = ComponentLoader(engine, _codegen_cache()).load(path)
        interfaces = inspect_component(engine.engine, loaded.component, wasi_functions=verbose >= 2)
        rows: list[tuple[FunctionMetadata, FunctionMetadata | None]] = []
        for export in interfaces.exports:
            rows.append((export, None))
            if extensions and export.ffqn.ifc.namespace != "wasi":
                rows.extend((ext, export) for ext in extension_functions(export))
    except (ObeliskError, ExtensionError) as error:
        return _fail(error)
    imports = [*interfaces.imports, *interfaces.wasi_imports] if verbose else []
    if as_json:
        document: dict[str, Any] = {
            "path": str(path),
            "digest": str(loaded.digest),
            "exports": [_json(f, original) for f, original in rows],
        }
        if verbose:
            document["imports"] = [_json(f) for f in imports]
        print(json.dumps(document))
        return 0
    if verbose:
        print(f"{path}\t{loaded.digest}")
    if rows:
        print("Exports:")
        for function, _ in rows:
            print(_line(function))
    if imports:
        print("Imports:")
        for function in imports:
            print(_line(function))
    return 0
