-- The number of an execution's rows in delay, as on SQLite (obelisk/storage/sqlite/migrations/0003_pending_delays.sql):
-- kept by the rules, so that a finished execution deletes its pending delays only when it has any.
ALTER TABLE execution_state ADD COLUMN pending_delays INTEGER NOT NULL DEFAULT 0;
UPDATE execution_state
    SET pending_delays = (SELECT count(*) FROM delay WHERE delay.execution_id = execution_state.execution_id)
    WHERE execution_id IN (SELECT execution_id FROM delay);
