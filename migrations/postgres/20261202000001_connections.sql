-- Connections: each monitored platform account (a row of platform_accounts) gets an endpoint
-- of its own, POST /webhooks/{platform}/{endpoint_id}, verified with its own webhook secret.
-- Secrets are stored sealed (see src/secrets): the plaintext client_secret column is emptied
-- at start-up once its value has been sealed into client_secret_sealed.
-- endpoint_id is unguessable, so it is made by the application (at start-up for older rows).
ALTER TABLE platform_accounts ADD COLUMN endpoint_id TEXT;
ALTER TABLE platform_accounts ADD COLUMN webhook_secret_sealed TEXT;
ALTER TABLE platform_accounts ADD COLUMN previous_webhook_secret_sealed TEXT;
ALTER TABLE platform_accounts ADD COLUMN client_secret_sealed TEXT;
CREATE UNIQUE INDEX platform_accounts_by_endpoint ON platform_accounts (endpoint_id);

-- The inbox keeps the verified platform event as received (less what is never stored, such
-- as chat text), so that it is translated by the processor and can be translated again after
-- a mapping is corrected. Rows written before this hold the translated event: 'neutral'.
ALTER TABLE inbox ADD COLUMN body_format TEXT NOT NULL DEFAULT 'neutral';
ALTER TABLE inbox ADD COLUMN connection_id BIGINT REFERENCES platform_accounts(id);
