# NixOS VM tests of services.obelisk (pkgs.testers.runNixOSTest). The test scripts are .py files so CI lints
# them here with ruff; they run inside the NixOS test driver, which defines a variable for each node (`machine`,
# or `db`, `a` and `b`) and `start_all`. CI without nixpkgs reaches only the stand-in runNixOSTest of
# ./standin-nixpkgs (the nodes are evaluated, never booted): the scripts run on a machine with Nix and the binary
# cache (`nix flake check`).
{
  pkgs,
  obelisk,
  components,
  module,
}:
let
  node = import ./node.nix { inherit obelisk components module; };
  postgres = import ./postgres-nodes.nix { inherit obelisk components module; };
  vmTest =
    name: nodes: script:
    pkgs.testers.runNixOSTest {
      name = "obelisk-${name}";
      inherit nodes;
      testScript = builtins.readFile script;
    };
in
{
  vm-basic = vmTest "basic" { machine = node; } ./basic.py;
  vm-restart = vmTest "restart" { machine = node; } ./restart.py;
  vm-crash = vmTest "crash" { machine = node; } ./crash.py;
  # Mutual TLS on the API and https on the web UI, with certificates made in the VM at boot.
  vm-tls = vmTest "tls" {
    machine = import ./tls-node.nix { inherit obelisk components module; };
  } ./tls.py;
  # Two servers with the same components on one PostgreSQL database on a third machine.
  vm-postgres = vmTest "postgres" {
    inherit (postgres) db;
    a = postgres.server;
    b = postgres.server;
  } ./postgres.py;
  # One server with the database provisioned beside it (database.createLocally).
  vm-postgres-local = vmTest "postgres-local" { machine = postgres.local; } ./postgres_local.py;
}
