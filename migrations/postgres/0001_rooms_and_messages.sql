-- Rooms hold the last sequence number handed out; messages are keyed by (room, seq).
CREATE TABLE rooms (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    last_seq   BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE messages (
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    seq        BIGINT NOT NULL,
    author     TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    client_id  TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq)
);

-- Idempotent sends: one message per (room, client_id).
CREATE UNIQUE INDEX messages_client_id ON messages (room_id, client_id) WHERE client_id IS NOT NULL;

CREATE INDEX rooms_updated_at ON rooms (updated_at);
