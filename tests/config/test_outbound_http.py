"""``[[outbound_http.allowed_host]]``, ``[secrets]`` and the resource limits as the loader reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from obelisk.config import ConfigError, load_config
from obelisk.config.models import DEFAULT_MAX_MEMORY_SIZE, DEFAULT_MAX_OUTBOUND_REQUESTS
from obelisk.config.outbound_http import HostPattern
from obelisk.wasm.wasi_http.policy import SecretUnavailableError, load_operator_policy, read_secret_values

ENV = {"HOME": "/home/tester", "API_HOST": "api.example.com"}
API = 'api.listening_addr = "127.0.0.1:5005"\n'
ACTIVITY = '[[activity_wasm]]\nname = "a"\nlocation.path = "a.wasm"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "obelisk.toml"
    path.write_text(API + text, encoding="utf-8")
    return path


def _problem(tmp_path: Path, text: str) -> tuple[str | None, int | None, str]:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text), ENV, cwd=tmp_path)
    (problem,) = err.value.problems
    return problem.key, problem.line, problem.message


def test_the_originals_shape_loads(tmp_path: Path) -> None:
    text = """
[secrets]
API_KEY = { env = "API_KEY_SOURCE" }
FILE_KEY = { file = "${CREDENTIALS_DIRECTORY}/key" }

[[outbound_http.allowed_host]]
pattern = "${API_HOST}"
methods = ["post"]
request_url_regex = "^POST https://api[.]example[.]com/v1/"
secrets = ["API_KEY"]
replace_in = ["headers"]

[[outbound_http.allowed_host]]
pattern = "*://*:*"
methods = "*"
"""
    config = load_config(_write(tmp_path, text), ENV, cwd=tmp_path).config
    assert config.outbound_http is not None
    first, second = config.outbound_http.allowed_host
    assert (first.pattern, first.methods, first.secrets, first.replace_in) == (
        "api.example.com",
        ["POST"],
        ["API_KEY"],
        ["headers"],
    )
    assert second.methods == "*" and second.host_pattern == HostPattern("*", "*", "*")
    assert config.secrets["FILE_KEY"].file == "${CREDENTIALS_DIRECTORY}/key", "read at start-up, not at load"


def test_without_the_table_there_is_no_policy_and_the_limits_have_their_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, ACTIVITY), ENV, cwd=tmp_path).config
    assert config.outbound_http is None and config.secrets == {}
    assert load_operator_policy(config.outbound_http, config.secrets, ENV) is None
    activity = config.activity_wasm[0]
    assert activity.memory_limit == DEFAULT_MAX_MEMORY_SIZE == 512 * 1024 * 1024
    assert activity.outbound_request_limit == DEFAULT_MAX_OUTBOUND_REQUESTS == 100
    unlimited = ACTIVITY + 'max_memory_size = "unlimited"\nmax_outbound_requests = "unlimited"\n'
    activity = load_config(_write(tmp_path, unlimited), ENV, cwd=tmp_path).config.activity_wasm[0]
    assert (activity.memory_limit, activity.outbound_request_limit) == (None, None)


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ('pattern = "http://x.org/path"', "pattern", "a host pattern has no path"),
        ('pattern = "a.*.org"', "pattern", 'a "*" must be the first or last character'),
        ('pattern = "x.org"\nmethods = ["*", "GET"]', "methods", '"*" stands alone'),
        ('pattern = "x.org"\nmethods = "GET"', "methods", 'expected "*" or a list of HTTP methods'),
        ('pattern = "x.org"\nmethods = "*"\nrequest_url_regex = "("', "request_url_regex", "not a regular expression"),
        ('pattern = "x.org"\nmethods = "*"\nreplace_in = ["cookies"]', "replace_in", "headers"),
        (
            'pattern = "x.org"\nmethods = "*"\nsecrets = ["NOPE"]\nreplace_in = ["body"]',
            "secrets",
            'unknown secret "NOPE"',
        ),
        ('pattern = "x.org"\nmethods = "*"\nsecrets = ["K"]', "replace_in", "never put into a request"),
    ],
)
def test_a_wrong_entry_is_refused_naming_its_key_and_line(tmp_path: Path, entry: str, key: str, words: str) -> None:
    text = f'[secrets]\nK = {{ env = "K" }}\n[[outbound_http.allowed_host]]\n{entry}\n'
    got_key, line, message = _problem(tmp_path, text)
    assert got_key is not None and got_key.startswith(f"outbound_http.allowed_host[0].{key}"), (got_key, message)
    assert line is not None and line > API.count("\n") + 2, "the entry's line, not the file's start"
    assert words in message, message


def test_an_entry_without_methods_allows_nothing_and_loads_with_a_warning(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, '[[outbound_http.allowed_host]]\npattern = "x.org"\n'), ENV, cwd=tmp_path)
    (warning,) = loaded.warnings
    assert (warning.key, warning.line) == ("outbound_http.allowed_host[0].pattern", 3)
    assert 'has no methods, so it allows no request; write methods = "*"' in warning.message
    policy = load_operator_policy(loaded.config.outbound_http, loaded.config.secrets, ENV)
    assert policy is not None and policy.rules == ()


@pytest.mark.parametrize(
    ("source", "words"),
    [("{}", "exactly one source"), ('{ env = "A", file = "/f" }', "exactly one source"), ('{ env = "A B" }', "env")],
)
def test_a_secret_needs_one_source(tmp_path: Path, source: str, words: str) -> None:
    key, _, message = _problem(tmp_path, f"[secrets]\nK = {source}\n")
    assert key is not None and key.startswith("secrets.K") and words in message, (key, message)


@pytest.mark.parametrize(
    ("entry", "words"),
    [('"SOURCE_VAR"', "would give the guest the value of secret K"), ('"K=x"', "is the name of a secret")],
)
def test_env_vars_cannot_hand_a_guest_a_secret(tmp_path: Path, entry: str, words: str) -> None:
    key, _, message = _problem(tmp_path, f'[secrets]\nK = {{ env = "SOURCE_VAR" }}\n{ACTIVITY}env_vars = [{entry}]\n')
    assert key == "activity_wasm[0].env_vars" and words in message, (key, message)


def test_secret_values_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "key").write_text("from file\n")
    text = """
[secrets]
E = { env = "E_SOURCE" }
F = { file = "${CREDENTIALS_DIRECTORY}/key" }
UNUSED = { env = "NONE" }
[[outbound_http.allowed_host]]
pattern = "x.org"
methods = "*"
secrets = ["E", "F"]
replace_in = ["body"]
"""
    config = load_config(_write(tmp_path, text), ENV, cwd=tmp_path).config
    env = {**ENV, "E_SOURCE": "from env", "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    policy = load_operator_policy(config.outbound_http, config.secrets, env)
    assert policy is not None
    assert (policy.values.value("E"), policy.values.value("F")) == ("from env", "from file")
    assert policy.values.names == ("E", "F"), "a secret no entry names is not read"
    assert "from" not in repr(policy), "values never appear in a repr"

    with pytest.raises(SecretUnavailableError, match=re.escape("secrets.E: environment variable E_SOURCE is not set")):
        read_secret_values(config.secrets, ENV)
    with pytest.raises(
        SecretUnavailableError, match=re.escape('secrets.F: cannot read file "${CREDENTIALS_DIRECTORY}/key"')
    ):
        read_secret_values({"F": config.secrets["F"]}, {**ENV, "CREDENTIALS_DIRECTORY": str(tmp_path / "missing")})
