-- Files and images in messages (issue 20). An upload is a row here and its bytes in the file store
-- (src/files/: a directory or S3) under its id; a send that attaches it sets seq to its message's id. The
-- message keeps what it shows of its files (name, size, type, image size) in messages.files as JSON, so
-- reading history joins nothing. A file whose message is deleted (or removed by retention) is marked
-- gone: downloads stop at once and the janitor removes its bytes, as it removes uploads never attached.
CREATE TABLE files (
    id           TEXT    PRIMARY KEY,
    room         TEXT    NOT NULL,
    uploader_id  INTEGER REFERENCES users (id),
    uploader_key TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    width        INTEGER,
    height       INTEGER,
    -- 0: no thumbnail, 1: one is wanted, 2: made.
    thumb        INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    seq          INTEGER,
    gone         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX files_message ON files (room, seq);
CREATE INDEX files_quota ON files (uploader_key, created_at);
CREATE INDEX files_unattached ON files (created_at) WHERE seq IS NULL;
CREATE INDEX files_gone ON files (id) WHERE gone;

ALTER TABLE messages ADD COLUMN files TEXT;
