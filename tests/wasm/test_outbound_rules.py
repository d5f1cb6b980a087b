"""The outbound policy's decisions and the secret substitution, on their own (the end-to-end path with a real
component and server is tests/integration/test_outbound_policy.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from obelisk.config.outbound_http import HostPattern, OutboundAllowedHostConfig, OutboundHttpConfig
from obelisk.wasm.wasi_http.objects import BodySink, Fields, FutureIncomingResponse, OutgoingBody, OutgoingRequest
from obelisk.wasm.wasi_http.outgoing import _perform
from obelisk.wasm.wasi_http.policy import (
    PLACEHOLDER_PREFIX,
    Allowed,
    Denied,
    OperatorPolicy,
    OutboundPolicy,
    RequestTarget,
    SecretValues,
)
from obelisk.wasm.wasi_http.secret_substitution import substitute_body, substitute_headers, substitute_query


@pytest.mark.parametrize(
    ("pattern", "scheme", "host", "port", "expected"),
    [
        ("api.example.com", "https", "api.example.com", 443, True),
        ("api.example.com", "http", "api.example.com", 80, False),  # no scheme means https
        ("api.example.com", "https", "api.example.com", 8443, False),  # no port means the default one
        ("API.example.com", "https", "api.EXAMPLE.com", 443, True),
        ("http://localhost:8080", "http", "localhost", 8080, True),
        ("http://localhost:8080", "http", "localhost", 8081, False),
        ("*://*", "http", "anything.org", 80, True),
        ("*://*", "https", "anything.org", 8443, False),
        ("*://*:*", "https", "anything.org", 8443, True),
        ("*.example.com", "https", "a.b.example.com", 443, True),
        ("*.example.com", "https", "example.com", 443, False),
        ("http://10.0.0.*:*", "http", "10.0.0.7", 1234, True),
        ("http://10.0.0.*:*", "http", "10.0.1.7", 1234, False),
        ("http://[::1]:9000", "http", "::1", 9000, True),
    ],
)
def test_host_patterns(pattern: str, scheme: str, host: str, port: int, expected: bool) -> None:
    assert HostPattern.parse(pattern).matches(scheme, host, port) is expected


def _policy(*entries: dict[str, object], values: dict[str, str] | None = None) -> OperatorPolicy:
    config = OutboundHttpConfig(allowed_host=[OutboundAllowedHostConfig.model_validate(e) for e in entries])
    return OperatorPolicy.from_config(config, SecretValues(values or {}))


def _target(url: str, method: str = "GET") -> RequestTarget:
    scheme, _, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    host, _, port = authority.partition(":")
    return RequestTarget(scheme, host, int(port) if port else None, method, "/" + path)


def test_layers_methods_regex_and_what_each_refusal_names() -> None:
    operator = _policy(
        {"pattern": "api.x.com", "methods": ["GET"], "request_url_regex": "^GET https://api[.]x[.]com/v1/"},
        {"pattern": "http://localhost:*", "methods": "*"},
        {"pattern": "nothing.org"},  # no methods: allows nothing
    )
    open_policy = OutboundPolicy(operator=operator)
    assert isinstance(open_policy.decide(_target("https://api.x.com/v1/items")), Allowed)
    assert open_policy.decide(_target("https://api.x.com/v1/items", "POST")) == Denied("[[outbound_http.allowed_host]]")
    assert isinstance(open_policy.decide(_target("https://api.x.com/v2/items")), Denied)
    assert isinstance(open_policy.decide(_target("https://nothing.org/")), Denied)
    assert isinstance(open_policy.decide(_target("http://localhost:1/", "DELETE")), Allowed)

    narrowed = OutboundPolicy(allows=lambda host, port, method: host == "api.x.com", operator=operator, owner="c")
    assert isinstance(narrowed.decide(_target("https://api.x.com/v1/a")), Allowed)
    assert narrowed.decide(_target("http://localhost:1/")) == Denied("allowed_hosts of c")
    # without an operator policy only allowed_hosts decides, and without either everything goes
    assert isinstance(OutboundPolicy(allows=lambda *_: True).decide(_target("https://any.org/")), Allowed)
    assert isinstance(OutboundPolicy().decide(_target("https://any.org/")), Allowed)


def test_secrets_go_only_where_a_matching_rule_puts_them() -> None:
    operator = _policy(
        {"pattern": "api.x.com", "methods": "*", "secrets": ["A"], "replace_in": ["headers", "params"]},
        {"pattern": "api.x.com", "methods": ["POST"], "secrets": ["B"], "replace_in": ["body"]},
        {"pattern": "other.org", "methods": "*"},
        values={"A": "value-a", "B": "value-b"},
    )
    placeholders = operator.new_placeholders()
    assert set(placeholders) == {"A", "B"} and all(p.startswith(PLACEHOLDER_PREFIX) for p in placeholders.values())
    assert operator.new_placeholders() != placeholders
    policy = OutboundPolicy(operator=operator, placeholders=placeholders)
    get = policy.decide(_target("https://api.x.com/"))
    assert get == Allowed({"headers": ((placeholders["A"], "value-a"),), "params": ((placeholders["A"], "value-a"),)})
    post = policy.decide(_target("https://api.x.com/", "POST"))
    assert isinstance(post, Allowed) and post.substitutions["body"] == ((placeholders["B"], "value-b"),)
    assert policy.decide(_target("https://other.org/")) == Allowed({})


def test_substitution_in_headers_query_values_and_text_bodies() -> None:
    pairs = [("PH", "v a/l&ue")]
    assert substitute_headers([("authorization", b"Bearer PH"), ("x", b"none")], pairs) == [
        ("authorization", b"Bearer v a/l&ue"),
        ("x", b"none"),
    ]
    # values only, percent-encoded; names, the path and what has no "=" stay
    assert substitute_query("/PH/p?PH=PH&k=xPHx&flag", pairs) == "/PH/p?PH=v%20a%2Fl%26ue&k=xv%20a%2Fl%26uex&flag"
    assert substitute_query("/no-query", pairs) == "/no-query"
    json_headers = [("Content-Type", b"application/json; charset=utf-8")]
    assert substitute_body(b'{"t": "PH"}', json_headers, pairs) == b'{"t": "v a/l&ue"}'
    assert substitute_body(b"PH", [("content-type", b"application/vnd.api+json")], pairs) == b"v a/l&ue"
    assert substitute_body(b"PH", [("content-type", b"application/octet-stream")], pairs) == b"PH"
    assert substitute_body(b"PH", [], pairs) == b"PH", "no content type, no substitution"
    assert substitute_body(b"\xffPH", [("content-type", b"text/plain")], pairs) == b"\xffPH", "not UTF-8"


def test_an_error_of_a_request_that_carries_secrets_does_not_quote_it() -> None:
    """A secret with a newline makes a header http.client refuses, quoting it: the guest gets the error's kind only."""

    request = OutgoingRequest(Fields([("authorization", b"Bearer PH")]), "GET", "http", "127.0.0.1:9", "/")
    future = FutureIncomingResponse()
    _perform(future, request, None, "http", "127.0.0.1", 9, {"headers": (("PH", "line\nbreak"),)})
    assert future.error is not None and future.error.case == "internal-error"
    assert future.error.payload == "ValueError", future.error.payload
    future = FutureIncomingResponse()
    _perform(future, request, None, "http", "127.0.0.1", 9, {})
    assert future.error is not None and future.error.case == "connection-refused"


def test_a_body_with_secrets_is_sent_with_its_own_length() -> None:
    """The guest's Content-Length counted the placeholder; what is sent carries the value, and its length."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len("a-much-longer-value"):
            data += connection.recv(65536)
        seen.append(data)
        connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    headers = Fields([("content-type", b"text/plain"), ("content-length", b"2")])
    request = OutgoingRequest(headers, "POST", "http", f"127.0.0.1:{port}", "/")
    request.body = OutgoingBody(BodySink())
    request.body.sink.write(b"PH")
    request.body.finish()
    future = FutureIncomingResponse()
    _perform(future, request, None, "http", "127.0.0.1", port, {"body": (("PH", "a-much-longer-value"),)})
    thread.join(10)
    listener.close()
    assert future.response is not None and future.response.status == 204, future.error
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert body == b"a-much-longer-value"
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    assert lengths == [b"Content-Length: 19"], head
    assert headers.entries[1] == ("content-length", b"2"), "the guest's request object is left as it was"
