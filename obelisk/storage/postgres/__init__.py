"""The PostgreSQL storage backend: several servers share one database (see docs/architecture.md#storage).

``backend.PostgresStorage`` is the ``Storage`` implementation (group commit, reader pool, notifications across
servers); ``writes`` and ``reads`` hold the SQL; ``schema`` connecting, provisioning and numbered migrations;
``notify`` LISTEN/NOTIFY between servers; ``errors`` the typed errors of opening and writing; ``target`` the
configuration. This package's ``__init__`` imports nothing, so that reading a config (``target``) does not load
the driver.
"""
