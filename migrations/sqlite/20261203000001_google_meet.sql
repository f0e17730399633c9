-- The Workspace Events subscriptions chaperone holds for a Google connection's monitored
-- staff: one per user (target //cloudidentity.googleapis.com/users/{user_id}), made by
-- impersonating that user. A subscription's events name it as their CloudEvent source, which
-- is how an event is tied to the member of staff whose calls it is about.
-- state: active, suspended (Google stopped delivering; suspension_reason says why), expired
-- (gone at Google: to be made again), failed (could not be made: last_error says why) or
-- deleted (the user is no longer monitored).
CREATE TABLE google_subscriptions (
    id                INTEGER PRIMARY KEY,
    connection_id     BIGINT NOT NULL REFERENCES platform_accounts(id),
    user_id           TEXT   NOT NULL,
    user_email        TEXT   NOT NULL,
    name              TEXT,
    state             TEXT   NOT NULL,
    suspension_reason TEXT,
    expire_time       BIGINT,
    renewed_at        BIGINT,
    last_error        TEXT,
    updated_at        BIGINT NOT NULL,
    UNIQUE (connection_id, user_id)
);
CREATE UNIQUE INDEX google_subscriptions_by_name ON google_subscriptions (name);

-- Whether participants can chat, as the meeting's own settings say (a Meet space's chat
-- restriction); NULL: not said, and the host's setting stands.
ALTER TABLE meeting_settings ADD COLUMN chat_enabled BIGINT;

-- The address the platform's API gave for a user of the school's own domains (lower-cased):
-- a Meet participant is named only by a user id, which the directory is found by through it.
ALTER TABLE platform_users ADD COLUMN email TEXT;
