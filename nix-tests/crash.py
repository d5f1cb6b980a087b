# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""What a NixOS user relies on when the server dies: systemd restarts it, work in flight finishes with its right
result, and a second server on the service's database is refused instead of taking that work over."""

import json
import time

SLEEP_SECS = 10


def main_pid() -> str:
    return machine.succeed("systemctl show -p MainPID --value obelisk.service").strip()


def submit(function: str, params: str) -> str:
    output = machine.succeed(f"obelisk client execution submit --json {function} '{params}'")
    return json.loads(output.splitlines()[0])["execution_id"]


def finished(execution_id: str) -> dict:
    output = machine.succeed(f"obelisk client execution get --follow --json {execution_id}")
    lines = [json.loads(line) for line in output.splitlines() if line.strip() and "finished" in line]
    assert lines, f"no finished line for {execution_id}:\n{output}"
    return lines[-1]["finished"]


start_all()
machine.wait_for_unit("obelisk.service")
machine.wait_for_open_port(5005, timeout=600)

with subtest("the unit restarts after a crash, briefly, and stops within its TimeoutStopSec"):
    unit = machine.succeed("systemctl show obelisk.service -p Restart -p RestartUSec -p TimeoutStopUSec")
    machine.log(unit)
    assert "Restart=on-failure" in unit, unit
    assert "RestartUSec=2s" in unit, unit
    assert "TimeoutStopUSec=30s" in unit, unit

with subtest("a second `obelisk server run` on the service's database is refused with one line naming the PID"):
    pid = main_pid()
    status, output = machine.execute("obelisk server run --config /etc/obelisk/obelisk.toml 2>&1")
    lines = [line for line in output.splitlines() if line.strip()]
    assert status != 0, f"a second server started on the service's database:\n{output}"
    assert len(lines) == 1, f"expected one line, got:\n{output}"
    assert "is in use by another Obelisk server" in lines[0] and f"PID {pid}" in lines[0], lines[0]
    assert main_pid() == pid, "the refused second server disturbed the service"

with subtest("kill -9 of the server: systemd restarts it and work submitted before finishes with its result"):
    sleeper = submit("testing:sleep-workflow/workflow.sleep-host-activity", f'[{{"seconds": {SLEEP_SECS}}}]')
    fibo = submit("testing:fibo-workflow/workflow.fiboa", "[10, 2000]")
    submitted_at = time.monotonic()
    time.sleep(2)
    status = machine.succeed(f"obelisk client execution get --json {sleeper}")
    assert "finished" not in status, f"{sleeper} finished before the kill: {status}"
    pid_before = main_pid()
    restarts_before = int(machine.succeed("systemctl show -p NRestarts --value obelisk.service"))
    machine.succeed("systemctl kill -s KILL obelisk.service")
    machine.wait_until_succeeds(
        f'test "$(systemctl show -p MainPID --value obelisk.service)" != {pid_before} && '
        "systemctl is-active obelisk.service",
        timeout=120,
    )
    machine.wait_for_open_port(5005, timeout=300)
    restarts_after = int(machine.succeed("systemctl show -p NRestarts --value obelisk.service"))
    assert restarts_after == restarts_before + 1, f"NRestarts {restarts_before} -> {restarts_after}"

    assert finished(fibo) == {"ok": 55}, "fiboa(10, 2000) did not return 55 across the kill"
    assert "ok" in finished(sleeper), f"{sleeper} did not succeed across the kill"
    elapsed = time.monotonic() - submitted_at
    assert elapsed >= SLEEP_SECS - 1, f"the durable sleep ended after {elapsed:.1f} s, before its {SLEEP_SECS} s"
    machine.log(f"{fibo} and {sleeper} finished {elapsed:.1f} s after submission, across a kill -9")

with subtest("the restarted server still refuses a second one, naming its new PID"):
    pid = main_pid()
    status, output = machine.execute("obelisk server run --config /etc/obelisk/obelisk.toml 2>&1")
    assert status != 0 and f"PID {pid}" in output, output

with subtest("a clean stop (SIGTERM) ends within TimeoutStopSec, without systemd's SIGKILL"):
    started = time.monotonic()
    machine.succeed("systemctl stop obelisk.service")
    took = time.monotonic() - started
    result = machine.succeed("systemctl show -p Result --value obelisk.service").strip()
    assert result == "success", f"the stop ended with Result={result} after {took:.1f} s"
    machine.log(f"stopped cleanly in {took:.1f} s")
