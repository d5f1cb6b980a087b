# The machine of the VM tests: services.obelisk with the example components, declared through the module's
# options (not through `settings`), so the tests exercise the rendering of every kind of declaration. `package` is
# left to the module: the flake's module must pick the flake's own package (basic.py checks the unit runs it).
{
  obelisk,
  components,
  module,
}:
{ pkgs, ... }:
let
  # The web UI is being written alongside this test. It is expected once obelisk/webui/ holds more than its
  # package marker; until then basic.py reports the web UI check as skipped instead of failing.
  webUiShipped =
    builtins.filter (name: name != "__pycache__") (builtins.attrNames (builtins.readDir ../obelisk/webui)) != [
      "__init__.py"
    ];
in
{
  imports = [ module ];

  # Compiling the componentize-py components at the first start takes a few seconds each.
  virtualisation.memorySize = 2048;
  virtualisation.cores = 2;

  services.obelisk = {
    enable = true;
    settings.log.stdout.level = "info";
    # On 127.0.0.1:9464, where basic.py scrapes it as a Prometheus on this machine would.
    metrics.enable = true;

    activities = {
      fibo_activity = {
        package = components;
        maxRetries = 0;
      };
      http_get_activity = {
        package = components;
        file = "http_activity.wasm";
        settings.forward_stderr = "stderr";
      };
      sleep_activity = {
        package = components;
        exec.lockExpiry = {
          secs = 10;
        };
      };
    };
    workflows = {
      fibo_workflow = {
        package = components;
        exec.maxInflightInstances = 8;
      };
      http_get_workflow = {
        package = components;
        file = "http_workflow.wasm";
      };
      sleep_workflow = {
        package = components;
        exec.lockExpiry = {
          secs = 2;
        };
      };
    };
  };

  environment.systemPackages = [
    pkgs.grpcurl
    pkgs.curl
    pkgs.jq
  ];

  environment.etc."obelisk-vm-test.json".text = builtins.toJSON {
    web_ui_expected = webUiShipped;
    api_port = 5005;
    webui_port = 8080;
    metrics_port = 9464;
    package = "${obelisk}";
  };
}
