-- The staff web page: people who signed in with DiscourseConnect, their alert preferences,
-- their sign-in sessions and the one-use nonces of sign-ins under way, and the personal
-- alerts a `notify: subscribers` action fanned out to (one row a person and action).

CREATE TABLE web_people (
    id             INTEGER PRIMARY KEY,      -- the Discourse user id (external_id)
    username       TEXT NOT NULL,
    name           TEXT,
    email          TEXT,
    admin          INTEGER NOT NULL DEFAULT 0,
    moderator      INTEGER NOT NULL DEFAULT 0,
    groups         TEXT NOT NULL DEFAULT '[]',
    active         INTEGER NOT NULL DEFAULT 1,   -- staff when they last signed in
    first_seen_at  TEXT NOT NULL,
    last_login_at  TEXT NOT NULL
);
CREATE INDEX web_people_by_username ON web_people (username);

CREATE TABLE alert_preferences (
    person_id     INTEGER PRIMARY KEY REFERENCES web_people (id),
    events        TEXT NOT NULL DEFAULT '["new_ticket","urgent_high"]',
    categories    TEXT NOT NULL DEFAULT '[]',    -- slugs; [] = every category
    tags          TEXT NOT NULL DEFAULT '[]',    -- [] = any tags
    min_priority  TEXT NOT NULL DEFAULT 'low',
    destination   TEXT NOT NULL DEFAULT 'none',  -- none | gchat | email | pm
    gchat_url     TEXT NOT NULL DEFAULT '',      -- a secret: never shown back whole, never logged
    email         TEXT NOT NULL DEFAULT '',
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    quiet_start   TEXT NOT NULL DEFAULT '',
    quiet_end     TEXT NOT NULL DEFAULT '',
    digest_below  TEXT NOT NULL DEFAULT '',
    digest_at     TEXT NOT NULL DEFAULT '09:00',
    updated_at    TEXT NOT NULL
);

-- A signed-in browser: the cookie holds a random token, this table its SHA-256 only.
CREATE TABLE web_sessions (
    token_sha256  TEXT PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES web_people (id),
    csrf          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

-- A sign-in under way: the nonce sent to Discourse, used once, short-lived.
CREATE TABLE web_nonces (
    nonce       TEXT PRIMARY KEY,
    next_path   TEXT NOT NULL DEFAULT '/me',
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- One personal alert per (action, person): a retried fan-out never sends twice.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    source_action   INTEGER NOT NULL,       -- the outbox row of `notify: subscribers`
    person_id       INTEGER NOT NULL,
    outbox_id       INTEGER NOT NULL,       -- the outbox row that carries this alert
    created_at      TEXT NOT NULL,
    UNIQUE (source_action, person_id)
);
CREATE INDEX alerts_by_person ON alerts (person_id, id);
