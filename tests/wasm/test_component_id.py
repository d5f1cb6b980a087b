"""ComponentId and ContentDigest: the text forms of docs/architecture.md#component-identity and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.errors import ParseError

HEX = "0123456789abcdef" * 4


def test_digest_round_trip_and_file_hash(tmp_path: Path) -> None:
    digest = ContentDigest.parse(f"sha256:{HEX}")
    assert str(digest) == f"sha256:{HEX}"
    assert digest.short == "0123456789abcdef"
    blob = tmp_path / "x.wasm"
    blob.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert ContentDigest.of_file(blob) == ContentDigest(expected) == ContentDigest.of_bytes(b"abc")


@pytest.mark.parametrize("text", ["sha256:abc", f"md5:{HEX}", HEX, f"sha256:{HEX.upper()}"])
def test_bad_digests_are_rejected(text: str) -> None:
    with pytest.raises(ParseError):
        ContentDigest.parse(text)


def test_component_id_text_form() -> None:
    digest = ContentDigest(HEX)
    cid = ComponentId.of(ComponentType.ACTIVITY_WASM, "fibo_activity", digest)
    assert str(cid) == "activity_wasm:fibo_activity:0123456789abcdef"
    assert ComponentId.parse(str(cid)) == cid
    assert cid.matches(digest)
    assert not cid.matches(ContentDigest("f" * 64))
    for kind in ComponentType:
        assert ComponentId.parse(f"{kind.value}:n.a-me_1:{HEX[:16]}").kind is kind


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("activity_wasm:fibo", "expected <kind>:<name>"),
        (f"activity:fibo:{HEX[:16]}", "unknown kind 'activity'"),
        ("workflow:fibo:0123", "16 lowercase hex"),
        (f"workflow::{HEX[:16]}", "invalid component name"),
        (f"workflow:a:b:{HEX[:16]}", "invalid component name"),
    ],
)
def test_bad_component_ids_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        ComponentId.parse(text)
