"""The PostgreSQL storage backend: several servers share one database (see docs/architecture.md#storage).

``backend.PostgresStorage`` is the ``SqlStorage`` over this backend's connections (the writer, the reader pool,
notifications across servers); ``writes`` and ``reads`` hold the SQL (the ``WriteStatements`` and
``ReadStatements`` of ``obelisk.storage.write_flow`` and ``read_flow``); ``schema`` connecting, provisioning and
applying the migrations; ``notify`` LISTEN/NOTIFY between servers; ``errors`` the typed errors of opening and
writing; ``target`` the configuration. This package's ``__init__`` imports nothing, so that reading a config
(``target``) does not load the driver.
"""
