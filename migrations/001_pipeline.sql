-- The durable pipeline: deliveries as received, tickets and their history,
-- rule firings and the outbox of actions. Timestamps are ISO-8601 UTC text.

CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    instance      TEXT NOT NULL DEFAULT '',
    event_id      TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    body_sha256   TEXT NOT NULL,
    body          BLOB NOT NULL,
    headers       TEXT NOT NULL,            -- JSON: the headers that matter
    topic_id      INTEGER,
    source        TEXT NOT NULL DEFAULT 'webhook',   -- webhook | replay | reconcile | timer
    status        TEXT NOT NULL DEFAULT 'pending',   -- pending | processed | failed
    error         TEXT,
    received_at   TEXT NOT NULL,
    processed_at  TEXT
);
CREATE UNIQUE INDEX deliveries_by_event_id ON deliveries (instance, event_id);
CREATE UNIQUE INDEX deliveries_by_body ON deliveries (event_name, body_sha256);
CREATE INDEX deliveries_pending ON deliveries (status, id);
CREATE INDEX deliveries_by_topic ON deliveries (topic_id);

CREATE TABLE tickets (
    id                 INTEGER PRIMARY KEY,   -- the Discourse topic id
    title              TEXT NOT NULL DEFAULT '',
    slug               TEXT,
    url                TEXT,
    category_id        INTEGER,
    tags               TEXT NOT NULL DEFAULT '[]',
    status             TEXT NOT NULL DEFAULT 'open',
    stage              TEXT NOT NULL DEFAULT 'open',
    closed             INTEGER NOT NULL DEFAULT 0,
    deleted            INTEGER NOT NULL DEFAULT 0,
    priority           TEXT NOT NULL DEFAULT 'normal',
    visibility         TEXT NOT NULL DEFAULT 'public',
    likes              INTEGER NOT NULL DEFAULT 0,
    likers             TEXT NOT NULL DEFAULT '[]',
    author             TEXT,
    author_id          INTEGER,
    body               TEXT NOT NULL DEFAULT '',
    created_at         TEXT,
    updated_at         TEXT,
    first_response_at  TEXT,
    resolved_at        TEXT,
    accepted_post_id   INTEGER,
    has_topic          INTEGER NOT NULL DEFAULT 0,
    has_first_post     INTEGER NOT NULL DEFAULT 0,
    announced          INTEGER NOT NULL DEFAULT 0,
    topic_seq          INTEGER NOT NULL DEFAULT 0,
    solution_seq       INTEGER NOT NULL DEFAULT 0,
    first_seen_at      TEXT NOT NULL           -- when syncd first stored this ticket
);
CREATE INDEX tickets_by_status ON tickets (status, priority);
CREATE INDEX tickets_unannounced ON tickets (announced, first_seen_at);

CREATE TABLE ticket_history (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,        -- event | change | rule | action | note
    name         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT 'webhook',
    detail       TEXT NOT NULL DEFAULT '{}',
    delivery_id  INTEGER
);
CREATE INDEX ticket_history_by_ticket ON ticket_history (ticket_id, id);

CREATE TABLE rule_firings (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL,
    rule         TEXT NOT NULL,
    event        TEXT NOT NULL,
    fired_at     TEXT NOT NULL,
    delivery_id  INTEGER
);
CREATE INDEX rule_firings_by_ticket ON rule_firings (ticket_id, rule);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    ticket_id        INTEGER NOT NULL,
    kind             TEXT NOT NULL,      -- notify | reply | set_visibility | ...
    params           TEXT NOT NULL,      -- JSON, everything the send needs
    rule             TEXT,
    delivery_id      INTEGER,
    status           TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | dead | dry_run
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    last_error       TEXT,
    result           TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_ticket ON outbox (ticket_id, id);

-- Small key/value facts: the generated webhook secret, sync cursors.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Category slug <-> id, from config's category_map and from Discourse's site categories.
CREATE TABLE categories (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT,
    source      TEXT NOT NULL,       -- config | discourse
    updated_at  TEXT NOT NULL
);
CREATE INDEX categories_by_slug ON categories (slug);

-- Members of the configured staff groups, read from Discourse when a URL is set.
CREATE TABLE staff_members (
    username    TEXT PRIMARY KEY,
    group_name  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
