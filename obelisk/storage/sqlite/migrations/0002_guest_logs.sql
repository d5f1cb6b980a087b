-- Obelisk (Python) schema, version 2: what guests logged and printed, per execution (obelisk/execution_logs).
-- Written by each server's log sink in transactions of its own, never with an execution's events.

-- One line: an obelisk:log call (kind trace..error) or a line of stdout/stderr; id is the order and the cursor.
CREATE TABLE guest_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX guest_log_execution ON guest_log (execution_id, id);

-- How many lines of an execution are kept, and how many were dropped (the oldest, past the bound, or lines the
-- sink could not queue).
CREATE TABLE guest_log_count (
    execution_id TEXT PRIMARY KEY,
    kept INTEGER NOT NULL,
    dropped INTEGER NOT NULL
) WITHOUT ROWID;
