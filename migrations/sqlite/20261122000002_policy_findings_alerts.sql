-- Per school: the policy (a preset and overrides), the calendar, and alert settings, as JSON.
CREATE TABLE school_settings (
    school_id   BIGINT NOT NULL PRIMARY KEY REFERENCES schools(id),
    policy      TEXT   NOT NULL,
    calendar    TEXT   NOT NULL,
    alerts      TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The timetable: sessions registered (and approved) before they happen.
CREATE TABLE planned_sessions (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT  NOT NULL REFERENCES schools(id),
    host_person_id       BIGINT  NOT NULL REFERENCES people(id),
    platform             TEXT,
    platform_meeting_id  TEXT,
    starts_at            BIGINT  NOT NULL,
    ends_at              BIGINT  NOT NULL,
    purpose              TEXT    NOT NULL,
    approved_by          BIGINT  REFERENCES people(id),
    approved_at          BIGINT,
    risk_assessment_ref  TEXT,
    registered_at        BIGINT  NOT NULL,
    cancelled_at         BIGINT
);
CREATE INDEX planned_sessions_by_host_time ON planned_sessions (host_person_id, starts_at);

-- The pupils (and any further staff) of a planned session.
CREATE TABLE planned_session_people (
    planned_session_id  BIGINT NOT NULL REFERENCES planned_sessions(id),
    person_id           BIGINT NOT NULL REFERENCES people(id),
    PRIMARY KEY (planned_session_id, person_id)
);

-- Parental agreements. Dates are the school's local dates, as YYYY-MM-DD.
CREATE TABLE parental_consents (
    id            INTEGER PRIMARY KEY,
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    pupil_id      BIGINT NOT NULL REFERENCES people(id),
    parent_id     BIGINT REFERENCES people(id),
    signed_on     TEXT   NOT NULL,
    expires_on    TEXT,
    withdrawn_on  TEXT,
    recorded_at   BIGINT NOT NULL
);
CREATE INDEX parental_consents_by_pupil ON parental_consents (pupil_id);

-- The record a member of staff writes after a call.
CREATE TABLE session_outcomes (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT NOT NULL REFERENCES schools(id),
    meeting_instance_id  BIGINT NOT NULL REFERENCES meeting_instances(id),
    written_by           BIGINT REFERENCES people(id),
    written_at           BIGINT NOT NULL,
    outcome              TEXT   NOT NULL
);
CREATE INDEX session_outcomes_by_instance ON session_outcomes (meeting_instance_id);

-- Findings: one per meeting, rule and subject (finding_key). Never deleted; every change is
-- appended to finding_history.
CREATE TABLE findings (
    id                    INTEGER PRIMARY KEY,
    school_id             BIGINT  NOT NULL REFERENCES schools(id),
    finding_key           TEXT    NOT NULL UNIQUE,
    rule                  TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    scheduled_meeting_id  BIGINT  REFERENCES scheduled_meetings(id),
    meeting_instance_id   BIGINT  REFERENCES meeting_instances(id),
    subject               TEXT    NOT NULL,
    severity              TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    title                 TEXT    NOT NULL,
    summary               TEXT    NOT NULL,
    clause                TEXT    NOT NULL,
    people                TEXT    NOT NULL,
    occurred_at           BIGINT  NOT NULL,
    opened_at             BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    acknowledged_at       BIGINT,
    acknowledged_by       TEXT,
    resolved_at           BIGINT,
    resolved_by           TEXT,
    resolution_note       TEXT,
    version               BIGINT  NOT NULL,
    alert_round           BIGINT  NOT NULL DEFAULT 0,
    alert_level           BIGINT  NOT NULL DEFAULT 0,
    alerted_at            BIGINT
);
CREATE INDEX findings_by_school_status ON findings (school_id, status, occurred_at);
CREATE INDEX findings_by_scheduled ON findings (scheduled_meeting_id);
CREATE INDEX findings_by_instance ON findings (meeting_instance_id);

CREATE TABLE finding_history (
    finding_id  BIGINT NOT NULL REFERENCES findings(id),
    version     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    change      TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    note        TEXT,
    snapshot    TEXT   NOT NULL,
    PRIMARY KEY (finding_id, version)
);

-- Meetings to (re-)evaluate, and when: at once after a change, or at a time the engine asked for.
CREATE TABLE evaluation_queue (
    scope     TEXT   NOT NULL,
    scope_id  BIGINT NOT NULL,
    due_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
CREATE INDEX evaluation_queue_due ON evaluation_queue (due_at);

-- Who is told, in escalation order, and by which channels.
CREATE TABLE alert_contacts (
    id            INTEGER PRIMARY KEY,
    school_id     BIGINT  NOT NULL REFERENCES schools(id),
    position      BIGINT  NOT NULL,
    person_id     BIGINT  REFERENCES people(id),
    name          TEXT    NOT NULL,
    min_severity  TEXT    NOT NULL,
    email         TEXT,
    teams_url     TEXT,
    slack_url     TEXT,
    UNIQUE (school_id, position)
);

-- Signed JSON webhooks (case-management systems): told of every finding at its first alert.
CREATE TABLE alert_webhooks (
    id            INTEGER PRIMARY KEY,
    school_id     BIGINT  NOT NULL REFERENCES schools(id),
    url           TEXT    NOT NULL,
    secret        TEXT    NOT NULL,
    min_severity  TEXT    NOT NULL,
    UNIQUE (school_id, url)
);

-- The alert outbox: one row per message to send, created in the transaction that opened the
-- finding (or escalated it), so an alert is never lost and never queued twice.
CREATE TABLE alert_deliveries (
    id                INTEGER PRIMARY KEY,
    school_id         BIGINT  NOT NULL REFERENCES schools(id),
    finding_id        BIGINT  NOT NULL REFERENCES findings(id),
    alert_round       BIGINT  NOT NULL,
    escalation_level  BIGINT  NOT NULL,
    kind              TEXT    NOT NULL,
    -- Not foreign keys: a contact or webhook removed by a later import leaves its history.
    contact_id        BIGINT,
    webhook_id        BIGINT,
    channel           TEXT    NOT NULL,
    -- contact:ID or webhook:ID; NULL-free, so the unique key below holds on both backends.
    recipient         TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_until       BIGINT,
    last_error        TEXT,
    created_at        BIGINT  NOT NULL,
    sent_at           BIGINT,
    UNIQUE (finding_id, alert_round, escalation_level, channel, recipient)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);

-- Daily digests sent, one per school and local date.
CREATE TABLE digests_sent (
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    local_date  TEXT   NOT NULL,
    sent_at     BIGINT NOT NULL,
    PRIMARY KEY (school_id, local_date)
);
