-- What the console says of a connection's health. When the platform last validated the
-- connection's endpoint (Zoom's endpoint.url_validation, repeated every 72 hours): a
-- validation is answered and nothing else of it is kept, so without this nobody could tell.
ALTER TABLE platform_accounts ADD COLUMN url_validated_at BIGINT;
-- When an account's API last answered: its completed API jobs, newest first.
CREATE INDEX enrichment_jobs_by_account ON enrichment_jobs (platform, account_id, status, updated_at);
