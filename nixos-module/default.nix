# services.obelisk: the Obelisk workflow engine as a hardened systemd service.
#
# The configuration is the server's own obelisk.toml: `settings` is rendered to it as it stands (freeform, so every
# key of `obelisk server generate-config` is available), and the declared `activities`, `workflows`,
# `webhookEndpoints` and `httpServers` are appended as its [[activity_wasm]], [[workflow]], [[webhook_endpoint]]
# and [[http_server]] tables. Options left at null are not written, so the server's defaults stay the only ones.
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

  activityOptions = {
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
    } activity;

  renderWorkflow =
    workflow:
    renderComponent {
      retry_exp_backoff = workflow.retryExpBackoff;
      retry_on_trap = workflow.retryOnTrap;
    } workflow;

  renderWebhook =
    webhook:
    renderComponent {
      http_server = webhook.httpServer;
      routes = webhook.routes;
    } webhook;

  renderHttpServer =
    server:
    dropNulls {
      inherit (server) name;
      listening_addr = server.listeningAddr;
      max_inflight_requests = server.maxInflightRequests;
      max_request_body_bytes = server.maxRequestBodyBytes;
    };

  declared = {
    activity_wasm = mapAttrsToList (_: renderActivity) cfg.activities;
    workflow = mapAttrsToList (_: renderWorkflow) cfg.workflows;
    webhook_endpoint = mapAttrsToList (_: renderWebhook) cfg.webhookEndpoints;
    http_server = mapAttrsToList (_: renderHttpServer) cfg.httpServers;
  };

  # Lists written directly in `settings` come first, the declared ones after them.
  finalSettings =
    cfg.settings
    // lib.mapAttrs (kind: items: (cfg.settings.${kind} or [ ]) ++ items) (
      filterAttrs (_: items: items != [ ]) declared
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

  # "host:port" and "[v6]:port" -> port.
  portOf = address: lib.toInt (lib.last (lib.splitString ":" address));
  listeningAddresses =
    [ cfg.settings.api.listening_addr ]
    ++ optional (cfg.settings.webui.listening_addr != null) cfg.settings.webui.listening_addr
    ++ map (s: s.listening_addr) declared.http_server
    ++ map (s: s.listening_addr) (cfg.settings.http_server or [ ]);
  ports = unique (map portOf listeningAddresses);
  privilegedPorts = filter (port: port < 1024) ports;
in
{
  options.services.obelisk = {
    enable = mkEnableOption "Obelisk, a deterministic durable-workflow engine on the WebAssembly Component Model";

    package = mkOption {
      type = types.package;
      default =
        pkgs.obelisk or (throw ''
          services.obelisk.package: nixpkgs has no `obelisk`; set services.obelisk.package = obelisk.packages.${pkgs.stdenv.hostPlatform.system}.default (from the Obelisk flake), or add obelisk.overlays.default to nixpkgs.overlays.'');
      defaultText = literalExpression "pkgs.obelisk";
      description = "The Obelisk package (its `obelisk` program runs the server).";
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
                type = types.str;
                default = "${stateDir}/obelisk.sqlite";
                description = "The SQLite database, in the service's state directory.";
              };
            };
            default = { };
            description = "The [sqlite] table (e.g. `synchronous`).";
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

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP ports of the API, the web UI and the HTTP servers.";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/obelisk.env";
      description = ''
        File of KEY=value lines for the service (systemd EnvironmentFile), kept out of the Nix store: secrets
        for activities (`env_vars = [ "API_TOKEN" ]`) and overrides such as OBELISK__api__listening_addr.
      '';
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
      ++ map (c: {
        assertion = (c.wasm == null) != (c.package == null);
        message =
          if c.wasm == null then
            "services.obelisk.${c.where}: set either `wasm` (a .wasm file) or `package` (a package holding `${c.file}`)."
          else
            "services.obelisk.${c.where}: set only one of `wasm` and `package`, not both.";
      }) allComponents;

    environment.systemPackages = [ cfg.package ];
    # `obelisk server verify` without -c finds the same file the service runs with.
    environment.etc."obelisk/obelisk.toml".source = configFile;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall ports;

    systemd.services.obelisk = {
      description = "Obelisk workflow engine";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      restartTriggers = [ configFile ];
      environment = {
        # ${DATA_DIR} = /var/lib/obelisk and ${CACHE_DIR} = /var/cache/obelisk, the unit's own directories.
        XDG_DATA_HOME = "/var/lib";
        XDG_CACHE_HOME = "/var/cache";
        XDG_CONFIG_HOME = "/etc";
        HOME = stateDir;
      };
      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} server run --config ${configFile}";
        Restart = "on-failure";
        RestartSec = "2s";
        TimeoutStopSec = "30s";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;

        DynamicUser = true;
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
