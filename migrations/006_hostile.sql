-- Hostile input (issue 18): a ticket whose overdue announcement failed is marked with the
-- reason and skipped, so one poisoned timer never blocks the others.
ALTER TABLE tickets ADD COLUMN announce_error TEXT;
