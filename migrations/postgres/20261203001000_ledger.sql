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
CREATE FUNCTION ledger_entries_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.content IS NULL
           AND NEW.school_id = OLD.school_id AND NEW.seq = OLD.seq AND NEW.at = OLD.at
           AND NEW.record_class = OLD.record_class AND NEW.record_key = OLD.record_key
           AND NEW.change = OLD.change AND NEW.content_hash = OLD.content_hash
           AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only (% refused; a purge may only empty content)', TG_OP;
END;
$$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION ledger_entries_guard();

CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_guard();

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
    id           BIGSERIAL PRIMARY KEY,
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
-- On PostgreSQL a note for a key already pending updates that row rather than doing nothing:
-- the update locks the pending row until the writer commits, so the keeper (which claims past
-- locked rows) cannot take the key and read the record before the write it was noted for is
-- visible, and so chain the record as it stood before it.
CREATE TABLE ledger_pending (
    record_class TEXT   NOT NULL,
    record_key   TEXT   NOT NULL,
    purge        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (record_class, record_key)
);

CREATE FUNCTION ledger_notes_meeting_instances() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('call', OLD.id::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.school_id IS DISTINCT FROM NEW.school_id OR OLD.platform IS DISTINCT FROM NEW.platform OR OLD.instance_key IS DISTINCT FROM NEW.instance_key OR OLD.platform_meeting_id IS DISTINCT FROM NEW.platform_meeting_id OR OLD.host_user_id IS DISTINCT FROM NEW.host_user_id OR OLD.topic IS DISTINCT FROM NEW.topic OR OLD.started_at IS DISTINCT FROM NEW.started_at OR OLD.start_hint IS DISTINCT FROM NEW.start_hint OR OLD.ended_at IS DISTINCT FROM NEW.ended_at OR OLD.first_seen_at IS DISTINCT FROM NEW.first_seen_at OR OLD.reconciliation IS DISTINCT FROM NEW.reconciliation OR OLD.reconciled_at IS DISTINCT FROM NEW.reconciled_at OR OLD.reconciliation_error IS DISTINCT FROM NEW.reconciliation_error) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('call', NEW.id::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_meeting_instances AFTER INSERT OR UPDATE OF school_id, platform, instance_key, platform_meeting_id, host_user_id, topic, started_at, start_hint, ended_at, first_seen_at, reconciliation, reconciled_at, reconciliation_error OR DELETE ON meeting_instances
FOR EACH ROW EXECUTE FUNCTION ledger_notes_meeting_instances();

CREATE FUNCTION ledger_notes_participant_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('participant', OLD.id::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.session_key IS DISTINCT FROM NEW.session_key OR OLD.platform_user_id IS DISTINCT FROM NEW.platform_user_id OR OLD.email IS DISTINCT FROM NEW.email OR OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.person_id IS DISTINCT FROM NEW.person_id OR OLD.joined_at IS DISTINCT FROM NEW.joined_at OR OLD.left_at IS DISTINCT FROM NEW.left_at OR OLD.source IS DISTINCT FROM NEW.source OR OLD.registrant_id IS DISTINCT FROM NEW.registrant_id OR OLD.identity_basis IS DISTINCT FROM NEW.identity_basis OR OLD.identified_person_id IS DISTINCT FROM NEW.identified_person_id OR OLD.identity_pending_until IS DISTINCT FROM NEW.identity_pending_until) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('participant', NEW.id::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_participant_sessions AFTER INSERT OR UPDATE OF instance_id, session_key, platform_user_id, email, display_name, person_id, joined_at, left_at, source, registrant_id, identity_basis, identified_person_id, identity_pending_until OR DELETE ON participant_sessions
FOR EACH ROW EXECUTE FUNCTION ledger_notes_participant_sessions();

CREATE FUNCTION ledger_notes_room_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('room_stay', json_build_array(OLD.instance_id, OLD.room_key, OLD.stay_key)::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.room_key IS DISTINCT FROM NEW.room_key OR OLD.stay_key IS DISTINCT FROM NEW.stay_key OR OLD.session_key IS DISTINCT FROM NEW.session_key OR OLD.joined_at IS DISTINCT FROM NEW.joined_at OR OLD.left_at IS DISTINCT FROM NEW.left_at) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('room_stay', json_build_array(NEW.instance_id, NEW.room_key, NEW.stay_key)::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_room_stays AFTER INSERT OR UPDATE OF instance_id, room_key, stay_key, session_key, joined_at, left_at OR DELETE ON room_stays
FOR EACH ROW EXECUTE FUNCTION ledger_notes_room_stays();

CREATE FUNCTION ledger_notes_instance_signals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('signal', json_build_array(OLD.instance_id, OLD.kind, OLD.at, OLD.source_ref)::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.instance_id IS DISTINCT FROM NEW.instance_id OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.at IS DISTINCT FROM NEW.at OR OLD.source_ref IS DISTINCT FROM NEW.source_ref) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('signal', json_build_array(NEW.instance_id, NEW.kind, NEW.at, NEW.source_ref)::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_instance_signals AFTER INSERT OR UPDATE OF instance_id, kind, at, source_ref OR DELETE ON instance_signals
FOR EACH ROW EXECUTE FUNCTION ledger_notes_instance_signals();

CREATE FUNCTION ledger_notes_meeting_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('settings', json_build_array(OLD.platform, OLD.platform_meeting_id)::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.platform IS DISTINCT FROM NEW.platform OR OLD.platform_meeting_id IS DISTINCT FROM NEW.platform_meeting_id OR OLD.status IS DISTINCT FROM NEW.status OR OLD.read_at IS DISTINCT FROM NEW.read_at OR OLD.error IS DISTINCT FROM NEW.error OR OLD.host_email IS DISTINCT FROM NEW.host_email OR OLD.invitees IS DISTINCT FROM NEW.invitees OR OLD.co_hosts IS DISTINCT FROM NEW.co_hosts OR OLD.waiting_room IS DISTINCT FROM NEW.waiting_room OR OLD.authentication IS DISTINCT FROM NEW.authentication OR OLD.auto_recording_enabled IS DISTINCT FROM NEW.auto_recording_enabled OR OLD.chat_enabled IS DISTINCT FROM NEW.chat_enabled) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('settings', json_build_array(NEW.platform, NEW.platform_meeting_id)::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_meeting_settings AFTER INSERT OR UPDATE OF platform, platform_meeting_id, status, read_at, error, host_email, invitees, co_hosts, waiting_room, authentication, auto_recording_enabled, chat_enabled OR DELETE ON meeting_settings
FOR EACH ROW EXECUTE FUNCTION ledger_notes_meeting_settings();

CREATE FUNCTION ledger_notes_findings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('finding', OLD.id::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.school_id IS DISTINCT FROM NEW.school_id OR OLD.finding_key IS DISTINCT FROM NEW.finding_key OR OLD.rule IS DISTINCT FROM NEW.rule OR OLD.scope IS DISTINCT FROM NEW.scope OR OLD.scheduled_meeting_id IS DISTINCT FROM NEW.scheduled_meeting_id OR OLD.meeting_instance_id IS DISTINCT FROM NEW.meeting_instance_id OR OLD.subject IS DISTINCT FROM NEW.subject OR OLD.severity IS DISTINCT FROM NEW.severity OR OLD.status IS DISTINCT FROM NEW.status OR OLD.title IS DISTINCT FROM NEW.title OR OLD.summary IS DISTINCT FROM NEW.summary OR OLD.clause IS DISTINCT FROM NEW.clause OR OLD.people IS DISTINCT FROM NEW.people OR OLD.occurred_at IS DISTINCT FROM NEW.occurred_at OR OLD.opened_at IS DISTINCT FROM NEW.opened_at OR OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.acknowledged_at IS DISTINCT FROM NEW.acknowledged_at OR OLD.acknowledged_by IS DISTINCT FROM NEW.acknowledged_by OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at OR OLD.resolved_by IS DISTINCT FROM NEW.resolved_by OR OLD.resolution_note IS DISTINCT FROM NEW.resolution_note OR OLD.version IS DISTINCT FROM NEW.version OR OLD.alert_round IS DISTINCT FROM NEW.alert_round OR OLD.alert_level IS DISTINCT FROM NEW.alert_level OR OLD.alerted_at IS DISTINCT FROM NEW.alerted_at OR OLD.platform_account_id IS DISTINCT FROM NEW.platform_account_id OR OLD.windows IS DISTINCT FROM NEW.windows) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('finding', NEW.id::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_findings AFTER INSERT OR UPDATE OF school_id, finding_key, rule, scope, scheduled_meeting_id, meeting_instance_id, subject, severity, status, title, summary, clause, people, occurred_at, opened_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution_note, version, alert_round, alert_level, alerted_at, platform_account_id, windows OR DELETE ON findings
FOR EACH ROW EXECUTE FUNCTION ledger_notes_findings();

CREATE FUNCTION ledger_notes_finding_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('finding_change', json_build_array(OLD.finding_id, OLD.version)::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.finding_id IS DISTINCT FROM NEW.finding_id OR OLD.version IS DISTINCT FROM NEW.version OR OLD.at IS DISTINCT FROM NEW.at OR OLD.change IS DISTINCT FROM NEW.change OR OLD.actor IS DISTINCT FROM NEW.actor OR OLD.note IS DISTINCT FROM NEW.note OR OLD.snapshot IS DISTINCT FROM NEW.snapshot) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('finding_change', json_build_array(NEW.finding_id, NEW.version)::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_finding_history AFTER INSERT OR UPDATE OF finding_id, version, at, change, actor, note, snapshot OR DELETE ON finding_history
FOR EACH ROW EXECUTE FUNCTION ledger_notes_finding_history();

CREATE FUNCTION ledger_notes_alert_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.finding_id IS NOT NULL THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('alert_delivery', OLD.id::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.school_id IS DISTINCT FROM NEW.school_id OR OLD.finding_id IS DISTINCT FROM NEW.finding_id OR OLD.alert_round IS DISTINCT FROM NEW.alert_round OR OLD.escalation_level IS DISTINCT FROM NEW.escalation_level OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.contact_id IS DISTINCT FROM NEW.contact_id OR OLD.webhook_id IS DISTINCT FROM NEW.webhook_id OR OLD.channel IS DISTINCT FROM NEW.channel OR OLD.recipient IS DISTINCT FROM NEW.recipient OR OLD.status IS DISTINCT FROM NEW.status OR OLD.attempts IS DISTINCT FROM NEW.attempts OR OLD.last_error IS DISTINCT FROM NEW.last_error OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.sent_at IS DISTINCT FROM NEW.sent_at OR OLD.answers_delivery_id IS DISTINCT FROM NEW.answers_delivery_id OR OLD.skipped_because IS DISTINCT FROM NEW.skipped_because OR OLD.first_composed IS DISTINCT FROM NEW.first_composed) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF NEW.finding_id IS NOT NULL THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('alert_delivery', NEW.id::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_alert_deliveries AFTER INSERT OR UPDATE OF school_id, finding_id, alert_round, escalation_level, kind, contact_id, webhook_id, channel, recipient, status, attempts, last_error, created_at, sent_at, answers_delivery_id, skipped_because, first_composed OR DELETE ON alert_deliveries
FOR EACH ROW EXECUTE FUNCTION ledger_notes_alert_deliveries();

CREATE FUNCTION ledger_notes_session_outcomes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TRUE THEN
            INSERT INTO ledger_pending (record_class, record_key) VALUES ('outcome', OLD.id::text)
            ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NOT (OLD.school_id IS DISTINCT FROM NEW.school_id OR OLD.meeting_instance_id IS DISTINCT FROM NEW.meeting_instance_id OR OLD.written_by IS DISTINCT FROM NEW.written_by OR OLD.written_at IS DISTINCT FROM NEW.written_at OR OLD.outcome IS DISTINCT FROM NEW.outcome) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF TRUE THEN
        INSERT INTO ledger_pending (record_class, record_key) VALUES ('outcome', NEW.id::text)
        ON CONFLICT (record_class, record_key) DO UPDATE SET purge = ledger_pending.purge;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_notes_session_outcomes AFTER INSERT OR UPDATE OF school_id, meeting_instance_id, written_by, written_at, outcome OR DELETE ON session_outcomes
FOR EACH ROW EXECUTE FUNCTION ledger_notes_session_outcomes();
