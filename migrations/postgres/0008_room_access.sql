-- Room kinds, members and roles (issue 18). A room is 'public' (anyone may read, as before), 'private'
-- (members only) or 'direct' (a fixed set of 2 to 8 accounts, found again by dm_key). created_by is the
-- account that created it through the API (NULL for rooms that exist from a first message: staff manage
-- them). Every membership change is also an event of the room's sequence (messages.kind = 4).
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public';
ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN created_by BIGINT REFERENCES users (id);
ALTER TABLE rooms ADD COLUMN dm_key TEXT;
CREATE UNIQUE INDEX rooms_dm_key ON rooms (dm_key) WHERE dm_key IS NOT NULL;

-- role: 'owner', 'moderator' or 'member'.
CREATE TABLE room_members (
    room_id  BIGINT  NOT NULL REFERENCES rooms (id),
    user_id  BIGINT  NOT NULL REFERENCES users (id),
    role     TEXT    NOT NULL,
    added_at BIGINT  NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);

-- Invite links to private rooms: the token is never stored, only its SHA-256 (hex).
CREATE TABLE room_invites (
    token_hash TEXT    PRIMARY KEY,
    room_id    BIGINT  NOT NULL REFERENCES rooms (id),
    created_by BIGINT  NOT NULL REFERENCES users (id),
    max_uses   BIGINT  NOT NULL,
    uses       BIGINT  NOT NULL DEFAULT 0,
    expires_at BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL
);
