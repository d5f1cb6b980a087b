-- Pause and resume (obelisk/storage/state_machine.py): a flag beside the state, which stays as it was, and the
-- number of Paused/Unpaused events the run holding the execution has not seen (its appends still go through).
ALTER TABLE execution_state ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE execution_state ADD COLUMN operator_versions INTEGER NOT NULL DEFAULT 0;
-- The executors' lock query skips paused rows: they are left out of its index altogether.
DROP INDEX execution_state_pending;
CREATE INDEX execution_state_pending ON execution_state (ffqn, pending_expires_finished)
    WHERE state = 'PendingAt' AND NOT paused;
-- Listing the paused executions, newest first (few rows: the index stays small).
CREATE INDEX execution_state_list_paused ON execution_state (created_at, execution_id) WHERE paused;
