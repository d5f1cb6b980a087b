"""The start-up rule that keeps an unauthenticated API or web UI on loopback.

Without any token, whoever reaches the API or the UI can submit, cancel and read everything. That is today's
behaviour on loopback (one machine, one user), and stays so; on any other address (``0.0.0.0``, a LAN address, a
host name) the configuration is refused, naming the key, unless a token is configured or
``api.allow_unauthenticated = true`` says the exposure is meant (a private network, a proxy that authenticates).
Checked with the other cross-field rules, so ``server verify`` refuses what ``server run`` would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obelisk.api.tokens import TOKEN_ENV_VAR, is_loopback_host
from obelisk.config.values import parse_socket_addr

if TYPE_CHECKING:
    from obelisk.config.models import ObeliskConfig


def exposure_problems(config: ObeliskConfig) -> list[tuple[tuple[str | int, ...], str]]:
    api = config.api
    if api.token_hashes or api.token is not None or api.allow_unauthenticated:
        return []
    listeners: list[tuple[str, str]] = [("api", api.listening_addr)]
    if config.webui is not None and config.webui.listening_addr is not None:
        listeners.append(("webui", config.webui.listening_addr))
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for table, address in listeners:
        host, _ = parse_socket_addr(address)
        if is_loopback_host(host):
            continue
        problems.append(
            (
                (table, "listening_addr"),
                f'"{address}" is not a loopback address and no API token is configured, so anyone who reaches it '
                "could submit, cancel and read every execution: add a token (api.token_hashes, printed by "
                f"`obelisk generate token`, or {TOKEN_ENV_VAR} in the environment), or set "
                "api.allow_unauthenticated = true to expose it without authentication (docs/security.md)",
            )
        )
    return problems
