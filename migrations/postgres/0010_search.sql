-- Full-text search (issue 20). The indexer (src/search/indexer.rs) follows each room's sequence after the
-- messages are stored and delivered, from its own mark, and keeps one row per message in search_docs: the
-- message's text folded (lowercase, accents and compatibility forms removed) so that one trigram index
-- (pg_trgm, a trusted extension) serves words, prefixes and substrings alike through LIKE (`depl`,
-- `foo.png`, `C++20`). doc numbers rise in indexing order: newest first is doc order, descending.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_docs (
    doc     BIGSERIAL PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq     BIGINT NOT NULL,
    folded  TEXT   NOT NULL
);
CREATE UNIQUE INDEX search_docs_message ON search_docs (room_id, seq);
CREATE INDEX search_docs_trgm ON search_docs USING gin (folded gin_trgm_ops);

-- How far the indexer has followed each room (its last id applied).
CREATE TABLE search_marks (
    room_id BIGINT PRIMARY KEY REFERENCES rooms (id),
    indexed BIGINT NOT NULL
);
