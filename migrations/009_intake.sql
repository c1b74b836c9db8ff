-- Intake beyond Discourse: tickets asked for in Microsoft Teams (an outgoing webhook) or
-- through a form (a Power Automate flow, or any client with the form token).
--
-- An intake is stored before it is acknowledged, together with its outbox action
-- (kind create_intake_topic, ticket_id = -intake id: no ticket exists yet, and a negative
-- id never meets a topic id, so each intake keeps its own place in the delivery order).
-- Its state is read from that action: pending (waiting or retrying), created (sent), failed
-- (dead, with the reason). The topic's webhook links the ticket back (ticket_id).

CREATE TABLE intakes (
    id               INTEGER PRIMARY KEY,
    source           TEXT NOT NULL,          -- teams | form
    external_id      TEXT,                   -- the Teams Activity id, or the form's external_id
    title            TEXT NOT NULL,
    priority         TEXT NOT NULL,          -- low | normal | high | urgent
    description      TEXT NOT NULL,
    requester_name   TEXT,
    requester_email  TEXT,
    requester_extra  TEXT NOT NULL DEFAULT '{}',   -- JSON: Teams ids (aadObjectId, from.id)
    category         TEXT,                   -- the slug (or id) the topic goes to
    tags             TEXT NOT NULL DEFAULT '[]',
    action_id        INTEGER,                -- the outbox row that creates the topic
    topic_id         INTEGER,                -- recorded once Discourse made the topic
    topic_url        TEXT,
    posted_as        TEXT,                   -- the forum user the topic was posted as
    ticket_id        INTEGER,                -- set when the topic's webhook made the ticket
    received_at      TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX intakes_by_external_id ON intakes (source, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX intakes_by_topic ON intakes (topic_id);

-- Tickets say where they came from and who asked (additive: Discourse tickets keep the defaults).
ALTER TABLE tickets ADD COLUMN source TEXT NOT NULL DEFAULT 'discourse';   -- discourse | teams | form
ALTER TABLE tickets ADD COLUMN requester TEXT;                             -- JSON {name, email, source}
