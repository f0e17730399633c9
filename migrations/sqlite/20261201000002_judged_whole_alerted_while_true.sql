-- A call is judged only on the whole picture, and alerted only while a finding is true.

-- The meeting an inbox event is about (instance:KEY for a call, scheduled:ID for a
-- schedule), so the evaluation worker can wait while a meeting's own events are still
-- unapplied instead of judging the call against the wall clock.
ALTER TABLE inbox ADD COLUMN meeting_ref TEXT;
CREATE INDEX inbox_pending_by_meeting ON inbox (platform, meeting_ref)
    WHERE processed_at IS NULL AND failed_at IS NULL;

-- Deliveries gain the kind `closed` (telling those alerted that a finding closed by itself),
-- which answers one earlier delivery and so shares its round, level, channel and recipient:
-- the unique key now includes the kind. A delivery can also be `skipped` (its finding was no
-- longer open when its turn came), with the reason kept. SQLite cannot change a table's
-- UNIQUE constraint, so the table is rebuilt the way SQLite documents (copy, drop, rename).
CREATE TABLE alert_deliveries_rebuilt (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT  NOT NULL REFERENCES schools(id),
    finding_id           BIGINT  NOT NULL REFERENCES findings(id),
    alert_round          BIGINT  NOT NULL,
    escalation_level     BIGINT  NOT NULL,
    kind                 TEXT    NOT NULL,
    -- Not foreign keys: a contact or webhook removed by a later import leaves its history.
    contact_id           BIGINT,
    webhook_id           BIGINT,
    channel              TEXT    NOT NULL,
    -- contact:ID or webhook:ID; NULL-free, so the unique key below holds on both backends.
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
    last_error, created_at, sent_at)
    SELECT id, school_id, finding_id, alert_round, escalation_level, kind, contact_id, webhook_id,
        channel, recipient, status, attempts, next_attempt_at, lease_until, last_error, created_at,
        sent_at
    FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_rebuilt RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_by_finding ON alert_deliveries (finding_id);

-- A chat message is kept only as "a message was sent at this time": the message ids stored
-- so far (in the inbox events and the call's signals) are replaced by meaningless refs that
-- keep two messages at the same instant apart.
UPDATE inbox SET body = json_set(body, '$.source_ref', 'legacy-' || id)
    WHERE event_type = 'signal' AND json_extract(body, '$.signal') = 'chat_message';
CREATE TABLE chat_signals_kept AS
    SELECT instance_id, at, ROW_NUMBER() OVER (PARTITION BY instance_id, at ORDER BY source_ref) AS n
    FROM instance_signals WHERE kind = 'chat_message';
DELETE FROM instance_signals WHERE kind = 'chat_message';
INSERT INTO instance_signals (instance_id, kind, at, source_ref)
    SELECT instance_id, 'chat_message', at, 'legacy-' || n FROM chat_signals_kept;
DROP TABLE chat_signals_kept;
