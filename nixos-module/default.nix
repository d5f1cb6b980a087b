# services.obelisk: the Obelisk workflow engine as a hardened systemd service.
#
# The configuration is the server's own obelisk.toml: `settings` is rendered to it as it stands (freeform, so every
# key of `obelisk server generate-config` is available), and the declared `activities`, `workflows`,
# `webhookEndpoints` and `httpServers` are appended as its [[activity_wasm]], [[workflow]], [[webhook_endpoint]]
# and [[http_server]] tables. Options left at null are not written, so the server's defaults stay the only ones.
#
# This file does not know the flake: `package` defaults to `pkgs.obelisk-engine` (what the flake's overlay adds).
# The flake's `nixosModules.default` imports it and sets `package` to the flake's own build.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMapStringsSep
    filter
    filterAttrs
    literalExpression
    mapAttrsToList
    mkEnableOption
    mkIf
    mkOption
    optional
    optionalAttrs
    types
    unique
    ;

  cfg = config.services.obelisk;
  toml = import ./toml.nix;

  # A file the service reads at start, given as a string: a Nix path literal would be copied into the
  # world-readable store, secret and all, so it is refused by the type.
  secretFile =
    types.addCheck types.str (
      value: lib.hasPrefix "/" value && !(lib.hasPrefix "${builtins.storeDir}/" value)
    )
    // {
      name = "secretFile";
      description = "absolute path outside the Nix store, as a string (not a Nix path literal)";
    };
  # Names a credential is exported as to the server (and, through `env_vars`, to activities).
  envVarName = "[A-Za-z_][A-Za-z0-9_]*";

  stateDir = "/var/lib/obelisk";
  cacheDir = "/var/cache/obelisk";

  # What TOML can hold; the server rejects unknown keys and wrong types with the file and line.
  tomlValue =
    with types;
    nullOr (oneOf [
      bool
      int
      float
      str
      path
      (attrsOf tomlValue)
      (listOf tomlValue)
    ])
    // {
      description = "TOML value";
    };
  tomlTable = types.attrsOf tomlValue;

  # `{ secs = 10; }`, `{ millis = 200; }`: the duration tables of obelisk.toml, checked by the server.
  duration = types.attrsOf types.ints.unsigned // {
    description = "duration table such as { secs = 10; } or { millis = 200; }";
  };
  limit = types.either (types.enum [ "unlimited" ]) types.ints.positive;

  freeformSection =
    options:
    types.submodule {
      freeformType = tomlTable;
      inherit options;
    };

  execOptions = {
    batchSize = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      description = "Executions locked per tick (`exec.batch_size`; server default 5).";
    };
    lockExpiry = mkOption {
      type = types.nullOr duration;
      default = null;
      example = {
        secs = 10;
      };
      description = "Lock duration, which is also the longest a single run may take (`exec.lock_expiry`; server default 1 s).";
    };
    tickSleep = mkOption {
      type = types.nullOr duration;
      default = null;
      description = "Longest wait between ticks (`exec.tick_sleep`; server default 200 ms).";
    };
    maxInflightInstances = mkOption {
      type = types.nullOr limit;
      default = null;
      description = ''"unlimited" or the number of instances running at once (`exec.max_inflight_instances`; server default 2 x CPUs for activities, 4 x CPUs for workflows).'';
    };
  };

  componentModule =
    kind: extraOptions:
    types.submodule (
      { name, ... }:
      {
        options = {
          name = mkOption {
            type = types.strMatching "[A-Za-z0-9_]+";
            default = name;
            description = "Component name (letters, digits, underscores); unique across all kinds.";
          };
          wasm = mkOption {
            type = types.nullOr types.path;
            default = null;
            example = literalExpression "./my_activity.wasm";
            description = "The component file. Set this or `package`.";
          };
          package = mkOption {
            type = types.nullOr types.package;
            default = null;
            example = literalExpression "obelisk.packages.\${system}.components";
            description = "A package holding the component as `\${package}/\${file}`. Set this or `wasm`.";
          };
          file = mkOption {
            type = types.str;
            default = "${name}.wasm";
            defaultText = literalExpression ''"''${name}.wasm"'';
            description = "The component's file inside `package`.";
          };
          settings = mkOption {
            type = tomlTable;
            default = { };
            example = {
              forward_stdout = "stderr";
              env_vars = [ "API_TOKEN" ];
            };
            description = "Further keys of this ${kind} table in obelisk.toml; they win over the typed options.";
          };
        }
        // extraOptions;
      }
    );

  # The bytes each linear memory of one instance may grow to; past it memory.grow fails inside the guest.
  maxMemorySizeOption = mkOption {
    type = types.nullOr limit;
    default = null;
    example = 268435456;
    description = ''Bytes each linear memory of one instance may grow to, or "unlimited" (`max_memory_size`; server default 512 MiB).'';
  };

  activityOptions = {
    maxMemorySize = maxMemorySizeOption;
    maxOutboundRequests = mkOption {
      type = types.nullOr limit;
      default = null;
      description = ''Outgoing HTTP requests one attempt may start, or "unlimited" (`max_outbound_requests`; server default 100).'';
    };
    maxRetries = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      description = "Attempts after the first one (`max_retries`; server default 5).";
    };
    retryExpBackoff = mkOption {
      type = types.nullOr duration;
      default = null;
      description = "Retry n waits this times 2^(n-1) (`retry_exp_backoff`; server default 100 ms).";
    };
    retryOnErr = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "Retry when the activity returns an err result (`retry_on_err`; server default true).";
    };
    exec = mkOption {
      type = types.submodule { options = execOptions; };
      default = { };
      description = "Executor limits of this activity.";
    };
  };

  workflowOptions = {
    maxMemorySize = maxMemorySizeOption;
    retryExpBackoff = mkOption {
      type = types.nullOr duration;
      default = null;
      description = "Back-off between workflow retries (`retry_exp_backoff`; must be non-zero; server default 100 ms).";
    };
    retryOnTrap = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "Retry the workflow after a trap (`retry_on_trap`; server default false).";
    };
    exec = mkOption {
      type = types.submodule { options = execOptions; };
      default = { };
      description = "Executor limits of this workflow.";
    };
  };

  webhookOptions = {
    maxMemorySize = maxMemorySizeOption;
    httpServer = mkOption {
      type = types.str;
      description = "Name of the entry of `services.obelisk.httpServers` this endpoint is mounted on.";
    };
    routes = mkOption {
      type = types.listOf (types.either types.str tomlTable);
      default = [ ];
      example = [
        "/status"
        {
          route = "/fibo/:N/:ITERATIONS";
          methods = [ "GET" ];
        }
      ];
      description = ''Routes: "" (everything), "/exact", "/prefix/*", "/x/:param", or tables with `methods`.'';
    };
  };

  # One [[outbound_http.allowed_host]] entry (the server's documentation of these keys applies).
  allowedHostModule = types.submodule {
    options = {
      pattern = mkOption {
        type = types.str;
        example = "api.github.com";
        description = ''"[scheme://]host[:port]": no scheme means https, "*://" either; no port means the scheme's, ":*" any.'';
      };
      methods = mkOption {
        type = types.nullOr (types.either (types.enum [ "*" ]) (types.listOf types.str));
        default = null;
        example = [ "GET" ];
        description = ''"*" for every method or a list of methods; null (or []) allows nothing, as the server warns.'';
      };
      requestUrlRegex = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Optional regular expression searched in `METHOD scheme://host[:port]/path` (`request_url_regex`).";
      };
      secrets = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Names of `services.obelisk.secrets` put into the requests this entry matches.";
      };
      replaceIn = mkOption {
        type = types.listOf (
          types.enum [
            "headers"
            "params"
            "body"
          ]
        );
        default = [ ];
        description = "Where the secrets' placeholders are replaced by their values (`replace_in`).";
      };
    };
  };

  httpServerModule = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.strMatching "[A-Za-z0-9_]+";
          default = name;
          description = "Name that webhook endpoints refer to.";
        };
        listeningAddr = mkOption {
          type = types.str;
          example = "0.0.0.0:9090";
          description = "host:port the server listens on.";
        };
        maxInflightRequests = mkOption {
          type = types.nullOr limit;
          default = null;
          description = "Requests served at once; past it the server answers 503 (server default unlimited).";
        };
        maxRequestBodyBytes = mkOption {
          type = types.nullOr types.ints.unsigned;
          default = null;
          description = "Largest request body; larger ones get 413 (server default 10 MiB).";
        };
        settings = mkOption {
          type = tomlTable;
          default = { };
          example = {
            shutdown_grace = {
              secs = 30;
            };
          };
          description = "Further keys of this [[http_server]] table in obelisk.toml (timeouts, ...); they win over the typed options.";
        };
      };
    }
  );

  # ---------------------------------------------------------------------------------------- rendering

  dropNulls = filterAttrs (_: value: value != null);

  renderExec =
    exec:
    dropNulls {
      batch_size = exec.batchSize;
      lock_expiry = exec.lockExpiry;
      tick_sleep = exec.tickSleep;
      max_inflight_instances = exec.maxInflightInstances;
    };

  location =
    component:
    if component.wasm != null then
      "${component.wasm}"
    else if component.package != null then
      "${component.package}/${component.file}"
    else
      throw "services.obelisk: component \"${component.name}\" has neither `wasm` nor `package` set.";

  renderComponent =
    typed: component:
    let
      exec = if component ? exec then renderExec component.exec else { };
    in
    dropNulls (
      {
        inherit (component) name;
        location.path = location component;
      }
      // typed
      // optionalAttrs (exec != { }) { inherit exec; }
    )
    // component.settings;

  renderActivity =
    activity:
    renderComponent {
      max_retries = activity.maxRetries;
      retry_exp_backoff = activity.retryExpBackoff;
      retry_on_err = activity.retryOnErr;
      max_memory_size = activity.maxMemorySize;
      max_outbound_requests = activity.maxOutboundRequests;
    } activity;

  renderWorkflow =
    workflow:
    renderComponent {
      retry_exp_backoff = workflow.retryExpBackoff;
      retry_on_trap = workflow.retryOnTrap;
      max_memory_size = workflow.maxMemorySize;
    } workflow;

  renderWebhook =
    webhook:
    renderComponent {
      http_server = webhook.httpServer;
      routes = webhook.routes;
      max_memory_size = webhook.maxMemorySize;
    } webhook;

  renderHttpServer =
    server:
    dropNulls {
      inherit (server) name;
      listening_addr = server.listeningAddr;
      max_inflight_requests = server.maxInflightRequests;
      max_request_body_bytes = server.maxRequestBodyBytes;
    }
    // server.settings;

  # Each secret is a systemd credential under this name; the server reads its file, the guest never sees it.
  secretCredential = name: "obelisk-secret-${name}";
  renderedSecrets = lib.mapAttrs (name: _: {
    file = "\${CREDENTIALS_DIRECTORY}/${secretCredential name}";
  }) cfg.secrets;
  renderAllowedHost =
    entry:
    dropNulls {
      inherit (entry) pattern methods secrets;
      request_url_regex = entry.requestUrlRegex;
      replace_in = entry.replaceIn;
    };
  # [outbound_http] is written only when a policy is declared: its absence is what allows every request.
  outboundSettings =
    optionalAttrs (cfg.outboundHttp.allowedHosts != null) {
      outbound_http = (cfg.settings.outbound_http or { }) // {
        allowed_host =
          (cfg.settings.outbound_http.allowed_host or [ ]) ++ map renderAllowedHost cfg.outboundHttp.allowedHosts;
      };
    }
    // optionalAttrs (cfg.secrets != { }) { secrets = (cfg.settings.secrets or { }) // renderedSecrets; };
  knownSecrets = lib.attrNames cfg.secrets ++ lib.attrNames (cfg.settings.secrets or { });

  declared = {
    activity_wasm = mapAttrsToList (_: renderActivity) cfg.activities;
    workflow = mapAttrsToList (_: renderWorkflow) cfg.workflows;
    webhook_endpoint = mapAttrsToList (_: renderWebhook) cfg.webhookEndpoints;
    http_server = mapAttrsToList (_: renderHttpServer) cfg.httpServers;
  };

  # ---------------------------------------------------------------------------------------- database

  db = cfg.database;
  usesPostgres = db.type == "postgresql";
  # The server reads `${OBELISK_DB_PASSWORD}` in [database.postgres] from its environment; the start script sets
  # it from the systemd credential of `database.passwordFile`, so the password is in neither the store nor the file.
  passwordVariable = "OBELISK_DB_PASSWORD";
  localSocketDir = "/run/postgresql";

  renderedPostgres = dropNulls {
    host = if db.createLocally then localSocketDir else db.host;
    # Over a Unix socket the port names the socket file (.s.PGSQL.<port>), so the local server's port is kept.
    port = if db.createLocally then config.services.postgresql.settings.port else db.port;
    inherit (db) user;
    db_name = db.name;
    password = if db.passwordFile != null then "\${${passwordVariable}}" else null;
    pool_size = db.poolSize;
    provision_policy = db.provisionPolicy;
  };

  # [database.postgres] written directly in `settings` wins over the typed options, key by key.
  databaseSettings =
    if usesPostgres then
      {
        database = (cfg.settings.database or { }) // {
          postgres = renderedPostgres // (cfg.settings.database.postgres or { });
        };
      }
    else
      { };

  # [otlp] keys written directly in `settings` win over the typed options, key by key.
  otlpSettings =
    if cfg.otlp.enable then
      {
        otlp =
          dropNulls {
            enabled = true;
            otlp_endpoint = cfg.otlp.endpoint;
            service_name = cfg.otlp.serviceName;
            inherit (cfg.otlp) level;
          }
          // (cfg.settings.otlp or { });
      }
    else
      { };

  # The server refuses a file in which two tables configure the database, so the [sqlite] table of the module's
  # default `file` is left out on PostgreSQL and beside [database.sqlite] (the newer form) unless keys were set in it.
  newerSqliteTable = cfg.settings ? database.sqlite;
  sqliteSettings = filterAttrs (_: value: value != null) (cfg.settings.sqlite or { });
  withoutUnusedSqlite = settings: if sqliteSettings == { } then removeAttrs settings [ "sqlite" ] else settings;

  # TLS files are systemd credentials too (LoadCredential: read by systemd, readable by the service alone, never in
  # the store), under names that are not environment variable names: unlike `credentials` they are not exported,
  # the rendered file names them in the unit's credentials directory, which the server reads at start.
  credentialsDir = "/run/credentials/obelisk.service";
  tlsFiles = filterAttrs (_: file: file != null) {
    "tls-api-cert" = cfg.tls.api.certificateFile;
    "tls-api-key" = cfg.tls.api.keyFile;
    "tls-api-client-ca" = cfg.tls.api.clientCaFile;
    "tls-webui-cert" = cfg.tls.webui.certificateFile;
    "tls-webui-key" = cfg.tls.webui.keyFile;
  };
  tlsKeys = {
    api = {
      tls_cert_file = "tls-api-cert";
      tls_key_file = "tls-api-key";
      tls_client_ca_file = "tls-api-client-ca";
    };
    webui = {
      tls_cert_file = "tls-webui-cert";
      tls_key_file = "tls-webui-key";
    };
  };
  tlsTable =
    table:
    lib.mapAttrs (_: name: "${credentialsDir}/${name}") (filterAttrs (_: name: tlsFiles ? ${name}) tlsKeys.${table});
  tlsSettings = lib.mapAttrs (table: _: cfg.settings.${table} // tlsTable table) (
    filterAttrs (table: _: tlsTable table != { }) tlsKeys
  );
  # A TLS key set both in `settings` and through `tls`, which file was meant is the user's call.
  tlsConflicts = lib.concatLists (
    mapAttrsToList (
      table: keys:
      map (key: "services.obelisk.settings.${table}.${key}") (
        lib.attrNames (filterAttrs (key: _: (cfg.settings.${table}.${key} or null) != null) (tlsTable table))
      )
    ) tlsKeys
  );

  # Lists written directly in `settings` come first, the declared ones after them.
  # services.obelisk.metrics, rendered as the [metrics] table.
  metricsCfg = cfg.metrics;
  metricsAddress =
    if lib.hasInfix ":" metricsCfg.listenAddress then
      "[${metricsCfg.listenAddress}]:${toString metricsCfg.port}"
    else
      "${metricsCfg.listenAddress}:${toString metricsCfg.port}";
  metricsSettings = optionalAttrs metricsCfg.enable {
    metrics =
      (cfg.settings.metrics or { })
      // {
        listening_addr = metricsAddress;
      }
      // optionalAttrs metricsCfg.allowUnauthenticated { allow_unauthenticated = true; };
  };

  finalSettings = withoutUnusedSqlite (
    cfg.settings
    // databaseSettings
    // tlsSettings
    // metricsSettings
    // outboundSettings
    // otlpSettings
    // lib.mapAttrs (kind: items: (cfg.settings.${kind} or [ ]) ++ items) (
      filterAttrs (_: items: items != [ ]) declared
    )
  );

  configFile = pkgs.writeText "obelisk.toml" (toml.render cfg.finalSettings);

  # ---------------------------------------------------------------------------------------- checks

  # Every component name with the option it comes from, for the duplicate check.
  namesIn =
    kind:
    map (item: {
      name = item.name or "<unnamed>";
      where = "settings.${kind}";
    }) (cfg.settings.${kind} or [ ]);
  declaredNames =
    group: mapAttrsToList (key: c: {
      inherit (c) name;
      where = "${group}.${key}";
    }) cfg.${group};
  componentNames =
    namesIn "activity_wasm"
    ++ namesIn "workflow"
    ++ namesIn "webhook_endpoint"
    ++ declaredNames "activities"
    ++ declaredNames "workflows"
    ++ declaredNames "webhookEndpoints";
  duplicateNames = filter (
    name: lib.length (filter (c: c.name == name) componentNames) > 1
  ) (unique (map (c: c.name) componentNames));
  placesOf =
    name: concatMapStringsSep ", " (c: "services.obelisk.${c.where}") (filter (c: c.name == name) componentNames);

  httpServerNames =
    map (s: s.name) (lib.attrValues cfg.httpServers) ++ map (s: s.name or "<unnamed>") (cfg.settings.http_server or [ ]);
  definedServers =
    if httpServerNames == [ ] then
      "none is defined (add one to services.obelisk.httpServers)"
    else
      "defined: ${concatMapStringsSep ", " (n: ''"${n}"'') httpServerNames}";

  allComponents = lib.concatMap (kind: mapAttrsToList (key: c: c // { where = "${kind}.${key}"; }) cfg.${kind}) [
    "activities"
    "workflows"
    "webhookEndpoints"
  ];

  # "host:port" and "[v6]:port" -> port and host.
  portOf = address: lib.toInt (lib.last (lib.splitString ":" address));
  hostOf =
    address:
    lib.removePrefix "[" (lib.removeSuffix "]" (lib.concatStringsSep ":" (lib.init (lib.splitString ":" address))));
  isLoopback = host: host == "localhost" || host == "::1" || lib.hasPrefix "127." host;
  isWildcard = host: host == "" || host == "0.0.0.0" || host == "::";

  listeners =
    [
      {
        what = "the gRPC API (settings.api.listening_addr)";
        warnIfOpened = true;
        address = cfg.settings.api.listening_addr;
      }
    ]
    ++ optional (cfg.settings.webui.listening_addr != null) {
      what = "the web UI (settings.webui.listening_addr)";
      warnIfOpened = true;
      address = cfg.settings.webui.listening_addr;
    }
    ++ optional metricsCfg.enable {
      what = "the metrics endpoint (metrics.listenAddress)";
      warnIfOpened = false;
      # Opened by metrics.openFirewall alone: a scrape endpoint is for the Prometheus server, not for everyone.
      ownFirewall = true;
      address = metricsAddress;
    }
    ++ map (s: {
      what = "the HTTP server \"${s.name}\"";
      # Webhook endpoints are public by design; each component decides what it answers.
      warnIfOpened = false;
      address = s.listening_addr;
    }) (declared.http_server ++ (cfg.settings.http_server or [ ]));
  ports = unique (map (l: portOf l.address) listeners);
  privilegedPorts = filter (port: port < 1024) ports;
  # Only what other machines can reach is opened; a loopback listener needs no firewall rule.
  exposed = filter (l: !(l.ownFirewall or false) && !(isLoopback (hostOf l.address))) listeners;
  metricsExposed = metricsCfg.enable && !(isLoopback metricsCfg.listenAddress);
  exposedPorts = unique (map (l: portOf l.address) exposed);
  # The API and the web UI have no authentication: opening them is worth a warning.
  exposedUnauthenticated = filter (l: l.warnIfOpened) exposed;
  # A specific address can only be bound once the network has configured it.
  bindsSpecificAddress = lib.any (
    l: !(isLoopback (hostOf l.address)) && !(isWildcard (hostOf l.address))
  ) listeners;

  # Durations as obelisk.toml writes them ({ secs = N; } or { millis = N; }), in whole seconds rounded up.
  durationSecs =
    d:
    (d.secs or 0)
    + ((d.millis or 0) + 999) / 1000
    + ((d.micros or 0) + 999999) / 1000000
    + ((d.nanos or 0) + 999999999) / 1000000000;
  # At SIGTERM the server lets webhook requests in flight finish within their server's `shutdown_grace` (10 s by
  # default), then stops the rest and releases its runs in flight: systemd must not kill it before that.
  longestShutdownGrace = lib.foldl' lib.max 10 (
    map (s: durationSecs s.shutdown_grace) (
      filter (s: builtins.isAttrs (s.shutdown_grace or null)) (declared.http_server ++ (cfg.settings.http_server or [ ]))
    )
  );

  # Contradictory database settings, each with the options involved and what to do.
  postgresOnlySet =
    lib.optional db.createLocally "database.createLocally"
    ++ lib.optional (db.host != null) "database.host"
    ++ lib.optional (db.port != null) "database.port"
    ++ lib.optional (db.passwordFile != null) "database.passwordFile"
    ++ lib.optional (db.poolSize != null) "database.poolSize"
    ++ lib.optional (db.provisionPolicy != null) "database.provisionPolicy"
    ++ lib.optional (cfg.settings ? database.postgres) "settings.database.postgres";
  listed = names: concatMapStringsSep ", " (name: "services.obelisk.${name}") names;
  databaseProblems =
    optional (!usesPostgres && postgresOnlySet != [ ])
      ''services.obelisk.database.type is "sqlite", but ${listed postgresOnlySet} ${
        if lib.length postgresOnlySet > 1 then "are" else "is"
      } set, which only PostgreSQL uses: set services.obelisk.database.type = "postgresql", or remove ${
        if lib.length postgresOnlySet > 1 then "them" else "it"
      }.''
    ++ optional (usesPostgres && db.createLocally && db.host != null)
      ''services.obelisk.database.createLocally provisions PostgreSQL on this machine and connects through ${localSocketDir}, but services.obelisk.database.host = "${db.host}" names a server: set one of them, not both.''
    ++ optional (usesPostgres && db.createLocally && db.passwordFile != null)
      "services.obelisk.database.passwordFile is set with services.obelisk.database.createLocally = true: the local database admits the service by peer authentication over its Unix socket, without a password. Remove passwordFile, or set createLocally = false and host for a database elsewhere."
    ++ optional (usesPostgres && db.createLocally && db.port != null)
      "services.obelisk.database.port is set with services.obelisk.database.createLocally = true: the local server listens on services.postgresql.settings.port; set that instead."
    ++ optional (usesPostgres && db.createLocally && db.name != db.user)
      ''services.obelisk.database.createLocally: name = "${db.name}" and user = "${db.user}" differ, but the role is made the owner of the database of its own name (services.postgresql.ensureUsers.*.ensureDBOwnership): make them equal.''
    ++ optional (usesPostgres && !db.createLocally && db.host == null && !(cfg.settings ? database.postgres.host))
      ''services.obelisk.database.type = "postgresql" needs a server: set services.obelisk.database.createLocally = true to provision one on this machine, or services.obelisk.database.host (with database.passwordFile) for one elsewhere.''
    ++ optional (usesPostgres && (sqliteSettings != { } || newerSqliteTable))
      ''services.obelisk.database.type = "postgresql", but ${
        if newerSqliteTable then "services.obelisk.settings.database.sqlite" else "services.obelisk.settings.sqlite"
      } configures SQLite, which the server refuses beside [database.postgres]: remove it.''
    ++ optional (!usesPostgres && sqliteSettings != { } && newerSqliteTable)
      "services.obelisk.settings.sqlite and services.obelisk.settings.database.sqlite both configure the SQLite database, which the server refuses: keep one ([database.sqlite] is the newer form)."
    ++ optional (db.passwordFile != null && cfg.credentials ? ${passwordVariable})
      "services.obelisk.credentials.${passwordVariable} and services.obelisk.database.passwordFile both set the database password: keep database.passwordFile.";

  tlsProblems =
    lib.optional ((cfg.tls.api.certificateFile == null) != (cfg.tls.api.keyFile == null))
      "services.obelisk.tls.api: set both certificateFile and keyFile (TLS needs the certificate and its key)."
    ++ lib.optional ((cfg.tls.webui.certificateFile == null) != (cfg.tls.webui.keyFile == null))
      "services.obelisk.tls.webui: set both certificateFile and keyFile (TLS needs the certificate and its key)."
    ++ lib.optional (cfg.tls.api.clientCaFile != null && cfg.tls.api.certificateFile == null)
      "services.obelisk.tls.api.clientCaFile needs TLS: set tls.api.certificateFile and tls.api.keyFile too."
    ++ lib.optional (cfg.tls.webui.certificateFile != null && cfg.settings.webui.listening_addr == null)
      "services.obelisk.tls.webui is set but the web UI is off (settings.webui.listening_addr = null)."
    ++ map (
      option: "${option} and services.obelisk.tls set the same TLS file: keep the `tls` option (a systemd credential)."
    ) tlsConflicts;

  # A database on another machine is reached once the network is up.
  remoteDatabase = usesPostgres && !db.createLocally && !(lib.hasPrefix "/" (toString db.host));

  # The database password is one more credential, under the name the rendered [database.postgres] reads.
  loadedCredentials =
    cfg.credentials // optionalAttrs (db.passwordFile != null) { ${passwordVariable} = db.passwordFile; };
  # Secrets are credentials too, but never exported: the server reads them from the credentials directory.
  secretCredentials = lib.mapAttrs' (name: file: lib.nameValuePair (secretCredential name) file) cfg.secrets;
  # The unit's start script reads each credential from systemd's credentials directory into the environment
  # variable of its name, so `env_vars = [ "NAME" ]` hands it to an activity without it entering the Nix store.
  startScript = ''
    ${lib.concatMapStrings (name: ''
      ${name}="$(< "$CREDENTIALS_DIRECTORY/${name}")"
      export ${name}
    '') (lib.attrNames loadedCredentials)}exec ${lib.getExe cfg.package} server run --config ${configFile}
  '';

  # With createLocally the service logs in to the local PostgreSQL by peer authentication, which compares the
  # connecting process's system user name with the role name: that needs a user of a fixed name, not a dynamic one.
  staticUser = usesPostgres && db.createLocally;
in
{
  options.services.obelisk = {
    enable = mkEnableOption "Obelisk, a deterministic durable-workflow engine on the WebAssembly Component Model";

    # Not `pkgs.obelisk`: that is an unrelated nixpkgs package (a pretty-printer for Menhir grammars) whose program
    # is also called `obelisk`.
    package = lib.mkPackageOption pkgs "obelisk-engine" {
      extraDescription = ''
        Its `obelisk` program runs the server. The Obelisk flake's `nixosModules.default` sets this to the flake's
        own package; with this module imported on its own, add the flake's `overlays.default` to
        `nixpkgs.overlays` (it provides `pkgs.obelisk-engine`) or set the option.
      '';
    };

    settings = mkOption {
      type = types.submodule {
        freeformType = tomlTable;
        options = {
          api = mkOption {
            type = freeformSection {
              listening_addr = mkOption {
                type = types.str;
                default = "127.0.0.1:5005";
                description = "host:port of the gRPC API (used by `obelisk client`).";
              };
            };
            default = { };
            description = "The [api] table.";
          };
          webui = mkOption {
            type = freeformSection {
              listening_addr = mkOption {
                type = types.nullOr types.str;
                default = "127.0.0.1:8080";
                description = "host:port of the web UI; null turns the web UI off.";
              };
            };
            default = { };
            description = "The [webui] table.";
          };
          sqlite = mkOption {
            type = freeformSection {
              file = mkOption {
                type = types.nullOr types.str;
                default = if usesPostgres || newerSqliteTable then null else "${stateDir}/obelisk.sqlite";
                defaultText = literalExpression ''
                  if config.services.obelisk.database.type == "sqlite" then "${stateDir}/obelisk.sqlite" else null
                '';
                description = ''
                  The SQLite database, in the service's state directory. Not written on PostgreSQL, nor when
                  `settings.database.sqlite` is set (the server refuses two tables that configure the database).
                '';
              };
            };
            default = { };
            description = "The [sqlite] table (e.g. `synchronous`).";
          };
          data_directory = mkOption {
            type = types.nullOr types.str;
            default = if usesPostgres then stateDir else null;
            defaultText = literalExpression ''
              if config.services.obelisk.database.type == "postgresql" then "${stateDir}" else null
            '';
            description = ''
              Where a server on a shared database (PostgreSQL) keeps its identity, locked for its life: the state
              directory, which is each machine's own. (On SQLite the identity is kept beside the database file.)
            '';
          };
          codegen_cache = mkOption {
            type = freeformSection {
              directory = mkOption {
                type = types.str;
                default = "${cacheDir}/codegen";
                description = "Compiled components (a cache; deleting it costs only start-up time).";
              };
            };
            default = { };
            description = "The [codegen_cache] table.";
          };
          wasm_cache_directory = mkOption {
            type = types.str;
            default = "${cacheDir}/wasm";
            description = "Fetched and transformed WASM files (a cache).";
          };
        };
      };
      default = { };
      example = literalExpression ''
        {
          api.listening_addr = "0.0.0.0:5005";
          webui.listening_addr = "0.0.0.0:8080";
          sqlite.synchronous = "NORMAL";
          log.stdout = { level = "info"; style = "json"; };
        }
      '';
      description = ''
        obelisk.toml, as documented by `obelisk server generate-config`. Paths must be absolute (a relative path
        would be relative to the file's place in the Nix store). ''${DATA_DIR} is ${stateDir} and ''${CACHE_DIR}
        is ${cacheDir}.
      '';
    };

    activities = mkOption {
      type = types.attrsOf (componentModule "[[activity_wasm]]" activityOptions);
      default = { };
      example = literalExpression ''
        {
          fibo_activity = { package = obelisk.packages.''${system}.components; maxRetries = 0; };
        }
      '';
      description = "Activity components ([[activity_wasm]]), by name.";
    };

    workflows = mkOption {
      type = types.attrsOf (componentModule "[[workflow]]" workflowOptions);
      default = { };
      description = "Workflow components ([[workflow]]), by name.";
    };

    webhookEndpoints = mkOption {
      type = types.attrsOf (componentModule "[[webhook_endpoint]]" webhookOptions);
      default = { };
      description = "Webhook endpoint components ([[webhook_endpoint]]), by name.";
    };

    httpServers = mkOption {
      type = types.attrsOf httpServerModule;
      default = { };
      description = "HTTP servers ([[http_server]]) that webhook endpoints are mounted on, by name.";
    };

    metrics = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Serve Prometheus metrics at `http://<listenAddress>:<port>/metrics` (the `[metrics]` table; the metrics
          are listed in the project's docs/observability.md, with a Grafana dashboard in docs/grafana-dashboard.json).
          A Prometheus on the same machine scrapes it with

          ```nix
          services.prometheus.scrapeConfigs = [
            {
              job_name = "obelisk";
              static_configs = [ { targets = [ "127.0.0.1:9464" ]; } ];
            }
          ];
          ```
        '';
      };
      listenAddress = mkOption {
        type = types.str;
        default = "127.0.0.1";
        example = "::1";
        description = ''
          The address the endpoint listens on. It has no authentication, so an address other machines can reach is
          refused unless `allowUnauthenticated` is set too.
        '';
      };
      port = mkOption {
        type = types.port;
        default = 9464;
        description = "The TCP port of the endpoint.";
      };
      allowUnauthenticated = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Allow a `listenAddress` off the loopback interface (`metrics.allow_unauthenticated`): whoever reaches the
          port reads the function names, the load and the database size.
        '';
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Open `port` in the firewall, for a Prometheus on another machine. Only when `listenAddress` is not a
          loopback address (a loopback listener needs no rule); independent of `services.obelisk.openFirewall`.
        '';
      };
    };

    otlp = {
      enable = mkEnableOption ''
        the export of OpenTelemetry traces over OTLP/gRPC (the [otlp] table of obelisk.toml): a span per
        execution, per run and per host call, sent to a collector such as the OpenTelemetry Collector, Jaeger or
        Tempo. Outbound only: nothing is opened in the firewall
      '';

      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://otel-collector.internal:4317";
        description = ''
          The collector's OTLP/gRPC endpoint (`otlp_endpoint`; server default http://localhost:4317). `http://` is
          plaintext, `https://` TLS.
        '';
      };

      serviceName = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "obelisk-eu-1";
        description = "The `service.name` of the spans (`service_name`; server default obelisk-server).";
      };

      level = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "info";
        description = ''
          Which spans (`level`, the original's filter syntax; server default "info,app=trace"): the level of the
          `app` target decides, info for executions and runs, debug or trace for host calls too.
        '';
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the TCP ports of the API, the web UI and the HTTP servers that listen on an address other machines
        can reach (not 127.0.0.0/8, ::1 or localhost). The gRPC API and the web UI have no authentication: whoever
        reaches them can submit and inspect executions, so opening them is warned about.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr secretFile;
      default = null;
      example = "/run/secrets/obelisk.env";
      description = ''
        File of KEY=value lines for the service (systemd EnvironmentFile), read at start and never copied into
        the Nix store (a string, not a path literal): overrides such as OBELISK__api__listening_addr. For secrets
        prefer `credentials`.
      '';
    };

    credentials = mkOption {
      type = types.attrsOf secretFile;
      default = { };
      example = {
        API_TOKEN = "/run/secrets/api-token";
      };
      description = ''
        Secrets as systemd credentials (LoadCredential): each file is read by systemd at start, made readable to
        the service alone, and exported to the server as the environment variable of its name, so an activity
        gets it through `env_vars = [ "API_TOKEN" ]`. The files stay out of the Nix store (strings, not path
        literals); a trailing newline is dropped.
      '';
    };

    tls =
      let
        tlsFile =
          description: example:
          mkOption {
            type = types.nullOr secretFile;
            default = null;
            inherit example description;
          };
      in
      {
        api = {
          certificateFile = tlsFile ''
            PEM certificate chain of the gRPC API (server certificate first); with `keyFile` the API speaks TLS
            only, and `obelisk client` needs `--tls` (and `--ca FILE` unless the issuing CA is trusted by the
            system). Loaded by systemd as a credential (readable by the service alone, so a file only root can read
            works, as under DynamicUser), read by the server at start: restart the service after a renewal. A string,
            not a path literal.
          '' "/var/lib/acme/obelisk.example.org/fullchain.pem";
          keyFile = tlsFile ''
            Its unencrypted PEM private key, loaded as a systemd credential like the certificate; never in the Nix
            store (a string, not a path literal).
          '' "/var/lib/acme/obelisk.example.org/key.pem";
          clientCaFile = tlsFile ''
            Mutual TLS: PEM CA certificate(s); the API then refuses clients without a certificate signed by one of
            them (`obelisk client --client-cert FILE --client-key FILE`).
          '' "/etc/obelisk/client-ca.pem";
        };
        webui = {
          certificateFile = tlsFile ''
            PEM certificate chain of the web UI, which then serves https only (a credential, as `tls.api`).
          '' "/var/lib/acme/obelisk.example.org/fullchain.pem";
          keyFile = tlsFile ''
            Its unencrypted PEM private key (a credential, never in the Nix store).
          '' "/var/lib/acme/obelisk.example.org/key.pem";
        };
      };

    outboundHttp.allowedHosts = mkOption {
      type = types.nullOr (types.listOf allowedHostModule);
      default = null;
      example = literalExpression ''
        [
          { pattern = "api.github.com"; methods = [ "GET" "POST" ]; secrets = [ "GITHUB_TOKEN" ]; replaceIn = [ "headers" ]; }
          { pattern = "*.example.com"; methods = "*"; }
        ]
      '';
      description = ''
        The operator's policy for activities' outgoing HTTP ([[outbound_http.allowed_host]]). null (the default)
        writes no [outbound_http] table, and every request is allowed (each activity's `allowed_hosts` may narrow
        it). A list, even an empty one, denies every request no entry matches. Entries given in
        `settings.outbound_http.allowed_host` come first.
      '';
    };

    secrets = mkOption {
      type = types.attrsOf secretFile;
      default = { };
      example = {
        GITHUB_TOKEN = "/run/secrets/github-token";
      };
      description = ''
        Secrets for `outboundHttp.allowedHosts` ([secrets] in obelisk.toml), by name: each file is loaded by
        systemd as a credential readable by the service alone, and the server reads it from there at start
        (`{ file = "''${CREDENTIALS_DIRECTORY}/obelisk-secret-NAME" }`). Unlike `credentials` it is not exported
        to the environment: guests see only a placeholder, which the server replaces with the value in requests
        to the hosts whose entries name the secret. Strings, not path literals (they must stay out of the Nix
        store); a trailing newline is dropped.
      '';
    };

    database = {
      type = mkOption {
        type = types.enum [
          "sqlite"
          "postgresql"
        ];
        default = "sqlite";
        description = ''
          Where the server keeps its executions. "sqlite": one file in the state directory (`settings.sqlite`),
          for one server. "postgresql": a PostgreSQL database ([database.postgres] in obelisk.toml), which several
          servers with the same components can share: they split the work, and when one dies the others finish
          what it held. Either provisioned here (`createLocally`) or a server elsewhere (`host`).
        '';
      };

      createLocally = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Provision the database on this machine: enables `services.postgresql` with the database `name` and a role
          `user` that owns it, and orders the service after `postgresql.target`. The server connects over the
          Unix socket in ${localSocketDir} with peer authentication, which admits a process only under the role
          of its system user's name, so with this option the service runs as the static system user (and group)
          `user`, created here, instead of a DynamicUser whose name and uid vary. No password is involved. Servers
          on other machines cannot log in this way: for several servers on one database, give each of them `host`
          and `passwordFile`.
        '';
      };

      host = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "db.example.org";
        description = ''
          The PostgreSQL server: a host name, an IP address, or the absolute path of a Unix-socket directory.
          Leave null with `createLocally`. With a host name or an address the service starts after
          `network-online.target`.
        '';
      };

      port = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "Its port (server default 5432). With `createLocally`, set `services.postgresql.settings.port`.";
      };

      name = mkOption {
        type = types.str;
        default = "obelisk";
        description = "The database (`db_name`). With `createLocally` it must equal `user`, the role that owns it.";
      };

      user = mkOption {
        type = types.str;
        default = "obelisk";
        description = "The role the server logs in as; with `createLocally` also the service's system user.";
      };

      passwordFile = mkOption {
        type = types.nullOr secretFile;
        default = null;
        example = "/run/secrets/obelisk-db-password";
        description = ''
          A file holding the role's password, for a database reached over the network. systemd loads it as a
          credential readable by the service alone, and the start script exports it as ''$${passwordVariable},
          which the rendered file names (`password = "''${${passwordVariable}}"`), so the password is neither in the
          Nix store nor in obelisk.toml. A string, not a path literal; a trailing newline is dropped. To run
          `obelisk server verify` by hand, set ${passwordVariable} in its environment the same way.
        '';
      };

      poolSize = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        description = "Connections for reads, beside the writer's and the listener's (`pool_size`; server default 4).";
      };

      provisionPolicy = mkOption {
        type = types.nullOr (
          types.enum [
            "auto"
            "never"
          ]
        );
        default = null;
        description = ''
          "auto" creates a missing database (the role needs CREATEDB); "never" requires it to exist. Either way the
          schema is created and migrated at start (`provision_policy`; server default "auto").
        '';
      };
    };

    finalSettings = mkOption {
      type = tomlTable;
      readOnly = true;
      internal = true;
      description = "What obelisk.toml holds: `settings` plus the declared components and HTTP servers.";
    };
  };

  config = mkIf cfg.enable {
    services.obelisk.finalSettings = finalSettings;

    assertions =
      map (name: {
        assertion = false;
        message = ''services.obelisk: the component name "${name}" is used more than once (${placesOf name}); names must be unique across activities, workflows and webhook endpoints.'';
      }) duplicateNames
      ++ mapAttrsToList (key: webhook: {
        assertion = lib.elem webhook.httpServer httpServerNames;
        message = ''services.obelisk.webhookEndpoints.${key}.httpServer = "${webhook.httpServer}" names no HTTP server; ${definedServers}.'';
      }) cfg.webhookEndpoints
      ++ map (name: {
        assertion = builtins.match envVarName name != null;
        message = ''services.obelisk.credentials."${name}": a credential is exported as an environment variable, so its name must match ${envVarName}.'';
      }) (lib.attrNames cfg.credentials)
      ++ optional (metricsExposed && !metricsCfg.allowUnauthenticated) {
        assertion = false;
        message = ''services.obelisk.metrics.listenAddress = "${metricsCfg.listenAddress}" is not a loopback address, and the metrics endpoint has no authentication: use 127.0.0.1 or ::1, or set services.obelisk.metrics.allowUnauthenticated = true to expose it.'';
      }
      ++ optional (metricsCfg.enable && cfg.settings ? metrics.listening_addr) {
        assertion = false;
        message = "services.obelisk.metrics.enable and services.obelisk.settings.metrics.listening_addr both set the metrics address: keep services.obelisk.metrics.";
      }
      ++ map (name: {
        assertion = builtins.match envVarName name != null;
        message = ''services.obelisk.secrets."${name}": a guest sees a secret's placeholder in the environment variable of its name, so the name must match ${envVarName}.'';
      }) (lib.attrNames cfg.secrets)
      ++ lib.concatMap (
        entry:
        map (name: {
          assertion = lib.elem name knownSecrets;
          message = ''services.obelisk.outboundHttp.allowedHosts: the entry for "${entry.pattern}" names the secret "${name}", which services.obelisk.secrets does not define.'';
        }) entry.secrets
      ) (if cfg.outboundHttp.allowedHosts == null then [ ] else cfg.outboundHttp.allowedHosts)
      ++ map (message: {
        assertion = false;
        inherit message;
      }) (databaseProblems ++ tlsProblems)
      ++ map (c: {
        assertion = (c.wasm == null) != (c.package == null);
        message =
          if c.wasm == null then
            "services.obelisk.${c.where}: set either `wasm` (a .wasm file) or `package` (a package holding `${c.file}`)."
          else
            "services.obelisk.${c.where}: set only one of `wasm` and `package`, not both.";
      }) allComponents;

    warnings =
      let
        several = lib.length exposedUnauthenticated > 1;
        listed = concatMapStringsSep " and " (l: "${l.what} on ${l.address}") exposedUnauthenticated;
      in
      optional (cfg.openFirewall && exposedUnauthenticated != [ ])
        "services.obelisk.openFirewall: ${listed} ${if several then "are" else "is"} opened to the network, without authentication: whoever reaches ${if several then "them" else "it"} can submit and inspect executions."
      ++ optional (
        cfg.openFirewall && exposed == [ ]
      ) "services.obelisk.openFirewall has no effect: every listening address is a loopback address.";

    environment.systemPackages = [ cfg.package ];
    # `obelisk server verify` without -c finds the same file the service runs with.
    environment.etc."obelisk/obelisk.toml".source = configFile;

    networking.firewall.allowedTCPPorts =
      lib.optionals cfg.openFirewall exposedPorts
      ++ optional (metricsCfg.openFirewall && metricsExposed) metricsCfg.port;

    # The database and its owner role, as nixpkgs' own modules provision theirs; the role is reached by peer
    # authentication over the Unix socket (NixOS' default pg_hba.conf has `local all all peer`).
    services.postgresql = mkIf staticUser {
      enable = true;
      ensureDatabases = [ db.name ];
      ensureUsers = [
        {
          name = db.user;
          ensureDBOwnership = true;
        }
      ];
    };
    users.users = mkIf staticUser {
      ${db.user} = {
        isSystemUser = true;
        group = db.user;
        description = "Obelisk workflow engine";
      };
    };
    users.groups = mkIf staticUser { ${db.user} = { }; };

    systemd.services.obelisk = {
      description = "Obelisk workflow engine";
      wantedBy = [ "multi-user.target" ];
      # postgresql.target, not postgresql.service: the database and the role are created by postgresql-setup.service,
      # which the target also covers.
      after = [
        "network.target"
      ]
      ++ optional (bindsSpecificAddress || remoteDatabase) "network-online.target"
      ++ optional staticUser "postgresql.target";
      wants = optional (bindsSpecificAddress || remoteDatabase) "network-online.target";
      requires = optional staticUser "postgresql.target";
      restartTriggers = [ configFile ];
      script = startScript;
      environment = {
        # ${DATA_DIR} = /var/lib/obelisk and ${CACHE_DIR} = /var/cache/obelisk, the unit's own directories.
        XDG_DATA_HOME = "/var/lib";
        XDG_CACHE_HOME = "/var/cache";
        XDG_CONFIG_HOME = "/etc";
        HOME = stateDir;
      };
      serviceConfig = {
        # After a crash (or `kill -9`) the next start releases at once every lock the dead process held, so a
        # quick restart resumes its work; a server that keeps failing (e.g. another one holds the database) backs
        # off to a minute between attempts instead of filling the journal.
        Restart = "on-failure";
        RestartSec = "2s";
        RestartSteps = 5;
        RestartMaxDelaySec = "1min";
        # SIGTERM is a clean stop: webhook requests get their shutdown_grace, runs in flight are released.
        TimeoutStopSec = "${toString (longestShutdownGrace + 20)}s";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") (
          loadedCredentials // secretCredentials // tlsFiles
        );

        DynamicUser = !staticUser;
        User = mkIf staticUser db.user;
        Group = mkIf staticUser db.user;
        StateDirectory = "obelisk";
        StateDirectoryMode = "0700";
        CacheDirectory = "obelisk";
        CacheDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        UMask = "0077";

        # Hardening as in nixpkgs' temporal module, with one exception: wasmtime's JIT maps code writable and then
        # executable, which MemoryDenyWriteExecute forbids.
        MemoryDenyWriteExecute = false;
        AmbientCapabilities = if privilegedPorts != [ ] then [ "CAP_NET_BIND_SERVICE" ] else "";
        CapabilityBoundingSet = if privilegedPorts != [ ] then [ "CAP_NET_BIND_SERVICE" ] else "";
        DevicePolicy = "closed";
        LockPersonality = true;
        NoNewPrivileges = true;
        PrivateDevices = true;
        PrivateMounts = true;
        PrivateTmp = true;
        PrivateUsers = privilegedPorts == [ ];
        ProcSubset = "pid";
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHome = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectProc = "invisible";
        ProtectSystem = "strict";
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
      };
    };
  };
}
