-- Pause and resume, as on SQLite (obelisk/storage/sqlite/migrations/0005_pause.sql): a flag beside the state and
-- the number of Paused/Unpaused events the run holding the execution has not seen.
ALTER TABLE execution_state ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE execution_state ADD COLUMN operator_versions INTEGER NOT NULL DEFAULT 0;
-- The executors' lock query (FOR UPDATE SKIP LOCKED) skips paused rows: they are left out of its index.
DROP INDEX execution_state_pending;
CREATE INDEX execution_state_pending ON execution_state (ffqn, pending_expires_finished)
    WHERE state = 'PendingAt' AND NOT paused;
-- Listing the paused executions, newest first.
CREATE INDEX execution_state_list_paused ON execution_state (created_at, execution_id) WHERE paused;
