-- Changes syncd is about to make in Discourse, so their webhook echo fires no rule.
CREATE TABLE echoes (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL,
    kind        TEXT NOT NULL,     -- category | tag_added | tag_removed | closed | visibility
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX echoes_by_ticket ON echoes (ticket_id, kind, value);
