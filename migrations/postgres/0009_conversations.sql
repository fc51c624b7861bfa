-- Conversations (issue 19): replies, reactions, mentions and pins. Each change is also an event of the
-- room's sequence (messages.kind: 5 reaction, 6 pin, 7 topic); these tables hold what the events add up
-- to, changed in the event's transaction, so reads aggregate without replaying events.

-- A reply's thread root (always a root: a reply to a reply names the root), and the accounts a message
-- mentions as the server resolved them (names separated by spaces; NULL when none).
ALTER TABLE messages ADD COLUMN reply_to BIGINT;
ALTER TABLE messages ADD COLUMN mentions TEXT;
CREATE INDEX messages_reply_to ON messages (room_id, reply_to, seq) WHERE reply_to IS NOT NULL;

-- One reaction per person, emoji and message; seq is the event that added it (order of first use).
CREATE TABLE reactions (
    room_id   BIGINT NOT NULL REFERENCES rooms (id),
    target    BIGINT NOT NULL,
    emoji     TEXT    NOT NULL,
    user_id   BIGINT NOT NULL REFERENCES users (id),
    user_name TEXT    NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (room_id, target, emoji, user_id)
);

-- The room's pinned messages.
CREATE TABLE pins (
    room_id   BIGINT NOT NULL REFERENCES rooms (id),
    target    BIGINT NOT NULL,
    pinned_by TEXT    NOT NULL,
    pinned_at BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (room_id, target)
);

-- Who a message mentions, for each account's unread-mention counts.
CREATE TABLE mentions (
    user_id BIGINT NOT NULL REFERENCES users (id),
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq     BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, seq)
);
CREATE INDEX mentions_message ON mentions (room_id, seq);
