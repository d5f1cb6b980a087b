"""The dependency floors of pyproject.toml are the versions CI installs exactly, and the generated code accepts them.

nixpkgs packages Python libraries behind PyPI (its grpcio was 1.78 while PyPI had 1.85), and the Nix package is
built from nixpkgs' versions, so a floor in pyproject.toml must be a version the project really runs with:
`.ci/run` installs `.ci/floors-constraints.txt` in a fresh venv and runs the tests there. These checks keep the
three places in step: the floors, the constraints file, and what obelisk/api/generated demands at import time
(grpcio-tools writes a `grpcio >= <its version>` check, protoc a `protobuf runtime >= <its version>` check).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / ".ci" / "floors-constraints.txt"
GENERATED = REPO / "obelisk" / "api" / "generated"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def pyproject_floors() -> dict[str, str]:
    """`name -> version` of every runtime requirement (`>=` floors and `==` pins) and of the generator's pin."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    requirements += [r for r in project["optional-dependencies"]["dev"] if r.startswith("grpcio-tools")]
    floors = {}
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(>=|==)\s*([0-9][0-9.]*)\s*(;.*)?", requirement)
        assert found, f"pyproject.toml: {requirement!r} has no floor (write name>=version, the oldest version tested)"
        floors[_normalise(found[1])] = found[3]
    return floors


def constraints() -> dict[str, str]:
    pinned = {}
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{CONSTRAINTS.name}: {line!r} is not name==version"
            pinned[_normalise(name)] = version
    return pinned


def test_constraints_file_holds_exactly_the_floors() -> None:
    assert constraints() == pyproject_floors()


def test_the_grpc_family_shares_one_floor() -> None:
    """nixpkgs updates grpcio and its companion packages together; so do the floors."""
    floors = pyproject_floors()
    assert floors["grpcio-health-checking"] == floors["grpcio"] == floors["grpcio-reflection"]
    assert floors["grpcio-tools"] == floors["grpcio"], "the generator's version is the grpcio the code demands"


def test_generated_grpc_code_accepts_the_grpcio_floor() -> None:
    text = (GENERATED / "obelisk_pb2_grpc.py").read_text(encoding="utf-8")
    found = re.search(r"^GRPC_GENERATED_VERSION = '([0-9.]+)'$", text, flags=re.MULTILINE)
    assert found, "obelisk_pb2_grpc.py has no GRPC_GENERATED_VERSION line"
    assert _version(found[1]) <= _version(pyproject_floors()["grpcio"]), (
        f"the generated gRPC code demands grpcio >= {found[1]}, above the floor: regenerate it with "
        "the pinned grpcio-tools (scripts/generate-grpc)"
    )


def test_generated_protobuf_code_accepts_the_protobuf_floor() -> None:
    text = (GENERATED / "obelisk_pb2.py").read_text(encoding="utf-8")
    check = r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),"
    found = re.search(check, text)
    assert found, "obelisk_pb2.py has no runtime version check"
    gencode = tuple(int(part) for part in found.groups())
    floor = _version(pyproject_floors()["protobuf"])
    assert gencode[0] == floor[0], f"protobuf's gencode {gencode} needs a runtime of major version {gencode[0]}"
    assert gencode <= floor, f"protobuf's gencode {gencode} refuses the floor runtime {floor}: regenerate"


def test_ci_installs_the_floors_in_a_fresh_venv() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "floors-constraints.txt" in script
    assert "-m venv" in script
