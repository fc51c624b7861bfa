-- Bots and incoming webhooks (issue 21). A bot is an account that signs in by API token only (no password
-- verifies against its unusable hash, and the login refuses it anyway). A message says whether a bot or an
-- incoming hook wrote it, so history and the API carry "bot": true as the live frame did. An incoming hook
-- posts into one room under its name; only its token's SHA-256 is kept, as for API tokens.
ALTER TABLE users ADD COLUMN is_bot BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN bot BOOLEAN NOT NULL DEFAULT 0;

CREATE TABLE incoming_hooks (
    id          INTEGER PRIMARY KEY,
    room        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_by  INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX incoming_hooks_room ON incoming_hooks (room);
