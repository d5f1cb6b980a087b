# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""A workflow in the middle of a durable sleep survives `systemctl restart obelisk` and finishes on time."""

import json
import time

SLEEP_SECS = 12

start_all()
machine.wait_for_unit("obelisk.service")
machine.wait_for_open_port(5005, timeout=600)

with subtest("submit a workflow that sleeps durably"):
    submitted_at = time.monotonic()
    output = machine.succeed(
        "obelisk client execution submit --json testing:sleep-workflow/workflow.sleep-host-activity "
        f"'[{{\"seconds\": {SLEEP_SECS}}}]'"
    )
    first = json.loads(output.splitlines()[0])
    execution_id = first["execution_id"]
    machine.log(f"submitted {execution_id}")

with subtest("restart the service while the workflow sleeps"):
    time.sleep(3)
    pid_before = machine.succeed("systemctl show -p MainPID --value obelisk.service").strip()
    machine.succeed("systemctl restart obelisk.service")
    machine.wait_for_unit("obelisk.service")
    machine.wait_for_open_port(5005, timeout=300)
    pid_after = machine.succeed("systemctl show -p MainPID --value obelisk.service").strip()
    assert pid_before != pid_after, f"the service was not restarted (MainPID {pid_before})"

with subtest("the workflow completes after the restart"):
    output = machine.succeed(f"obelisk client execution get --follow --json {execution_id}")
    elapsed = time.monotonic() - submitted_at
    finished = [json.loads(line) for line in output.splitlines() if line.strip() and "finished" in line]
    assert finished, f"no finished line for {execution_id}:\n{output}"
    assert "ok" in finished[-1]["finished"], f"the workflow did not succeed: {finished[-1]}"
    # The timer was recorded before the restart, so it neither fired early nor started over.
    assert elapsed >= SLEEP_SECS - 1, f"finished after {elapsed:.1f} s, before its {SLEEP_SECS} s sleep ended"
    machine.log(f"{execution_id} finished {elapsed:.1f} s after submission, across a restart")
