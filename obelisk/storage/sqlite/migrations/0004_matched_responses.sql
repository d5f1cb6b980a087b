-- The responses of an execution known to be consumed by a JoinNext, kept by the rules
-- (obelisk/storage/state_machine.py): while it equals response_count, a new JoinNext finds no response without
-- the lookup's read. 0 for existing rows: never higher than the truth, so their JoinNexts keep looking up.
ALTER TABLE execution_state ADD COLUMN matched_responses INTEGER NOT NULL DEFAULT 0;
