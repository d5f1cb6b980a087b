"""Import resolution against exports and ext functions, with a real guest built against the generated WIT."""

from __future__ import annotations

from pathlib import Path

import pytest

from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.wit_types import U8, U32, U64, FunctionExtension, FunctionMetadata
from obelisk.registry import (
    ComponentEntry,
    ComponentRegistry,
    FunctionNotFound,
    ImportKind,
    NotSubmittable,
    RegistryError,
    RetrySettings,
    UnresolvedImport,
)
from obelisk.wasm.introspect import ComponentInterfaces

FIBO = "testing:fibo/fibo.fibo"


def entry(
    name: str,
    kind: ComponentType,
    exports: list[FunctionMetadata],
    imports: list[FunctionMetadata] | None = None,
) -> ComponentEntry:
    digest = ContentDigest.of_bytes(name.encode())
    return ComponentEntry(
        component_id=ComponentId.of(kind, name, digest),
        name=name,
        kind=kind,
        digest=digest,
        path=Path(f"{name}.wasm"),
        exports=tuple(exports),
        imports=tuple(imports or ()),
        retry=RetrySettings(max_retries=5, retry_exp_backoff_us=100_000),
        config=None,
    )


@pytest.fixture
def registry(fibo_interfaces: ComponentInterfaces, guest_interfaces: ComponentInterfaces) -> ComponentRegistry:
    return ComponentRegistry(
        [
            entry("fibo_activity", ComponentType.ACTIVITY_WASM, fibo_interfaces.exports),
            entry("fibo_workflow", ComponentType.WORKFLOW, guest_interfaces.exports, guest_interfaces.imports),
        ]
    )


def test_real_guest_imports_resolve_against_the_activity(
    registry: ComponentRegistry, guest_interfaces: ComponentInterfaces
) -> None:
    imported = {str(f.ffqn) for f in guest_interfaces.imports}
    assert {
        FIBO,
        "testing:fibo-obelisk-ext/fibo.fibo-submit",
        "testing:fibo-obelisk-ext/fibo.fibo-await-next",
        "testing:fibo-obelisk-ext/fibo.fibo-schedule",
        "obelisk:workflow/host-activities.new-join-set",
    } <= imported
    resolved = registry.resolve_imports("fibo_workflow", guest_interfaces.imports)
    by_ffqn = {str(r.imported.ffqn): r for r in resolved}
    assert set(by_ffqn) == imported - {
        "obelisk:workflow/host-activities.new-join-set",
        "obelisk:workflow/host-activities.sleep",
    }
    assert by_ffqn[FIBO].kind is ImportKind.DIRECT_CALL
    assert by_ffqn["testing:fibo-obelisk-ext/fibo.fibo-submit"].kind is ImportKind.SUBMIT
    assert by_ffqn["testing:fibo-obelisk-ext/fibo.fibo-await-next"].kind is ImportKind.AWAIT_NEXT
    assert by_ffqn["testing:fibo-obelisk-ext/fibo.fibo-schedule"].kind is ImportKind.SCHEDULE
    for r in resolved:
        assert str(r.callee_ffqn) == FIBO
        assert r.callee.component.name == "fibo_activity"
        assert r.callee.original is None
    assert list(registry.resolve_all_imports()) == ["fibo_workflow"]


def test_ext_functions_are_found_and_only_schedule_is_submittable(registry: ComponentRegistry) -> None:
    submit = registry.find_function("testing:fibo-obelisk-ext/fibo.fibo-submit")
    assert submit.extension is FunctionExtension.SUBMIT
    assert submit.original is not None and str(submit.original.ffqn) == FIBO
    with pytest.raises(NotSubmittable, match="fibo-submit is an extension function that only a workflow can call"):
        registry.find_export("testing:fibo-obelisk-ext/fibo.fibo-submit")
    with pytest.raises(FunctionNotFound):
        registry.find_export("testing:fibo-obelisk-ext/fibo.fibo-await-next")
    schedule = registry.find_export("testing:fibo-obelisk-ext/fibo.fibo-schedule")
    assert schedule.extension is FunctionExtension.SCHEDULE
    assert str(schedule.target_ffqn) == FIBO and schedule.component.name == "fibo_activity"
    assert registry.find_export(FIBO).original is None
    # Workflows get ext functions too.
    assert registry.find_function("testing:fibo-workflow-obelisk-ext/workflow.fiboa-submit").component.name == (
        "fibo_workflow"
    )
    names = [str(f.metadata.ffqn) for f in registry.functions()]
    assert names[:4] == [
        FIBO,
        *(f"testing:fibo-obelisk-ext/fibo.fibo-{s}" for s in ("submit", "await-next", "schedule")),
    ]
    assert [str(f.metadata.ffqn) for f in registry.exported_functions()] == [
        FIBO,
        "testing:fibo-workflow/workflow.fiboa",
        "testing:fibo-workflow/workflow.fiboa-concurrent",
    ]


def test_webhooks_get_no_ext_functions(fibo_interfaces: ComponentInterfaces) -> None:
    registry = ComponentRegistry([entry("hook", ComponentType.WEBHOOK_ENDPOINT, fibo_interfaces.exports)])
    with pytest.raises(FunctionNotFound):
        registry.find_function("testing:fibo-obelisk-ext/fibo.fibo-submit")


def test_unresolved_imports_name_component_import_and_candidates(registry: ComponentRegistry) -> None:
    typo = FunctionMetadata.of("testing:fibo/fibo.fibbo", [("n", U8)], U64)
    wrong_ext = FunctionMetadata.of("testing:fibo-obelisk-ext/fibo.fibo-sumbit", [("n", U8)], U64)
    elsewhere = FunctionMetadata.of("other:pkg/ifc.thing", [], None)
    host = FunctionMetadata.of("obelisk:log/log.info", [("message", U8)], None)  # host: never resolved
    with pytest.raises(UnresolvedImport) as caught:
        registry.resolve_imports("my_workflow", [typo, wrong_ext, elsewhere, host])
    error = caught.value
    assert error.component_name == "my_workflow"
    assert [str(p.imported.ffqn) for p in error.problems] == [
        "testing:fibo/fibo.fibbo",
        "testing:fibo-obelisk-ext/fibo.fibo-sumbit",
        "other:pkg/ifc.thing",
    ]
    message = str(error)
    assert message.startswith("component 'my_workflow' has 3 unresolved imports:")
    assert (
        "import testing:fibo/fibo.fibbo : func(n: u8) -> u64: no component exports it; closest: testing:fibo/fibo.fibo"
        in message
    )
    assert "closest: testing:fibo-obelisk-ext/fibo.fibo-submit" in message
    assert "import other:pkg/ifc.thing : func(): no component exports it; no similar function" in message


def test_type_mismatch_shows_both_signatures(registry: ComponentRegistry) -> None:
    wrong = FunctionMetadata.of(FIBO, [("n", U32)], U64)
    wrong_ext = FunctionMetadata.of("testing:fibo-obelisk-ext/fibo.fibo-schedule", [("n", U8)], U64)
    renamed = FunctionMetadata.of(FIBO, [("other-name", U8)], U64)  # names are ignored
    with pytest.raises(UnresolvedImport) as caught:
        registry.resolve_imports("wf", [wrong, renamed, wrong_ext])
    (problem, ext_problem) = caught.value.problems
    assert problem.mismatch is not None and problem.imported == wrong
    assert (
        "import testing:fibo/fibo.fibo : func(n: u32) -> u64: type mismatch, component 'fibo_activity' has "
        "testing:fibo/fibo.fibo : func(n: u8) -> u64"
    ) in str(caught.value)
    assert "fibo-schedule : func(schedule-at: schedule-at, n: u8) -> execution-id" in str(ext_problem.describe())
    assert len(registry.resolve_imports("wf", [renamed])) == 1


def test_an_ext_ffqn_exported_for_real_clashes(fibo_interfaces: ComponentInterfaces) -> None:
    fake = FunctionMetadata.of("testing:fibo-obelisk-ext/fibo.fibo-submit", [], None, submittable=True)
    with pytest.raises(RegistryError, match=r"fibo-submit is offered by both 'fibo_activity' and 'faker'"):
        ComponentRegistry(
            [
                entry("fibo_activity", ComponentType.ACTIVITY_WASM, fibo_interfaces.exports),
                entry("faker", ComponentType.ACTIVITY_WASM, [fake]),
            ]
        )
