-- A test alert: an admin sends one down a contact's channel (or to a webhook) from the console
-- to see that it arrives. It travels the outbox like any alert, so it is retried and recorded,
-- but it is about no finding: `kind` is 'test' and `finding_id` is NULL. SQLite cannot drop a
-- NOT NULL, so the table is rebuilt the way SQLite documents (copy, drop, rename).
CREATE TABLE alert_deliveries_rebuilt (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT  NOT NULL REFERENCES schools(id),
    -- NULL only for a test alert.
    finding_id           BIGINT  REFERENCES findings(id),
    alert_round          BIGINT  NOT NULL,
    escalation_level     BIGINT  NOT NULL,
    kind                 TEXT    NOT NULL,
    -- Not foreign keys: a contact or webhook removed by a later import leaves its history.
    contact_id           BIGINT,
    webhook_id           BIGINT,
    channel              TEXT    NOT NULL,
    -- contact:ID or webhook:ID.
    recipient            TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    attempts             BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT  NOT NULL,
    lease_until          BIGINT,
    last_error           TEXT,
    created_at           BIGINT  NOT NULL,
    sent_at              BIGINT,
    -- For a `closed` notice: the alert (or escalation) delivery it follows.
    answers_delivery_id  BIGINT,
    skipped_because      TEXT,
    UNIQUE (finding_id, alert_round, escalation_level, kind, channel, recipient)
);
INSERT INTO alert_deliveries_rebuilt (id, school_id, finding_id, alert_round, escalation_level, kind,
    contact_id, webhook_id, channel, recipient, status, attempts, next_attempt_at, lease_until,
    last_error, created_at, sent_at, answers_delivery_id, skipped_because)
    SELECT id, school_id, finding_id, alert_round, escalation_level, kind, contact_id, webhook_id,
        channel, recipient, status, attempts, next_attempt_at, lease_until, last_error, created_at,
        sent_at, answers_delivery_id, skipped_because
    FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_rebuilt RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_by_finding ON alert_deliveries (finding_id);
-- The console shows each channel's latest test.
CREATE INDEX alert_deliveries_tests ON alert_deliveries (school_id, recipient, channel) WHERE kind = 'test';
