"""Which listeners may be reached from other machines without authentication.

A listener that answers anyone who can connect (the ``/metrics`` endpoint has no authentication of its own) is kept
on the loopback interface unless the operator says, by a key of its own, that exposing it is intended. The rule
lives here, in one function, so that the day listeners can require credentials it is decided in one place.
"""

from __future__ import annotations

import ipaddress

from obelisk.config.values import parse_socket_addr

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
