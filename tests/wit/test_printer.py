"""WIT text: the ext packages rendered from a real component, and the component's WIT with them appended."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from obelisk.wit import write_wit_support
from obelisk.wit.extensions import ExtensionError
from obelisk.wit.printer import (
    component_wit,
    component_wit_with_extensions,
    extension_interfaces,
    extension_packages,
    split_packages,
)
from obelisk.wit.wasm_tools import WasmToolsError, component_wit_json, find_wasm_tools

RICH = Path(__file__).parent.parent / "wasm" / "fixtures" / "rich" / "rich.wasm"

# The original's snapshot `wit_should_contain_extensions@test_programs_fibo_activity`.
FIBO_EXT_SNAPSHOT = """\
package testing:fibo-obelisk-ext;

interface fibo {
    use obelisk:types/execution.{execution-id, join-set-id, execution-error};
    use obelisk:types/time.{schedule-at};
    fibo-submit: func(join-set-id: borrow<join-set-id>, n: u8) -> execution-id;
    fibo-await-next: func(join-set-id: borrow<join-set-id>) -> result<tuple<execution-id, u64>, tuple<execution-id, execution-error>>;
    fibo-schedule: func(schedule-at: schedule-at, n: u8) -> execution-id;
}
"""  # noqa: E501


def _resolved_functions(wit_dir: Path, interface: str) -> dict[str, Any]:
    """Functions of one interface as wasm-tools resolves them: names, params and result shapes by type kind."""
    tool = str(find_wasm_tools())
    out = subprocess.run(
        [tool, "component", "wit", "--json", str(wit_dir)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    package, _, name = interface.partition("/")
    pkg = next(p for p in data["packages"] if p["name"] == package)
    ifc = data["interfaces"][pkg["interfaces"][name]]

    def shape(ref: Any) -> Any:
        if not isinstance(ref, int):
            return ref
        t = data["types"][ref]
        kind = t["kind"]
        if isinstance(kind, dict) and "type" in kind:
            return shape(kind["type"])
        if t["name"] is not None:
            owner = data["interfaces"][t["owner"]["interface"]]
            return f"{data['packages'][owner['package']]['name']}/{owner['name']}.{t['name']}"
        ((tag, body),) = kind.items()
        if tag == "tuple":
            return {"tuple": [shape(e) for e in body["types"]]}
        if tag == "result":
            return {"result": [shape(body["ok"]), shape(body["err"])]}
        if tag == "handle":
            ((h, r),) = body.items()
            return {h: shape(r)}
        return {tag: shape(body)}

    return {
        fn: {"params": [(p["name"], shape(p["type"])) for p in f["params"]], "result": shape(f.get("result"))}
        for fn, f in ifc["functions"].items()
    }


def _deps_with_snapshot(tmp_path: Path, fibo_wasm: Path, ext_text: str) -> Path:
    root = tmp_path / "wit"
    write_wit_support(root / "deps")
    fibo_pkg = split_packages(component_wit(fibo_wasm))["testing:fibo"]
    (root / "deps" / "testing-fibo").mkdir(parents=True)
    (root / "deps" / "testing-fibo" / "fibo.wit").write_text(fibo_pkg.standalone())
    (root / "deps" / "ext").mkdir()
    (root / "deps" / "ext" / "fibo.wit").write_text(ext_text)
    (root / "world.wit").write_text("package my:guest;\nworld w { import testing:fibo-obelisk-ext/fibo; }\n")
    return root


def test_fibo_ext_package_text_is_the_reference_snapshot(tmp_path: Path, fibo_wasm: Path) -> None:
    (ext,) = extension_interfaces(component_wit_json(fibo_wasm))
    assert str(ext.original) == "testing:fibo/fibo"
    assert str(ext.ext) == "testing:fibo-obelisk-ext/fibo"
    assert ext.standalone().replace("\n\n", "\n").strip() == FIBO_EXT_SNAPSHOT.replace("\n\n", "\n").strip()
    # Semantically: both texts resolve to the same functions and types.
    ours = _resolved_functions(
        _deps_with_snapshot(tmp_path / "a", fibo_wasm, ext.standalone()), "testing:fibo-obelisk-ext/fibo"
    )
    snapshot = _resolved_functions(
        _deps_with_snapshot(tmp_path / "b", fibo_wasm, FIBO_EXT_SNAPSHOT), "testing:fibo-obelisk-ext/fibo"
    )
    assert ours == snapshot
    assert ours["fibo-submit"]["params"][0] == ("join-set-id", {"borrow": "obelisk:types/execution.join-set-id"})
    assert ours["fibo-schedule"]["params"][0] == ("schedule-at", "obelisk:types/time.schedule-at")


def test_named_types_of_the_original_are_used_by_name(built_components: Path) -> None:
    (sleep_ext,) = extension_interfaces(component_wit_json(built_components / "sleep_activity.wasm"))
    assert "use testing:sleep/sleep.{duration};" in sleep_ext.body
    assert "sleep-await-next: func(join-set-id: borrow<join-set-id>) -> result<execution-id, " in sleep_ext.body
    packages = extension_packages(component_wit_json(RICH))
    assert list(packages) == ["testing:rich-obelisk-ext", "docs:calc-obelisk-ext@0.2.0"]
    rich = packages["testing:rich-obelisk-ext"].body
    assert "use testing:rich/types.{everything, point, shape, color, perms};" in rich
    assert "describe-schedule: func(schedule-at: schedule-at, p: point, s: shape, c: color, f: perms, " in rich
    assert packages["docs:calc-obelisk-ext@0.2.0"].standalone().startswith("package docs:calc-obelisk-ext@0.2.0;")
    assert "use docs:calc/calc@0.2.0.{datetime};" in packages["docs:calc-obelisk-ext@0.2.0"].body


def test_component_wit_with_extensions_is_one_valid_document(tmp_path: Path, fibo_wasm: Path) -> None:
    plain = component_wit(fibo_wasm)
    assert "package testing:fibo {" in plain and "fibo: func(n: u8) -> u64;" in plain
    text = component_wit_with_extensions(fibo_wasm)
    assert text.startswith(plain.rstrip().split("\npackage ")[0])
    packages = split_packages(text)
    assert "testing:fibo-obelisk-ext" in packages
    assert "resource join-set-id" in packages["obelisk:types"].body  # the whole package, not a partial one
    assert list(packages)[-1] == "obelisk:types"
    document = tmp_path / "all.wit"
    document.write_text(text)
    tool = str(find_wasm_tools())
    result = subprocess.run([tool, "component", "wit", str(document)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    # A component that imports part of obelisk:types: the partial block is replaced by the full package.
    rich = split_packages(component_wit_with_extensions(RICH))
    assert "delay-id" in rich["obelisk:types"].body
    assert "docs:calc-obelisk-ext@0.2.0" in rich


def test_multiple_named_results_are_rejected() -> None:
    resolve = {
        "worlds": [{"name": "root", "imports": {}, "exports": {"i": {"interface": {"id": 0}}}, "package": 1}],
        "interfaces": [
            {
                "name": "old",
                "types": {},
                "functions": {"pair": {"name": "pair", "kind": "freestanding", "params": [], "results": [
                    {"name": "a", "type": "u8"}, {"name": "b", "type": "u8"}]}},
                "package": 0,
            }
        ],
        "types": [],
        "packages": [
            {"name": "a:b", "interfaces": {"old": 0}, "worlds": {}},
            {"name": "root:component", "interfaces": {}, "worlds": {"root": 0}},
        ],
    }  # fmt: skip
    with pytest.raises(ExtensionError, match=r"a:b/old\.pair has several named results"):
        extension_interfaces(resolve)


def test_wasm_tools_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(WasmToolsError, match="no such file"):
        component_wit(tmp_path / "missing.wasm")
    garbage = tmp_path / "garbage.wasm"
    garbage.write_bytes(b"\0asm\x0d\0\x01\0junk")
    with pytest.raises(WasmToolsError, match=r"garbage\.wasm"):
        component_wit(garbage)
