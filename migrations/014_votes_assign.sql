-- discourse-topic-voting and discourse-assign: the ticket keeps the vote count Discourse
-- sends and who the topic is assigned to (a user or a group).
ALTER TABLE tickets ADD COLUMN votes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN assignee TEXT;
ALTER TABLE tickets ADD COLUMN assignee_type TEXT;
CREATE INDEX tickets_by_assignee ON tickets (assignee);
