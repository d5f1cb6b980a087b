"""services.obelisk.metrics evaluated with the real module system (nix-tests/eval-module.nix): the rendered
``[metrics]`` table loads through the server's own loader, loopback needs no firewall rule, and an exposed endpoint
needs both ``allowUnauthenticated`` and ``openFirewall``."""

from __future__ import annotations

from pathlib import Path

from obelisk.config import load_config
from tests.nix.nixtools import ENV
from tests.nix.test_module import FAKE_PACKAGE, eval_module


def _module(metrics: str) -> str:
    return f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; metrics = {{ {metrics} }}; }}; }}"


def test_the_vm_node_serves_metrics_on_loopback(tmp_path: Path) -> None:
    data = eval_module(
        "{ testArgs, ... }: { imports = [ (import ./nix-tests/node.nix testArgs) ]; }",
        components=str(tmp_path / "components"),
        with_overlay=True,
    )
    assert data["failedAssertions"] == []
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(data["toml"], encoding="utf-8")
    assert load_config(rendered, env=ENV, cwd=tmp_path).config.metrics.listening_addr == "127.0.0.1:9464"
    assert data["firewall"] == []


def test_disabled_by_default_renders_no_metrics_table() -> None:
    data = eval_module(f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; }}; }}")
    assert "metrics" not in data["settings"]


def test_loopback_is_never_opened_even_when_asked() -> None:
    data = eval_module(_module('enable = true; listenAddress = "::1"; port = 9100; openFirewall = true;'))
    assert data["settings"]["metrics"] == {"listening_addr": "[::1]:9100"}
    assert data["firewall"] == []


def test_an_exposed_endpoint_needs_allow_unauthenticated() -> None:
    data = eval_module(_module('enable = true; listenAddress = "0.0.0.0"; openFirewall = true;'))
    (message,) = data["failedAssertions"]
    assert 'services.obelisk.metrics.listenAddress = "0.0.0.0" is not a loopback address' in message
    assert "services.obelisk.metrics.allowUnauthenticated = true" in message


def test_an_exposed_endpoint_is_opened_by_its_own_option_only(tmp_path: Path) -> None:
    exposed = 'enable = true; listenAddress = "0.0.0.0"; allowUnauthenticated = true;'
    closed = eval_module(_module(exposed))
    assert closed["failedAssertions"] == [] and closed["firewall"] == []
    opened = eval_module(_module(exposed + " openFirewall = true;"))
    assert opened["firewall"] == [9464]
    rendered = tmp_path / "obelisk.toml"
    rendered.write_text(opened["toml"], encoding="utf-8")
    metrics = load_config(rendered, env=ENV, cwd=tmp_path).config.metrics
    assert (metrics.listening_addr, metrics.allow_unauthenticated) == ("0.0.0.0:9464", True)
    # services.obelisk.openFirewall opens the API and the web UI, not the scrape endpoint.
    both = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; openFirewall = true; "
        f"metrics = {{ {exposed} }}; }}; }}"
    )
    assert both["firewall"] == []


def test_two_addresses_for_the_endpoint_are_refused() -> None:
    data = eval_module(
        f"{{ services.obelisk = {{ enable = true; package = {FAKE_PACKAGE}; metrics.enable = true; "
        'settings.metrics.listening_addr = "127.0.0.1:9999"; }; }'
    )
    assert any("both set the metrics address" in message for message in data["failedAssertions"])
