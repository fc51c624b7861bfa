-- Search narrowed by room or author on SQLite (issue 20), as PostgreSQL does since 0012: two B-trees let a
-- search walk one room's or one author's documents newest first. Without them, `in:design the` at 10M
-- messages followed FTS5's matches of `the` newest first through every other room's (seconds: an import
-- writes each room's messages as one block of documents), and `from:<someone quiet> deploy` every match of
-- `deploy` to find theirs.
CREATE INDEX search_docs_room ON search_docs (room_id, doc);
CREATE INDEX search_docs_author ON search_docs (author, doc);
