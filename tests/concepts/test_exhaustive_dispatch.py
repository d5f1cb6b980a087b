"""Adding a member to a union that the project dispatches on is a mypy error at every dispatch.

A copy of the package gets one new member in each such union; mypy must then report every ``assert_never`` in
the package (docs/architecture.md#event-log-and-pending-states). An ``assert_never`` that stays silent is not the
end of an exhaustive match over one of these unions: either its subject is a union missing from ``FAKES`` below
(add it), or the match before it has a catch-all case that swallows the new member.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKES: dict[str, tuple[str, ...]] = {
    "obelisk/concepts/events.py": (
        "ScheduleAt",
        "JoinSetRequestBody",
        "HistoryEvent",
        "Event",
        "JoinSetResponseBody",
        "PendingState",
        "ActiveState",
    ),
    "obelisk/concepts/results.py": ("ExecutionError",),
    "obelisk/config/models.py": ("DatabaseBackend",),
    "obelisk/workers/outcome.py": ("WorkerOutcome",),
    "obelisk/storage/interface.py": ("WriteOp",),
    "obelisk/storage/state_machine.py": ("DelayChange",),
}
"""The unions that get a new member, by the module that defines them."""


_RESULT_KIND = '    OK = "Ok"\n'
"""``ResultKind`` gets a member too (the fake execution error's kind), so that the matches over it are checked."""

ENUM_FAKES: dict[str, str] = {
    "obelisk/service/listing.py": '    FUNCTION = "function"\n',
    "obelisk/workers/workflow/interrupts.py": '    PAUSED = "paused"\n',
    "obelisk/concepts/guest_logs.py": '    ERROR = "error"\n',
}
"""Other enums dispatched on, by module: the line of their last member, after which a fake member is added."""


def _add_fake_enum_member(module: Path, last_member: str) -> None:
    text = module.read_text()
    assert text.count(last_member) == 1, f"{module}: the enum member line {last_member!r} not found once"
    module.write_text(text.replace(last_member, last_member + '    FAKE = "fake"\n'))


def _add_fake_members(module: Path, aliases: tuple[str, ...]) -> None:
    text = module.read_text()
    results = _RESULT_KIND in text
    if results:
        assert text.count(_RESULT_KIND) == 1, f"{module}: ResultKind.OK not found once"
        text = text.replace(_RESULT_KIND, _RESULT_KIND + '    FAKE = "Fake"\n')
    for alias in aliases:
        definition = re.compile(rf"^{alias} = ", re.MULTILINE)
        assert len(definition.findall(text)) == 1, f"{module}: no single definition of the union {alias}"
        body = "    @property\n    def kind(self) -> ResultKind:\n        return ResultKind.FAKE\n"
        fake = f"@dataclass(frozen=True, slots=True)\nclass Fake{alias}:\n{body if results else '    pass'}\n\n\n"
        text = definition.sub(f"{fake}{alias} = Fake{alias} | ", text)
    module.write_text(text)


def _assert_never_calls(package: Path) -> set[str]:
    calls = set()
    for module in package.rglob("*.py"):
        for number, line in enumerate(module.read_text().splitlines(), start=1):
            if "assert_never(" in line and not line.lstrip().startswith(("import", "from")):
                calls.add(f"{module.relative_to(package.parent)}:{number}")
    return calls


def test_a_new_member_of_any_union_is_reported_at_every_assert_never(tmp_path: Path) -> None:
    mypy = pytest.importorskip("mypy.api", reason="mypy is a development dependency")
    tmp_path = tmp_path.resolve()
    package = tmp_path / "obelisk"
    shutil.copytree(REPO / "obelisk", package, ignore=shutil.ignore_patterns("__pycache__"))
    for module, aliases in FAKES.items():
        _add_fake_members(tmp_path / module, aliases)
    for module, last_member in ENUM_FAKES.items():
        _add_fake_enum_member(tmp_path / module, last_member)
    expected = _assert_never_calls(package)
    assert len(expected) > 20, "the sweep's assert_never calls are gone"

    stdout, stderr, status = mypy.run(
        [
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "--show-absolute-path",
            str(package),
        ]
    )
    assert status in (0, 1), f"mypy did not run: {stderr}"
    reported = {
        str(Path(match[1]).relative_to(tmp_path)) + ":" + match[2]
        for match in re.finditer(r"^(/[^:]+):(\d+): error: .*assert_never", stdout, re.MULTILINE)
    }
    assert not expected - reported, f"silent assert_never calls: {sorted(expected - reported)}\n{stdout}"
