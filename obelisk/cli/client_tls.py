"""``--tls``, ``--ca``, ``--client-cert``, ``--client-key``: how ``obelisk client`` reaches a server over TLS.

Given to ``obelisk client`` (before the command, with environment fallbacks as ``--api-url`` has
``OBELISK_API_URL``) or to any client command itself (``with_tls_options`` adds them to each, where they override
the group's values). TLS is on when the URL is ``https://``, or with ``--tls``, or when any of the three files is
given (a CA or a client certificate means nothing over plaintext); an ``http://`` URL is then contacted with TLS on
the same port.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from obelisk.api.tls import ClientTls

TLS_ENV = "OBELISK_API_TLS"
CA_ENV = "OBELISK_API_CA"
CLIENT_CERT_ENV = "OBELISK_API_CLIENT_CERT"
CLIENT_KEY_ENV = "OBELISK_API_CLIENT_KEY"
KEYS = ("tls", "ca", "client_cert", "client_key")
"""Where the values are kept in the client group's ``ctx.obj``."""

_PANEL = "TLS"
_HELP = {
    "tls": "Connect with TLS (implied by an https:// URL and by --ca/--client-cert).",
    "ca": "PEM CA certificate(s) the server's certificate must chain to (default: the system's CAs).",
    "client_cert": "Mutual TLS: this client's PEM certificate, with --client-key.",
    "client_key": "Mutual TLS: the PEM private key of --client-cert.",
}


def _flag(envvar: str | None) -> Any:
    return Annotated[
        bool, typer.Option("--tls", help=_HELP["tls"], envvar=envvar, rich_help_panel=_PANEL, show_default=False)
    ]


def _file(key: str, envvar: str | None) -> Any:
    flag = "--" + key.replace("_", "-")
    return Annotated[
        Path | None,
        typer.Option(flag, metavar="FILE", help=_HELP[key], envvar=envvar, rich_help_panel=_PANEL, show_default=False),
    ]


# The client group's options read the environment; a command's own override them and read nothing else.
GroupTlsFlag = _flag(TLS_ENV)
GroupCaOption = _file("ca", CA_ENV)
GroupClientCertOption = _file("client_cert", CLIENT_CERT_ENV)
GroupClientKeyOption = _file("client_key", CLIENT_KEY_ENV)


def group_options(tls: bool, ca: Path | None, client_cert: Path | None, client_key: Path | None) -> dict[str, Any]:
    """The client group's values, kept in its ``ctx.obj``."""
    return {"tls": tls, "ca": ca, "client_cert": client_cert, "client_key": client_key}


def client_tls(obj: dict[str, Any]) -> ClientTls | None:
    """The TLS settings of the client group's ``ctx.obj``; ``None``: plaintext unless the URL says https."""
    from obelisk.api.tls import ClientTls

    ca, cert, key = obj.get("ca"), obj.get("client_cert"), obj.get("client_key")
    if not obj.get("tls") and ca is None and cert is None and key is None:
        return None
    return ClientTls(ca_file=ca, cert_file=cert, key_file=key)


F = TypeVar("F", bound=Callable[..., Any])

# Built once (typer copies an option's settings for each command that uses it): ~2 ms of each CLI start otherwise.
_COMMAND_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
    for name, annotation, default in (
        ("tls", _flag(None), False),
        ("ca", _file("ca", None), None),
        ("client_cert", _file("client_cert", None), None),
        ("client_key", _file("client_key", None), None),
    )
]


def with_tls_options(command: F) -> F:
    """Add ``--tls``, ``--ca``, ``--client-cert`` and ``--client-key`` to a client command whose first parameter is
    its ``typer.Context``; a value given to the command overrides the client group's."""
    signature = inspect.signature(command, eval_str=True)

    @functools.wraps(command)
    def wrapper(ctx: typer.Context, *args: Any, **kwargs: Any) -> Any:
        given = {key: kwargs.pop(key) for key in KEYS}
        obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
        if obj is not None:
            obj.update({key: value for key, value in given.items() if value not in (None, False)})
        return command(ctx, *args, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *_COMMAND_PARAMETERS]
    )
    return wrapper  # type: ignore[return-value]
