# ruff: noqa: F821
# The NixOS test driver runs this file with `db`, `a` and `b` defined; the file-level noqa tells ruff so.
"""Two servers with the same components on one PostgreSQL database on a third machine: work submitted on A runs
on both, and when A's machine crashes, B finishes everything, including what A was running."""

import json
import shlex

SLEEPERS = 12
SLEEP_MS = 12_000
PRINT_AND_SLEEP = "testing:checks/workflow.print-and-sleep"
FIBOA = "testing:fibo-workflow/workflow.fiboa"
SECRET = "/etc/obelisk-db-password"


def submit(node, function: str, params: str) -> str:
    output = node.succeed(f"obelisk client execution submit --json {function} '{params}'")
    return json.loads(output.splitlines()[0])["execution_id"]


def finished(node, execution_id: str) -> dict:
    output = node.succeed(f"obelisk client execution get --follow --json {execution_id}")
    lines = [json.loads(line) for line in output.splitlines() if line.strip() and "finished" in line]
    assert lines, f"no finished line for {execution_id}:\n{output}"
    return lines[-1]["finished"]


def printed(execution_id: str, line: str) -> str:
    """How the server that runs a workflow logs the guest's stdout (only outside replays, so once)."""
    return f"[{execution_id} stdout] {line}"


def journal(node) -> str:
    return node.succeed("journalctl --unit obelisk.service --no-pager --output cat")


def started(node, ids: list[str]) -> list[str]:
    text = journal(node)
    return [execution_id for execution_id in ids if printed(execution_id, "before the sleep") in text]


def wait_until_one_started(node, ids: list[str]) -> None:
    """Until the node's journal shows one of `ids` starting (grep -F with one pattern per id)."""
    patterns = "\n".join(printed(execution_id, "before the sleep") for execution_id in ids)
    node.succeed(f"printf '%s\\n' {shlex.quote(patterns)} > /tmp/started-patterns")
    node.wait_until_succeeds(
        "journalctl --unit obelisk.service --no-pager --output cat | grep -F -f /tmp/started-patterns > /dev/null",
        timeout=180,
    )


# The database first, so that neither server meets a database that is not there yet.
db.start()
db.wait_for_unit("postgresql.target")
db.wait_for_open_port(5432)
a.start()
b.start()
for server in (a, b):
    server.wait_for_unit("obelisk.service")
    # Components are compiled before the API opens; the first start compiles them all.
    server.wait_for_open_port(5005, timeout=600)

with subtest("the password reaches the server as a credential, never the rendered file or the unit"):
    password = a.succeed(f"cat {SECRET}").strip()
    for server in (a, b):
        rendered = server.succeed("cat /etc/obelisk/obelisk.toml")
        assert 'password = "${OBELISK_DB_PASSWORD}"' in rendered, rendered
        assert 'host = "db"' in rendered, rendered
        assert password not in rendered, "the password is in /etc/obelisk/obelisk.toml"
        assert "sqlite" not in rendered, f"a PostgreSQL server's file names SQLite:\n{rendered}"
        unit = server.succeed("systemctl cat obelisk.service")
        assert password not in unit, "the password is in the unit"
        assert f"LoadCredential=OBELISK_DB_PASSWORD:{SECRET}" in unit, unit
        verified = server.succeed(
            f'OBELISK_DB_PASSWORD="$(cat {SECRET})" obelisk server verify --config /etc/obelisk/obelisk.toml'
        )
        assert "postgresql://obelisk@db:5432/obelisk" in verified, verified

with subtest("both servers list the same components"):
    listings = [server.succeed("obelisk client component list") for server in (a, b)]
    for name in ("fibo_workflow", "checks_workflow", "flaky_activity"):
        assert all(name in listing for listing in listings), f"{name} missing:\n{listings}"

with subtest("work submitted on A runs on both servers"):
    # Each server runs two of these at a time, and a run waits out its sleep in place (its lock outlasts the
    # sleep), so A alone cannot take them all: B must pick some up from the shared database.
    sleepers = [submit(a, PRINT_AND_SLEEP, f"[{SLEEP_MS}]") for _ in range(SLEEPERS)]
    fibos = [submit(a, FIBOA, "[10, 50]") for _ in range(4)]
    wait_until_one_started(a, sleepers)
    wait_until_one_started(b, sleepers)
    on_a, on_b = started(a, sleepers), started(b, sleepers)
    a.log(f"started on A: {on_a}; on B: {on_b}")
    assert not set(on_a) & set(on_b), f"both servers started {set(on_a) & set(on_b)}"
    a_text = journal(a)
    # What A was in the middle of when its machine went down.
    interrupted = [i for i in on_a if printed(i, "after the sleep") not in a_text]
    assert interrupted, f"A finished everything it started before the crash: {on_a}"

with subtest("A's machine crashes; B finishes everything, A's runs included, each once"):
    a.crash()
    for execution_id in sleepers:
        assert "ok" in finished(b, execution_id), f"{execution_id} did not succeed"
    for execution_id in fibos:
        assert finished(b, execution_id) == {"ok": 55}, f"{execution_id} did not return 55"
    b_text = journal(b)
    for execution_id in interrupted:
        assert printed(execution_id, "after the sleep") in b_text, f"B did not finish {execution_id}, left by A"
    for execution_id in sleepers + fibos:
        events = b.succeed(f"obelisk client execution events --json {execution_id}")
        kinds = [json.loads(line)["type"] for line in events.splitlines() if line.strip()]
        assert kinds.count("Finished") == 1, f"{execution_id}: {kinds}"
    b.log(f"B finished {len(interrupted)} workflows A was running when it crashed: {interrupted}")

with subtest("A comes back, sees B's results and takes new work"):
    a.start()
    a.wait_for_unit("obelisk.service")
    a.wait_for_open_port(5005, timeout=300)
    assert "ok" in finished(a, interrupted[0])
    assert finished(a, submit(a, FIBOA, "[10, 10]")) == {"ok": 55}
