-- Accounts (Django's auth_user), server-side sessions, API tokens, the admin's audit log, and the
-- revocations every node watches to close sockets whose credentials stopped working.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL,
    -- NFC + lowercase: the unique key that makes "Alice" and "alice" the same person.
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    is_staff      BOOLEAN NOT NULL DEFAULT 0,
    is_active     BOOLEAN NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    last_login    INTEGER
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's value: a stolen database does not hold live session ids.
    key_hash   TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users (id),
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    detail   TEXT    NOT NULL DEFAULT ''
);

-- Credentials that stopped working; each node polls this to close the affected sockets.
-- credential: '' = every credential of the user, 's:<session hash>' or 't:<token id>'.
CREATE TABLE auth_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    credential TEXT    NOT NULL DEFAULT ''
);

ALTER TABLE rooms ADD COLUMN locked BOOLEAN NOT NULL DEFAULT 0;

-- The author's account (NULL: a guest). kind 0 is a message, 1 the deletion of message `target`, 2 the
-- deletion of every message up to `target`; `deleted` marks a message whose text was removed (a tombstone).
ALTER TABLE messages ADD COLUMN author_id INTEGER REFERENCES users (id);
ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX messages_author ON messages (author_id, room_id, seq) WHERE author_id IS NOT NULL;
