# Evaluates services.obelisk with the real module system of a nixpkgs `lib` (lib.evalModules) and a stand-in
# for the rest of NixOS: the handful of options the module sets, declared loosely, and a `pkgs` with the few
# functions it calls. This is what CI can check without nixpkgs (tests/nix/test_nix.py, when NIXPKGS_LIB points
# at a nixpkgs or nixpkgs.lib checkout); the VM tests check the real thing.
#
#   nix-instantiate --eval --strict --json nix-tests/eval-module.nix \
#     --arg lib 'import /path/to/nixpkgs.lib/lib' --arg configuration ./some-module.nix
{
  lib,
  configuration,
  # Where the example components are; the VM test node is evaluated with them.
  components ? "/nix/store/00000000000000000000000000000000-obelisk-components",
}:
let
  fakeStorePath = name: "/nix/store/00000000000000000000000000000000-${name}";
  toml = import ../nixos-module/toml.nix;

  pkgs = {
    writeText = name: _text: fakeStorePath name;
    stdenv.hostPlatform.system = "x86_64-linux";
    grpcurl = fakeStorePath "grpcurl";
    curl = fakeStorePath "curl";
    jq = fakeStorePath "jq";
  };

  obelisk = {
    type = "derivation";
    name = "obelisk-0";
    outPath = fakeStorePath "obelisk-0";
    meta.mainProgram = "obelisk";
  };

  loose = lib.mkOption {
    type = lib.types.anything;
    default = { };
  };
  nixosStandIn = {
    options = {
      assertions = lib.mkOption {
        type = lib.types.listOf lib.types.unspecified;
        default = [ ];
      };
      environment.systemPackages = lib.mkOption {
        type = lib.types.listOf lib.types.unspecified;
        default = [ ];
      };
      environment.etc = loose;
      networking.firewall.allowedTCPPorts = lib.mkOption {
        type = lib.types.listOf lib.types.port;
        default = [ ];
      };
      systemd.services = loose;
      virtualisation = loose;
    };
  };

  evaluated = lib.evalModules {
    modules = [
      nixosStandIn
      ../nixos-module
      configuration
    ];
    specialArgs = {
      inherit pkgs;
      # The VM node's arguments, for configurations that take them.
      testArgs = {
        inherit obelisk;
        components = {
          type = "derivation";
          name = "obelisk-components";
          outPath = components;
        };
        module = { };
      };
    };
  };
  config = evaluated.config;
  cfg = config.services.obelisk;
in
let
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
in
# Like a NixOS build, stop at failed assertions: what follows them may not evaluate.
{
  inherit failedAssertions;
  enabled = cfg.enable;
}
// lib.optionalAttrs (cfg.enable && failedAssertions == [ ]) {
  settings = cfg.finalSettings;
  toml = toml.render cfg.finalSettings;
  service = config.systemd.services.obelisk;
  firewall = config.networking.firewall.allowedTCPPorts;
  etc = builtins.attrNames config.environment.etc;
  systemPackages = map (p: p.name or (toString p)) config.environment.systemPackages;
}
