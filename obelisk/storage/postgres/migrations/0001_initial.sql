-- Obelisk (Python) schema for PostgreSQL, version 1: the same tables and indexes as SQLite's
-- (obelisk/storage/sqlite/migrations/0001_initial.sql). Times are BIGINT UTC microseconds. Applied inside one
-- transaction together with its schema_version row by obelisk/storage/postgres/schema.py.
--
-- Identifiers and other keys are TEXT COLLATE "C": compared byte by byte as on SQLite, whatever the database's
-- locale, so listings page in the same order on both backends (and the comparisons are cheaper).
-- Events and responses are TEXT holding the codecs' JSON: nothing queries inside them, and TEXT keeps the text
-- as written without JSONB's parse on every insert.

-- The append-only event log; version = index of the event (0 is Created).
CREATE TABLE execution_log (
    execution_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    json TEXT NOT NULL,
    join_set_id TEXT COLLATE "C",
    PRIMARY KEY (execution_id, version)
);
-- Counting the earlier JoinNext events of a join set when a new one is appended.
CREATE INDEX execution_log_join_next ON execution_log (execution_id, join_set_id) WHERE event_type = 'JoinNext';

-- Join-set responses, append-only; id is the arrival order (and the listing cursor). Responses to one execution
-- are inserted while its state row is locked (FOR UPDATE), so their ids grow in commit order.
CREATE TABLE join_set_response (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id TEXT COLLATE "C" NOT NULL,
    join_set_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    json TEXT NOT NULL,
    child_execution_id TEXT COLLATE "C",
    delay_id TEXT COLLATE "C"
);
-- A response is identified by its target, join set and child or delay; NULLs are distinct in a UNIQUE index, so
-- the absent one is folded to '' to make a second delivery collide (ON CONFLICT DO NOTHING: it is ignored).
CREATE UNIQUE INDEX join_set_response_identity ON join_set_response (
    execution_id, join_set_id, coalesce(child_execution_id, ''), coalesce(delay_id, '')
);
-- The n-th response of a join set in arrival order.
CREATE INDEX join_set_response_by_join_set ON join_set_response (execution_id, join_set_id, id);
CREATE INDEX join_set_response_by_execution ON join_set_response (execution_id, id);

-- One row per execution: its pending state and what the listings and timers need without reading the log.
-- Every write locks it (SELECT ... FOR UPDATE) before checking the version: servers sharing the database
-- serialize on it.
CREATE TABLE execution_state (
    execution_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    next_version BIGINT NOT NULL,
    response_count BIGINT NOT NULL DEFAULT 0,
    ffqn TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL CHECK (state IN ('PendingAt', 'Locked', 'BlockedByJoinSet', 'Finished')),
    -- PendingAt: scheduled time; Locked and BlockedByJoinSet: lock expiry; Finished: finished_at.
    pending_expires_finished BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    join_set_id TEXT COLLATE "C",
    join_set_closing INTEGER,
    executor_id TEXT COLLATE "C",
    run_id TEXT COLLATE "C",
    temporary_event_count INTEGER NOT NULL DEFAULT 0,
    max_retries BIGINT NOT NULL,
    retry_exp_backoff_us BIGINT NOT NULL,
    parent_execution_id TEXT COLLATE "C",
    parent_join_set_id TEXT COLLATE "C",
    component_id TEXT COLLATE "C" NOT NULL,
    result_kind TEXT COLLATE "C",
    finished_at BIGINT
);
-- Locking due executions per ffqn, oldest first (FOR UPDATE SKIP LOCKED).
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
    execution_id TEXT COLLATE "C" NOT NULL,
    join_set_id TEXT COLLATE "C" NOT NULL,
    delay_id TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (execution_id, join_set_id, delay_id)
);
CREATE INDEX delay_expires ON delay (expires_at);
