-- People who use chaperone and what they may do. A user signs in with the school's identity
-- provider or a local password (an argon2id hash; NULL: no local password). person_id links a
-- user to the directory person they are, so that findings about them are kept from them.
CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT   NOT NULL UNIQUE,
    display_name      TEXT   NOT NULL,
    password_hash     TEXT,
    person_id         BIGINT REFERENCES people(id),
    disabled          BIGINT NOT NULL DEFAULT 0,
    failed_sign_ins   BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT,
    created_at        BIGINT NOT NULL,
    last_sign_in_at   BIGINT
);

-- A role held at one school, or (school_id NULL) at every school of the installation, which
-- serves one trust: trust_admin, school_admin, dsl, deputy_dsl, staff, governor.
CREATE TABLE role_grants (
    id                INTEGER PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users(id),
    role              TEXT   NOT NULL,
    school_id         BIGINT REFERENCES schools(id),
    created_at        BIGINT NOT NULL
);
CREATE INDEX role_grants_by_user ON role_grants (user_id);

-- Personal API tokens: shown once, kept as a SHA-256 digest, acting as one role of their
-- user at one school (or every school), until revoked or expired.
CREATE TABLE api_tokens (
    id                INTEGER PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users(id),
    name              TEXT   NOT NULL,
    token_hash        TEXT   NOT NULL UNIQUE,
    role              TEXT   NOT NULL,
    school_id         BIGINT REFERENCES schools(id),
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT,
    last_used_at      BIGINT,
    revoked_at        BIGINT
);

-- Signed-in sessions, kept server-side as a SHA-256 digest of the session secret: they end
-- when idle too long, at an absolute limit, or at sign-out.
CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY,
    session_hash      TEXT   NOT NULL UNIQUE,
    user_id           BIGINT NOT NULL REFERENCES users(id),
    created_at        BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    ended_at          BIGINT
);
