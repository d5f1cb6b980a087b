# The machine of the TLS VM test: the basic node with TLS on the API (mutual: clients need a certificate) and on
# the web UI. A CA and the certificates are made in the VM at boot by openssl, before the service starts, in a
# directory only root can read: the module hands them to the service as systemd credentials.
args:
{ pkgs, ... }:
let
  dir = "/run/obelisk-test-tls";
in
{
  imports = [ (import ./node.nix args) ];

  services.obelisk.tls = {
    api = {
      certificateFile = "${dir}/server.pem";
      keyFile = "${dir}/server.key";
      clientCaFile = "${dir}/ca.pem";
    };
    webui = {
      certificateFile = "${dir}/server.pem";
      keyFile = "${dir}/server.key";
    };
  };

  systemd.services.obelisk-test-certificates = {
    description = "A CA, a server and a client certificate for the TLS test";
    wantedBy = [ "obelisk.service" ];
    before = [ "obelisk.service" ];
    path = [ pkgs.openssl ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      UMask = "0077";
    };
    script = ''
      mkdir -p ${dir}
      cd ${dir}
      key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
      key ca.key
      openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=obelisk-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
      sign() {
        key "$1.key"
        openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
        printf '%s\n' "$2" > "$1.ext"
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext"
      }
      sign server "subjectAltName=IP:127.0.0.1,DNS:localhost"
      sign client "extendedKeyUsage=clientAuth"
    '';
  };

  environment.systemPackages = [ pkgs.openssl ];
}
