"""A seeded, bounded fuzz of the web UI's form posts (submit, cancel, end a delay) against a real server on a real
port: random function names and ids in the paths, random fields (JSON right, wrong and broken, junk, huge values,
missing and extra fields), and bodies that are not forms at all (random bytes, broken %-escapes, JSON, multipart
with files, past the size limit). No answer is a 500 or carries a traceback, and a post that is refused (anything
but the 303 of a post that was done) writes nothing.

Every post goes through ``ui_auth``: the one place that makes the fuzz's posts acceptable past sign-in and the
CSRF check, so that what gets fuzzed is the forms' own validation.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.faults.conftest import scaled, scaled_timeout
from tests.faults.fuzz_support import (
    FFQNS,
    SEED,
    Database,
    Known,
    describe,
    fuzzed_server,
    id_pool,
    json_texts,
    junk_strings,
    settled,
)
from tests.integration.server_harness import sqlite_file

CASES = 900
LEAKS = ("Traceback", 'File "')
MAX_BODY = 1024**2
"""aiohttp's default ``client_max_size``: a bigger body is refused with 413 before any handler reads it."""


@dataclass
class UiAuth:
    """What each fuzzed post carries so that sign-in and CSRF checks let it through to the form's own checks."""

    form_fields: dict[str, str] = field(default_factory=dict)
    """Added to every form body (e.g. the CSRF token's field)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Added to every request (e.g. a same-origin ``Origin``)."""


async def ui_auth(session: aiohttp.ClientSession, base_url: str) -> UiAuth:
    """The fuzzed server has no tokens: its first page gives ``session`` an (anonymous operator) session cookie and
    the page's CSRF token, which every post then carries with a same-origin ``Origin``."""
    async with session.get(base_url + "/") as page:
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await page.text())
    assert found, "no CSRF token on the web UI's page"
    return UiAuth(form_fields={"csrf_token": found[1]}, headers={"Origin": base_url})


def _jar() -> aiohttp.CookieJar:
    """aiohttp keeps no cookie of a bare IP address (the server's 127.0.0.1) unless told to."""
    return aiohttp.CookieJar(unsafe=True)


@pytest.fixture
async def fuzzed(tmp_path: Path) -> AsyncIterator[tuple[Server, Known]]:
    async with fuzzed_server(tmp_path, webui=True) as running:
        yield running


class PostFuzzer:
    def __init__(self, rng: random.Random, known: Known, auth: UiAuth) -> None:
        self.rng = rng
        self.auth = auth
        self.junk = junk_strings(rng)
        self.json = json_texts(rng)
        self.ids = id_pool(known, rng)
        self.delays = [*known.delays, "Delay_" + str(ExecutionId.generate())[2:]]

    def _segment(self, pool: list[str]) -> str:
        value = self.rng.choice(pool) if self.rng.random() < 0.7 else self.rng.choice(self.junk)
        return quote(value[:3000], safe="") if self.rng.random() < 0.9 else value[:200].replace("/", "%2")

    def path(self) -> str:
        rng = self.rng
        # Not pause and resume: what they change never settles into a finished execution, which is how an accepted
        # post is told apart from a refused one that wrote (tests/webui/test_pages.py covers their refusals).
        kind = rng.choice(("submit", "submit", "cancel", "cancel-delay"))
        if kind == "submit":
            ffqn = rng.choice(FFQNS) if rng.random() < 0.7 else rng.choice(self.junk)
            return f"/execution/submit/{quote(ffqn[:3000], safe=':/')}"
        execution_id = self._segment(self.ids)
        if kind == "cancel":
            return f"/execution/{execution_id}/cancel"
        return f"/execution/{execution_id}/cancel-delay/{self._segment(self.delays)}"

    def fields(self) -> list[tuple[str, str]]:
        rng = self.rng
        fields = [
            (f"p{i}", rng.choice(self.json if rng.random() < 0.7 else self.junk)) for i in range(rng.randint(0, 3))
        ]
        if rng.random() < 0.6:
            fields.append(("confirmed", rng.choice(("1", "1", "0", "", "yes", "1" * 1000))))
        if rng.random() < 0.2:
            fields.append((rng.choice(("p0", "p9", "p-1", "p99999999999999999999", "x", "")), rng.choice(self.junk)))
        rng.shuffle(fields)
        return [*fields, *self.auth.form_fields.items()]

    def body(self) -> tuple[bytes | aiohttp.FormData, dict[str, str]]:
        """A body and its headers: mostly a form as a browser sends it, else something that is not."""
        rng = self.rng
        shape = rng.choices(("form", "multipart", "bytes", "json", "huge"), weights=(60, 12, 12, 10, 6))[0]
        fields = self.fields()
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        if shape == "form":
            encoded = "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in fields)
            return encoded.encode(), form_type
        if shape == "multipart":
            data = aiohttp.FormData()
            for name, value in fields:
                if rng.random() < 0.2:
                    data.add_field(name, rng.randbytes(64), filename="x.bin", content_type="application/octet-stream")
                else:
                    data.add_field(name, value.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
            return data, {}
        if shape == "bytes":
            raw = rng.choice(
                (rng.randbytes(rng.randint(1, 200)), b"p0=%zz&confirmed=%", b"p0=%ff%fe&&&==", b"\x00" * 50)
            )
            content_type = rng.choice(
                ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain")
            )
            return raw, {"Content-Type": content_type}
        if shape == "json":
            return rng.choice(self.json).encode("utf-8", "surrogatepass"), {"Content-Type": "application/json"}
        return b"p0=" + b"1" * (MAX_BODY + rng.randint(1, 1000)), form_type


async def test_every_form_post_survives_the_fuzz(
    fuzzed: tuple[Server, Known], caplog: pytest.LogCaptureFixture, fault_scale: float
) -> None:
    server, known = fuzzed
    caplog.set_level(logging.INFO)  # what a server logs by default
    caplog.clear()
    base = f"http://127.0.0.1:{server.webui_port}"
    rng = random.Random(SEED)
    db = Database(sqlite_file(server))
    watched = known.execution_ids
    statuses: dict[int, int] = {}
    count = scaled(CASES, fault_scale)
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=scaled_timeout(20)), cookie_jar=_jar()
        ) as session:
            auth = await ui_auth(session, base)
            fuzzer = PostFuzzer(rng, known, auth)
            before = db.snapshot(watched)
            for case in range(count):
                path = fuzzer.path()
                body, headers = fuzzer.body()
                where = f"seed {SEED} case {case}: POST {describe(path)} {describe(str(body))}"
                async with session.post(
                    base + path, data=body, headers={**auth.headers, **headers}, allow_redirects=False
                ) as response:
                    text = await response.text(errors="replace")
                statuses[response.status] = statuses.get(response.status, 0) + 1
                assert response.status < 500, f"{where}: {response.status} {text[:500]}"
                assert not any(leak in text for leak in LEAKS), f"{where}: {text[:2000]}"
                if response.status == 303:
                    if db.snapshot(watched) != before:
                        before = await settled(db, watched, before)
                else:
                    after = db.snapshot(watched)
                    assert after == before, f"{where}: refused ({response.status}) yet {before} became {after}"
            async with session.get(f"{base}/components") as page:  # and the UI still serves
                assert page.status == 200
    finally:
        db.close()
    assert statuses.get(303, 0) > 0 and statuses.get(400, 0) > count // 10, statuses
    assert not [r for r in caplog.records if r.exc_info is not None or "Traceback" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


async def test_a_body_that_is_not_a_form_is_a_400_and_a_huge_request_line_one_log_line(
    fuzzed: tuple[Server, Known], caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fuzz: a multipart body without its boundary was a 500 with a traceback in the log, and a
    request line past aiohttp's limit logged a traceback at ERROR for what is the client's mistake."""
    server, known = fuzzed
    caplog.set_level(logging.INFO)
    caplog.clear()
    base = f"http://127.0.0.1:{server.webui_port}"
    db = Database(sqlite_file(server))
    before = db.snapshot(known.execution_ids)
    async with aiohttp.ClientSession(cookie_jar=_jar()) as session:
        auth = await ui_auth(session, base)
        headers = {**auth.headers, "Content-Type": "multipart/form-data; boundary=x"}
        for path in ("/execution/submit/testing:fibo/fibo.fibo", f"/execution/{known.sleeping[0]}/cancel"):
            async with session.post(base + path, data=b"p0=1&confirmed=1", headers=headers) as response:
                assert response.status == 400
                assert "The posted form could not be read" in await response.text()
        async with session.post(f"{base}/execution/{'x' * 9000}/cancel", headers=auth.headers) as response:
            assert response.status == 400
    assert db.snapshot(known.execution_ids) == before
    db.close()
    assert not [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]
    lines = [r.getMessage() for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(lines) <= 1, lines  # rate-limited: none when an earlier test of this process logged one
    assert all(line.startswith("HTTP 400 for a malformed request: Got more than 8190 bytes") for line in lines)
