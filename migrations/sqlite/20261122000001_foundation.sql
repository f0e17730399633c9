-- Schools, the platform accounts they monitor, and their people directory.
CREATE TABLE schools (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    timezone    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE platform_accounts (
    id          INTEGER PRIMARY KEY,
    school_id   BIGINT  NOT NULL REFERENCES schools(id),
    platform    TEXT    NOT NULL,
    account_id  TEXT    NOT NULL,
    label       TEXT,
    UNIQUE (platform, account_id)
);

CREATE TABLE people (
    id            INTEGER PRIMARY KEY,
    school_id     BIGINT  NOT NULL REFERENCES schools(id),
    external_ref  TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('staff', 'pupil', 'parent')),
    staff_role    TEXT    CHECK (staff_role IN ('staff', 'dsl', 'deputy_dsl', 'senior_leader')),
    display_name  TEXT    NOT NULL,
    UNIQUE (school_id, external_ref)
);

-- Emails are stored lower-cased: platforms and MIS exports differ in case.
CREATE TABLE person_emails (
    school_id  BIGINT NOT NULL REFERENCES schools(id),
    email      TEXT   NOT NULL,
    person_id  BIGINT NOT NULL REFERENCES people(id),
    PRIMARY KEY (school_id, email)
);
CREATE INDEX person_emails_by_person ON person_emails (person_id);

CREATE TABLE person_platform_ids (
    school_id         BIGINT NOT NULL REFERENCES schools(id),
    platform          TEXT   NOT NULL,
    platform_user_id  TEXT   NOT NULL,
    person_id         BIGINT NOT NULL REFERENCES people(id),
    PRIMARY KEY (school_id, platform, platform_user_id)
);
CREATE INDEX person_platform_ids_by_person ON person_platform_ids (person_id);

CREATE TABLE guardianships (
    parent_id  BIGINT NOT NULL REFERENCES people(id),
    pupil_id   BIGINT NOT NULL REFERENCES people(id),
    PRIMARY KEY (parent_id, pupil_id)
);

-- Every accepted platform event, normalised, committed before the platform is answered.
-- dedup_key is derived from the event's content; rows are kept for the retention period
-- after processing so that redeliveries inside it are recognised.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,
    platform      TEXT    NOT NULL,
    school_id     BIGINT  NOT NULL REFERENCES schools(id),
    dedup_key     TEXT    NOT NULL UNIQUE,
    event_type    TEXT    NOT NULL,
    occurred_at   BIGINT  NOT NULL,
    received_at   BIGINT  NOT NULL,
    body          TEXT    NOT NULL,
    processed_at  BIGINT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    failed_at     BIGINT
);
CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL AND failed_at IS NULL;
CREATE INDEX inbox_by_received ON inbox (received_at);

-- Scheduled meetings (a Zoom meeting number, a Calendar event): what was planned.
CREATE TABLE scheduled_meetings (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT  NOT NULL REFERENCES schools(id),
    platform             TEXT    NOT NULL,
    platform_meeting_id  TEXT    NOT NULL,
    host_user_id         TEXT,
    topic                TEXT,
    start_time           BIGINT,
    duration_minutes     BIGINT,
    timezone             TEXT,
    alternative_hosts    TEXT,
    invitees             TEXT,
    -- The link to join, so an alert can offer it to the DSL while the call runs.
    join_url             TEXT,
    deleted              BOOLEAN NOT NULL DEFAULT FALSE,
    revised_at           BIGINT  NOT NULL,
    UNIQUE (platform, platform_meeting_id)
);

-- Each change to a scheduled meeting as it was reported; the row above is their fold in
-- time order, so changes delivered out of order still give the latest state.
CREATE TABLE schedule_revisions (
    scheduled_meeting_id  BIGINT NOT NULL REFERENCES scheduled_meetings(id),
    revised_at            BIGINT NOT NULL,
    revision              TEXT   NOT NULL,
    PRIMARY KEY (scheduled_meeting_id, revised_at, revision)
);

-- One held call (a Zoom meeting uuid, a Meet conference record).
CREATE TABLE meeting_instances (
    id                   INTEGER PRIMARY KEY,
    school_id            BIGINT  NOT NULL REFERENCES schools(id),
    platform             TEXT    NOT NULL,
    instance_key         TEXT    NOT NULL,
    platform_meeting_id  TEXT,
    host_user_id         TEXT,
    topic                TEXT,
    started_at           BIGINT,
    -- The start as repeated by other events, used when the start event itself was lost.
    start_hint           BIGINT,
    ended_at             BIGINT,
    first_seen_at        BIGINT  NOT NULL,
    UNIQUE (platform, instance_key)
);
CREATE INDEX meeting_instances_by_school_time ON meeting_instances (school_id, first_seen_at);

-- One stay of one participant in one call: a rejoin is a new session.
CREATE TABLE participant_sessions (
    id                INTEGER PRIMARY KEY,
    instance_id       BIGINT NOT NULL REFERENCES meeting_instances(id),
    session_key       TEXT   NOT NULL,
    platform_user_id  TEXT,
    email             TEXT,
    display_name      TEXT,
    person_id         BIGINT REFERENCES people(id),
    joined_at         BIGINT,
    left_at           BIGINT,
    UNIQUE (instance_id, session_key)
);

-- Point-in-time activity in a call: chat seen (never its text), recording and screen sharing.
CREATE TABLE instance_signals (
    instance_id  BIGINT NOT NULL REFERENCES meeting_instances(id),
    kind         TEXT   NOT NULL,
    at           BIGINT NOT NULL,
    source_ref   TEXT   NOT NULL,
    PRIMARY KEY (instance_id, kind, at, source_ref)
);
