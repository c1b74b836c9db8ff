-- Channels: what a channel keeps per ticket between sends (Slack's thread ts, Trello's card
-- id, "this action is being sent" markers), so a resend after a crash finds the first one.

CREATE TABLE channel_refs (
    channel     TEXT NOT NULL,         -- the channel's name in the config
    ticket_id   INTEGER NOT NULL,
    key         TEXT NOT NULL,         -- e.g. 'thread_ts', 'card'
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (channel, ticket_id, key)
);
