"""The components page (every component, its functions) and one component's page (with its WIT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.component_id import ComponentType
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.registry import ComponentEntry
from obelisk.webui import context as ui
from obelisk.webui.wit_highlight import highlight_wit

KIND_LABELS = {
    ComponentType.ACTIVITY_WASM: "activity",
    ComponentType.WORKFLOW: "workflow",
    ComponentType.WEBHOOK_ENDPOINT: "webhook",
}


@dataclass(frozen=True, slots=True)
class FunctionRow:
    ffqn: str
    interface: str
    name: str
    signature: str
    submit_url: str | None


@dataclass(frozen=True, slots=True)
class ComponentCard:
    entry: ComponentEntry
    kind: str
    url: str
    exports: list[FunctionRow]
    imports: list[FunctionRow]


def submittable(entry: ComponentEntry, function: FunctionMetadata) -> bool:
    return entry.kind is not ComponentType.WEBHOOK_ENDPOINT and function.submittable and function.extension is None


def _row(entry: ComponentEntry, function: FunctionMetadata, *, exported: bool) -> FunctionRow:
    ffqn = str(function.ffqn)
    return FunctionRow(
        ffqn=ffqn,
        interface=str(function.ffqn.ifc),
        name=function.ffqn.function_name,
        signature=function.to_wit_signature(),
        submit_url=ui.submit_url(ffqn) if exported and submittable(entry, function) else None,
    )


def card(entry: ComponentEntry) -> ComponentCard:
    return ComponentCard(
        entry=entry,
        kind=KIND_LABELS.get(entry.kind, entry.kind.value),
        url=ui.component_url(str(entry.component_id)),
        exports=[_row(entry, f, exported=True) for f in entry.exports],
        imports=[_row(entry, f, exported=False) for f in entry.imports],
    )


async def components_page(request: web.Request) -> web.Response:
    context = request.app[ui.UI]
    cards = [card(view.entry) for view in context.components.list_components()]
    return aiohttp_jinja2.render_template("components.html", request, {"cards": cards, "nav": "components"})


async def component_page(request: web.Request) -> web.Response:
    context = request.app[ui.UI]
    entry = context.components.component(request.match_info["component_id"])
    submittable_ffqns = {str(f.ffqn) for f in entry.exports if submittable(entry, f)}

    def link_for(ffqn: str) -> str | None:
        return ui.submit_url(ffqn) if ffqn in submittable_ffqns else None

    wit = await context.components.get_wit(str(entry.component_id))
    values: dict[str, Any] = {
        "card": card(entry),
        "wit_html": highlight_wit(wit, link_for),
        "nav": "components",
    }
    return aiohttp_jinja2.render_template("component.html", request, values)
