-- Server-to-Server OAuth credentials of a monitored account (the secret comes from the
-- environment at import time), and whether the platform's API currently accepts them.
ALTER TABLE platform_accounts ADD COLUMN client_id TEXT;
ALTER TABLE platform_accounts ADD COLUMN client_secret TEXT;
ALTER TABLE platform_accounts ADD COLUMN api_failing_since BIGINT;
ALTER TABLE platform_accounts ADD COLUMN api_last_error TEXT;
-- Webhooks silent during school hours while meetings are live: when it was seen, and how many.
ALTER TABLE platform_accounts ADD COLUMN silent_since BIGINT;
ALTER TABLE platform_accounts ADD COLUMN silent_live_meetings BIGINT;

-- The platform account an event came from: enrichment calls that account's API, and the
-- coverage check looks for its last event.
ALTER TABLE inbox ADD COLUMN account_id TEXT;
CREATE INDEX inbox_by_account ON inbox (account_id, received_at);

-- Requests to the platform's API: read a meeting's settings, a host's settings, a user's
-- account, or a call's participants after it ended. One pending request per kind and key.
CREATE TABLE enrichment_jobs (
    id           INTEGER PRIMARY KEY,
    platform     TEXT    NOT NULL,
    school_id    BIGINT  NOT NULL REFERENCES schools(id),
    account_id   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    job_key      TEXT    NOT NULL,
    instance_id  BIGINT  REFERENCES meeting_instances(id),
    status       TEXT    NOT NULL,
    due_at       BIGINT  NOT NULL,
    deadline_at  BIGINT,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    last_error   TEXT,
    updated_at   BIGINT  NOT NULL,
    UNIQUE (platform, kind, job_key)
);
CREATE INDEX enrichment_jobs_due ON enrichment_jobs (status, due_at);

-- A scheduled meeting's settings as the platform's API reported them, and when.
-- status: ok, not_found, or unknown (the API could not be read; error says why).
CREATE TABLE meeting_settings (
    platform             TEXT   NOT NULL,
    platform_meeting_id  TEXT   NOT NULL,
    status               TEXT   NOT NULL,
    read_at              BIGINT NOT NULL,
    error                TEXT,
    host_email           TEXT,
    invitees             TEXT,
    alternative_hosts    TEXT,
    auto_recording       TEXT,
    waiting_room         BIGINT,
    authentication       BIGINT,
    PRIMARY KEY (platform, platform_meeting_id)
);

-- A host's in-meeting settings (chat) as the API reported them. Booleans are 0/1.
CREATE TABLE user_settings (
    platform          TEXT   NOT NULL,
    platform_user_id  TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    read_at           BIGINT NOT NULL,
    error             TEXT,
    chat              BIGINT,
    private_chat      BIGINT,
    chat_with         BIGINT,
    auto_recording    TEXT,
    PRIMARY KEY (platform, platform_user_id)
);

-- Whether a platform user id belongs to the school's account (in_account, not_in_account, unknown).
CREATE TABLE platform_users (
    platform          TEXT   NOT NULL,
    platform_user_id  TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    read_at           BIGINT NOT NULL,
    error             TEXT,
    PRIMARY KEY (platform, platform_user_id)
);

-- Reconciliation of a call's attendance with the platform's report after it ended:
-- pending, complete or gave_up (the report never came; last error in reconciliation_error).
ALTER TABLE meeting_instances ADD COLUMN reconciliation TEXT;
ALTER TABLE meeting_instances ADD COLUMN reconciled_at BIGINT;
ALTER TABLE meeting_instances ADD COLUMN reconciliation_error TEXT;

-- Where a session was learnt from: webhook, or reconciliation (the webhooks missed it).
ALTER TABLE participant_sessions ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';

-- Findings about monitoring itself (an account whose credentials fail, webhooks gone
-- silent) belong to no meeting.
ALTER TABLE findings ADD COLUMN platform_account_id BIGINT REFERENCES platform_accounts(id);

-- When an unacknowledged finding is next due to escalate (none: nobody left to tell).
ALTER TABLE findings ADD COLUMN escalate_at BIGINT;
CREATE INDEX findings_escalation_due ON findings (escalate_at);

-- Enrichment results queue the calls they concern for evaluation again.
CREATE INDEX meeting_instances_by_meeting ON meeting_instances (platform, platform_meeting_id);
CREATE INDEX meeting_instances_by_host ON meeting_instances (platform, host_user_id);
CREATE INDEX participant_sessions_by_user ON participant_sessions (platform_user_id);
CREATE INDEX scheduled_meetings_by_host ON scheduled_meetings (platform, host_user_id);
