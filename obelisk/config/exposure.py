"""Which listeners may be reached from other machines without authentication.

A listener that answers anyone who can connect is kept on the loopback interface unless the operator says, by a
key of its own, that exposing it is intended. Two kinds of listener follow the rule:

* the ``/metrics`` endpoint, which has no authentication of its own (``unauthenticated_exposure_problem``):
  a scrape endpoint that anyone on the network can read tells them the function names, the load and the database
  size;
* the API and the web UI (``exposure_problems``), which are open when no API token is configured: whoever reaches
  them can submit, cancel and read every execution. That is today's behaviour on loopback (one machine, one user)
  and stays so; on any other address (``0.0.0.0``, a LAN address, a host name) the configuration is refused,
  naming the key, unless a token is configured or ``api.allow_unauthenticated = true`` says the exposure is meant
  (a private network, a proxy that authenticates).

Checked with the other cross-field rules, so ``server verify`` refuses what ``server run`` would.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from obelisk.api.tokens import TOKEN_ENV_VAR
from obelisk.config.values import parse_socket_addr

if TYPE_CHECKING:
    from obelisk.config.models import ObeliskConfig

LOOPBACK_NAMES = frozenset({"localhost"})
"""Host names taken to be loopback without resolving them (anything else must be an IP literal to count)."""


def is_loopback(listening_addr: str) -> bool:
    """Whether ``host:port`` binds the loopback interface only: a loopback IP literal (127.0.0.0/8, ``::1``) or
    ``localhost``. Any other host name may resolve to a public address, so it does not count."""
    host, _ = parse_socket_addr(listening_addr)
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unauthenticated_exposure_problem(key: str, listening_addr: str, allow_key: str, allowed: bool) -> str | None:
    """Why an unauthenticated listener at ``listening_addr`` (configured by ``key``) is refused, or ``None``.

    Off the loopback interface it is refused unless ``allow_key`` says so: a scrape endpoint that anyone on the
    network can read tells them the function names, the load and the database size."""
    if allowed or is_loopback(listening_addr):
        return None
    return (
        f'{key} = "{listening_addr}" is not a loopback address, and this listener has no authentication: bind it to'
        f" 127.0.0.1 or [::1] (a scraper on another host can reach it through a reverse proxy), or set"
        f" {allow_key} = true to expose it as it is"
    )


def exposure_problems(config: ObeliskConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """The API and the web UI off loopback while no API token is configured (and ``allow_unauthenticated`` is not
    set), each named by its ``listening_addr`` key."""
    api = config.api
    if api.token_hashes or api.token is not None or api.allow_unauthenticated:
        return []
    listeners: list[tuple[str, str]] = [("api", api.listening_addr)]
    if config.webui is not None and config.webui.listening_addr is not None:
        listeners.append(("webui", config.webui.listening_addr))
    return [
        (
            (table, "listening_addr"),
            f'"{address}" is not a loopback address and no API token is configured, so anyone who reaches it '
            "could submit, cancel and read every execution: add a token (api.token_hashes, printed by "
            f"`obelisk generate token`, or {TOKEN_ENV_VAR} in the environment), or set "
            "api.allow_unauthenticated = true to expose it without authentication (docs/security.md)",
        )
        for table, address in listeners
        if not is_loopback(address)
    ]
