-- The number of an execution's rows in `delay`, kept by the rules (obelisk/storage/state_machine.py): a finished
-- execution deletes its pending delays only when it has any, instead of a DELETE on every Finished.
ALTER TABLE execution_state ADD COLUMN pending_delays INTEGER NOT NULL DEFAULT 0;
UPDATE execution_state
    SET pending_delays = (SELECT count(*) FROM delay WHERE delay.execution_id = execution_state.execution_id)
    WHERE execution_id IN (SELECT execution_id FROM delay);
