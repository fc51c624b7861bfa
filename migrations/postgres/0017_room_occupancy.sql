-- Room occupancy for outgoing webhooks (issue 21): `room_occupied` when the first socket anywhere joins a
-- room, `room_vacated` when the last one leaves. Presence itself is never stored (docs/ARCHITECTURE.md,
-- invariant 5); what is stored is per room and per node, never who: each node's claim that it holds at
-- least one socket in a room (renewed every presence heartbeat, so a dead node's claims run out after the
-- presence TTL), the room's state, and the transitions as a small outbox the webhook sender follows.
-- Written off the join path by src/occupancy/ (a task fed through a bounded channel).

-- A room's state: occupied when some node's claim is live. last_seq numbers its transitions (1, 2, ...),
-- allocated in the transaction that flips `occupied`, which holds the row (so a room's events commit in
-- their order, and two nodes seeing the same change write one event).
CREATE TABLE room_occupancy (
    room_id    BIGINT PRIMARY KEY REFERENCES rooms (id),
    occupied   BOOLEAN NOT NULL DEFAULT FALSE,
    last_seq   BIGINT NOT NULL DEFAULT 0,
    changed_at BIGINT NOT NULL DEFAULT 0
);

-- Node `node` holds at least one socket in the room until `expires_at` (ms since the epoch).
CREATE TABLE room_occupancy_claims (
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    node       TEXT    NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, node)
);
CREATE INDEX room_occupancy_claims_node ON room_occupancy_claims (node);

-- The outbox: each transition of a room (`room_occupied` or `room_vacated`), numbered per room. Removed
-- once every hook that wants it has passed it, or after --webhook-give-up-secs.
CREATE TABLE occupancy_events (
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq     BIGINT NOT NULL,
    name    TEXT    NOT NULL,
    time_ms BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX occupancy_events_time ON occupancy_events (time_ms);

-- The last occupancy event of each room a hook has delivered (or passed over).
CREATE TABLE outgoing_hook_occupancy_marks (
    hook_id BIGINT NOT NULL REFERENCES outgoing_hooks (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    seq     BIGINT NOT NULL,
    PRIMARY KEY (hook_id, room_id)
);
