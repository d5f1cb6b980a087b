# A stand-in for nixpkgs, for `nix flake check --override-input nixpkgs path:...` where nixpkgs cannot be fetched
# (tests/nix/test_nix.py). `lib` is a real nixpkgs `lib`, copied next to this file by the test from NIXPKGS_LIB
# (never committed); the packages and builders of ./pkgs.nix return real derivations that are never built.
{
  description = "stand-in nixpkgs: a real lib, derivations that record their inputs";

  outputs =
    { self }:
    let
      lib = import ./lib;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ] (system: import ./pkgs.nix { inherit lib system; });
    };
}
