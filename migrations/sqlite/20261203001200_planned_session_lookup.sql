-- A call is matched to its planned session by the platform meeting id first: without an
-- index that lookup walks the school's whole timetable on every evaluation of a call that
-- has no planned session, and so grows with every session ever planned.
CREATE INDEX planned_sessions_by_meeting ON planned_sessions (school_id, platform_meeting_id);
