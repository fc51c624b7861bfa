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
    until_ms   INTEGER,
    actor      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room, kind, subject)
) WITHOUT ROWID;
CREATE INDEX moderation_sanctions_until ON moderation_sanctions (until_ms) WHERE until_ms IS NOT NULL;

-- Slow mode: one message per person every slow_mode_secs seconds (staff exempt). No row: off.
CREATE TABLE moderation_rooms (
    room           TEXT    PRIMARY KEY,
    slow_mode_secs INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per change: action is mute, unmute, ban, unban, kick or slow_mode; subject as above ('' for
-- slow_mode). AUTOINCREMENT: ids are never reused after old rows are purged, so a poller never misses one.
CREATE TABLE moderation_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    room    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX moderation_events_at ON moderation_events (at);
