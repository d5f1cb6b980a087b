"""``[log.stdout]`` and ``[log.file]``: level filters, styles, the rotated file, and a real server's log."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obelisk.config.log_levels import OFF, TRACE, LevelFilter, parse_level_filter
from obelisk.log_sinks import ClockRotatingFileHandler, ThresholdFilter, make_formatter
from tests.integration.server_process import ServerProcess


def record(name: str, level: int, message: str = "hello", **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


# ---------------------------------------------------------------------------------------------- level filters


def test_the_default_filter_is_the_engine_at_info_and_the_guests_at_every_level() -> None:
    levels = parse_level_filter("info,app=trace")
    assert levels == LevelFilter(logging.INFO, (("obelisk.guest", TRACE),))
    assert levels.threshold("obelisk.server") == logging.INFO
    assert levels.threshold("obelisk.guest") == TRACE
    assert levels.threshold("obelisk.guestbook") == logging.INFO  # a target covers its children, not its prefix


def test_the_longest_target_wins_and_a_later_directive_replaces_an_earlier_one() -> None:
    levels = parse_level_filter(" warn , obelisk=debug, obelisk::storage=error,obelisk=info, aiosqlite=off ,")
    assert levels.default == logging.WARNING
    assert levels.threshold("obelisk.server") == logging.INFO
    assert levels.threshold("obelisk.storage.sqlite.backend") == logging.ERROR
    assert levels.threshold("aiosqlite") == OFF
    assert levels.threshold("grpc") == logging.WARNING
    assert parse_level_filter("obelisk.api").threshold("obelisk.api.server") == TRACE  # a bare target: all levels


def test_a_sink_lets_through_what_its_own_filter_allows() -> None:
    console = ThresholdFilter(parse_level_filter("error,app=info"))
    file = ThresholdFilter(parse_level_filter("debug"))
    assert not console.filter(record("obelisk.server", logging.WARNING))
    assert console.filter(record("obelisk.guest", logging.INFO))
    assert not console.filter(record("obelisk.guest", logging.DEBUG))
    assert file.filter(record("obelisk.guest", logging.DEBUG))
    assert not file.filter(record("obelisk.guest", TRACE))


# ---------------------------------------------------------------------------------------------- styles


def test_the_three_styles() -> None:
    line = record("obelisk.guest", logging.INFO, "[E_1] hi", execution_id="E_1", component_id="workflow:w:0123")
    line.created, line.msecs = 1737367200.123456, 123.456  # 2025-01-20 10:00:00.123456 UTC

    compact = make_formatter("plain_compact", target=False).format(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,123 INFO  \[E_1\] hi", compact), compact
    plain = make_formatter("plain", target=True).format(line)
    assert plain == "2025-01-20T10:00:00.123456Z  INFO obelisk.guest: [E_1] hi"
    assert make_formatter("plain", target=False).format(line) == "2025-01-20T10:00:00.123456Z  INFO [E_1] hi"

    as_json = json.loads(make_formatter("json", target=False).format(line))
    assert as_json == {
        "time": "2025-01-20T10:00:00.123456Z",
        "level": "INFO",
        "logger": "obelisk.guest",
        "message": "[E_1] hi",
        "execution_id": "E_1",
        "component_id": "workflow:w:0123",
    }


def test_a_json_line_holds_the_traceback_and_stays_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failed = logging.LogRecord("obelisk.server", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = make_formatter("json", target=False).format(failed)
    assert "\n" not in text
    parsed = json.loads(text)
    assert "execution_id" not in parsed
    assert parsed["exception"].startswith("Traceback") and "ValueError: boom" in parsed["exception"]


# ---------------------------------------------------------------------------------------------- rotation


def _emit(handler: logging.Handler, message: str) -> None:
    handler.emit(record("obelisk.server", logging.INFO, message))


@pytest.mark.parametrize(
    ("rotation", "seconds", "period_format"),
    [("minutely", 60, "%Y-%m-%d-%H-%M"), ("hourly", 3600, "%Y-%m-%d-%H"), ("daily", 86400, "%Y-%m-%d")],
)
def test_a_file_left_from_an_earlier_period_is_renamed_for_that_period(
    tmp_path: Path, rotation: str, seconds: int, period_format: str
) -> None:
    path = tmp_path / "obelisk.log"
    path.write_text("from an earlier run\n")
    earlier = time.time() - 3 * seconds
    os.utime(path, (earlier, earlier))
    handler = ClockRotatingFileHandler(path, rotation)  # type: ignore[arg-type]
    handler.setFormatter(make_formatter("plain", target=False))
    try:
        # the next rotation is the first UTC boundary after the file was last written, not a period after it
        assert handler.rolloverAt == (int(earlier) // seconds + 1) * seconds
        _emit(handler, "now")
        assert handler.rolloverAt == (int(time.time()) // seconds + 1) * seconds
    finally:
        handler.close()
    rotated = tmp_path / f"obelisk.log.{time.strftime(period_format, time.gmtime(earlier))}"
    assert rotated.read_text() == "from an earlier run\n"
    assert path.read_text().endswith(" INFO now\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["obelisk.log", rotated.name])


def test_a_rotation_never_overwrites_a_file(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.log"
    path.write_text("second\n")
    earlier = time.time() - 120
    os.utime(path, (earlier, earlier))
    taken = tmp_path / f"obelisk.log.{time.strftime('%Y-%m-%d-%H-%M', time.gmtime(earlier))}"
    taken.write_text("first\n")  # e.g. the clock went back
    handler = ClockRotatingFileHandler(path, "minutely")
    try:
        _emit(handler, "third")
    finally:
        handler.close()
    assert taken.read_text() == "first\n"
    assert Path(f"{taken}.1").read_text() == "second\n"


# ---------------------------------------------------------------------------------------------- a real server


def _server_config(tmp_path: Path, codegen_cache: Path, built: Path | None, log: str) -> Path:
    components = ""
    if built is not None:
        components = f"""
[[activity_wasm]]
name = "http_get_activity"
location.path = "{built / "http_activity.wasm"}"
max_retries = 0

[[workflow]]
name = "http_get_workflow"
location.path = "{built / "http_workflow.wasm"}"
"""
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:0"
sqlite.file = "{tmp_path / "db" / "obelisk.sqlite"}"
codegen_cache.directory = "{codegen_cache}"
{log}
{components}
"""
    )
    return path


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_server_logs_json_to_the_console_and_plain_lines_to_a_rotated_file(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    log = f"""
[otlp]
enabled = true
level = "warn"

[log.stdout]
style = "json"
level = "info,app=trace"

[log.file]
directory = "{tmp_path / "logs"}"
prefix = "obelisk.log"
rotation = "hourly"
level = "warn,app=info"
target = true
"""
    config = _server_config(tmp_path, codegen_cache, built_components, log)
    server = ServerProcess(config).start(timeout=180)
    try:
        port = next(
            int(m.group(1)) for line in server.output if (m := re.search(r"listening on 127.0.0.1:(\d+)", line))
        )
        submit = subprocess.run(
            [
                sys.executable,
                "-m",
                "obelisk",
                "client",
                "-a",
                f"http://127.0.0.1:{port}",
                "execution",
                "submit",
                "--follow",
                "testing:http-workflow/workflow.get-successful-concurrently",
                '[["ftp://example.com/"]]',
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Execution finished" in submit.stdout, submit.stdout + submit.stderr
        server.wait_for_output("failed: unsupported URL")
        assert server.terminate() == 0
    finally:
        server.kill()

    # The console (the server's stderr, read here together with its stdout): one JSON object per log line.
    console = _json_lines("".join(server.output))
    assert {"time", "level", "logger", "message"} <= set(console[0])
    warning = next(line for line in console if line["level"] == "WARNING")
    assert "otlp.enabled" in str(warning["message"]) and "selects no spans" in str(warning["message"])
    assert any(line["logger"] == "obelisk.server" and line["level"] == "INFO" for line in console)
    guest = next(line for line in console if "failed: unsupported URL" in str(line["message"]))
    assert guest["logger"] == "obelisk.guest"
    assert re.fullmatch(r"E_[0-9A-Z]{26}", str(guest["execution_id"]))

    # The file: its own level filter (warnings of the engine, the guests from info), plain style with the logger.
    period = time.strftime("%Y-%m-%d-%H", time.gmtime())
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files in (["obelisk.log"], ["obelisk.log", f"obelisk.log.{period}"]), files  # an hour may have ended
    text = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    lines = text.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (WARNING| INFO) obelisk", line) for line in lines), (
        text
    )
    assert any("WARNING obelisk: " in line and "otlp.enabled" in line for line in lines), text
    assert any(f"INFO obelisk.guest: [{guest['execution_id']}]" in line for line in lines), text
    assert not any(" INFO obelisk.server" in line for line in lines), text


def test_with_the_console_off_a_server_logs_to_its_file_only(tmp_path: Path, codegen_cache: Path) -> None:
    log = f"""
[log.stdout]
enabled = false

[log.file]
directory = "{tmp_path / "logs"}"
prefix = "server.log"
rotation = "never"
style = "json"
"""
    server = ServerProcess(_server_config(tmp_path, codegen_cache, None, log)).start()
    try:
        assert server.terminate() == 0
    finally:
        server.kill()
    assert "".join(server.output).startswith("Server is ready"), server.output
    assert len(server.output) == 1, server.output
    logged = _json_lines((tmp_path / "logs" / "server.log").read_text())
    assert [line["message"] for line in logged][-2:] == ["stopping", "stopped"]


def test_a_log_file_that_cannot_be_opened_is_one_error_line(tmp_path: Path, codegen_cache: Path) -> None:
    (tmp_path / "logs").write_text("a file where the directory should be")
    log = f'[log.file]\ndirectory = "{tmp_path / "logs"}"\nprefix = "x.log"\nrotation = "daily"\n'
    config = _server_config(tmp_path, codegen_cache, None, log)
    run = subprocess.run(
        [sys.executable, "-m", "obelisk", "server", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, HOME=str(tmp_path)),
        check=False,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith(f"error: log.file: cannot open the log file {tmp_path / 'logs' / 'x.log'}: ")
    assert len(run.stderr.splitlines()) == 1, run.stderr
