# The example components of components/, built by scripts/build-components with componentize-py from its pinned
# wheel; the WASI WIT of the http activity comes from the pinned spin-sdk wheel instead of a download.
{
  lib,
  stdenvNoCC,
  python3,
  fetchurl,
  componentize-py,
  version,
}:
let
  wheels = import ./wheels.nix;
  spinSdk = fetchurl { inherit (wheels.spin-sdk.any) url hash; };
in
stdenvNoCC.mkDerivation {
  pname = "obelisk-components";
  inherit version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../components
      ../scripts/build-components
      ../obelisk/wit/host
    ];
  };

  # componentize-py sits next to this interpreter, where the build script looks first.
  nativeBuildInputs = [ (python3.withPackages (_: [ componentize-py ])) ];

  buildPhase = ''
    runHook preBuild
    export HOME=$TMPDIR
    mkdir -p $TMPDIR/cache/downloads
    cp ${spinSdk} $TMPDIR/cache/downloads/spin_sdk-${wheels.spin-sdk.version}-py3-none-any.whl
    # One build at a time: each takes ~400 MB.
    python scripts/build-components --force --jobs 1 --out $TMPDIR/out --cache $TMPDIR/cache
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out
    cp $TMPDIR/out/*.wasm $out/
    runHook postInstall
  '';

  meta = {
    description = "Example and test components of Obelisk (fibo, http, sleep, ...) as .wasm files";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
