-- Sign-ins with the school's identity provider (OpenID Connect) between leaving for the
-- provider and coming back: the state is kept only as its SHA-256 digest; the nonce and the
-- PKCE verifier are the provider's to check against. Single use (used_at is set as the
-- callback claims it, whatever happens next) and void after ten minutes, when they are deleted.
CREATE TABLE oidc_attempts (
    id                INTEGER PRIMARY KEY,
    state_hash        TEXT   NOT NULL UNIQUE,
    nonce             TEXT   NOT NULL,
    pkce_verifier     TEXT   NOT NULL,
    return_to         TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    used_at           BIGINT
);
CREATE INDEX oidc_attempts_by_created_at ON oidc_attempts (created_at);
