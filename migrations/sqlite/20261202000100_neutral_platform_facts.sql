-- Platform settings are stored as neutral facts, so the evaluator reads no platform's
-- meanings and a second platform fills the same columns from its own API:
--   user_settings.chat_enabled             whether participants can chat in the host's calls
--   user_settings.auto_recording_enabled   whether the host's calls record themselves
--   meeting_settings.auto_recording_enabled  the same for one meeting
--   co_hosts (was alternative_hosts)       who may host besides the host (addresses or user ids)
-- Booleans are 0/1, NULL where the platform did not say. Rows read before this release
-- were Zoom's, and are translated here as the Zoom module now translates them: chat is off
-- when `chat` is 0 or `allow_participants_chat_with` is 1 ("cannot use chat"); recording
-- is automatic unless `auto_recording` is 'none'. The Zoom-shaped columns go afterwards.

ALTER TABLE user_settings ADD COLUMN chat_enabled BIGINT;
ALTER TABLE user_settings ADD COLUMN auto_recording_enabled BIGINT;
UPDATE user_settings SET
    chat_enabled = CASE
        WHEN chat = 0 OR chat_with = 1 THEN 0
        WHEN chat IS NOT NULL THEN 1
    END,
    auto_recording_enabled = CASE
        WHEN auto_recording = 'none' THEN 0
        WHEN auto_recording IS NOT NULL THEN 1
    END
WHERE platform = 'zoom';
ALTER TABLE user_settings DROP COLUMN chat;
ALTER TABLE user_settings DROP COLUMN private_chat;
ALTER TABLE user_settings DROP COLUMN chat_with;
ALTER TABLE user_settings DROP COLUMN auto_recording;

ALTER TABLE meeting_settings ADD COLUMN auto_recording_enabled BIGINT;
UPDATE meeting_settings SET
    auto_recording_enabled = CASE
        WHEN auto_recording = 'none' THEN 0
        WHEN auto_recording IS NOT NULL THEN 1
    END
WHERE platform = 'zoom';
ALTER TABLE meeting_settings DROP COLUMN auto_recording;

-- Already neutral lists (split and lower-cased when read); only the name was Zoom's.
ALTER TABLE meeting_settings RENAME COLUMN alternative_hosts TO co_hosts;
ALTER TABLE scheduled_meetings RENAME COLUMN alternative_hosts TO co_hosts;
