# The part of NixOS that services.obelisk and the VM test node set, declared loosely: what the `lib` snapshot used
# in CI can evaluate without nixpkgs' nixos/ tree (lib.evalModules with this module instead). Assertions and
# warnings behave as in NixOS; everything else is recorded as given.
{ lib, ... }:
let
  loose = lib.mkOption {
    type = lib.types.anything;
    default = { };
  };
in
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      default = [ ];
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
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
    users = loose;
    # What services.obelisk reads back (the port) is declared with NixOS' default; the rest is recorded as given.
    services.postgresql = lib.mkOption {
      type = lib.types.submodule {
        freeformType = lib.types.attrsOf lib.types.anything;
        options.settings = lib.mkOption {
          type = lib.types.submodule {
            freeformType = lib.types.attrsOf lib.types.anything;
            options.port = lib.mkOption {
              type = lib.types.port;
              default = 5432;
            };
          };
          default = { };
        };
      };
      default = { };
    };
  };
}
