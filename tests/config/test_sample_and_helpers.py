"""The sample config, TOML rendering, duration and env-var helpers."""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from obelisk.config import (
    SAMPLE_CONFIG,
    ConfigError,
    ConfigFileExistsError,
    MissingEnvVarError,
    ObeliskConfig,
    SqliteBackend,
    config_to_toml,
    duration_to_toml,
    load_config,
    parse_duration,
    resolve_env_vars,
    write_sample_config,
)

ENV = {"HOME": "/home/tester"}


def uncomment_examples(text: str) -> str:
    """Turn the sample's ready-to-use examples (``#key``/``#[table]``) into live TOML."""
    return "\n".join(re.sub(r"^#(?=[\[A-Za-z])", "", line) for line in text.splitlines()) + "\n"


def test_sample_loads_with_documented_values(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    write_sample_config(path)
    assert path.read_text() == SAMPLE_CONFIG
    config = load_config(path, ENV, cwd=tmp_path).config
    assert config.api.listening_addr == "127.0.0.1:5005"
    assert config.webui_listening_addr == "127.0.0.1:8080"
    assert config.backend == SqliteBackend(Path("/home/tester/.local/share/obelisk/obelisk.sqlite"), "FULL")
    assert config.components() == []


def test_sample_examples_are_valid_when_uncommented(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(uncomment_examples(SAMPLE_CONFIG))
    config = load_config(path, ENV, cwd=tmp_path).config
    assert [c.name for c in config.components()] == ["fibo_activity", "fibo_workflow", "fibo_webhook"]
    assert config.activity_wasm[0].location_path == tmp_path / "build/components/fibo_activity.wasm"
    assert config.webhook_endpoint[0].routes[0].methods == ["GET"]
    assert config.log.file is not None and config.log.file.rotation == "daily"
    assert config.otlp is not None


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                names |= _field_names(tp, seen)
            stack += list(typing.get_args(tp))
    return names


def test_sample_documents_every_key() -> None:
    undocumented = sorted(
        name
        for name in _field_names(ObeliskConfig, set())
        if not re.search(rf"(^|[\s#.{{,]){name}(\s*=|\.)", SAMPLE_CONFIG, re.MULTILINE)
        and f"[{name}]" not in SAMPLE_CONFIG
        and f"[[{name}]]" not in SAMPLE_CONFIG
        and f".{name}]" not in SAMPLE_CONFIG
        and f"[{name}." not in SAMPLE_CONFIG
    )
    assert undocumented == []


def test_write_sample_config_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text("# mine\n")
    with pytest.raises(ConfigFileExistsError) as err:
        write_sample_config(path)
    assert str(path) in str(err.value)
    assert path.read_text() == "# mine\n"


def test_round_trip_through_rendered_toml(tmp_path: Path) -> None:
    first = tmp_path / "first/obelisk.toml"
    first.parent.mkdir()
    first.write_text(uncomment_examples(SAMPLE_CONFIG))
    config = load_config(first, ENV, cwd=tmp_path).config

    second = tmp_path / "second/obelisk.toml"
    second.parent.mkdir()
    second.write_text(config_to_toml(config))
    again = load_config(second, ENV, cwd=tmp_path).config
    assert again == config
    assert "lock_expiry = {secs = 1}" in second.read_text()


def test_plain_sample_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    write_sample_config(path)
    config = load_config(path, ENV, cwd=tmp_path).config
    rendered = tmp_path / "rendered.toml"
    rendered.write_text(config_to_toml(config))
    assert load_config(rendered, ENV, cwd=tmp_path).config == config


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"secs": 2}, timedelta(seconds=2)),
        ({"millis": 250}, timedelta(milliseconds=250)),
        ({"micros": 7}, timedelta(microseconds=7)),
        ({"nanos": 3000}, timedelta(microseconds=3)),
        ({"secs": 0}, timedelta(0)),
    ],
)
def test_parse_duration(table: dict[str, int], expected: timedelta) -> None:
    assert parse_duration(table) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"secs": 1, "millis": 5}, "exactly one"),
        ({}, "exactly one"),
        ({"minutes": 1}, "unknown duration unit 'minutes'"),
        ({"secs": -1}, "non-negative"),
        ({"secs": 1.5}, "non-negative integer"),
        ({"secs": True}, "non-negative integer"),
        (5, "expected a duration table"),
        ({"nanos": 1}, "whole number of microseconds"),
    ],
)
def test_parse_duration_errors(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_duration(value)


def test_duration_to_toml_picks_the_largest_exact_unit() -> None:
    assert duration_to_toml(timedelta(seconds=10)) == {"secs": 10}
    assert duration_to_toml(timedelta(milliseconds=1500)) == {"millis": 1500}
    assert duration_to_toml(timedelta(microseconds=3)) == {"micros": 3}


def test_resolve_env_vars() -> None:
    host = {"HOME": "/home/x", "PATH": "/bin"}
    assert resolve_env_vars(["HOME", "GREETING=hi=there", "EMPTY="], host, "act") == {
        "HOME": "/home/x",
        "GREETING": "hi=there",
        "EMPTY": "",
    }
    with pytest.raises(MissingEnvVarError) as err:
        resolve_env_vars(["HOME", "API_TOKEN"], host, "http_get_activity")
    assert isinstance(err.value, ConfigError)
    assert err.value.variable == "API_TOKEN" and err.value.component == "http_get_activity"
    assert "API_TOKEN" in str(err.value) and "http_get_activity" in str(err.value)
    assert resolve_env_vars(["API_TOKEN", "A=1"], host, "x", ignore_missing=True) == {"A": "1"}


def test_component_resolved_env_and_bad_entries(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text(
        'api.listening_addr = "127.0.0.1:5005"\n'
        "[[activity_wasm]]\n"
        'name = "act"\n'
        'location.path = "a.wasm"\n'
        'env_vars = ["TOKEN", "MODE=fast"]\n'
    )
    act = load_config(path, ENV, cwd=tmp_path).config.activity_wasm[0]
    assert act.resolved_env({"TOKEN": "t"}) == {"TOKEN": "t", "MODE": "fast"}
    with pytest.raises(MissingEnvVarError, match="TOKEN"):
        act.resolved_env({})

    path.write_text(path.read_text().replace('"MODE=fast"', '"=nokey"'))
    with pytest.raises(ConfigError) as err:
        load_config(path, ENV, cwd=tmp_path)
    assert err.value.problems[0].line == 5
    assert err.value.problems[0].key == "activity_wasm[0].env_vars[1]"


def test_repository_example_config_loads(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "obelisk.toml", ENV, cwd=tmp_path).config
    by_name = {a.name: a for a in config.activity_wasm}
    assert {"fibo_activity", "http_get_activity", "sleep_activity"} <= set(by_name)
    assert by_name["sleep_activity"].exec.lock_expiry == timedelta(seconds=10)
    assert by_name["fibo_activity"].max_retries == 0
    assert by_name["fibo_activity"].location_path == root / "build/components/fibo_activity.wasm"
    assert config.backend == SqliteBackend(root / "data/obelisk.sqlite", "FULL")
    assert config.webui_listening_addr == "127.0.0.1:8080"
