-- The record ledger: every fact chaperone records about a call (the call, its participants'
-- joins and leaves, breakout stays, signals, settings read, findings and their history,
-- alert deliveries, outcomes), each school's facts in a chain of their own. An entry holds
-- the SHA-256 of the canonical encoding of the record as it then stood (`content_hash`),
-- the encoding itself (`content`, emptied when retention purges the record), and its
-- `hash` over the previous entry's hash and every other column (see src/ledger/chain.rs).
-- Sequence numbers are given by the appender from `ledger_heads`, 1, 2, 3 … per school.
-- change: recorded, changed, removed, purged or stated (a daily completeness statement).
CREATE TABLE ledger_entries (
    school_id    BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    record_class TEXT   NOT NULL,
    record_key   TEXT   NOT NULL,
    change       TEXT   NOT NULL,
    content      TEXT,
    content_hash TEXT   NOT NULL,
    prev_hash    TEXT   NOT NULL,
    hash         TEXT   NOT NULL,
    PRIMARY KEY (school_id, seq)
);
CREATE INDEX ledger_entries_by_record ON ledger_entries (school_id, record_class, record_key, seq);
CREATE INDEX ledger_entries_by_time ON ledger_entries (school_id, at);

-- Only a purge may touch an entry, and only to empty its content.
CREATE TRIGGER ledger_entries_refuse_update BEFORE UPDATE ON ledger_entries
WHEN NEW.content IS NOT NULL
  OR NEW.school_id IS NOT OLD.school_id OR NEW.seq IS NOT OLD.seq OR NEW.at IS NOT OLD.at
  OR NEW.record_class IS NOT OLD.record_class OR NEW.record_key IS NOT OLD.record_key
  OR NEW.change IS NOT OLD.change OR NEW.content_hash IS NOT OLD.content_hash
  OR NEW.prev_hash IS NOT OLD.prev_hash OR NEW.hash IS NOT OLD.hash
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only (a purge may only empty content)');
END;

CREATE TRIGGER ledger_entries_refuse_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

-- Each school's chain end: its last entry's seq and hash (0 and 64 zeros while empty).
-- Appends lock it and move it in their transaction, which keeps a school's chain from forking.
CREATE TABLE ledger_heads (
    school_id BIGINT PRIMARY KEY,
    last_seq  BIGINT NOT NULL,
    last_hash TEXT   NOT NULL
);

-- The content hash each record was last recorded with: what the next sync compares against.
-- Derived from the entries (verify never trusts it), so that a sync need not walk the chain.
CREATE TABLE ledger_records (
    school_id    BIGINT NOT NULL,
    record_class TEXT   NOT NULL,
    record_key   TEXT   NOT NULL,
    content_hash TEXT   NOT NULL,
    last_seq     BIGINT NOT NULL,
    PRIMARY KEY (school_id, record_class, record_key)
);

-- A school's chain head as it stood at the end of a local day, signed with the instance's
-- Ed25519 key (derived from the secrets key, which the database does not hold): someone who
-- rewrites the database cannot sign a new head, and the digest has sent the head to the DSL.
CREATE TABLE ledger_published_heads (
    school_id    BIGINT NOT NULL,
    local_date   TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    hash         TEXT   NOT NULL,
    published_at BIGINT NOT NULL,
    public_key   TEXT   NOT NULL,
    signature    TEXT   NOT NULL,
    PRIMARY KEY (school_id, local_date)
);

-- What each retention purge removed, by record class, for the daily statement.
CREATE TABLE retention_purges (
    id           INTEGER PRIMARY KEY,
    school_id    BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    record_class TEXT   NOT NULL,
    purged       BIGINT NOT NULL,
    older_than   BIGINT NOT NULL
);
CREATE INDEX retention_purges_by_school_time ON retention_purges (school_id, at);

-- Records awaiting the ledger: the triggers below note every insert, update and delete of a
-- record the ledger covers, in the writer's own transaction, so that no way of writing one
-- (a worker, the console, an import, a hand-typed UPDATE) escapes it; the ledger keeper
-- (src/ledger/keeper.rs) then chains what changed. `purge` marks a key a retention purge
-- removed, so that its entry is a tombstone rather than a removal. (On SQLite the triggers
-- test for the key rather than `INSERT OR IGNORE`: a trigger's conflict clause gives way to
-- the writing statement's, and the writers' upserts would make a repeated key an error.)
CREATE TABLE ledger_pending (
    record_class TEXT   NOT NULL,
    record_key   TEXT   NOT NULL,
    purge        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (record_class, record_key)
);

CREATE TRIGGER ledger_notes_meeting_instances_insert AFTER INSERT ON meeting_instances
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'call', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'call' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_meeting_instances_update AFTER UPDATE ON meeting_instances
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'call', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'call' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_meeting_instances_delete AFTER DELETE ON meeting_instances
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'call', CAST(OLD.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'call' AND record_key = CAST(OLD.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_participant_sessions_insert AFTER INSERT ON participant_sessions
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'participant', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'participant' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_participant_sessions_update AFTER UPDATE ON participant_sessions
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'participant', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'participant' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_participant_sessions_delete AFTER DELETE ON participant_sessions
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'participant', CAST(OLD.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'participant' AND record_key = CAST(OLD.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_room_stays_insert AFTER INSERT ON room_stays
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'room_stay', json_array(NEW.instance_id, NEW.room_key, NEW.stay_key)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'room_stay' AND record_key = json_array(NEW.instance_id, NEW.room_key, NEW.stay_key));
END;

CREATE TRIGGER ledger_notes_room_stays_update AFTER UPDATE ON room_stays
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'room_stay', json_array(NEW.instance_id, NEW.room_key, NEW.stay_key)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'room_stay' AND record_key = json_array(NEW.instance_id, NEW.room_key, NEW.stay_key));
END;

CREATE TRIGGER ledger_notes_room_stays_delete AFTER DELETE ON room_stays
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'room_stay', json_array(OLD.instance_id, OLD.room_key, OLD.stay_key)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'room_stay' AND record_key = json_array(OLD.instance_id, OLD.room_key, OLD.stay_key));
END;

CREATE TRIGGER ledger_notes_instance_signals_insert AFTER INSERT ON instance_signals
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'signal', json_array(NEW.instance_id, NEW.kind, NEW.at, NEW.source_ref)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'signal' AND record_key = json_array(NEW.instance_id, NEW.kind, NEW.at, NEW.source_ref));
END;

CREATE TRIGGER ledger_notes_instance_signals_update AFTER UPDATE ON instance_signals
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'signal', json_array(NEW.instance_id, NEW.kind, NEW.at, NEW.source_ref)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'signal' AND record_key = json_array(NEW.instance_id, NEW.kind, NEW.at, NEW.source_ref));
END;

CREATE TRIGGER ledger_notes_instance_signals_delete AFTER DELETE ON instance_signals
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'signal', json_array(OLD.instance_id, OLD.kind, OLD.at, OLD.source_ref)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'signal' AND record_key = json_array(OLD.instance_id, OLD.kind, OLD.at, OLD.source_ref));
END;

CREATE TRIGGER ledger_notes_meeting_settings_insert AFTER INSERT ON meeting_settings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'settings', json_array(NEW.platform, NEW.platform_meeting_id)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'settings' AND record_key = json_array(NEW.platform, NEW.platform_meeting_id));
END;

CREATE TRIGGER ledger_notes_meeting_settings_update AFTER UPDATE ON meeting_settings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'settings', json_array(NEW.platform, NEW.platform_meeting_id)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'settings' AND record_key = json_array(NEW.platform, NEW.platform_meeting_id));
END;

CREATE TRIGGER ledger_notes_meeting_settings_delete AFTER DELETE ON meeting_settings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'settings', json_array(OLD.platform, OLD.platform_meeting_id)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'settings' AND record_key = json_array(OLD.platform, OLD.platform_meeting_id));
END;

CREATE TRIGGER ledger_notes_findings_insert AFTER INSERT ON findings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_findings_update AFTER UPDATE OF school_id, finding_key, rule, scope, scheduled_meeting_id, meeting_instance_id, subject, severity, status, title, summary, clause, people, occurred_at, opened_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution_note, version, alert_round, alert_level, alerted_at, platform_account_id, windows ON findings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_findings_delete AFTER DELETE ON findings
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding', CAST(OLD.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding' AND record_key = CAST(OLD.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_finding_history_insert AFTER INSERT ON finding_history
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding_change', json_array(NEW.finding_id, NEW.version)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding_change' AND record_key = json_array(NEW.finding_id, NEW.version));
END;

CREATE TRIGGER ledger_notes_finding_history_update AFTER UPDATE ON finding_history
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding_change', json_array(NEW.finding_id, NEW.version)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding_change' AND record_key = json_array(NEW.finding_id, NEW.version));
END;

CREATE TRIGGER ledger_notes_finding_history_delete AFTER DELETE ON finding_history
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'finding_change', json_array(OLD.finding_id, OLD.version)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'finding_change' AND record_key = json_array(OLD.finding_id, OLD.version));
END;

CREATE TRIGGER ledger_notes_alert_deliveries_insert AFTER INSERT ON alert_deliveries
WHEN NEW.finding_id IS NOT NULL
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'alert_delivery', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'alert_delivery' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_alert_deliveries_update AFTER UPDATE OF school_id, finding_id, alert_round, escalation_level, kind, contact_id, webhook_id, channel, recipient, status, attempts, last_error, created_at, sent_at, answers_delivery_id, skipped_because, first_composed ON alert_deliveries
WHEN NEW.finding_id IS NOT NULL
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'alert_delivery', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'alert_delivery' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_alert_deliveries_delete AFTER DELETE ON alert_deliveries
WHEN OLD.finding_id IS NOT NULL
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'alert_delivery', CAST(OLD.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'alert_delivery' AND record_key = CAST(OLD.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_session_outcomes_insert AFTER INSERT ON session_outcomes
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'outcome', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'outcome' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_session_outcomes_update AFTER UPDATE ON session_outcomes
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'outcome', CAST(NEW.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'outcome' AND record_key = CAST(NEW.id AS TEXT));
END;

CREATE TRIGGER ledger_notes_session_outcomes_delete AFTER DELETE ON session_outcomes
BEGIN
    INSERT INTO ledger_pending (record_class, record_key)
    SELECT 'outcome', CAST(OLD.id AS TEXT)
    WHERE NOT EXISTS (SELECT 1 FROM ledger_pending WHERE record_class = 'outcome' AND record_key = CAST(OLD.id AS TEXT));
END;
