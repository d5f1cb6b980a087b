"""Host packages as package data and the `obelisk generate` commands, checked by wasm-tools itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from obelisk.wit import host_wit_files, is_host_interface, write_wit_support
from obelisk.wit.wasm_tools import find_wasm_tools
from tests.conftest import REPO

OBELISK = [sys.executable, "-m", "obelisk.cli.main"]


def _wit(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_wasm_tools()), "component", "wit", str(path)], capture_output=True, text=True, check=False
    )


def test_host_files_are_package_data_and_the_repo_wit_links_to_them() -> None:
    files = host_wit_files()
    assert set(files) == {"obelisk-types/types.wit", "obelisk-workflow/workflow.wit", "obelisk-log/log.wit"}
    assert "package obelisk:types;" in files["obelisk-types/types.wit"]
    assert "new-join-set: func() -> join-set-id;" in files["obelisk-workflow/workflow.wit"]
    assert (REPO / "wit").resolve() == (REPO / "obelisk" / "wit" / "host").resolve()
    assert (REPO / "wit" / "obelisk-types" / "types.wit").read_text() == files["obelisk-types/types.wit"]
    assert is_host_interface("obelisk:workflow/host-activities") and is_host_interface("obelisk:types/time")
    assert not is_host_interface("testing:fibo/fibo") and not is_host_interface("obelisk:other/x")


def test_write_wit_support_layout(tmp_path: Path) -> None:
    written = write_wit_support(tmp_path / "deps")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "deps/obelisk-log/log.wit",
        "deps/obelisk-types/types.wit",
        "deps/obelisk-workflow/workflow.wit",
    ]


def test_generate_commands_write_deps_a_guest_world_resolves(tmp_path: Path, fibo_wasm: Path) -> None:
    root = tmp_path / "wit"
    deps = root / "deps"
    support = subprocess.run(
        [*OBELISK, "generate", "wit-support", "-o", str(deps)], capture_output=True, text=True, check=False
    )
    assert support.returncode == 0, support.stderr
    assert f"Wrote {deps / 'obelisk-types' / 'types.wit'}" in support.stdout
    ext = subprocess.run(
        [*OBELISK, "generate", "wit-extensions", str(fibo_wasm), "-o", str(deps)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ext.returncode == 0, ext.stderr
    assert sorted(p.relative_to(deps).as_posix() for p in deps.rglob("*.wit")) == [
        "obelisk-log/log.wit",
        "obelisk-types/types.wit",
        "obelisk-workflow/workflow.wit",
        "testing-fibo-obelisk-ext/fibo.wit",
        "testing-fibo/fibo.wit",
    ]
    (root / "world.wit").write_text(
        "package my:guest;\nworld w {\n  import testing:fibo/fibo;\n  import testing:fibo-obelisk-ext/fibo;\n"
        "  import obelisk:workflow/host-activities;\n  import obelisk:log/log;\n}\n"
    )
    result = _wit(root)
    assert result.returncode == 0, result.stderr
    assert "import testing:fibo-obelisk-ext/fibo;" in result.stdout
    # Each host package folder is a valid package on its own too.
    for folder in ("obelisk-types", "obelisk-log"):
        assert _wit(deps / folder).returncode == 0


def test_generate_wit_extensions_reports_a_bad_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [*OBELISK, "generate", "wit-extensions", str(tmp_path / "nope.wasm"), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.wasm'}: no such file"
