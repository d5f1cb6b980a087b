# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""services.obelisk with the example components: start-up, the CLI, a workflow, gRPC, the web UI, hardening."""

import json
import re

API = "127.0.0.1:5005"

start_all()
settings = json.loads(machine.succeed("cat /etc/obelisk-vm-test.json"))
machine.wait_for_unit("obelisk.service")
# Components are compiled before the API opens; the first start compiles them all.
machine.wait_for_open_port(settings["api_port"], timeout=600)

with subtest("the unit runs this flake's obelisk, not nixpkgs' unrelated `obelisk`"):
    exec_start = machine.succeed("systemctl show -p ExecStart --value obelisk.service")
    found = re.search(r"path=(\S+)", exec_start)
    assert found, f"no path in ExecStart: {exec_start}"
    start_script = machine.succeed(f"cat {found[1]}")
    expected = f"{settings['package']}/bin/obelisk server run --config "
    assert expected in start_script, f"the unit does not run {settings['package']}:\n{start_script}"

with subtest("the rendered config passes the server's own checks"):
    machine.succeed("obelisk server verify --config /etc/obelisk/obelisk.toml")

with subtest("client component list shows the declared components"):
    listing = machine.succeed("obelisk client component list")
    names = (
        "fibo_activity",
        "http_get_activity",
        "sleep_activity",
        "fibo_workflow",
        "http_get_workflow",
        "sleep_workflow",
    )
    for name in names:
        assert name in listing, f"{name} missing from `obelisk client component list`:\n{listing}"
    assert "testing:fibo-workflow/workflow.fiboa" in listing, listing

with subtest("fiboa(10, 100) runs to completion and returns 55"):
    output = machine.succeed(
        "obelisk client execution submit --follow --json testing:fibo-workflow/workflow.fiboa '[10, 100]'"
    )
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    finished = [line for line in lines if "finished" in line]
    assert finished, f"no finished line in the --json output:\n{output}"
    assert finished[-1]["finished"] == {"ok": 55}, f"unexpected result: {finished[-1]}"

with subtest("/metrics counts the workflow and its 100 children"):
    machine.wait_for_open_port(settings["metrics_port"], timeout=60)
    metrics = machine.succeed(f"curl --fail --silent --show-error http://127.0.0.1:{settings['metrics_port']}/metrics")
    ok = 'obelisk_executions_finished_total{ffqn="testing:fibo-workflow/workflow.fiboa",outcome="Ok"} 1.0'
    assert ok in metrics, f"{ok} not in /metrics:\n{metrics}"
    children = 'obelisk_executions{ffqn="testing:fibo/fibo.fibo",state="Finished"} 100.0'
    assert children in metrics, f"{children} not in /metrics:\n{metrics}"
    assert "obelisk_database_size_bytes " in metrics, metrics

with subtest("gRPC through reflection, and the health service"):
    services = machine.succeed(f"grpcurl -plaintext {API} list")
    for service in ("obelisk.ExecutionRepository", "obelisk.FunctionRepository", "grpc.health.v1.Health"):
        assert service in services, f"{service} not offered by reflection:\n{services}"
    health = json.loads(machine.succeed(f"grpcurl -plaintext -d '{{}}' {API} grpc.health.v1.Health/Check"))
    assert health.get("status") == "SERVING", f"health check: {health}"
    components = machine.succeed(f"grpcurl -plaintext -d '{{}}' {API} obelisk.FunctionRepository/ListComponents")
    assert "fibo_activity" in components, components

with subtest("web UI root"):
    if settings["web_ui_expected"]:
        machine.wait_for_open_port(settings["webui_port"], timeout=60)
        page = machine.succeed(f"curl --fail --silent --show-error http://127.0.0.1:{settings['webui_port']}/")
        assert "<html" in page.lower(), f"the web UI root is not an HTML page:\n{page[:500]}"
    else:
        machine.log("web UI check skipped: this build has no web UI yet (obelisk/webui/ holds only __init__.py)")

with subtest("hardening"):
    machine.log(machine.succeed("systemd-analyze security obelisk.service || true"))
    properties = machine.succeed("systemctl show obelisk.service -p DynamicUser -p MemoryDenyWriteExecute")
    assert "DynamicUser=yes" in properties, properties
    assert "MemoryDenyWriteExecute=no" in properties, properties
