# The example configuration, the repository's obelisk.toml, made to work outside the checkout: components from
# a built package, state and caches where the caller wants them, optionally other listening addresses. Builtins
# only, so CI renders it here (tests/nix/test_nix.py) and loads the result with the server's config loader.
{
  components,
  dataDir ? "\${DATA_DIR}",
  cacheDir ? "\${CACHE_DIR}",
  apiAddress ? null,
  webuiAddress ? null,
}:
let
  example = builtins.fromTOML (builtins.readFile ../obelisk.toml);

  relocate =
    component:
    component
    // {
      location = component.location // {
        path = "${components}/${baseNameOf component.location.path}";
      };
    };
  relocateKind = kind: if example ? ${kind} then { ${kind} = map relocate example.${kind}; } else { };
  address =
    table: value:
    if value == null then { } else { ${table} = (example.${table} or { }) // { listening_addr = value; }; };
in
example
// {
  sqlite = (example.sqlite or { }) // {
    file = "${dataDir}/obelisk.sqlite";
  };
  wasm_cache_directory = "${cacheDir}/wasm";
  codegen_cache = (example.codegen_cache or { }) // {
    directory = "${cacheDir}/codegen";
  };
}
// address "api" apiAddress
// address "webui" webuiAddress
// relocateKind "activity_wasm"
// relocateKind "workflow"
// relocateKind "webhook_endpoint"
