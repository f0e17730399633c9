-- Google Workspace connections. What is not secret (the domains, the admin to act as, the
-- Pub/Sub topic, the push token's audience and service account, who is monitored) is kept as
-- JSON, read into connections::google::GoogleSettings; the service account's JSON key is
-- sealed like every other secret.
ALTER TABLE platform_accounts ADD COLUMN google_settings TEXT;
ALTER TABLE platform_accounts ADD COLUMN service_account_key_sealed TEXT;
