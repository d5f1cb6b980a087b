# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""services.obelisk with TLS: mutual TLS on the API and https on the web UI, with certificates made at boot."""

import json

DIR = "/run/obelisk-test-tls"
CA = f"--ca {DIR}/ca.pem"
CLIENT = f"--tls {CA} --client-cert {DIR}/client.pem --client-key {DIR}/client.key"

start_all()
machine.wait_for_unit("obelisk.service")
machine.wait_for_open_port(5005, timeout=600)

with subtest("the files reach the server as credentials, named by the rendered config"):
    rendered = machine.succeed("cat /etc/obelisk/obelisk.toml")
    for key, name in (("tls_key_file", "tls-api-key"), ("tls_client_ca_file", "tls-api-client-ca")):
        assert f'{key} = "/run/credentials/obelisk.service/{name}"' in rendered, rendered
    machine.succeed("test -f /run/credentials/obelisk.service/tls-api-key")
    machine.succeed("obelisk server verify --config /etc/obelisk/obelisk.toml")

with subtest("the CLI with a client certificate runs a workflow"):
    output = machine.succeed(
        f"obelisk client {CLIENT} execution submit --follow --json testing:fibo-workflow/workflow.fiboa '[10, 100]'"
    )
    finished = [json.loads(line) for line in output.splitlines() if '"finished"' in line]
    assert finished and finished[-1]["finished"] == {"ok": 55}, output
    machine.succeed(
        f"OBELISK_API_URL=https://localhost:5005 OBELISK_API_CA={DIR}/ca.pem OBELISK_API_CLIENT_CERT={DIR}/client.pem "
        f"OBELISK_API_CLIENT_KEY={DIR}/client.key obelisk client component list | grep fibo_activity"
    )

with subtest("without a client certificate, or without TLS, the API refuses (exit status 4)"):
    status, output = machine.execute(f"obelisk client --tls {CA} component list 2>&1")
    assert status == 4, (status, output)
    status, output = machine.execute("obelisk client component list 2>&1")
    assert status == 4 and "if the server uses TLS" in output, (status, output)

with subtest("grpcurl with the client certificate"):
    health = machine.succeed(
        f"grpcurl -cacert {DIR}/ca.pem -cert {DIR}/client.pem -key {DIR}/client.key "
        "-d '{}' 127.0.0.1:5005 grpc.health.v1.Health/Check"
    )
    assert json.loads(health).get("status") == "SERVING", health

with subtest("the web UI over https"):
    machine.wait_for_open_port(8080, timeout=60)
    page = machine.succeed(f"curl --fail --silent --show-error --cacert {DIR}/ca.pem https://127.0.0.1:8080/")
    assert "<html" in page.lower(), page[:500]
    machine.fail("curl --fail --silent http://127.0.0.1:8080/")
