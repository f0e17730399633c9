-- Stays of participants in the smaller rooms of a call (Zoom's breakout rooms). A stay is
-- filed under the participant's session in the call (session_key, as in
-- participant_sessions), so who they are comes from that session. stay_key is the
-- platform's key for one visit to the room: two visits to one room are two rows.
-- joined_at / left_at are filled order-independently: earliest join, latest leave.
CREATE TABLE room_stays (
    instance_id  BIGINT NOT NULL REFERENCES meeting_instances(id),
    room_key     TEXT   NOT NULL,
    stay_key     TEXT   NOT NULL,
    session_key  TEXT   NOT NULL,
    joined_at    BIGINT,
    left_at      BIGINT,
    PRIMARY KEY (instance_id, room_key, stay_key)
);
CREATE INDEX room_stays_by_session ON room_stays (instance_id, session_key);
