-- Web Push (issue 21). The node's VAPID key pair: one row, made by whichever node starts first (every node
-- signs with the same key, so subscriptions made through one node work through all). The private key is
-- the base64url of its 32-byte scalar.
CREATE TABLE push_keys (
    id          BIGINT  PRIMARY KEY CHECK (id = 1),
    private_key TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- A browser's push subscription (RFC 8030): where to POST and the keys to encrypt for (RFC 8291). Unique
-- by endpoint: subscribing again from the same browser updates its row (and its owner).
CREATE TABLE push_subscriptions (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   TEXT    NOT NULL UNIQUE,
    p256dh     TEXT    NOT NULL,
    auth       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);
