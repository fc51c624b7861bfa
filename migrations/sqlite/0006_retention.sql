-- Retention (issue 12). first_kept: the room's first id still kept; the ids below it were removed by
-- retention (1 while nothing was), so resume and history know where the kept history begins even when the
-- room has no messages left. last_seq never goes down: ids are never reused.
-- retention_days: the room's own rule. NULL follows the server's --retention-days, 0 keeps everything,
-- N > 0 removes what is older than N days.
ALTER TABLE rooms ADD COLUMN first_kept INTEGER NOT NULL DEFAULT 1;
ALTER TABLE rooms ADD COLUMN retention_days INTEGER;
