-- What reconcile last saw of each topic in Discourse's topic lists: the fingerprint
-- that says whether a topic's likes are worth fetching again. Cursors and the --full
-- checkpoint live in `settings` (reconcile.cursor.<category>, reconcile.checkpoint).
CREATE TABLE reconcile_topics (
    topic_id     INTEGER PRIMARY KEY,
    bumped_at    TEXT,
    like_count   INTEGER NOT NULL DEFAULT 0,
    posts_count  INTEGER NOT NULL DEFAULT 0,
    seen_at      TEXT NOT NULL
);
