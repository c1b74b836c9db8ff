-- Full-text index of tickets (title + first post) for suggest_similar: a standalone FTS5
-- table whose rowid is the ticket id. syncd.similar.index keeps it up to date; BM25 ranks.
CREATE VIRTUAL TABLE ticket_search USING fts5(
    title,
    body,
    tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO ticket_search (rowid, title, body) SELECT id, title, body FROM tickets;
