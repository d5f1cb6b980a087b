"""The SQLite storage backend: one file, WAL, durable commits, one server per file.

``backend`` is the ``Storage`` implementation (group commit, notifications); ``writes`` and ``reads`` hold the SQL
that runs on the database thread; ``schema`` the connection set-up and numbered migrations.
"""

from obelisk.storage.sqlite.backend import SqliteStorage

__all__ = ["SqliteStorage"]
