-- Until when a participant session's identity may still be resolved through the platform's
-- API (Google Meet events carry only resource names). NULL: the events said who it is, as far
-- as the platform says. Past this time, unresolved means unknown.
ALTER TABLE participant_sessions ADD COLUMN identity_pending_until BIGINT;
