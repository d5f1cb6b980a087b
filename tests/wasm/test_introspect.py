import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from wasmtime import component as C

from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.wit_types import (
    FunctionExtension,
    FunctionMetadata,
    ResourceRef,
    WitBorrow,
    WitOwn,
    WitRecord,
    WitResult,
    WitTuple,
    WitVariant,
)
from obelisk.wasm.introspect import ComponentInterfaces, inspect_component

RICH = Path(__file__).parent / "fixtures" / "rich" / "rich.wasm"
JOIN_SET = ResourceRef("obelisk:types/execution", "join-set-id")


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="module")
def rich(engine: wasmtime.Engine) -> ComponentInterfaces:
    return inspect_component(engine, C.Component(engine, RICH.read_bytes()))


def signatures(functions: list[FunctionMetadata]) -> dict[str, str]:
    return {str(f.ffqn): f.to_wit_signature() for f in functions}


def test_exports_with_wit_signatures_and_recovered_names(rich: ComponentInterfaces) -> None:
    assert signatures(rich.exports) == {
        "testing:rich/types.echo": "func(e: everything) -> everything",
        "testing:rich/types.describe": "func(p: point, s: shape, c: color, f: perms, o: option<string>, "
        "names: list<string>, t: tuple<u8, char>) -> result<string, string>",
        "testing:rich/types.echo-u8": "func(x: u8) -> u8",
        "testing:rich/types.echo-s64": "func(x: s64) -> s64",
        "testing:rich/types.echo-f32": "func(x: f32) -> f32",
        "testing:rich/types.echo-char": "func(x: char) -> char",
        "testing:rich/types.nothing": "func()",
        "docs:calc/calc@0.2.0.eval": "func(expr: string, at: datetime) -> result<f64, string>",
    }
    assert all(f.submittable and f.extension is None for f in rich.exports)
    assert rich.exported_interfaces == ["testing:rich/types", "docs:calc/calc@0.2.0"]
    eval_fn = next(f for f in rich.exports if f.ffqn == Ffqn.parse("docs:calc/calc@0.2.0.eval"))
    assert eval_fn.ffqn.ifc.version == "0.2.0"


def test_imports_versions_and_extension_functions(rich: ComponentInterfaces) -> None:
    assert rich.imported_interfaces == [
        "obelisk:types/time",
        "obelisk:types/execution",
        "obelisk:workflow/host-activities",
        "obelisk:log/log",
        "docs:adder/add@0.1.0",
        "testing:fibo-obelisk-ext/fibo",
    ]
    assert signatures(rich.imports) == {
        "obelisk:workflow/host-activities.sleep": "func(duration: duration)",
        "obelisk:workflow/host-activities.new-join-set": "func() -> join-set-id",
        "obelisk:log/log.info": "func(message: string)",
        "docs:adder/add@0.1.0.add": "func(x: u32, y: u32) -> u32",
        "testing:fibo-obelisk-ext/fibo.fibo-submit": "func(join-set-id: borrow<join-set-id>, n: u8) -> execution-id",
        "testing:fibo-obelisk-ext/fibo.fibo-await-next": "func(join-set-id: borrow<join-set-id>) -> "
        "result<tuple<execution-id, u64>, tuple<execution-id, execution-error>>",
    }
    assert rich.wasi_imports == []
    assert not any(f.submittable for f in rich.imports)
    ext = {f.ffqn.function_name: f.extension for f in rich.imports_of("testing:fibo-obelisk-ext/fibo")}
    assert ext == {"fibo-submit": FunctionExtension.SUBMIT, "fibo-await-next": FunctionExtension.AWAIT_NEXT}
    assert [f.extension for f in rich.imports_of("docs:adder/add@0.1.0")] == [None]


def test_resources_point_at_their_defining_interface(rich: ComponentInterfaces) -> None:
    assert rich.resources == [JOIN_SET]
    assert rich.imported_resources() == [JOIN_SET]
    new_join_set = rich.imports_of("obelisk:workflow/host-activities")[1]
    assert isinstance(new_join_set.result, WitOwn)
    assert new_join_set.result.resource == JOIN_SET
    submit = rich.imports_of("testing:fibo-obelisk-ext/fibo")[0]
    handle = submit.params[0].type
    assert isinstance(handle, WitBorrow)
    assert handle.resource == JOIN_SET


def test_named_types_are_recovered_but_do_not_affect_equality(rich: ComponentInterfaces) -> None:
    types = rich.named_types["testing:rich/types"]
    assert set(types) == {"point", "shape", "color", "perms", "num", "everything"}
    shape = types["shape"]
    assert isinstance(shape, WitVariant)
    assert shape.definition() == "variant shape { circle(f64), rect(point), empty }"
    await_next = rich.imports_of("testing:fibo-obelisk-ext/fibo")[1].result
    assert isinstance(await_next, WitResult)
    assert isinstance(await_next.ok, WitTuple)
    execution_id = await_next.ok.elements[0]
    assert isinstance(execution_id, WitRecord)
    assert execution_id.name == "execution-id"
    assert execution_id == WitRecord(execution_id.fields)  # anonymous twin is equal
    sleep = rich.imports_of("obelisk:workflow/host-activities")[0]
    duration = sleep.params[0].type
    assert isinstance(duration, WitVariant)
    assert duration == rich.named_types["obelisk:types/time"]["duration"]
    assert duration.to_type_wrapper_json() == {
        "variant": {"milliseconds": "u64", "seconds": "u64", "minutes": "u32", "hours": "u32", "days": "u32"}
    }


def build_dummy(engine: wasmtime.Engine, tmp_path: Path, wit_text: str) -> C.Component:
    """A component for `world w` of the WIT text, with a generated trapping core module (types only)."""
    wit = tmp_path / "x.wit"
    wit.write_text(wit_text)
    wasm_tools = str(Path(sys.executable).parent / "wasm-tools")
    core, out = tmp_path / "core.wasm", tmp_path / "x.wasm"
    subprocess.run([wasm_tools, "component", "embed", str(wit), "-w", "w", "--dummy", "-o", str(core)], check=True)
    subprocess.run([wasm_tools, "component", "new", str(core), "-o", str(out)], check=True)
    return C.Component(engine, out.read_bytes())


def test_structures_with_two_names_stay_anonymous(engine: wasmtime.Engine, tmp_path: Path) -> None:
    """wasmtime compares records structurally, so `a` and `b` below are indistinguishable: render the shape."""
    wit = (
        "package t:eq;\ninterface i {\n record a { x: s32 }\n record b { x: s32 }\n"
        " f: func(p: a, q: b) -> u8;\n}\nworld w { export i; }\n"
    )
    interfaces = inspect_component(engine, build_dummy(engine, tmp_path, wit))
    assert signatures(interfaces.exports) == {"t:eq/i.f": "func(p: record { x: s32 }, q: record { x: s32 }) -> u8"}


def test_non_interface_exports_are_ignored(engine: wasmtime.Engine, tmp_path: Path) -> None:
    wit = "package t:root;\nworld w {\n export run: func() -> u8;\n import log: func(m: string);\n}\n"
    interfaces = inspect_component(engine, build_dummy(engine, tmp_path, wit))
    assert interfaces.exports == []
    assert interfaces.imports == []
    assert sorted(interfaces.ignored) == ["log", "run"]


WASI_WIT = """
package wasi:clocks@0.2.9;
interface wall-clock {
    record datetime { seconds: u64, nanoseconds: u32 }
    now: func() -> datetime;
}
world w {
    import wall-clock;
    export t:app/run;
}
package t:app {
    interface run { go: func() -> u8; }
}
"""


def test_wasi_imports_are_listed_apart_and_converted_on_request(engine: wasmtime.Engine, tmp_path: Path) -> None:
    component = build_dummy(engine, tmp_path, WASI_WIT)
    default = inspect_component(engine, component)
    assert default.imported_interfaces == ["wasi:clocks/wall-clock@0.2.9"]
    assert default.imports == []
    assert default.wasi_imports == []
    full = inspect_component(engine, component, wasi_functions=True)
    assert signatures(full.wasi_imports) == {"wasi:clocks/wall-clock@0.2.9.now": "func() -> datetime"}
    assert full.imports == []
    assert signatures(full.exports) == {"t:app/run.go": "func() -> u8"}
