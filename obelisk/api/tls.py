"""TLS for the gRPC API and the web UI, and for the client that talks to the API.

A server's certificate, key and (for mutual TLS on the API) client CA are PEM files named in the configuration
(``[api] tls_cert_file``, ``tls_key_file``, ``tls_client_ca_file``; ``[webui] tls_cert_file``, ``tls_key_file``).
They are read and checked once, before the server starts anything (``load_listener_tls``): a missing, unreadable
or malformed file, an encrypted key or a key that does not belong to its certificate is a ``TlsFileError`` naming
the key and the file, and nothing is started. A renewed certificate is picked up by a restart.

Python's ``ssl`` module does the checking (gRPC's own credentials check nothing until a client connects, which
would make a wrong key a failure of every handshake instead of a start-up error); the web UI serves with the same
``ssl.SSLContext``, the API with gRPC credentials made from the bytes read here.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from obelisk.concepts.errors import ObeliskError

if TYPE_CHECKING:  # the client imports this module, and must not pay for the config's models
    from obelisk.config.models import ObeliskConfig


class TlsFileError(ObeliskError):
    """A TLS file cannot be used: missing, unreadable, not PEM, encrypted, or a key not matching its certificate."""


_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_ENCRYPTED_KEY_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


@dataclass(frozen=True)
class ServerTls:
    """One listener's TLS material, read and checked at start-up."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    """PEM CA certificates a client's certificate must chain to; ``None``: clients are not asked for one."""
    context: ssl.SSLContext
    """The checked context (used by the web UI, which aiohttp serves with Python's ``ssl``)."""

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True)
class ListenerTls:
    api: ServerTls | None
    webui: ServerTls | None


def load_listener_tls(config: ObeliskConfig) -> ListenerTls:
    """The TLS material of the API and the web UI of ``config``, or ``TlsFileError``."""
    api = config.api
    webui = config.webui
    return ListenerTls(
        api=load_server_tls("api", api.tls_cert_file, api.tls_key_file, api.tls_client_ca_file),
        webui=None if webui is None else load_server_tls("webui", webui.tls_cert_file, webui.tls_key_file),
    )


def load_server_tls(
    table: str, cert_file: Path | None, key_file: Path | None, client_ca_file: Path | None = None
) -> ServerTls | None:
    """Read and check one listener's files; ``None`` when it has no certificate (plaintext)."""
    if cert_file is None or key_file is None:
        return None
    cert_key, key_key, ca_key = f"{table}.tls_cert_file", f"{table}.tls_key_file", f"{table}.tls_client_ca_file"
    certificate_chain = _read(cert_key, cert_file)
    if _CERTIFICATE not in certificate_chain:
        raise TlsFileError(f"{cert_key} {cert_file}: not a PEM certificate (no {_CERTIFICATE.decode()} line)")
    private_key = _read(key_key, key_file)
    if any(marker in private_key for marker in _ENCRYPTED_KEY_MARKERS):
        raise TlsFileError(
            f"{key_key} {key_file}: the key is encrypted; the server needs an unencrypted key "
            "(protect it with file permissions, or a systemd credential)"
        )
    if b"PRIVATE KEY-----" not in private_key:
        raise TlsFileError(f"{key_key} {key_file}: not a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_password)
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
            raise TlsFileError(
                f"{key_key} {key_file}: the key does not belong to the certificate of {cert_key} {cert_file}"
            ) from None
        raise TlsFileError(
            f"{cert_key} {cert_file} with {key_key} {key_file}: cannot be loaded: {_ssl_reason(error)}"
        ) from None
    except OSError as error:  # changed between the read above and this one
        raise TlsFileError(f"{cert_key} {cert_file}: cannot read: {error.strerror or error}") from None
    client_ca: bytes | None = None
    if client_ca_file is not None:
        client_ca = _read(ca_key, client_ca_file)
        if _CERTIFICATE not in client_ca:
            raise TlsFileError(f"{ca_key} {client_ca_file}: not a PEM certificate (no {_CERTIFICATE.decode()} line)")
        try:
            context.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
        except ssl.SSLError as error:
            raise TlsFileError(f"{ca_key} {client_ca_file}: cannot be loaded: {_ssl_reason(error)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return ServerTls(certificate_chain, private_key, client_ca, context)


def _read(key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsFileError(f"{key} {path}: no such file") from None
    except IsADirectoryError:
        raise TlsFileError(f"{key} {path}: is a directory, not a PEM file") from None
    except OSError as error:
        raise TlsFileError(f"{key} {path}: cannot read: {error.strerror or error}") from None


def _no_password() -> str:
    """Never prompt on the terminal for a key's passphrase (an encrypted key is refused above anyway)."""
    return ""


def _ssl_reason(error: ssl.SSLError) -> str:
    return str(error.reason or error.strerror or error).replace("_", " ").lower()


# ---------------------------------------------------------------------------------------------- client


@dataclass(frozen=True)
class ClientTls:
    """How the client checks the server (``ca_file``; ``None``: the system's trusted CAs) and, for mutual TLS,
    proves itself (``cert_file`` with ``key_file``)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """The credentials of a TLS channel, or ``TlsFileError`` naming the option and the file."""
        if (self.cert_file is None) != (self.key_file is None):
            given = "--client-cert" if self.key_file is None else "--client-key"
            missing = "--client-key" if self.key_file is None else "--client-cert"
            raise TlsFileError(f"{given} needs {missing}: a client certificate goes with its key")
        root = None if self.ca_file is None else _read("--ca", self.ca_file)
        if root is not None and _CERTIFICATE not in root:
            raise TlsFileError(f"--ca {self.ca_file}: not a PEM certificate (no {_CERTIFICATE.decode()} line)")
        chain = key = None
        if self.cert_file is not None and self.key_file is not None:
            chain = _read("--client-cert", self.cert_file)
            key = _read("--client-key", self.key_file)
            if _CERTIFICATE not in chain:
                raise TlsFileError(f"--client-cert {self.cert_file}: not a PEM certificate")
            if b"PRIVATE KEY-----" not in key:
                raise TlsFileError(f"--client-key {self.key_file}: not a PEM private key")
        return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)
