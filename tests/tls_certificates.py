"""Certificates made at test time with the ``openssl`` command: a CA, a server certificate for 127.0.0.1 and
localhost signed by it, a client certificate signed by it, and a second CA nobody's certificate chains to.

EC P-256 keys: generating them takes milliseconds, so every test can have fresh ones.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: a client trusting only it must refuse the server."""
    other_key: Path
    """A key that belongs to no certificate here."""


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=30)


def _key(path: Path) -> Path:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path, cwd=path.parent)
    return path


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key = _key(directory / f"{name}.key")
    cert = directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _signed(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key = _key(directory / f"{name}.key")
    request = directory / f"{name}.csr"
    cert = directory / f"{name}.pem"
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions)
    _openssl("req", "-new", "-key", key, "-out", request, "-subj", f"/CN={name}", cwd=directory)
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext_file,
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_certificates(directory: Path) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "test-ca")
    other_ca, _ = _ca(directory, "other-ca")
    server = _signed(
        directory,
        "server",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    client = _signed(directory, "client", ca, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    other_key = _key(directory / "other.key")
    return Certificates(ca[0], server[0], server[1], client[0], client[1], other_ca, other_key)
