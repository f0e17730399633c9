-- The key that signs the one-click links in alerts (acknowledge a finding), made at random on
-- the first start and sealed with the deployment's secrets key like every stored secret. One
-- row: every instance on this database signs and checks links with the same key. Before
-- this, the key was derived from the admin token; links signed that way no longer verify.
CREATE TABLE link_signing_key (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    key_sealed  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
