-- syncd import: the local map Freshdesk id -> Discourse id, written before a call is marked
-- done, so a rerun creates nothing twice; the problems found; the runs and their progress.
CREATE TABLE import_map (
    source      TEXT NOT NULL DEFAULT 'freshdesk',
    kind        TEXT NOT NULL,              -- user | topic | post | close | member
    source_id   TEXT NOT NULL,              -- the Freshdesk id (user, ticket, note)
    state       TEXT NOT NULL,              -- pending (in flight) | done | failed | skipped
    discourse_id INTEGER,                   -- user id, topic id, post id
    ref         TEXT,                       -- user: username; post: the Freshdesk ticket id
    email       TEXT,                       -- user: the lowercased email (duplicates, look-ups)
    agent       INTEGER NOT NULL DEFAULT 0, -- user: a Freshdesk agent
    reason      TEXT,                       -- failed / skipped: why
    attempts    INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, kind, source_id)
);
CREATE INDEX import_map_by_email ON import_map (source, email);
CREATE INDEX import_map_by_ref ON import_map (source, kind, ref COLLATE NOCASE);
CREATE INDEX import_map_by_state ON import_map (source, kind, state);

CREATE TABLE import_problems (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL DEFAULT 'freshdesk',
    file       TEXT NOT NULL,
    record     TEXT NOT NULL,
    message    TEXT NOT NULL,
    severity   TEXT NOT NULL DEFAULT 'error',
    at         TEXT NOT NULL
);
CREATE UNIQUE INDEX import_problems_once ON import_problems (source, file, record, message);

CREATE TABLE import_runs (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL DEFAULT 'freshdesk',
    export_dir   TEXT NOT NULL,
    status       TEXT NOT NULL,             -- running | done | interrupted | failed
    phase        TEXT NOT NULL DEFAULT 'start',
    pid          INTEGER,
    calls        INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    per_minute   REAL NOT NULL,
    total_items  INTEGER NOT NULL DEFAULT 0, -- users + topics + posts in the export
    message      TEXT,
    started_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT
);

-- What an imported ticket was in Freshdesk (source 'freshdesk', its fields kept).
CREATE TABLE imported_tickets (
    ticket_id    INTEGER PRIMARY KEY,       -- the Discourse topic id = syncd's ticket id
    source       TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    display_id   TEXT,
    fields       TEXT NOT NULL DEFAULT '{}',
    imported_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX imported_tickets_by_source ON imported_tickets (source, source_id);
