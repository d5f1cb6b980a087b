"""The PostgreSQL storage backend: several servers share one database (see docs/architecture.md#storage)."""
