-- A planned session can be declined as well as approved: who declined it (a member of staff),
-- when, and the note given with either decision. Approving clears a decline and declining
-- clears an approval, so a session is in one state at a time.
ALTER TABLE planned_sessions ADD COLUMN declined_by BIGINT REFERENCES people(id);
ALTER TABLE planned_sessions ADD COLUMN declined_at BIGINT;
ALTER TABLE planned_sessions ADD COLUMN decision_note TEXT;

-- Who recorded a parental consent and who withdrew it, as the console and the audit log name
-- them (the signed-in person's name, or the token it came through). NULL for rows from before.
ALTER TABLE parental_consents ADD COLUMN recorded_by TEXT;
ALTER TABLE parental_consents ADD COLUMN withdrawn_by TEXT;

-- The timetable is read a week at a time per school, and a withdrawn consent looks up the
-- sessions naming its pupil.
CREATE INDEX planned_sessions_by_school_time ON planned_sessions (school_id, starts_at);
CREATE INDEX planned_session_people_by_person ON planned_session_people (person_id);
