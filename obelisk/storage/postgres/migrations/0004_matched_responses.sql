-- As on SQLite (obelisk/storage/sqlite/migrations/0004_matched_responses.sql): the responses known to be consumed
-- by a JoinNext, kept by the rules; 0 for existing rows (never higher than the truth: their JoinNexts look up).
ALTER TABLE execution_state ADD COLUMN matched_responses INTEGER NOT NULL DEFAULT 0;
