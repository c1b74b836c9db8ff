-- Time: timers (SLA warnings and breaches, idle tickets, scheduled rules), each ticket's SLA
-- clocks, and notifications held back by a channel's quiet hours or digest.

CREATE TABLE timers (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER,                 -- NULL: a scheduled rule (no ticket)
    kind        TEXT NOT NULL,           -- sla_warning | sla_breached | ticket_idle | schedule
    target      TEXT NOT NULL DEFAULT '',-- the SLA target, the idle rule, or the scheduled rule
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | fired | cancelled | failed
    late        INTEGER NOT NULL DEFAULT 0,        -- fired well after due_at (syncd was down)
    fired_at    TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- At most one pending timer of a kind and target per ticket (schedules: ticket_id is NULL).
CREATE UNIQUE INDEX timers_pending_key ON timers (IFNULL(ticket_id, 0), kind, target)
    WHERE status = 'pending';
CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_by_ticket ON timers (ticket_id, status);

CREATE TABLE ticket_slas (
    ticket_id   INTEGER PRIMARY KEY,
    policy      TEXT,
    state       TEXT NOT NULL,          -- JSON: core.sla.SlaState.as_dict()
    updated_at  TEXT NOT NULL
);

-- Held notifications: status 'held' until hold_until; 'quiet' ones go back to pending then,
-- 'digest' ones are collected into one digest notification (status 'digested').
ALTER TABLE outbox ADD COLUMN hold_kind TEXT;
ALTER TABLE outbox ADD COLUMN hold_until TEXT;
CREATE INDEX outbox_held ON outbox (hold_until) WHERE status = 'held';
