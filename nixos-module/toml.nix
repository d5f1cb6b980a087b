# A TOML writer that uses builtins only.
#
# nixpkgs' `pkgs.formats.toml` runs a derivation to produce its file, so it cannot be evaluated on a machine
# without nixpkgs. This renderer can: CI evaluates it with a bare `nix-instantiate --eval` on the example
# settings and feeds the text to the server's own config loader (tests/nix/test_nix.py).
#
# Mapping (what the NixOS module produces; anything else is an error naming the key):
#   null                     the key is left out (the server's default applies)
#   bool, int, float, string TOML scalars
#   path, derivation         a string: the store path (a path literal is copied into the store), with its context
#   attribute set            a [table]; inline `{ ... }` inside an array, or when it holds at most two scalars
#   list of attribute sets   an [[array.of.tables]]
#   any other list           an inline array
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    genList
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isPath
    isString
    map
    match
    replaceStrings
    toJSON
    toString
    typeOf
    ;

  isDerivation = value: isAttrs value && value ? outPath;
  isTable = value: isAttrs value && !(isDerivation value);
  isTableList = value: isList value && value != [ ] && filter (item: !(isTable item)) value == [ ];
  # Small leaf tables read better inline (`lock_expiry = {secs = 10}`, `location = {path = "..."}`), as in the
  # server's own renderer (obelisk/config/render.py).
  isInlineTable =
    value:
    isTable value
    && builtins.length (entries value) <= 2
    && filter (key: isAttrs value.${key} || isList value.${key}) (entries value) == [ ];
  isSection = value: isTable value && !(isInlineTable value);

  # Control characters have no escape in Nix source; JSON produces them, and their TOML escapes as well.
  hex = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "A" "B" "C" "D" "E" "F" ];
  hexByte = n: builtins.elemAt hex (n / 16) + builtins.elemAt hex (n - (n / 16) * 16);
  controlCodes = filter (n: n != 9 && n != 10 && n != 13) (genList (n: n + 1) 31) ++ [ 127 ];
  controlChars = map (n: builtins.fromJSON ''"\u00${hexByte n}"'') controlCodes;
  controlEscapes = map (n: "\\u00${hexByte n}") controlCodes;

  quote =
    text:
    "\""
    + replaceStrings
      ([ "\\" "\"" "\n" "\t" "\r" ] ++ controlChars)
      ([ "\\\\" "\\\"" "\\n" "\\t" "\\r" ] ++ controlEscapes)
      text
    + "\"";

  renderKey = key: if match "[A-Za-z0-9_-]+" key != null then key else quote key;
  renderPath = path: concatStringsSep "." (map renderKey path);
  where = path: if path == [ ] then "the top level" else "`${concatStringsSep "." path}`";

  # Non-null entries of a table, in the (sorted) order of attrNames.
  entries = table: filter (key: table.${key} != null) (attrNames table);

  renderValue =
    path: value:
    if isBool value then
      (if value then "true" else "false")
    else if isInt value then
      toString value
    else if isFloat value then
      toJSON value
    else if isString value then
      quote value
    else if isPath value || isDerivation value then
      # Interpolation copies a path literal's file into the store and keeps the reference (string context), so it
      # reaches the closure of the configuration and a remote deploy; `toString` would give the path on the
      # evaluating machine, which the target does not have.
      quote "${value}"
    else if isList value then
      "[" + concatStringsSep ", " (map (renderItem path) value) + "]"
    else if isTable value then
      "{"
      + concatStringsSep ", " (map (key: "${renderKey key} = ${renderValue (path ++ [ key ]) value.${key}}") (entries value))
      + "}"
    else
      throw "toml.nix: cannot render a value of type ${typeOf value} at ${where path}";

  renderItem =
    path: item:
    if item == null then
      throw "toml.nix: TOML arrays cannot hold null (found one in ${where path})"
    else
      renderValue path item;

  # The keys of a table that are written as `key = value` lines under its header.
  ownKeys = table: filter (key: !(isSection table.${key}) && !(isTableList table.${key})) (entries table);

  # A table's own keys first, then its sub-tables, then its arrays of tables: TOML requires the plain keys of a
  # table to precede any header that follows it.
  renderTable =
    path: table:
    let
      keys = entries table;
      plain = ownKeys table;
      tables = filter (key: isSection table.${key}) keys;
      tableLists = filter (key: isTableList table.${key}) keys;
      line = key: "${renderKey key} = ${renderValue (path ++ [ key ]) table.${key}}\n";
      # A table holding only tables needs no header of its own: `[database.postgres]` alone, not `[database]` too.
      header = key: if ownKeys table.${key} == [ ] then "" else "\n[${renderPath (path ++ [ key ])}]\n";
      section = key: header key + renderTable (path ++ [ key ]) table.${key};
      arraySection =
        key:
        concatStringsSep "" (
          map (item: "\n[[${renderPath (path ++ [ key ])}]]\n" + renderTable (path ++ [ key ]) item) table.${key}
        );
    in
    concatStringsSep "" (map line plain ++ map section tables ++ map arraySection tableLists);

  render =
    settings:
    if isTable settings then
      let
        text = renderTable [ ] settings;
      in
      # No blank first line when the document starts with a header.
      if builtins.substring 0 1 text == "\n" then
        builtins.substring 1 (builtins.stringLength text) text
      else
        text
    else
      throw "toml.nix: the settings must be an attribute set, got ${typeOf settings}";
in
{
  inherit render quote;
}
