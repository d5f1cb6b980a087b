# ruff: noqa: F821
# The NixOS test driver runs this file with `machine` defined; the file-level noqa tells ruff so.
"""services.obelisk.database.createLocally: PostgreSQL on the same machine, a role that owns the database, reached
over the Unix socket by peer authentication as the service's static user; no password, no SQLite file."""

import json

# The environment the unit gives the server (its ${DATA_DIR} and ${CACHE_DIR}), for commands run beside it.
AS_SERVICE = "runuser -u obelisk -- env HOME=/var/lib/obelisk XDG_DATA_HOME=/var/lib XDG_CACHE_HOME=/var/cache"


def psql_as_postgres(query: str) -> str:
    return machine.succeed(
        f'runuser -u postgres -- psql --dbname obelisk --tuples-only --no-align -c "{query}"'
    ).strip()


start_all()
machine.wait_for_unit("postgresql.target")
machine.wait_for_unit("obelisk.service")
machine.wait_for_open_port(5005, timeout=600)

with subtest("the service runs as the static user obelisk, after postgresql.target"):
    unit = machine.succeed("systemctl show obelisk.service -p DynamicUser -p User -p After -p Requires")
    machine.log(unit)
    assert "DynamicUser=no" in unit and "User=obelisk" in unit, unit
    requires = next(line for line in unit.splitlines() if line.startswith("Requires="))
    assert "postgresql.target" in requires, unit
    owner = psql_as_postgres("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'obelisk'")
    assert owner == "obelisk", f"the database is owned by {owner!r}"

with subtest("peer authentication admits the user obelisk as the role obelisk, and nobody else"):
    machine.succeed(f"{AS_SERVICE} psql --host /run/postgresql --dbname obelisk -c 'SELECT 1'")
    status, output = machine.execute(
        "psql --host /run/postgresql --username obelisk --dbname obelisk -c 'SELECT 1' 2>&1"
    )
    assert status != 0 and "Peer authentication failed" in output, output

with subtest("the rendered file names the socket, no password and no SQLite file"):
    rendered = machine.succeed("cat /etc/obelisk/obelisk.toml")
    assert 'host = "/run/postgresql"' in rendered, rendered
    assert "password" not in rendered and "sqlite" not in rendered, rendered
    verified = machine.succeed(f"{AS_SERVICE} obelisk server verify --config /etc/obelisk/obelisk.toml")
    assert "postgresql://obelisk@/run/postgresql/obelisk" in verified, verified

with subtest("a workflow runs to completion, kept in PostgreSQL"):
    output = machine.succeed(
        "obelisk client execution submit --follow --json testing:fibo-workflow/workflow.fiboa '[10, 100]'"
    )
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    execution_id = lines[0]["execution_id"]
    assert [line for line in lines if "finished" in line][-1]["finished"] == {"ok": 55}, output
    tables = int(psql_as_postgres("SELECT count(*) FROM pg_tables WHERE tableowner = 'obelisk'"))
    assert tables > 0, "the server created no tables in its database"
    machine.fail("test -e /var/lib/obelisk/obelisk.sqlite")

with subtest("the execution is still there after a restart"):
    machine.succeed("systemctl restart obelisk.service")
    machine.wait_for_open_port(5005, timeout=300)
    output = machine.succeed(f"obelisk client execution get --follow --json {execution_id}")
    finished = [json.loads(line) for line in output.splitlines() if line.strip() and "finished" in line]
    assert finished and finished[-1]["finished"] == {"ok": 55}, output

with subtest("hardening"):
    machine.log(machine.succeed("systemd-analyze security obelisk.service || true"))
