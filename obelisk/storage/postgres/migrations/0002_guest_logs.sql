-- Obelisk (Python) schema for PostgreSQL, version 2: the same tables as SQLite's
-- (obelisk/storage/sqlite/migrations/0002_guest_logs.sql): what guests logged and printed, per execution.
-- Written by each server's log sink in transactions of its own, never with an execution's events.

-- One line: an obelisk:log call (kind trace..error) or a line of stdout/stderr; id is the order and the cursor.
CREATE TABLE guest_log (
    id BIGSERIAL PRIMARY KEY,
    execution_id TEXT COLLATE "C" NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX guest_log_execution ON guest_log (execution_id, id);

-- How many lines of an execution are kept, and how many were dropped (the oldest, past the bound, or lines the
-- sink could not queue).
CREATE TABLE guest_log_count (
    execution_id TEXT COLLATE "C" PRIMARY KEY,
    kept BIGINT NOT NULL,
    dropped BIGINT NOT NULL
);
