-- Search narrowed by author or room (issue 20). `from:` compared lower(messages.author) row by row, and no
-- index served it: PostgreSQL read every message (a sequential scan, 150 - 290 ms at 1M). `in:` walked the
-- documents of every room newest first to find the named room's (1.3 s for `in:general the` at 1M). Each
-- document now carries its author's name as `from:` compares it (lower()), kept by the indexer, and two
-- B-trees let a search walk one author's or one room's documents newest first (doc descending).
ALTER TABLE search_docs ADD COLUMN author TEXT NOT NULL DEFAULT '';
UPDATE search_docs d SET author = lower(m.author)
    FROM messages m WHERE m.room_id = d.room_id AND m.seq = d.seq;
CREATE INDEX search_docs_author ON search_docs (author, doc);
CREATE INDEX search_docs_room ON search_docs (room_id, doc);
-- Statistics for the new column and indexes (a server without autovacuum would otherwise plan without).
ANALYZE search_docs;
