-- Obelisk (Python) schema, version 1. Times are INTEGER UTC microseconds.
-- Applied inside one transaction by obelisk/storage/sqlite/schema.py, which then sets PRAGMA user_version.

-- The append-only event log; version = index of the event (0 is Created).
CREATE TABLE execution_log (
    execution_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    json TEXT NOT NULL,
    join_set_id TEXT,
    PRIMARY KEY (execution_id, version)
) WITHOUT ROWID;
-- Counting the earlier JoinNext events of a join set when a new one is appended.
CREATE INDEX execution_log_join_next ON execution_log (execution_id, join_set_id) WHERE event_type = 'JoinNext';

-- Join-set responses, append-only; id is the arrival order (and the listing cursor).
CREATE TABLE join_set_response (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    join_set_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL,
    child_execution_id TEXT,
    delay_id TEXT
);
-- A response is identified by its target, join set and child or delay; NULLs are distinct in a UNIQUE index, so
-- the absent one is folded to '' to make a second delivery collide (it is then ignored, see obelisk/storage/sqlite/writes.py).
CREATE UNIQUE INDEX join_set_response_identity ON join_set_response (
    execution_id, join_set_id, coalesce(child_execution_id, ''), coalesce(delay_id, '')
);
-- The n-th response of a join set in arrival order (the rowid id is implied at the end of the index).
CREATE INDEX join_set_response_by_join_set ON join_set_response (execution_id, join_set_id);
CREATE INDEX join_set_response_by_execution ON join_set_response (execution_id, id);

-- One row per execution: its pending state and what the listings and timers need without reading the log.
CREATE TABLE execution_state (
    execution_id TEXT NOT NULL PRIMARY KEY,
    next_version INTEGER NOT NULL,
    response_count INTEGER NOT NULL DEFAULT 0,
    ffqn TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PendingAt', 'Locked', 'BlockedByJoinSet', 'Finished')),
    -- PendingAt: scheduled time; Locked and BlockedByJoinSet: lock expiry; Finished: finished_at.
    pending_expires_finished INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL,
    join_set_id TEXT,
    join_set_closing INTEGER,
    executor_id TEXT,
    run_id TEXT,
    temporary_event_count INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL,
    retry_exp_backoff_us INTEGER NOT NULL,
    parent_execution_id TEXT,
    parent_join_set_id TEXT,
    component_id TEXT NOT NULL,
    result_kind TEXT,
    finished_at INTEGER
);
-- Locking due executions per ffqn, oldest first.
CREATE INDEX execution_state_pending ON execution_state (ffqn, pending_expires_finished)
    WHERE state = 'PendingAt';
-- Expired locks.
CREATE INDEX execution_state_locked ON execution_state (pending_expires_finished) WHERE state = 'Locked';
-- Releasing the locks of one executor at start-up.
CREATE INDEX execution_state_executor ON execution_state (executor_id) WHERE executor_id IS NOT NULL;
-- Listings, newest first, with and without filters.
CREATE INDEX execution_state_list ON execution_state (created_at, execution_id);
CREATE INDEX execution_state_list_ffqn ON execution_state (ffqn, created_at, execution_id);
CREATE INDEX execution_state_list_state ON execution_state (state, created_at, execution_id);
CREATE INDEX execution_state_list_ffqn_state ON execution_state (ffqn, state, created_at, execution_id);
CREATE INDEX execution_state_list_result ON execution_state (result_kind, created_at, execution_id)
    WHERE result_kind IS NOT NULL;
CREATE INDEX execution_state_list_top ON execution_state (created_at, execution_id)
    WHERE parent_execution_id IS NULL;
CREATE INDEX execution_state_list_top_ffqn ON execution_state (ffqn, created_at, execution_id)
    WHERE parent_execution_id IS NULL;

-- Pending delays; a row is deleted when its DelayFinished response is delivered.
CREATE TABLE delay (
    execution_id TEXT NOT NULL,
    join_set_id TEXT NOT NULL,
    delay_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (execution_id, join_set_id, delay_id)
) WITHOUT ROWID;
CREATE INDEX delay_expires ON delay (expires_at);
