-- Delivery: which worker holds a lease, and the health of each destination
-- (a chat channel by name, or 'discourse') for /healthz.

ALTER TABLE outbox ADD COLUMN worker TEXT;

-- The head of each ticket's queue: the oldest undelivered action (claim's per-ticket order).
CREATE INDEX outbox_undelivered ON outbox (ticket_id, id) WHERE status IN ('pending', 'sending');

CREATE TABLE destination_health (
    name        TEXT PRIMARY KEY,      -- a channel name, or 'discourse'
    ok          INTEGER NOT NULL,      -- 1: the last send worked; 0: it was refused for good
    http_status INTEGER,
    last_error  TEXT,
    action_id   INTEGER,
    since       TEXT NOT NULL,         -- when it entered this state
    updated_at  TEXT NOT NULL
);
