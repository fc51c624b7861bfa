-- Search narrowed by author (issue 20): each document carries its author's name as `from:` compares it
-- (lower()), kept by the indexer, so the filter reads the document rather than its message. PostgreSQL
-- indexes it (and (room_id, doc)); SQLite's plans walk the FTS5 matches or the documents newest first and
-- need no index for it. The FTS5 table follows `folded` only: filling the new column must not index every
-- document again.
DROP TRIGGER search_docs_au;
CREATE TRIGGER search_docs_au AFTER UPDATE OF folded ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, folded) VALUES ('delete', old.doc, old.folded);
    INSERT INTO search_fts (rowid, folded) VALUES (new.doc, new.folded);
END;
ALTER TABLE search_docs ADD COLUMN author TEXT NOT NULL DEFAULT '';
UPDATE search_docs SET author = COALESCE((
    SELECT lower(m.author) FROM messages m
    WHERE m.room_id = search_docs.room_id AND m.seq = search_docs.seq
), '');
