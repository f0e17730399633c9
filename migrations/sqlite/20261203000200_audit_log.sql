-- The audit log: every change made by a person or a token, and every view of a restricted
-- record, appended in the same transaction as the change. Append-only (the triggers below
-- refuse UPDATE and DELETE) and hash-chained: `hash` is SHA-256 over `prev_hash` and every
-- other column (see src/audit/chain.rs), and `prev_hash` is the hash of the entry before, so
-- an entry altered or removed later, even by someone who can drop the triggers, shows.
-- Ids are given by the appender from `audit_head` (never by a sequence), so they run 1, 2,
-- 3 … with no gap: a rolled-back append takes no id.
-- actor_kind: person, token, bootstrap or system; actor_id is the person's or token's id.
-- before_state / after_state: JSON documents, NULL where there is none (a creation, a view).
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_kind   TEXT   NOT NULL,
    actor_id     BIGINT,
    actor_label  TEXT   NOT NULL,
    school_id    BIGINT,
    action       TEXT   NOT NULL,
    subject_kind TEXT   NOT NULL,
    subject_id   TEXT   NOT NULL,
    before_state TEXT,
    after_state  TEXT,
    prev_hash    TEXT   NOT NULL,
    hash         TEXT   NOT NULL
);
CREATE INDEX audit_log_by_school_time ON audit_log (school_id, at);

CREATE TRIGGER audit_log_refuses_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_refuses_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- The end of the chain: the last entry's id and hash (0 and 64 zeros, "genesis", while the
-- log is empty). Every append reads it (locked) and moves it in the same transaction, which
-- is what serialises appends and keeps the chain from forking.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT NOT NULL,
    last_hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_head_refuses_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'the audit head is never deleted');
END;
