-- A test alert: an admin sends one down a contact's channel (or to a webhook) from the console
-- to see that it arrives. It travels the outbox like any alert, so it is retried and recorded,
-- but it is about no finding: `kind` is 'test' and `finding_id` is NULL.
ALTER TABLE alert_deliveries ALTER COLUMN finding_id DROP NOT NULL;
-- The console shows each channel's latest test.
CREATE INDEX alert_deliveries_tests ON alert_deliveries (school_id, recipient, channel) WHERE kind = 'test';
