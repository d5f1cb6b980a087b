# The machines of the PostgreSQL VM tests. `db` is a PostgreSQL server on the test network; `server` is the machine
# of ./node.nix (the same components) with services.obelisk on that database, booted twice as nodes `a` and `b` of
# ./postgres.py; `local` is ./node.nix with the database provisioned on the machine itself (./postgres_local.py).
{
  obelisk,
  components,
  module,
}:
let
  node = import ./node.nix { inherit obelisk components module; };
  # A test's secret, in the store on purpose; a real deployment keeps the file outside it (agenix, sops-nix, ...).
  password = "obelisk-vm-test-password";
in
{
  db =
    { pkgs, ... }:
    {
      services.postgresql = {
        enable = true;
        enableTCPIP = true;
        ensureDatabases = [ "obelisk" ];
        ensureUsers = [
          {
            name = "obelisk";
            ensureDBOwnership = true;
          }
        ];
        # ensureUsers makes roles without a password: this one is created first, with one, at the first start.
        initialScript = pkgs.writeText "obelisk-role.sql" "CREATE ROLE obelisk LOGIN PASSWORD '${password}';\n";
        # The obelisk machines, by password, from the test network (any subnet this machine is on).
        authentication = ''
          host obelisk obelisk samenet scram-sha-256
        '';
      };
      networking.firewall.allowedTCPPorts = [ 5432 ];
    };

  server = {
    imports = [ node ];

    services.obelisk = {
      database = {
        type = "postgresql";
        host = "db";
        passwordFile = "/etc/obelisk-db-password";
        # `db` created the database; the servers create and migrate the schema in it.
        provisionPolicy = "never";
      };
      # postgres.py's workflow: it prints a line (which the server that runs it logs with the execution id), sleeps
      # durably, and prints another. A run waits out the sleep in place (the "await" strategy, under a lock longer
      # than the sleep), two at a time per server, so one server cannot take all the work: the other gets some.
      activities.flaky_activity.package = components;
      workflows.checks_workflow = {
        package = components;
        exec = {
          maxInflightInstances = 2;
          lockExpiry = {
            secs = 30;
          };
        };
        settings.join_next_blocking_strategy = "await";
        settings.max_uncommitted_steps = 4;
      };
    };

    # Copied, not linked into the store (a mode makes NixOS copy it); root-only, as systemd reads credentials as root.
    environment.etc."obelisk-db-password" = {
      text = password;
      mode = "0400";
    };
  };

  local = {
    imports = [ node ];
    services.obelisk.database = {
      type = "postgresql";
      createLocally = true;
    };
  };
}
