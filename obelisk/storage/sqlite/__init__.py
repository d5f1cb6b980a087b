"""The SQLite storage backend: one file, WAL, durable commits, one server per file.

``backend`` is the ``SqlStorage`` over this backend's one connection; ``writes`` and ``reads`` hold the SQL that
runs on the database thread (the ``WriteStatements`` and ``ReadStatements`` of ``obelisk.storage.write_flow`` and
``read_flow``); ``errors`` maps SQLite's result codes to the typed storage faults; ``schema`` the connection set-up
and applying the migrations.
"""

from obelisk.storage.sqlite.backend import SqliteStorage

__all__ = ["SqliteStorage"]
