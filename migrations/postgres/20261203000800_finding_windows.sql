-- When a finding's breach held, as the engine found it (JSON: [{"from": ..., "until": ...}],
-- `until` null while it still holds): the windows a call's timeline shades.
ALTER TABLE findings ADD COLUMN windows TEXT NOT NULL DEFAULT '[]';
