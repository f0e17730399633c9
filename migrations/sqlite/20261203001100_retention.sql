-- How long the school keeps each class of record, as JSON (days per class, see
-- src/retention/periods.rs); `{}` keeps every default.
ALTER TABLE school_settings ADD COLUMN retention TEXT NOT NULL DEFAULT '{}';
