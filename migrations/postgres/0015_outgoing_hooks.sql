-- Outgoing webhooks (issue 21). A hook is a receiver's URL, the events it wants, and the secret its batches
-- are signed with (kept as given: it must sign, so it cannot be a digest). room_id NULL: every room (staff).
-- The sender (src/hooks/deliver.rs) follows each room's sequence from the hook's own mark, like the search
-- indexer, so the message path writes nothing for it. One node sends a hook's batches: the one holding its
-- lease (lease_node, lease_until). The last deliveries and failures of each hook are kept for the admin.
CREATE TABLE outgoing_hooks (
    id          BIGSERIAL PRIMARY KEY,
    room_id     BIGINT REFERENCES rooms (id),
    url         TEXT    NOT NULL,
    -- The event names, separated by spaces.
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_by  BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    lease_node  TEXT    NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outgoing_hooks_room ON outgoing_hooks (room_id);

-- The last id of each room a hook has delivered (or passed over).
CREATE TABLE outgoing_hook_marks (
    hook_id BIGINT NOT NULL REFERENCES outgoing_hooks (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq     BIGINT NOT NULL,
    PRIMARY KEY (hook_id, room_id)
);

-- Each attempt's outcome: delivered, failed (retried) or gave_up (the batch was passed over after 24 h).
CREATE TABLE outgoing_hook_deliveries (
    id        BIGSERIAL PRIMARY KEY,
    hook_id   BIGINT NOT NULL REFERENCES outgoing_hooks (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    room      TEXT    NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL,
    events    BIGINT NOT NULL,
    result    TEXT    NOT NULL,
    -- The receiver's HTTP status (0: no answer).
    status    BIGINT NOT NULL,
    detail    TEXT    NOT NULL,
    attempt   BIGINT NOT NULL
);
CREATE INDEX outgoing_hook_deliveries_hook ON outgoing_hook_deliveries (hook_id, id);
