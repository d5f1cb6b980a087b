-- Placeholder on branch hotpath14 only: number 0004 belongs to pause/resume, whose migration replaces this file when
-- the branches are merged (migrations must be numbered without gaps, and this branch's own is 0006).
SELECT 1;
