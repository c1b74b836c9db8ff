-- Order per ticket *per destination*: a ticket's actions keep their order within one
-- destination (a channel by name, or Discourse), and an outage of one destination never
-- holds back another. `destination` is 'discourse' or 'channel:<name>' (a notify action's
-- channel). Existing rows are backfilled; a trigger fills it for rows inserted without it,
-- so every writer of the outbox (the processor, the CLI, plugins) gets it.

ALTER TABLE outbox ADD COLUMN destination TEXT;

UPDATE outbox SET destination = CASE
    WHEN kind = 'notify' THEN 'channel:' || COALESCE(json_extract(params, '$.channel'), '')
    ELSE 'discourse' END
WHERE destination IS NULL;

CREATE TRIGGER outbox_destination AFTER INSERT ON outbox WHEN NEW.destination IS NULL
BEGIN
    UPDATE outbox SET destination = CASE
        WHEN NEW.kind = 'notify' THEN 'channel:' || COALESCE(json_extract(NEW.params, '$.channel'), '')
        ELSE 'discourse' END
    WHERE id = NEW.id;
END;

-- The head of each (ticket, destination) queue: the oldest undelivered action there.
CREATE INDEX outbox_undelivered_by_destination ON outbox (ticket_id, destination, id)
    WHERE status IN ('pending', 'sending');
