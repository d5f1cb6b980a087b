# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""services.obelisk with an API token (apiTokenFile) on all interfaces: the CLI, gRPC and the web UI need it."""

import json
import shlex

API = "127.0.0.1:5005"
UI = "http://127.0.0.1:8080"

start_all()
settings = json.loads(machine.succeed("cat /etc/obelisk-vm-auth.json"))
machine.wait_for_unit("obelisk.service")
machine.wait_for_open_port(5005, timeout=600)
token = machine.succeed(f"cat {settings['token_file']}").strip()
viewer = settings["viewer_token"]
assert len(token) == 64, f"unexpected token: {len(token)} characters"

with subtest("the token reaches the server as a credential, not through the store"):
    credentials = machine.succeed("systemctl show -p LoadCredential --value obelisk.service")
    assert f"OBELISK__API__TOKEN:{settings['token_file']}" in credentials, credentials
    machine.fail(f"grep -r {shlex.quote(token)} /etc/obelisk/obelisk.toml")

with subtest("the CLI without a token is refused"):
    status, output = machine.execute("obelisk client component list 2>&1")
    assert status == 3, f"expected exit status 3, got {status}: {output}"
    assert "missing API token" in output, output

with subtest("the CLI with --api-token or OBELISK_API_TOKEN works"):
    listing = machine.succeed(f"obelisk client --api-token {shlex.quote(token)} component list")
    assert "fibo_workflow" in listing, listing
    output = machine.succeed(
        f"OBELISK_API_TOKEN={shlex.quote(token)} obelisk client execution submit --follow --json "
        "testing:fibo-workflow/workflow.fiboa '[10, 10]'"
    )
    finished = [json.loads(line) for line in output.splitlines() if '"finished"' in line]
    assert finished and finished[-1]["finished"] == {"ok": 55}, output

with subtest("a viewer reads but cannot submit"):
    machine.succeed(f"OBELISK_API_TOKEN={shlex.quote(viewer)} obelisk client execution list")
    status, output = machine.execute(
        f"OBELISK_API_TOKEN={shlex.quote(viewer)} obelisk client execution submit "
        "testing:fibo-workflow/workflow.fiboa '[1, 1]' 2>&1"
    )
    assert status == 3 and "needs an operator token" in output, output

with subtest("gRPC: health is open, reflection and the API need the token"):
    health = json.loads(machine.succeed(f"grpcurl -plaintext -d '{{}}' {API} grpc.health.v1.Health/Check"))
    assert health.get("status") == "SERVING", health
    machine.fail(f"grpcurl -plaintext {API} list")
    header = shlex.quote(f"authorization: Bearer {token}")
    services = machine.succeed(f"grpcurl -plaintext -H {header} {API} list")
    assert "obelisk.ExecutionRepository" in services, services

with subtest("web UI: sign-in, foreign Host refused"):
    machine.wait_for_open_port(8080, timeout=60)
    code = machine.succeed(f"curl -s -o /dev/null -w '%{{http_code}}' {UI}/")
    assert code == "303", f"expected a redirect to the sign-in page, got {code}"
    code = machine.succeed(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: attacker.example' {UI}/")
    assert code == "400", f"a foreign Host got {code}"
    machine.succeed(
        f"curl -s -c /tmp/jar -o /dev/null --data-urlencode token={shlex.quote(token)} -d next=/ {UI}/sign-in"
    )
    page = machine.succeed(f"curl -s --fail -b /tmp/jar {UI}/")
    assert "Sign out" in page, page[:500]
    headers = machine.succeed(f"curl -s -D - -o /dev/null -b /tmp/jar {UI}/components")
    assert "Content-Security-Policy:" in headers and "X-Frame-Options: DENY" in headers, headers
