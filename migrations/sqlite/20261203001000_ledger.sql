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
-- Keyed by class and key first: a sync asks by them before it knows a removed record's school.
CREATE TABLE ledger_records (
    school_id    BIGINT NOT NULL,
    record_class TEXT   NOT NULL,
    record_key   TEXT   NOT NULL,
    content_hash TEXT   NOT NULL,
    last_seq     BIGINT NOT NULL,
    PRIMARY KEY (record_class, record_key, school_id)
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
-- (src/ledger/keeper.rs) then chains what changed. An update that changes none of a record's
-- facts (an upsert that found nothing new, a lease taken) is not noted. `purge` marks a key a
-- retention purge removed, so that its entry is a tombstone rather than a removal. (On SQLite
-- the triggers test for the key rather than `INSERT OR IGNORE`: a trigger's conflict clause
-- gives way to the writing statement's, and the writers' upserts would make a repeated key an
-- error.)
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

CREATE TRIGGER ledger_notes_meeting_instances_update AFTER UPDATE OF school_id, platform, instance_key, platform_meeting_id, host_user_id, topic, started_at, start_hint, ended_at, first_seen_at, reconciliation, reconciled_at, reconciliation_error ON meeting_instances
WHEN (OLD.school_id IS NOT NEW.school_id
     OR OLD.platform IS NOT NEW.platform
     OR OLD.instance_key IS NOT NEW.instance_key
     OR OLD.platform_meeting_id IS NOT NEW.platform_meeting_id
     OR OLD.host_user_id IS NOT NEW.host_user_id
     OR OLD.topic IS NOT NEW.topic
     OR OLD.started_at IS NOT NEW.started_at
     OR OLD.start_hint IS NOT NEW.start_hint
     OR OLD.ended_at IS NOT NEW.ended_at
     OR OLD.first_seen_at IS NOT NEW.first_seen_at
     OR OLD.reconciliation IS NOT NEW.reconciliation
     OR OLD.reconciled_at IS NOT NEW.reconciled_at
     OR OLD.reconciliation_error IS NOT NEW.reconciliation_error)
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

CREATE TRIGGER ledger_notes_participant_sessions_update AFTER UPDATE OF instance_id, session_key, platform_user_id, email, display_name, person_id, joined_at, left_at, source, registrant_id, identity_basis, identified_person_id, identity_pending_until ON participant_sessions
WHEN (OLD.instance_id IS NOT NEW.instance_id
     OR OLD.session_key IS NOT NEW.session_key
     OR OLD.platform_user_id IS NOT NEW.platform_user_id
     OR OLD.email IS NOT NEW.email
     OR OLD.display_name IS NOT NEW.display_name
     OR OLD.person_id IS NOT NEW.person_id
     OR OLD.joined_at IS NOT NEW.joined_at
     OR OLD.left_at IS NOT NEW.left_at
     OR OLD.source IS NOT NEW.source
     OR OLD.registrant_id IS NOT NEW.registrant_id
     OR OLD.identity_basis IS NOT NEW.identity_basis
     OR OLD.identified_person_id IS NOT NEW.identified_person_id
     OR OLD.identity_pending_until IS NOT NEW.identity_pending_until)
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

CREATE TRIGGER ledger_notes_room_stays_update AFTER UPDATE OF instance_id, room_key, stay_key, session_key, joined_at, left_at ON room_stays
WHEN (OLD.instance_id IS NOT NEW.instance_id
     OR OLD.room_key IS NOT NEW.room_key
     OR OLD.stay_key IS NOT NEW.stay_key
     OR OLD.session_key IS NOT NEW.session_key
     OR OLD.joined_at IS NOT NEW.joined_at
     OR OLD.left_at IS NOT NEW.left_at)
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

CREATE TRIGGER ledger_notes_instance_signals_update AFTER UPDATE OF instance_id, kind, at, source_ref ON instance_signals
WHEN (OLD.instance_id IS NOT NEW.instance_id
     OR OLD.kind IS NOT NEW.kind
     OR OLD.at IS NOT NEW.at
     OR OLD.source_ref IS NOT NEW.source_ref)
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

CREATE TRIGGER ledger_notes_meeting_settings_update AFTER UPDATE OF platform, platform_meeting_id, status, read_at, error, host_email, invitees, co_hosts, waiting_room, authentication, auto_recording_enabled, chat_enabled ON meeting_settings
WHEN (OLD.platform IS NOT NEW.platform
     OR OLD.platform_meeting_id IS NOT NEW.platform_meeting_id
     OR OLD.status IS NOT NEW.status
     OR OLD.read_at IS NOT NEW.read_at
     OR OLD.error IS NOT NEW.error
     OR OLD.host_email IS NOT NEW.host_email
     OR OLD.invitees IS NOT NEW.invitees
     OR OLD.co_hosts IS NOT NEW.co_hosts
     OR OLD.waiting_room IS NOT NEW.waiting_room
     OR OLD.authentication IS NOT NEW.authentication
     OR OLD.auto_recording_enabled IS NOT NEW.auto_recording_enabled
     OR OLD.chat_enabled IS NOT NEW.chat_enabled)
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
WHEN (OLD.school_id IS NOT NEW.school_id
     OR OLD.finding_key IS NOT NEW.finding_key
     OR OLD.rule IS NOT NEW.rule
     OR OLD.scope IS NOT NEW.scope
     OR OLD.scheduled_meeting_id IS NOT NEW.scheduled_meeting_id
     OR OLD.meeting_instance_id IS NOT NEW.meeting_instance_id
     OR OLD.subject IS NOT NEW.subject
     OR OLD.severity IS NOT NEW.severity
     OR OLD.status IS NOT NEW.status
     OR OLD.title IS NOT NEW.title
     OR OLD.summary IS NOT NEW.summary
     OR OLD.clause IS NOT NEW.clause
     OR OLD.people IS NOT NEW.people
     OR OLD.occurred_at IS NOT NEW.occurred_at
     OR OLD.opened_at IS NOT NEW.opened_at
     OR OLD.updated_at IS NOT NEW.updated_at
     OR OLD.acknowledged_at IS NOT NEW.acknowledged_at
     OR OLD.acknowledged_by IS NOT NEW.acknowledged_by
     OR OLD.resolved_at IS NOT NEW.resolved_at
     OR OLD.resolved_by IS NOT NEW.resolved_by
     OR OLD.resolution_note IS NOT NEW.resolution_note
     OR OLD.version IS NOT NEW.version
     OR OLD.alert_round IS NOT NEW.alert_round
     OR OLD.alert_level IS NOT NEW.alert_level
     OR OLD.alerted_at IS NOT NEW.alerted_at
     OR OLD.platform_account_id IS NOT NEW.platform_account_id
     OR OLD.windows IS NOT NEW.windows)
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

CREATE TRIGGER ledger_notes_finding_history_update AFTER UPDATE OF finding_id, version, at, change, actor, note, snapshot ON finding_history
WHEN (OLD.finding_id IS NOT NEW.finding_id
     OR OLD.version IS NOT NEW.version
     OR OLD.at IS NOT NEW.at
     OR OLD.change IS NOT NEW.change
     OR OLD.actor IS NOT NEW.actor
     OR OLD.note IS NOT NEW.note
     OR OLD.snapshot IS NOT NEW.snapshot)
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
 AND (OLD.school_id IS NOT NEW.school_id
     OR OLD.finding_id IS NOT NEW.finding_id
     OR OLD.alert_round IS NOT NEW.alert_round
     OR OLD.escalation_level IS NOT NEW.escalation_level
     OR OLD.kind IS NOT NEW.kind
     OR OLD.contact_id IS NOT NEW.contact_id
     OR OLD.webhook_id IS NOT NEW.webhook_id
     OR OLD.channel IS NOT NEW.channel
     OR OLD.recipient IS NOT NEW.recipient
     OR OLD.status IS NOT NEW.status
     OR OLD.attempts IS NOT NEW.attempts
     OR OLD.last_error IS NOT NEW.last_error
     OR OLD.created_at IS NOT NEW.created_at
     OR OLD.sent_at IS NOT NEW.sent_at
     OR OLD.answers_delivery_id IS NOT NEW.answers_delivery_id
     OR OLD.skipped_because IS NOT NEW.skipped_because
     OR OLD.first_composed IS NOT NEW.first_composed)
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

CREATE TRIGGER ledger_notes_session_outcomes_update AFTER UPDATE OF school_id, meeting_instance_id, written_by, written_at, outcome ON session_outcomes
WHEN (OLD.school_id IS NOT NEW.school_id
     OR OLD.meeting_instance_id IS NOT NEW.meeting_instance_id
     OR OLD.written_by IS NOT NEW.written_by
     OR OLD.written_at IS NOT NEW.written_at
     OR OLD.outcome IS NOT NEW.outcome)
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
