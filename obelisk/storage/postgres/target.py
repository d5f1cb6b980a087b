"""Where a PostgreSQL database is and how to reach it: the backend's whole configuration.

Kept apart from the config file's schema so that the storage layer depends on nothing above it; the server
builds one of these from ``[database.postgres]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProvisionPolicy = Literal["auto", "never"]
"""``auto``: a missing database is created (the role needs ``CREATEDB``) and the schema migrated on start;
``never``: the database must exist (the schema is still migrated)."""


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    host: str
    """A host name, an IP address, or the absolute path of a Unix-socket directory (``/run/postgresql``)."""
    port: int = 5432
    user: str = "obelisk"
    password: str | None = None
    """``None`` for authentication without one (peer over a Unix socket, trust, a ``.pgpass`` file)."""
    db_name: str = "obelisk"
    pool_size: int = 4
    """Connections for reads, beside the one that writes and the one that listens for notifications."""
    provision_policy: ProvisionPolicy = "auto"
    connect_timeout_seconds: float = 10.0

    def describe(self) -> str:
        """The target for messages and logs, never with its password."""
        where = self.host if self.host.startswith("/") else f"{self.host}:{self.port}"
        return f"postgresql://{self.user}@{where}/{self.db_name}"
