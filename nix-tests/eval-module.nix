# Evaluates services.obelisk (nixos-module/, as imported without the flake) with the real module system of a
# nixpkgs `lib` (lib.evalModules) and a stand-in for the rest of NixOS (./standin-nixpkgs/nixos.nix) and for
# `pkgs`: fake store paths instead of derivations, so any Nix that parses current `lib` can run it. This is what CI
# checks without nixpkgs (tests/nix/test_nix.py, when NIXPKGS_LIB points at a nixpkgs or nixpkgs.lib checkout);
# the flake's own module is evaluated by ./eval-flake.nix, and the VM tests check the real thing.
#
#   nix-instantiate --eval --strict --json nix-tests/eval-module.nix \
#     --arg lib 'import /path/to/nixpkgs.lib/lib' --arg configuration ./some-module.nix
{
  lib,
  configuration,
  # Where the example components are; the VM test node is evaluated with them.
  components ? "/nix/store/00000000000000000000000000000000-obelisk-components",
  # Whether `pkgs` has what the flake's overlay adds (`obelisk-engine`).
  withOverlay ? false,
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
    openssl = fakeStorePath "openssl";
    # As in nixpkgs: an unrelated program with the same executable name, which the module must never pick.
    obelisk = {
      type = "derivation";
      name = "obelisk-0.8.1";
      outPath = fakeStorePath "obelisk-0.8.1";
      meta.mainProgram = "obelisk";
    };
  }
  // lib.optionalAttrs withOverlay {
    obelisk-engine = obelisk;
  };

  obelisk = {
    type = "derivation";
    name = "obelisk-0";
    outPath = fakeStorePath "obelisk-0";
    meta.mainProgram = "obelisk";
  };

  evaluated = lib.evalModules {
    modules = [
      ./standin-nixpkgs/nixos.nix
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
  # What the rendered file references: paths in it must be store paths the configuration depends on.
  tomlContext = builtins.attrNames (builtins.getContext (toml.render cfg.finalSettings));
  service = config.systemd.services.obelisk;
  firewall = config.networking.firewall.allowedTCPPorts;
  inherit (config) warnings;
  package = cfg.package.name;
  etc = builtins.attrNames config.environment.etc;
  systemPackages = map (p: p.name or (toString p)) config.environment.systemPackages;
  postgresql = config.services.postgresql;
  inherit (config) users;
}
