"""The fault suite's own knobs: ``OBELISK_FAULT_SCALE`` and ``OBELISK_FAULT_TIMEOUT_SCALE`` (tests/faults/conftest.py).

A malformed value must stop the run with a line naming the variable, not silently run the default."""

from __future__ import annotations

import pytest

from tests.faults.conftest import SCALE_VARIABLE, TIMEOUT_SCALE_VARIABLE, pytest_configure, scaled_timeout


def test_the_timeout_scale_multiplies_the_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_SCALE_VARIABLE, raising=False)
    assert scaled_timeout(20) == 20
    monkeypatch.setenv(TIMEOUT_SCALE_VARIABLE, "2.5")
    assert scaled_timeout(20) == 50


@pytest.mark.parametrize("variable", [SCALE_VARIABLE, TIMEOUT_SCALE_VARIABLE])
@pytest.mark.parametrize("raw", ["", "abc", "0", "-1", "nan", "inf"])
def test_a_malformed_scale_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config, variable: str, raw: str
) -> None:
    monkeypatch.setenv(variable, raw)
    with pytest.raises(pytest.UsageError, match=rf"^{variable} must be .*, got {raw!r}$"):
        pytest_configure(pytestconfig)
