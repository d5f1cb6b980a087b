# The packages and builders of nixpkgs that the flake uses, as real derivations (builtins.derivation: every output
# has a drvPath, `nix flake check --no-build` instantiates them) that record their inputs and are never built.
# Where real nixpkgs has a trap, so does this: `obelisk` is an unrelated program (nixpkgs' OCaml pretty-printer
# for Menhir grammars), and python3Packages.wasmtime is too old for the component API.
{ lib, system }:
let
  neverBuilt = [
    "-c"
    "echo 'a stand-in nixpkgs derivation: evaluation only' >&2; exit 1"
  ];
  reserved = [
    "name"
    "system"
    "builder"
    "args"
    "outputs"
    "meta"
    "passthru"
    "__structuredAttrs"
  ];
  coercible =
    value:
    builtins.isString value
    || builtins.isInt value
    || builtins.isBool value
    || builtins.isPath value
    || lib.isDerivation value
    || (builtins.isList value && lib.all coercible value);

  # Everything a builder was given goes into its derivation, so evaluating the derivation forces it: strings,
  # lists of packages as they are, other tables as JSON (a function in them is an error, as in a real build).
  derivationOf =
    kind: args:
    let
      name = args.name or (if args ? pname then "${args.pname}-${args.version}" else kind);
      recorded = lib.mapAttrs' (
        key: value:
        if coercible value then
          lib.nameValuePair key value
        else if builtins.isFunction value then
          lib.nameValuePair "${key}IsFunction" true
        else
          lib.nameValuePair "${key}JSON" (builtins.toJSON value)
      ) (builtins.removeAttrs args reserved);
      drv = derivation (
        recorded
        // {
          inherit name system;
          builder = "/bin/sh";
          args = neverBuilt;
          standInKind = kind;
        }
      );
    in
    drv
    // builtins.removeAttrs args [ "passthru" ]
    // {
      inherit name;
      inherit (drv) drvPath outPath;
      builtBy = kind;
      meta = args.meta or { };
    }
    // (args.passthru or { });
  builder = kind: args: derivationOf kind args;
  package =
    name: extra:
    derivationOf "package" (
      {
        inherit name;
      }
      // extra
    );

  pythonNames = [
    "aiohttp"
    "aiohttp-jinja2"
    "aiosqlite"
    "grpcio"
    "grpcio-health-checking"
    "grpcio-reflection"
    "grpcio-tools"
    "jinja2"
    "markupsafe"
    "mypy"
    "prometheus-client"
    "opentelemetry-api"
    "opentelemetry-exporter-otlp-proto-grpc"
    "opentelemetry-sdk"
    "protobuf"
    "psycopg"
    "pydantic"
    "pytest"
    "pytest-asyncio"
    "pytestCheckHook"
    "setuptools"
    "typer"
    "types-protobuf"
    "uvloop"
    "wheel"
  ];
  python3Packages =
    lib.genAttrs pythonNames (name: package "python3.13-${name}" { })
    // {
      # nixpkgs has it, at a version without the component model API: the flake must take its own wheel.
      wasmtime = package "python3.13-wasmtime-44.0.0" { };
      buildPythonPackage = builder "buildPythonPackage";
      buildPythonApplication = builder "buildPythonApplication";
      python.sitePackages = "lib/python3.13/site-packages";
    };

  pkgs = {
    inherit lib python3Packages;
    callPackage = lib.callPackageWith pkgs;
    stdenv = {
      hostPlatform.system = system;
      cc.cc.lib = package "gcc-lib" { };
    };
    stdenvNoCC.mkDerivation = builder "mkDerivation";
    fetchurl =
      { url, hash }:
      derivationOf "fetchurl" {
        name = baseNameOf url;
        inherit url;
        outputHash = hash;
        outputHashMode = "flat";
      };
    autoPatchelfHook = package "auto-patchelf-hook" { };
    python3 = package "python3-3.13" { } // {
      withPackages =
        select:
        derivationOf "python3.withPackages" {
          name = "python3-3.13-env";
          packages = select python3Packages;
        };
    };
    dockerTools = {
      buildLayeredImage = builder "buildLayeredImage";
      caCertificates = package "ca-certificates" { };
    };
    writeText =
      name: text:
      derivationOf "writeText" {
        inherit name text;
      };
    writeTextDir =
      path: text:
      derivationOf "writeTextDir" {
        name = baseNameOf path;
        inherit path text;
      };
    writeShellApplication =
      args:
      derivationOf "writeShellApplication" (
        args
        // {
          meta.mainProgram = args.name;
        }
      );
    mkShell = args: derivationOf "mkShell" ({ name = "nix-shell"; } // args);
    # nixpkgs' own `obelisk`: the wrong program for services.obelisk, with the same executable name.
    obelisk = package "obelisk-0.8.1" { meta.mainProgram = "obelisk"; };
    ruff = package "ruff" { };
    grpcurl = package "grpcurl" { };
    curl = package "curl" { };
    jq = package "jq" { };
    openssl = package "openssl" { };
    nix = package "nix" { };
    nixfmt = package "nixfmt" { meta.mainProgram = "nixfmt"; };
    # The real one builds VMs from nixpkgs' nixos/, which the `lib` snapshot has not. This one evaluates each node
    # with the module system and ./nixos.nix, fails on the node's failed assertions as NixOS would, and
    # records the test script and the node's services, files, firewall, PostgreSQL and users in its derivation.
    testers.runNixOSTest =
      {
        name,
        nodes,
        testScript,
      }:
      let
        evaluated = lib.mapAttrs (
          _: node:
          lib.evalModules {
            modules = [
              ./nixos.nix
              node
            ];
            specialArgs = { inherit pkgs; };
          }
        ) nodes;
        failed = lib.concatMap (
          node: map (a: a.message) (lib.filter (a: !a.assertion) node.config.assertions)
        ) (lib.attrValues evaluated);
        recorded = lib.mapAttrs (_: node: {
          inherit (node.config.systemd) services;
          inherit (node.config) warnings;
          etc = node.config.environment.etc;
          firewall = node.config.networking.firewall.allowedTCPPorts;
          systemPackages = node.config.environment.systemPackages;
          postgresql = node.config.services.postgresql;
          inherit (node.config) users;
        }) evaluated;
      in
      if failed != [ ] then
        throw "runNixOSTest ${name}: failed assertions:\n- ${lib.concatStringsSep "\n- " failed}"
      else
        derivationOf "runNixOSTest" {
          name = "vm-test-run-${name}";
          inherit testScript;
          nodes = recorded;
        };
  };
in
pkgs
