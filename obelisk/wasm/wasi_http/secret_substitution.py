"""Putting secrets' values in place of their placeholders in what an outgoing request sends, as the original does.

Only in the places the matching ``[[outbound_http.allowed_host]]`` rule names (``replace_in``): header values
(anywhere within a value), the values of query parameters (not their names, not the path), and a body that is
UTF-8 text of a textual content type (``text/*``, JSON, form-urlencoded). A query value gets the secret
percent-encoded, since it lands inside a URL; headers and bodies get it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

Pairs = Sequence[tuple[str, str]]
"""``(placeholder, value)`` pairs."""


def substitute_headers(entries: Sequence[tuple[str, bytes]], pairs: Pairs) -> list[tuple[str, bytes]]:
    if not pairs:
        return list(entries)
    result = []
    for name, original in entries:
        value = original
        for placeholder, secret in pairs:
            value = value.replace(placeholder.encode(), secret.encode())
        result.append((name, value))
    return result


def substitute_query(path_with_query: str, pairs: Pairs) -> str:
    path, sep, query = path_with_query.partition("?")
    if not pairs or not sep:
        return path_with_query
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq:
            for placeholder, secret in pairs:
                value = value.replace(placeholder, quote(secret, safe=""))
        parts.append(f"{name}{eq}{value}")
    return f"{path}?{'&'.join(parts)}"


def is_text_content_type(content_type: str) -> bool:
    kind = content_type.strip().lower()
    return (
        kind.startswith("text/")
        or kind.startswith("application/json")
        or "+json" in kind.partition(";")[0]
        or kind.startswith("application/x-www-form-urlencoded")
    )


def substitute_body(body: bytes, headers: Sequence[tuple[str, bytes]], pairs: Pairs) -> bytes:
    if not pairs or not body:
        return body
    content_type = next((value for name, value in headers if name.lower() == "content-type"), None)
    if content_type is None or not is_text_content_type(content_type.decode("latin-1")):
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    for placeholder, secret in pairs:
        text = text.replace(placeholder, secret)
    return text.encode("utf-8")
