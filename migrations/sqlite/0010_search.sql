-- Full-text search (issue 20). The indexer (src/search/indexer.rs) follows each room's sequence after the
-- messages are stored and delivered, from its own mark, and keeps one row per message in search_docs: the
-- message's text folded (lowercase, accents and compatibility forms removed) so that one trigram index
-- finds words, prefixes and substrings alike (`depl`, `foo.png`, `C++20`). doc numbers rise in indexing
-- order, which is commit order per room: newest first is doc order, descending.
CREATE TABLE search_docs (
    doc     INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms (id),
    seq     INTEGER NOT NULL,
    folded  TEXT    NOT NULL
);
CREATE UNIQUE INDEX search_docs_message ON search_docs (room_id, seq);

CREATE VIRTUAL TABLE search_fts USING fts5 (
    folded, content = 'search_docs', content_rowid = 'doc', tokenize = 'trigram'
);
CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, folded) VALUES (new.doc, new.folded);
END;
CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, folded) VALUES ('delete', old.doc, old.folded);
END;
CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, folded) VALUES ('delete', old.doc, old.folded);
    INSERT INTO search_fts (rowid, folded) VALUES (new.doc, new.folded);
END;

-- How far the indexer has followed each room (its last id applied).
CREATE TABLE search_marks (
    room_id INTEGER PRIMARY KEY REFERENCES rooms (id),
    indexed INTEGER NOT NULL
);
