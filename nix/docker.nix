# An OCI image of the server with the example components. Built without runAsRoot (no VM needed): the entry
# point is `obelisk server run`, the API and the web UI listen on all interfaces of the container, and the
# database and caches live in the /data volume, so a new container on the same volume resumes the executions.
{
  lib,
  dockerTools,
  writeTextDir,
  obelisk,
  components,
}:
let
  toml = import ../nixos-module/toml.nix;
  settings = import ./example-config.nix {
    inherit components;
    dataDir = "/data";
    cacheDir = "/data/cache";
    apiAddress = "0.0.0.0:5005";
    webuiAddress = "0.0.0.0:8080";
  };
  configDir = writeTextDir "etc/obelisk/obelisk.toml" (toml.render settings);
in
dockerTools.buildLayeredImage {
  name = "obelisk";
  tag = obelisk.version;
  contents = [
    obelisk
    configDir
    dockerTools.caCertificates
  ];
  # The image is assembled as files, without root: create the volume's mount point and a world-writable /tmp.
  extraCommands = ''
    mkdir -p data tmp
    chmod 1777 tmp
  '';
  config = {
    Entrypoint = [
      (lib.getExe obelisk)
      "server"
      "run"
    ];
    Cmd = [
      "--config"
      "/etc/obelisk/obelisk.toml"
    ];
    WorkingDir = "/data";
    Env = [
      "HOME=/data"
      "TMPDIR=/tmp"
    ];
    ExposedPorts = {
      "5005/tcp" = { };
      "8080/tcp" = { };
    };
    Volumes = {
      "/data" = { };
    };
  };
}
