-- The audit log: every change made by a person or a token, and every view of a restricted
-- record, appended in the same transaction as the change. Append-only (the triggers below
-- refuse UPDATE, DELETE and TRUNCATE) and hash-chained: `hash` is SHA-256 over `prev_hash`
-- and every other column (see src/audit/chain.rs), and `prev_hash` is the hash of the entry
-- before, so an entry altered or removed later, even by someone who can drop the triggers,
-- shows.
-- Ids are given by the appender from `audit_head` (never by a sequence), so they run 1, 2,
-- 3 … with no gap: a rolled-back append takes no id.
-- actor_kind: person, token, bootstrap or system; actor_id is the person's or token's id.
-- before_state / after_state: JSON documents, NULL where there is none (a creation, a view).
CREATE TABLE audit_log (
    id           BIGINT PRIMARY KEY,
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

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- The end of the chain: the last entry's id and hash (0 and 64 zeros, "genesis", while the
-- log is empty). Every append reads it SELECT … FOR UPDATE and moves it in the same
-- transaction, so appends from several instances wait for each other and the chain never
-- forks.
CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT NOT NULL,
    last_hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_head_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit head is never deleted (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER audit_head_refuses_delete BEFORE DELETE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_refuse_delete();

CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
FOR EACH STATEMENT EXECUTE FUNCTION audit_head_refuse_delete();
