-- Moderation (issue 10): mutes and bans of a person in a room, slow mode per room, and the log of changes
-- every node polls to apply them (and to close the sockets of a ban or a kick) within about a second.
-- Rooms are named, not referenced: a room can be moderated before its first message.

-- kind: 'mute' or 'ban'. subject: 'u:<user id>' for an account, 'g:<nickname key>' for a guest (the key is
-- the nickname lowercased and NFC-normalised). until_ms: when it ends (NULL: until lifted; mutes always end).
CREATE TABLE moderation_sanctions (
    room       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    until_ms   BIGINT,
    actor      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (room, kind, subject)
);
CREATE INDEX moderation_sanctions_until ON moderation_sanctions (until_ms) WHERE until_ms IS NOT NULL;

-- Slow mode: one message per person every slow_mode_secs seconds (staff exempt). No row: off.
CREATE TABLE moderation_rooms (
    room           TEXT    PRIMARY KEY,
    slow_mode_secs BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

-- One row per change: action is mute, unmute, ban, unban, kick or slow_mode; subject as above ('' for
-- slow_mode). Ids come from a sequence, so they may become visible out of order: pollers also re-read the
-- last few seconds (see src/moderation/watch.rs).
CREATE TABLE moderation_events (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT  NOT NULL,
    room    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX moderation_events_at ON moderation_events (at);
