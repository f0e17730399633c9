-- An MIS export uploaded in the console and previewed, waiting for the admin who uploaded it to
-- apply it: kept for at most 30 minutes (expires_at), deleted once applied or replaced by their
-- next upload to the school. preview_digest is the SHA-256 of what the preview showed would
-- change, so that an apply that would now do something else shows the new preview instead.
CREATE TABLE directory_uploads (
    id                INTEGER PRIMARY KEY,
    school_id         BIGINT NOT NULL REFERENCES schools(id),
    user_id           BIGINT NOT NULL REFERENCES users(id),
    file_name         TEXT   NOT NULL,
    content           BLOB   NOT NULL,
    preview_digest    TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);
CREATE INDEX directory_uploads_by_user ON directory_uploads (user_id, school_id);
