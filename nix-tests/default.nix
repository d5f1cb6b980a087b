# NixOS VM tests of services.obelisk (pkgs.testers.runNixOSTest). The test scripts are .py files so CI lints
# them here with ruff; they run inside the NixOS test driver, which defines `machine` and `start_all`. CI without
# nixpkgs reaches only the stand-in runNixOSTest of ./standin-nixpkgs (the nodes are evaluated, never booted):
# the scripts run on a machine with Nix and the binary cache (`nix flake check`).
{
  pkgs,
  obelisk,
  components,
  module,
}:
let
  node = import ./node.nix { inherit obelisk components module; };
  vmTest =
    name: script:
    pkgs.testers.runNixOSTest {
      name = "obelisk-${name}";
      nodes.machine = node;
      testScript = builtins.readFile script;
    };
in
{
  vm-basic = vmTest "basic" ./basic.py;
  vm-restart = vmTest "restart" ./restart.py;
  vm-crash = vmTest "crash" ./crash.py;
}
