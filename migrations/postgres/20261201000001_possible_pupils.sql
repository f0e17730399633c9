-- Guests who join without an account, and adults the school lists who are not staff.

-- kind gains external_adult: a visiting professional, a social worker, an agency tutor.
-- name_key: the display name folded for matching a guest's display name (lower case, no
-- accents, single spaces); filled by the service, never used as proof of identity.
ALTER TABLE people DROP CONSTRAINT people_kind_check;
ALTER TABLE people ADD CONSTRAINT people_kind_check
    CHECK (kind IN ('staff', 'pupil', 'parent', 'external_adult'));
ALTER TABLE people ADD COLUMN name_key TEXT;
CREATE INDEX people_by_name_key ON people (school_id, name_key);

-- How sure chaperone is of who a participant is: verified (signed-in account or email),
-- registrant (the meeting's registration), expected (the planned session's pupil),
-- display_name (the name matches one person), none. identified_person_id is who it is
-- thought to be, for every basis but none.
ALTER TABLE participant_sessions ADD COLUMN registrant_id TEXT;
ALTER TABLE participant_sessions ADD COLUMN identity_basis TEXT;
ALTER TABLE participant_sessions ADD COLUMN identified_person_id BIGINT REFERENCES people(id);

-- A planned session with adults only (a case meeting with a social worker): nobody in it is
-- expected to be a pupil, though an unidentified guest still is treated as one.
ALTER TABLE planned_sessions ADD COLUMN adults_only BOOLEAN NOT NULL DEFAULT FALSE;

-- A meeting's registrants as the platform's API reported them (meetings with registration):
-- a registrant id on a participant resolves here to the address that registered.
CREATE TABLE meeting_registrants (
    platform             TEXT   NOT NULL,
    platform_meeting_id  TEXT   NOT NULL,
    registrant_id        TEXT   NOT NULL,
    email                TEXT   NOT NULL,
    read_at              BIGINT NOT NULL,
    PRIMARY KEY (platform, platform_meeting_id, registrant_id)
);
