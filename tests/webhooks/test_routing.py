"""Route syntax and precedence (docs/compatibility.md#webhooks)."""

from __future__ import annotations

import pytest

from obelisk.webhooks.routing import DotSegmentInPath, Router


def _router() -> Router[str]:
    router: Router[str] = Router()
    router.add("/fibo/:N/:ITERATIONS", "fibo", ["GET"])
    router.add("/p/*", "prefix")
    router.add("/exact", "exact")
    router.add("/exact", "exact-post", ["POST"])
    router.add("", "everything")
    return router


def test_params_are_extracted_and_query_ignored() -> None:
    match = _router().match("GET", "/fibo/10/20?x=1")
    assert match is not None
    assert (match.target, match.params) == ("fibo", {"N": "10", "ITERATIONS": "20"})


def test_method_routes_win_then_fallback() -> None:
    router = _router()
    assert router.match("POST", "/exact").target == "exact-post"  # type: ignore[union-attr]
    assert router.match("GET", "/exact").target == "exact"  # type: ignore[union-attr]
    # a route limited to GET does not serve POST: the fallback "" does
    assert router.match("POST", "/fibo/1/2").target == "everything"  # type: ignore[union-attr]


def test_wildcard_also_matches_trailing_slash_but_not_bare_prefix() -> None:
    router = _router()
    assert router.match("GET", "/p/").target == "prefix"  # type: ignore[union-attr]
    assert router.match("GET", "/p/a/b").target == "prefix"  # type: ignore[union-attr]
    assert router.match("GET", "/p").target == "everything"  # type: ignore[union-attr]


def test_no_route() -> None:
    router: Router[str] = Router()
    router.add("/only", "only")
    assert router.match("GET", "/other") is None
    assert router.match("GET", "/only/more") is None
    assert router.match("GET", "/only") is not None


def test_empty_param_segment_does_not_match() -> None:
    router: Router[str] = Router()
    router.add("/x/:id", "x")
    assert router.match("GET", "/x/") is None


@pytest.mark.parametrize(
    "path",
    [
        "/trap/../ok",
        "/trap/..",
        "/./exact",
        "/p/.",
        "/trap/%2e%2e/ok",
        "/trap/%2E%2e/ok",
        "/trap/.%2e/ok",
        "/trap/%2e./ok",
        "/p/%2E/x",
        "/trap/../ok?x=1",
    ],
)
def test_dot_segments_are_refused_not_routed(path: str) -> None:
    with pytest.raises(DotSegmentInPath) as refused:
        _router().match("GET", path)
    assert refused.value.path == path


@pytest.mark.parametrize(
    "path", ["/p/...", "/p/.x", "/p/x.", "/p/%2e%2e%2e", "/p/%2ex", "/exact?next=/../x", "/p/a..b"]
)
def test_dots_that_are_not_dot_segments_are_routed(path: str) -> None:
    match = _router().match("GET", path)
    assert match is not None and match.target in ("prefix", "exact")
