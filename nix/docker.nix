# An OCI image of the server with the example components. Built without runAsRoot (no VM needed): the entry
# point is `obelisk server run`, the API and the web UI listen on all interfaces of the container, and the
# server runs as the unprivileged user obelisk (uid 1000). Listening on all interfaces, the server starts only
# with an API token: `docker run -e OBELISK__API__TOKEN=...` (the image holds no secret; docs/security.md). Its state lives in the volume /data: the SQLite
# database (/data/obelisk.sqlite, with its executor id and lock files beside it) and the compile caches
# (/data/cache, which may be lost). A new container on the same volume resumes the executions; two containers on
# one volume are refused by the server's database lock.
{
  lib,
  dockerTools,
  writeTextDir,
  obelisk,
  components,
}:
let
  toml = import ../nixos-module/toml.nix;
  uid = "1000";
  settings = import ./example-config.nix {
    inherit components;
    dataDir = "/data";
    cacheDir = "/data/cache";
    apiAddress = "0.0.0.0:5005";
    webuiAddress = "0.0.0.0:8080";
  };
  configDir = writeTextDir "etc/obelisk/obelisk.toml" (toml.render settings);
  # Who the server runs as, for the programs that look the user up (Python's getpass, ssh, ...).
  passwd = writeTextDir "etc/passwd" ''
    root:x:0:0:root:/root:/noshell
    obelisk:x:${uid}:${uid}:Obelisk server:/data:/noshell
  '';
  group = writeTextDir "etc/group" ''
    root:x:0:
    obelisk:x:${uid}:
  '';
in
dockerTools.buildLayeredImage {
  name = "obelisk";
  tag = obelisk.version;
  contents = [
    obelisk
    configDir
    passwd
    group
    # /etc/ssl/certs/ca-bundle.crt, for activities' HTTPS requests.
    dockerTools.caCertificates
  ];
  # The image is assembled as files under fakeroot (no VM): the volume's mount point belongs to the server's user,
  # and /tmp is world-writable.
  fakeRootCommands = ''
    mkdir -p data tmp
    chown ${uid}:${uid} data
    chmod 0700 data
    chmod 1777 tmp
  '';
  config = {
    User = "${uid}:${uid}";
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
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
    ];
    ExposedPorts = {
      "5005/tcp" = { };
      "8080/tcp" = { };
    };
    Volumes = {
      "/data" = { };
    };
    Labels = {
      "org.opencontainers.image.description" = "Obelisk workflow engine; state in the /data volume";
    };
  };
}
