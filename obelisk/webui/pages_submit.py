"""The submit form of a function: one JSON field per parameter, checked on the server like an API call.

The form is validated in two steps: each field must be JSON (checked here, so the error can say which field and
where in it), then the whole list goes through ``ExecutionService.submit``, the same type check the gRPC API
uses; its error names the parameter, which puts the message next to the right field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.json_values import ValueTypeError
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.service.json_input import JsonInputError, parse_json
from obelisk.webui.context import UI, execution_url
from obelisk.webui.examples import example_value
from obelisk.webui.formatting import json_text
from obelisk.webui.forms import read_form

_PARAM_INDEX = re.compile(r"params\[(\d+)\]")
_PARAM_PREFIX = re.compile(r"params\[\d+\] \([^)]*\)")


@dataclass(frozen=True, slots=True)
class FieldView:
    index: int
    name: str
    wit_type: str
    value: str
    error: str | None = None

    @property
    def field_name(self) -> str:
        return f"p{self.index}"

    @property
    def rows(self) -> int:
        return min(12, max(2, self.value.count("\n") + 2))


def _example_fields(metadata: FunctionMetadata) -> list[FieldView]:
    return [
        FieldView(i, p.name, p.type.to_wit(), json_text(example_value(p.type), pretty=True))
        for i, p in enumerate(metadata.params)
    ]


def _render(
    request: web.Request, metadata: FunctionMetadata, fields: list[FieldView], status: int, form_error: str | None
) -> web.Response:
    values: dict[str, Any] = {
        "ffqn": str(metadata.ffqn),
        "signature": metadata.to_wit_signature(),
        "result_type": None if metadata.result is None else metadata.result.to_wit(),
        "fields": fields,
        "form_error": form_error,
        "nav": "components",
    }
    return aiohttp_jinja2.render_template("submit.html", request, values, status=status)


async def submit_form(request: web.Request) -> web.Response:
    metadata = request.app[UI].components.submittable_function(request.match_info["ffqn"])
    return _render(request, metadata, _example_fields(metadata), 200, None)


async def submit_post(request: web.Request) -> web.Response:
    context = request.app[UI]
    metadata = context.components.submittable_function(request.match_info["ffqn"])
    form = await read_form(request)
    fields: list[FieldView] = []
    values: list[object] = []
    for i, param in enumerate(metadata.params):
        raw = form.get(f"p{i}")
        text = raw if isinstance(raw, str) else ""
        error = None
        if not text.strip():
            error = f"a JSON value of type {param.type.to_wit()} is required"
        else:
            try:
                values.append(parse_json(text, param.name))
            except JsonInputError as e:
                error = e.reason
        fields.append(FieldView(i, param.name, param.type.to_wit(), text, error))
    if any(f.error for f in fields):
        return _render(request, metadata, fields, 400, "Some parameters need fixing.")
    try:
        submitted = await context.executions.submit(ExecutionId.generate(), metadata.ffqn, values)
    except ValueTypeError as e:
        message = str(e).removeprefix(f"parameters of {metadata.ffqn}: ")
        match = _PARAM_INDEX.search(e.path or message)
        index = int(match[1]) if match else None
        if index is not None and index < len(fields):
            bad = fields[index]
            fields[index] = FieldView(index, bad.name, bad.wit_type, bad.value, _field_message(message, bad.name))
            return _render(request, metadata, fields, 400, "Some parameters need fixing.")
        return _render(request, metadata, fields, 400, message)
    raise web.HTTPSeeOther(execution_url(submitted.execution_id))


def _field_message(message: str, name: str) -> str:
    """``params[0] (n): expected u8, got 300`` -> ``expected u8, got 300`` (the field already says which);
    a nested spot keeps its path: ``params[1] (p).x: ...`` -> ``p.x: ...``."""
    match = _PARAM_PREFIX.match(message)
    if match is None:
        return message
    rest = message[match.end() :]
    return rest[2:] if rest.startswith(": ") else name + rest
