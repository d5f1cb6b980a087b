"""API tokens: hashing, roles, the config shapes that hold them, and the rule that keeps an open server on loopback."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from obelisk.api.tokens import (
    ANONYMOUS,
    Access,
    Identity,
    Refusal,
    Role,
    TokenVerifier,
    generate_token,
    parse_token_hash,
    token_hash,
)
from obelisk.config import ConfigError, load_config
from obelisk.config.exposure import is_loopback

ENV = {"HOME": "/home/tester"}
OPERATOR_TOKEN = "operator-token-for-tests-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-for-tests-0123456789abcdef"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> TokenVerifier:
    path = tmp_path / "obelisk.toml"
    path.write_text(text, encoding="utf-8")
    return TokenVerifier.from_config(load_config(path, ENV | (env or {}), cwd=tmp_path).config)


def test_a_generated_token_is_64_hex_digits_and_new_each_time() -> None:
    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) == 64 and int(t, 16) >= 0 for t in tokens)


def test_the_hash_is_sha256_of_the_token_text() -> None:
    assert token_hash("test") == "sha256:" + hashlib.sha256(b"test").hexdigest()
    assert parse_token_hash(token_hash("test")) == hashlib.sha256(b"test").digest()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 'expected "sha256:"'),
        ("sha256:abc", "64 hex digits"),
        ("sha256:" + "g" * 64, "64 hex digits"),
        ("md5:" + "a" * 32, 'expected "sha256:"'),
    ],
)
def test_a_malformed_hash_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_token_hash(text)


def test_roles() -> None:
    assert Role.OPERATOR.may(Access.WRITE) and Role.OPERATOR.may(Access.READ)
    assert Role.VIEWER.may(Access.READ) and not Role.VIEWER.may(Access.WRITE)
    assert Role.VIEWER.may(Access.OPEN)


def test_verifier_without_tokens_lets_everyone_in_as_an_anonymous_operator() -> None:
    verifier = TokenVerifier(())
    assert not verifier.required
    assert verifier.authenticate(None) == ANONYMOUS
    assert verifier.authenticate("Bearer whatever") == ANONYMOUS


def test_verifier_identifies_each_token_with_its_role_and_a_label_that_does_not_reveal_it() -> None:
    verifier = TokenVerifier(
        [
            (parse_token_hash(token_hash(OPERATOR_TOKEN)), Role.OPERATOR),
            (parse_token_hash(token_hash(VIEWER_TOKEN)), Role.VIEWER),
        ]
    )
    assert verifier.required
    operator = verifier.authenticate(f"Bearer {OPERATOR_TOKEN}")
    viewer = verifier.authenticate(f"bearer  {VIEWER_TOKEN} ")
    assert isinstance(operator, Identity) and operator.role is Role.OPERATOR
    assert isinstance(viewer, Identity) and viewer.role is Role.VIEWER
    assert operator.label == "token:" + token_hash(OPERATOR_TOKEN)[7:15]
    assert OPERATOR_TOKEN not in operator.label
    assert verifier.authenticate(None) == Refusal(
        "missing API token: send `authorization: Bearer <token>` (obelisk client: --api-token or OBELISK_API_TOKEN)"
    )
    assert isinstance(verifier.authenticate(f"Basic {OPERATOR_TOKEN}"), Refusal)
    assert isinstance(verifier.authenticate("Bearer "), Refusal)
    assert verifier.authenticate("Bearer wrong") == Refusal("unknown API token")


def test_config_takes_the_originals_plain_hashes_and_tables_with_a_role(tmp_path: Path) -> None:
    verifier = load(
        tmp_path,
        'api.listening_addr = "127.0.0.1:5005"\n'
        f'api.token_hashes = ["{token_hash(OPERATOR_TOKEN).upper().replace("SHA256:", "sha256:")}", '
        f'{{ hash = "{token_hash(VIEWER_TOKEN)}", role = "viewer" }}]\n',
    )
    assert verifier.identify(OPERATOR_TOKEN) is not None
    assert verifier.identify(OPERATOR_TOKEN).role is Role.OPERATOR  # type: ignore[union-attr]
    assert verifier.identify(VIEWER_TOKEN).role is Role.VIEWER  # type: ignore[union-attr]
    assert verifier.identify("other") is None


def test_config_refuses_a_bad_hash_or_role_with_its_line(tmp_path: Path) -> None:
    for entry, fragment in (
        ('"sha256:1234"', "64 hex digits"),
        (f'{{ hash = "{token_hash("x")}", role = "admin" }}', 'expected "viewer" or "operator"'),
    ):
        with pytest.raises(ConfigError) as err:
            load(tmp_path, f'api.listening_addr = "127.0.0.1:5005"\napi.token_hashes = [{entry}]\n')
        (problem,) = err.value.problems
        assert problem.line == 2 and problem.key is not None and problem.key.startswith("api.token_hashes[0]")
        assert fragment in problem.message, problem.message


def test_the_plaintext_token_comes_from_the_environment_only(tmp_path: Path) -> None:
    verifier = load(tmp_path, 'api.listening_addr = "127.0.0.1:5005"\n', {"OBELISK__API__TOKEN": OPERATOR_TOKEN + "\n"})
    assert verifier.identify(OPERATOR_TOKEN) == Identity(Role.OPERATOR, "token:" + token_hash(OPERATOR_TOKEN)[7:15])
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f'api.listening_addr = "127.0.0.1:5005"\napi.token = "{OPERATOR_TOKEN}"\n')
    (problem,) = err.value.problems
    assert (problem.key, problem.line) == ("api.token", 2)
    assert "must not be written in a file" in problem.message and "OBELISK__API__TOKEN" in problem.message
    assert OPERATOR_TOKEN not in str(err.value)


def test_loopback_addresses() -> None:
    loopback = ("127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1", "LOCALHOST:1")
    assert all(is_loopback(address) for address in loopback)
    others = ("0.0.0.0:1", "[::]:1", "192.0.2.1:1", "example.org:1", "localhost.evil:1")
    assert not any(is_loopback(address) for address in others)


@pytest.mark.parametrize(
    "text",
    [
        'api.listening_addr = "0.0.0.0:5005"\n',
        'api.listening_addr = "127.0.0.1:5005"\nwebui.listening_addr = "[::]:8080"\n',
        'api.listening_addr = "obelisk.example.org:5005"\n',
    ],
)
def test_a_non_loopback_address_without_a_token_is_refused_naming_the_key(tmp_path: Path, text: str) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, ENV, cwd=tmp_path)
    (problem,) = err.value.problems
    assert problem.line == text.count("\n") and problem.key is not None and problem.key.endswith("listening_addr")
    assert "no API token is configured" in problem.message and "api.allow_unauthenticated = true" in problem.message
    # A token, or saying it is meant, lets the same address load.
    load_config(path, ENV | {"OBELISK__API__TOKEN": OPERATOR_TOKEN}, cwd=tmp_path)
    path.write_text(text + "api.allow_unauthenticated = true\n", encoding="utf-8")
    load_config(path, ENV, cwd=tmp_path)
    path.write_text(text + f'api.token_hashes = ["{token_hash(OPERATOR_TOKEN)}"]\n', encoding="utf-8")
    load_config(path, ENV, cwd=tmp_path)


def test_server_run_refuses_to_start_on_all_interfaces_without_a_token(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(f'api.listening_addr = "0.0.0.0:0"\nsqlite.file = "{tmp_path / "db.sqlite"}"\n', encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "server", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode != 0
    assert f"{path}:1: api.listening_addr" in run.stderr and "no API token is configured" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "db.sqlite").exists(), "refused before anything was created"


def test_generate_token_prints_the_token_and_its_hash_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "generate", "token"], capture_output=True, text=True, timeout=60, check=True
    )
    token = run.stdout.strip()
    assert len(token) == 64 and run.stdout == token + "\n"
    assert run.stderr == f'api.token_hashes = ["{token_hash(token)}"]\n'
    viewer = subprocess.run(
        [sys.executable, "-m", "obelisk", "generate", "token", "--role", "viewer"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = f'api.token_hashes = [{{ hash = "{token_hash(viewer.stdout.strip())}", role = "viewer" }}]\n'
    assert viewer.stderr == line
