-- The reports count a school's findings by the month they were opened and its calls by the
-- months they started and ended: without these, every report reads all of a school's history.
CREATE INDEX findings_by_school_opened ON findings (school_id, opened_at);
CREATE INDEX meeting_instances_by_school_started ON meeting_instances (school_id, started_at);
CREATE INDEX meeting_instances_by_school_ended ON meeting_instances (school_id, ended_at);
