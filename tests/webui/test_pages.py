"""Every page of the web UI through aiohttp's test client, against a real server on a real SQLite file."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from obelisk.concepts.events import (
    Created,
    DelayFinished,
    DelayRequest,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    PausedState,
    PendingAt,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Cancelled, Ok, ReturnValue
from obelisk.concepts.trace_context import TraceContext
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from obelisk.storage.sqlite import SqliteStorage
from tests.webui.conftest import csrf_token

Client = TestClient[web.Request, web.Application]
FIBO = "testing:fibo/fibo.fibo"


def _text_of(page: str, css_class: str) -> list[str]:
    """Unescaped text of every element whose class attribute starts with ``css_class`` (good enough for tests)."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", m))
        for m in re.findall(rf'class="{css_class}[^"]*"[^>]*>(.*?)</', page, re.S)
    ]


async def _submit(server: Server, ffqn: str, params: list[object]) -> ExecutionId:
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, ffqn, params)
    await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10)
    return execution_id


# ---------------------------------------------------------------------------------------------- executions list


async def test_empty_list_invites_a_first_submission(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert 'No executions yet — <a href="/components">submit one</a>' in page
    assert "<table" not in page


async def test_list_pages_both_ways_and_filters(client: Client, server: Server) -> None:
    fibo_ids = [await _submit(server, FIBO, [i % 10]) for i in range(23)]
    echo_id = await _submit(server, "testing:types/types.echo", ["hi"])
    first = await (await client.get("/")).text()
    ids = re.findall(r'class="mono id" href="/execution/([^"]+)"', first)
    assert ids == [echo_id, *reversed(fibo_ids[-19:])]  # newest first, 20 per page
    assert "← Newer</span>" in first  # nothing newer than the first page: disabled
    older_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', first)[1])  # type: ignore[index]
    older = await (await client.get(older_url)).text()
    assert re.findall(r'class="mono id" href="/execution/([^"]+)"', older) == list(reversed(fibo_ids[:4]))
    assert "Older →</span>" in older
    newer_url = html.unescape(re.search(r'href="([^"]+)" rel="prev"', older)[1])  # type: ignore[index]
    newer = await (await client.get(newer_url)).text()
    assert re.findall(r'class="mono id" href="/execution/([^"]+)"', newer) == ids

    only_echo = await (await client.get("/execution/list", params={"ffqn": "testing:types/types.echo"})).text()
    assert re.findall(r'class="mono id" href="/execution/([^"]+)"', only_echo) == [echo_id]
    assert '<option value="testing:types/types.echo" selected>' in only_echo
    pending = await (await client.get("/execution/list", params={"state": "PendingAt"})).text()
    assert "No executions here" in pending
    finished = await (await client.get("/execution/list", params={"state": "Finished", "length": "100"})).text()
    assert len(re.findall(r'class="mono id"', finished)) == 24
    assert _text_of(finished, "badge badge-ok")[:1] == ["finished"]


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ({"older": "garbage"}, "Malformed cursor"),
        ({"newer": "12-E_notanid"}, "Malformed cursor"),
        ({"older": "-E_01J0000000000000000000000Z"}, "Malformed cursor"),
        ({"older": "1-E_01J0000000000000000000000Z", "newer": "1-E_01J0000000000000000000000Z"}, "Conflicting cursors"),
        ({"state": "Sleeping"}, "Unknown state filter"),
        ({"ffqn": "no-dot"}, "Malformed function filter"),
        ({"length": "0"}, "Bad page length"),
        ({"length": "x"}, "Bad page length"),
        ({"length": "\u00b2"}, "Bad page length"),  # str.isdigit() says yes, int() says no
        ({"older": "9" * 30 + "-E_01J0000000000000000000000Z"}, "Malformed cursor"),  # past int64
        ({"newer": "253402300800000000-E_01J0000000000000000000000Z"}, "Malformed cursor"),  # past year 9999
        ({"older": "1-E_01J0000000000000000000000Z.\u0663"}, "Malformed cursor"),
    ],
)
async def test_bad_list_parameters_are_400_pages(client: Client, query: dict[str, str], title: str) -> None:
    response = await client.get("/execution/list", params=query)
    assert response.status == 400
    page = await response.text()
    assert f"<h1>{title}</h1>" in page
    assert "Traceback" not in page


async def test_a_valid_cursor_for_an_unknown_execution_is_just_a_position(client: Client) -> None:
    response = await client.get("/execution/list", params={"older": "1-E_01J0000000000000000000000Z"})
    assert response.status == 200
    assert "No executions here" in await response.text()


# ---------------------------------------------------------------------------------------------- components


async def test_components_page_shows_kind_digest_and_submit_links(client: Client, server: Server) -> None:
    page = await (await client.get("/components")).text()
    for entry in server.registry.components:
        assert f'id="{entry.name}"' in page
        assert str(entry.digest) in page
        assert str(entry.component_id) in page
    assert '<a class="fn-name" href="/execution/submit/testing:fibo/fibo.fibo"' in page
    assert page.count('class="kind kind-activity"') == len(server.registry.components)


async def test_component_page_highlights_wit_and_links_only_submittable_functions(
    client: Client, server: Server
) -> None:
    fibo = server.registry.component("fibo")
    response = await client.get(f"/component/{fibo.component_id}")
    assert response.status == 200
    page = await response.text()
    assert '<span class="w-kw">package</span>' in page
    assert "testing:fibo-obelisk-ext" in page  # the extension package is part of the WIT
    links = re.findall(r'<a class="fn" href="([^"]+)"', page)
    assert links == ["/execution/submit/testing:fibo/fibo.fibo"]
    assert '<span class="w-fn">fibo-submit</span>' in page


async def test_unknown_component_is_a_helpful_404(client: Client) -> None:
    response = await client.get("/component/activity_wasm:nope:0123456789abcdef")
    assert response.status == 404
    page = await response.text()
    assert "<h1>Component not found</h1>" in page
    assert 'href="/components"' in page


# ---------------------------------------------------------------------------------------------- submit


async def test_submit_form_labels_inputs_with_wit_types_and_prefills_examples(client: Client) -> None:
    page = await (await client.get("/execution/submit/testing:types/types.make-point")).text()
    labels = _text_of(page, "param-name")
    assert labels == ["x", "y"]
    assert _text_of(page, "ty") == ["s32", "s32"]
    record = await (await client.get("/execution/submit/testing:types/types.add-point")).text()
    textarea = re.search(r'<textarea id="p0"[^>]*>(.*?)</textarea>', record, re.S)
    assert textarea is not None
    assert html.unescape(textarea[1]) == '{\n  "x": 0,\n  "y": 0\n}'


async def test_submitting_the_form_redirects_to_the_execution_with_its_result(client: Client, server: Server) -> None:
    response = await client.post(
        "/execution/submit/testing:fibo/fibo.fibo",
        data={"csrf_token": await csrf_token(client), "p0": "10"},
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    execution_id = ExecutionId.parse(location.removeprefix("/execution/"))
    assert await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10) == Ok(ReturnValue(55))
    page = await (await client.get(location)).text()
    assert _text_of(page, "json") == ["55", "10"]  # the result, then the parameter
    assert _text_of(page, "ev-kind") == ["created", "locked", "finished"]
    assert "data-stream" not in page  # finished: no live stream to open
    assert _text_of(page, "badge badge-ok") == ["finished"]


@pytest.mark.parametrize(
    ("ffqn", "form", "field", "message"),
    [
        (FIBO, {"p0": "{"}, "p0", "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        (FIBO, {"p0": "   "}, "p0", "a JSON value of type u8 is required"),
        (FIBO, {}, "p0", "a JSON value of type u8 is required"),
        (FIBO, {"p0": "300"}, "p0", "expected u8, got 300 (out of range 0..255)"),
        (FIBO, {"p0": "[" * 5000 + "]" * 5000}, "p0", "nested deeper than 100 levels of JSON arrays and objects"),
        ("testing:types/types.make-point", {"p0": "1", "p1": '"a"'}, "p1", 'expected s32, got "a"'),
        (
            "testing:types/types.add-point",
            {"p0": '{"x": 1, "y": true}'},
            "p0",
            "p.y: expected s32, got true (a bool is not an integer)",
        ),
    ],
)
async def test_bad_form_input_is_shown_next_to_its_field(
    client: Client, server: Server, ffqn: str, form: dict[str, str], field: str, message: str
) -> None:
    response = await client.post(
        f"/execution/submit/{ffqn}", data={**form, "csrf_token": await csrf_token(client)}, allow_redirects=False
    )
    assert response.status == 400
    page = await response.text()
    assert re.findall(r'<p class="field-error" id="(p\d)-error">', page) == [field]
    assert _text_of(page, "field-error") == [message]
    if form.get(field, "").strip():
        textarea = re.search(rf'<textarea id="{field}"[^>]*>(.*?)</textarea>', page, re.S)
        assert textarea is not None and html.unescape(textarea[1]) == form[field]  # the input is kept
    assert await server.executions.list_executions(ExecutionQuery()) == []


@pytest.mark.parametrize(
    "ffqn",
    [
        "testing:fibo/fibo.fibbo",
        "testing:fibo-obelisk-ext/fibo.fibo-submit",
        "testing:fibo-obelisk-ext/fibo.fibo-schedule",
    ],
)
async def test_unknown_or_unsubmittable_functions_are_404(client: Client, ffqn: str) -> None:
    for response in (
        await client.get(f"/execution/submit/{ffqn}"),
        await client.post(f"/execution/submit/{ffqn}", data={"csrf_token": await csrf_token(client), "p0": "1"}),
    ):
        assert response.status == 404
        page = await response.text()
        assert "<h1>Function not found</h1>" in page
        assert "testing:fibo/fibo.fibo" in page  # the closest candidate


async def test_a_database_that_cannot_be_written_is_a_503_page(client: Client, server: Server) -> None:
    storage = server.storage
    assert isinstance(storage, SqliteStorage)
    await storage._db.execute("PRAGMA query_only = 1")  # every write fails with SQLITE_READONLY
    try:
        response = await client.post(
            f"/execution/submit/{FIBO}",
            data={"csrf_token": await csrf_token(client), "p0": "10"},
            allow_redirects=False,
        )
    finally:
        await storage._db.execute("PRAGMA query_only = 0")
    assert response.status == 503
    page = await response.text()
    assert "<h1>The database is unavailable</h1>" in page
    assert "SQLITE_READONLY" in page and "Nothing was changed" in page
    assert await server.executions.list_executions(ExecutionQuery()) == []


# ---------------------------------------------------------------------------------------------- execution page


@pytest.mark.parametrize(
    "path", ["/execution/E_01J0000000000000000000000Z", "/execution/E_01J0000000000000000000000Z.3"]
)
async def test_unknown_execution_is_a_helpful_404(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    page = await response.text()
    assert "<h1>Execution not found</h1>" in page
    assert "There is no execution E_01J0000000000000000000000Z" in page


@pytest.mark.parametrize(
    "raw",
    [
        "not-an-id",
        "E_01J0000000000000000000000Z.%C2%B2",  # superscript two: str.isdigit() says yes
        "E_01J0000000000000000000000Z.%D9%A3",  # Arabic-Indic three: int() accepts it
        "E_01J000000000000000000000%E2%84%AA",  # the Kelvin sign matches K case-insensitively
        "E_01J0000000000000000000000Z.01",
    ],
)
async def test_malformed_execution_ids_in_the_address_are_400(client: Client, raw: str) -> None:
    for path in (f"/execution/{raw}", f"/execution/{raw}/live"):
        response = await client.get(path)
        assert response.status == 400
        page = await response.text()
        assert "<h1>Malformed execution id</h1>" in page
        assert "which is not an execution id" in page


async def test_unknown_paths_are_404_and_wrong_methods_405(client: Client) -> None:
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert "Nothing lives at /no/such/page." in await response.text()
    response = await client.delete("/components")
    assert response.status == 405
    assert "<h1>Method not allowed</h1>" in await response.text()


async def test_markup_in_params_and_results_is_escaped_everywhere(client: Client, server: Server) -> None:
    markup = '<script>alert("x")</script><b>bold</b>'
    execution_id = await _submit(server, "testing:types/types.echo", [markup])
    pages = [
        await (await client.get(f"/execution/{execution_id}")).text(),
        await (await client.get("/")).text(),
        await (
            await client.post(
                "/execution/submit/testing:fibo/fibo.fibo", data={"csrf_token": await csrf_token(client), "p0": markup}
            )
        ).text(),
        await (
            await client.post(
                "/execution/submit/testing:fibo/fibo.fibo",
                data={"csrf_token": await csrf_token(client), "p0": f'"{markup}"'},
            )
        ).text(),
        await (await client.get("/execution/list", params={"older": markup})).text(),
        await (await client.get(f"/execution/{markup}")).text(),
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<b>bold" not in page
    detail = pages[0]
    assert detail.count("&lt;script&gt;") >= 3  # the parameter, the result and the Created event
    assert _text_of(detail, "json")[:1] == [json.dumps(markup)]


async def test_retry_history_lists_every_attempt(client: Client, server: Server) -> None:
    execution_id = await _submit(server, "testing:trap/trap.trap", [])
    page = await (await client.get(f"/execution/{execution_id}")).text()
    outcomes = _text_of(page, "outcome outcome-")
    assert len(outcomes) == 2
    assert all(o.startswith("failed") for o in outcomes)
    assert _text_of(page, "ev-kind") == ["created", "locked", "attempt failed", "locked", "finished"]
    assert "<h2>Attempts" in page
    assert _text_of(page, "badge badge-fail") == ["failed"]


async def test_live_stream_pushes_every_status_change_until_finished(client: Client, server: Server) -> None:
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, "testing:spin/spin.spin", [10**12])  # runs until its lock expires
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert f'data-stream="/execution/{execution_id}/live?state=' in page
    response = await client.get(f"/execution/{execution_id}/live")  # shows nothing yet: sent at once
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    body = await asyncio.wait_for(response.text(), 15)
    events = re.findall(r"^event: (\w+)$", body, re.M)
    assert events[-2:] == ["update", "done"]
    assert len(events) >= 3  # at least one running state before the end
    last_update = body.rsplit("event: update", 1)[1]
    assert "timed out on every attempt" in last_update
    assert "badge badge-running" in body


async def test_live_stream_sends_nothing_the_page_already_shows(client: Client, server: Server) -> None:
    """Re-sending the rendered state at once would replace the page's largest part (a waterfall of a thousand
    children) right after load, under the reader's eyes; the stream waits for a change instead."""
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3600 * 1_000_000  # scheduled in an hour: nothing changes on its own
    created = Created(Ffqn.parse(FIBO), [10], later, "activity_wasm:fibo:0123456789abcdef", 0, 1_000)
    await server.storage.create(execution_id, created, server.clock.now_us())
    page = await (await client.get(f"/execution/{execution_id}")).text()
    stream = re.search(r'data-stream="([^"]+)"', page)
    assert stream is not None
    response = await client.get(html.unescape(stream.group(1)))
    assert response.status == 200
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(response.content.readuntil(b"\n\n"), 1.5)
    await server.storage.cancel(execution_id, "from the test", server.clock.now_us())
    body = await asyncio.wait_for(response.text(), 10)
    assert re.findall(r"^event: (\w+)$", body, re.M) == ["update", "done"]
    assert "cancelled" in body


async def test_a_broken_database_gives_a_500_page_without_a_traceback(client: Client, server: Server) -> None:
    await server.storage.close()
    response = await client.get("/")
    assert response.status == 500
    page = await response.text()
    assert "<h1>Something went wrong</h1>" in page
    assert "Traceback" not in page and 'File "' not in page


# ---------------------------------------------------------------------------------------------- cancel


async def test_cancel_button_asks_first_then_cancels_and_refuses_a_finished_execution(
    client: Client, server: Server
) -> None:
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3600 * 1_000_000  # scheduled in an hour: nobody runs it meanwhile
    created = Created(Ffqn.parse(FIBO), [10], later, "activity_wasm:fibo:0123456789abcdef", 0, 1_000)
    await server.storage.create(execution_id, created, server.clock.now_us())
    page = await (await client.get(f"/execution/{execution_id}")).text()
    form = re.search(r'<form class="cancel-form" method="post" action="([^"]+)" data-confirm="([^"]+)">', page)
    assert form is not None and form[1] == f"/execution/{execution_id}/cancel"
    assert f"Cancel execution {execution_id}?" in html.unescape(form[2])

    # Posted without the confirmation (no script ran): a confirmation page, and nothing changed.
    asked = await client.post(form[1], data={"csrf_token": await csrf_token(client)}, allow_redirects=False)
    assert asked.status == 200
    question = await asked.text()
    assert '<input type="hidden" name="confirmed" value="1">' in question
    assert isinstance(await server.executions.pending_state(execution_id), PendingAt)

    done = await client.post(
        form[1], data={"csrf_token": await csrf_token(client), "confirmed": "1"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == f"/execution/{execution_id}"
    assert await server.executions.result(execution_id) == Cancelled("cancelled by an operator")
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert _text_of(page, "badge badge-cancelled") == ["cancelled"]
    assert _text_of(page, "result-headline") == ["cancelled"]
    assert "cancel-form" not in page

    again = await client.post(
        form[1], data={"csrf_token": await csrf_token(client), "confirmed": "1"}, allow_redirects=False
    )
    assert again.status == 409
    refused = html.unescape(await again.text())
    assert f"Execution {execution_id} had already finished; nothing was changed." in refused
    assert await server.executions.result(execution_id) == Cancelled("cancelled by an operator")
    missing = await client.post(
        f"/execution/{ExecutionId.generate()}/cancel", data={"csrf_token": await csrf_token(client), "confirmed": "1"}
    )
    assert missing.status == 404


async def test_end_now_button_cancels_a_pending_delay(client: Client, server: Server) -> None:
    execution_id, now = ExecutionId.generate(), server.clock.now_us()
    hour = 3600 * 1_000_000
    await server.storage.create(execution_id, Created(Ffqn.parse(FIBO), [10], now, "c", 0, 1), now)
    locked = Locked("c", ExecutorId.generate(), RunId.generate(), now + hour)  # a run waiting in place, on no server
    js, delay_id = JoinSetId.generate(), DelayId.generate()
    sleep = JoinSetRequest(js, DelayRequest(delay_id, now + hour))
    await server.storage.append(execution_id, 1, [locked, JoinSetCreated(js), sleep, JoinNext(js, now + hour)], now)
    page = await (await client.get(f"/execution/{execution_id}")).text()
    action = f"/execution/{execution_id}/cancel-delay/{delay_id}"
    assert f'<form class="cancel-delay-form" method="post" action="{action}"' in page

    asked = await client.post(action, data={"csrf_token": await csrf_token(client)}, allow_redirects=False)
    assert asked.status == 200 and f"End delay {delay_id} now?" in await asked.text()
    assert (await server.executions.get(execution_id)).responses == []

    done = await client.post(
        action, data={"csrf_token": await csrf_token(client), "confirmed": "1"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == f"/execution/{execution_id}"
    responses = (await server.executions.get(execution_id)).responses
    assert [r.response for r in responses] == [DelayFinished(delay_id, cancelled=True)]
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert "cancel-delay-form" not in page and "cancelled (at +" in page

    again = await client.post(
        action, data={"csrf_token": await csrf_token(client), "confirmed": "1"}, allow_redirects=False
    )
    assert again.status == 409
    assert f"Delay {delay_id} is not pending" in html.unescape(await again.text())


# ---------------------------------------------------------------------------------------------- pause


async def test_pause_and_resume_ask_first_and_refuse_what_cannot_be_done(client: Client, server: Server) -> None:
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3600 * 1_000_000  # scheduled in an hour: nobody runs it meanwhile
    created = Created(Ffqn.parse(FIBO), [10], later, "activity_wasm:fibo:0123456789abcdef", 0, 1_000)
    await server.storage.create(execution_id, created, server.clock.now_us())
    page = await (await client.get(f"/execution/{execution_id}")).text()
    form = re.search(r'<form class="pause-form" method="post" action="([^"]+)" data-confirm="([^"]+)"><input', page)
    token = await csrf_token(client)
    assert form is not None and form[1] == f"/execution/{execution_id}/pause"
    assert "resume-form" not in page

    asked = await client.post(
        form[1], data={"csrf_token": token}, allow_redirects=False
    )  # no script ran: a question, no change
    assert asked.status == 200
    assert '<input type="hidden" name="confirmed" value="1">' in await asked.text()
    assert await server.executions.pending_state(execution_id) == PendingAt(later)

    done = await client.post(form[1], data={"csrf_token": token, "confirmed": "1"}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == f"/execution/{execution_id}"
    assert await server.executions.pending_state(execution_id) == PausedState(PendingAt(later))
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert _text_of(page, "badge badge-paused") == ["paused"]
    assert f'<form class="resume-form" method="post" action="/execution/{execution_id}/resume"' in page
    assert "pause-form" not in page and "cancel-form" in page

    for name in ("Paused", "paused", "PAUSED"):  # the storage's name or the word shown, in any case
        assert execution_id in await (await client.get(f"/execution/list?state={name}")).text(), name
    assert execution_id not in await (await client.get("/execution/list?state=PendingAt")).text()
    assert execution_id not in await (await client.get("/execution/list?state=pending")).text()

    again = await client.post(form[1], data={"csrf_token": token, "confirmed": "1"}, allow_redirects=False)
    assert again.status == 409
    assert f"Execution {execution_id} is already paused; nothing was changed." in html.unescape(await again.text())

    resumed = await client.post(
        f"/execution/{execution_id}/resume", data={"csrf_token": token, "confirmed": "1"}, allow_redirects=False
    )
    assert resumed.status == 303
    assert await server.executions.pending_state(execution_id) == PendingAt(later)
    refused = await client.post(
        f"/execution/{execution_id}/resume", data={"csrf_token": token, "confirmed": "1"}, allow_redirects=False
    )
    assert refused.status == 409
    assert "is not paused" in html.unescape(await refused.text())
    missing = await client.post(
        f"/execution/{ExecutionId.generate()}/pause", data={"csrf_token": token, "confirmed": "1"}
    )
    assert missing.status == 404


async def test_the_created_event_names_the_executions_trace(client: Client, server: Server) -> None:
    traced = ExecutionId.generate()
    trace = TraceContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
    await server.executions.submit(traced, FIBO, [1], trace=trace)
    plain = await _submit(server, FIBO, [1])
    page = await (await client.get(f"/execution/{traced}")).text()
    assert ", trace <code>4bf92f3577b34da6a3ce929d0e0e4736</code>" in page
    assert ", trace " not in await (await client.get(f"/execution/{plain}")).text()
