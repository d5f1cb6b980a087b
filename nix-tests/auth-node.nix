# The machine of the authentication VM test: ./node.nix with the API and the web UI on all interfaces, opened in
# the firewall, which the module allows only with a token. The operator token is made at boot by
# `obelisk generate token` into /run (never the Nix store) and handed to the service as a systemd credential
# (`apiTokenFile`); a viewer token, fixed for the test, is configured by its hash.
{
  obelisk,
  components,
  module,
}:
{ config, ... }:
let
  tokenFile = "/run/obelisk-test/api-token";
  viewerToken = "viewer-token-of-the-vm-test-0123456789abcdef";
in
{
  imports = [ (import ./node.nix { inherit obelisk components module; }) ];

  services.obelisk = {
    apiTokenFile = tokenFile;
    openFirewall = true;
    settings.api.listening_addr = "0.0.0.0:5005";
    settings.api.token_hashes = [
      {
        hash = "sha256:${builtins.hashString "sha256" viewerToken}";
        role = "viewer";
      }
    ];
    settings.webui.listening_addr = "0.0.0.0:8080";
  };

  systemd.services.obelisk-test-token = {
    description = "API token of the Obelisk VM test";
    wantedBy = [ "obelisk.service" ];
    before = [ "obelisk.service" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      UMask = "0077";
    };
    script = ''
      mkdir -p /run/obelisk-test
      ${config.services.obelisk.package}/bin/obelisk generate token > ${tokenFile}.new 2>/dev/null
      mv ${tokenFile}.new ${tokenFile}
    '';
  };

  environment.etc."obelisk-vm-auth.json".text = builtins.toJSON {
    token_file = tokenFile;
    viewer_token = viewerToken;
  };
}
