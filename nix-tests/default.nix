# NixOS VM tests of services.obelisk (pkgs.testers.runNixOSTest). The test scripts are .py files so CI lints
# them here with ruff; they run inside the NixOS test driver, which defines `machine` and `start_all`.
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
