-- A person's calendar feed: the iCalendar address of their upcoming planned and scheduled
-- one-to-one calls. The address carries a secret that is shown once and kept only as its
-- SHA-256 digest. One live feed per user: a new one replaces it, revoking deletes it.
CREATE TABLE calendar_feeds (
    user_id       BIGINT NOT NULL PRIMARY KEY REFERENCES users(id),
    secret_hash   TEXT   NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    -- When a calendar app last read it (written at most once a minute).
    last_read_at  BIGINT
);
