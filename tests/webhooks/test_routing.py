"""Route syntax and precedence of the reference §3/§6.7."""

from __future__ import annotations

from obelisk.webhooks.routing import Router


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
