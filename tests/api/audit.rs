//! The audit log: entries are appended in the caller's transaction and chained; the database
//! refuses to change or remove them; and when someone who can drop the triggers does, the
//! verification (and `chaperone audit verify`) names the entry.

use std::process::{Command, Output};

use chaperone::audit::chain::GENESIS_HASH;
use chaperone::audit::{self, Actor, ActorKind, AuditFilter, Entry, Problem, Verification};
use chaperone::db::{Backend, Db};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::Row;

use crate::helpers::{spawn_app, TestApp, SECRETS_KEY};

fn person() -> Actor {
    Actor::Person {
        id: 7,
        name: "Ada Lovelace".into(),
    }
}

/// Appends one entry about finding `subject` in a transaction of its own.
async fn append(db: &Db, actor: &Actor, action: &str, subject: i64, at: DateTime<Utc>) -> i64 {
    let before = json!({ "status": "open", "finding": subject });
    let after = json!({ "status": "acknowledged", "finding": subject, "by": actor.label() });
    let subject_id = subject.to_string();
    let mut tx = db.pool.begin().await.expect("begin");
    let id = audit::record(
        &mut tx,
        db.backend,
        &Entry {
            actor,
            school_id: Some(1),
            action,
            subject_kind: "finding",
            subject_id: &subject_id,
            before: Some(&before),
            after: Some(&after),
        },
        at,
    )
    .await
    .expect("the entry is appended");
    tx.commit().await.expect("commit");
    id
}

/// Appends `count` entries and answers their ids.
async fn append_several(db: &Db, count: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for subject in 1..=count {
        ids.push(append(db, &person(), "finding.acknowledged", subject, Utc::now()).await);
    }
    ids
}

async fn head(db: &Db) -> (i64, String) {
    let row = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await
        .expect("the head");
    (row.get("last_id"), row.get("last_hash"))
}

async fn entries(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM audit_log")
        .fetch_one(&db.pool)
        .await
        .expect("count")
        .get("n")
}

async fn verified(db: &Db) -> Verification {
    audit::verify(db).await.expect("the log can be read")
}

/// What an administrator of the database could do: take away the append-only guard.
async fn drop_append_only_triggers(db: &Db) {
    let statements: &[&str] = match db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_refuses_update",
            "DROP TRIGGER audit_log_refuses_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER audit_log_append_only ON audit_log"],
    };
    for statement in statements {
        sqlx::query(statement)
            .execute(&db.pool)
            .await
            .expect("drop the trigger");
    }
}

async fn execute(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(sql)
        .execute(&db.pool)
        .await
        .map(|done| done.rows_affected())
}

#[tokio::test]
async fn appended_entries_verify_and_a_rolled_back_append_leaves_no_trace() {
    let app = spawn_app().await;
    let db = &app.db;
    let already = verified(db).await.checked as i64;

    let first = append_several(db, 3).await;
    assert_eq!(first, (already + 1..=already + 3).collect::<Vec<_>>());
    let head_before = head(db).await;

    let mut tx = db.pool.begin().await.unwrap();
    let after = json!({ "status": "resolved" });
    let rolled_back = audit::record(
        &mut tx,
        db.backend,
        &Entry {
            actor: &Actor::System,
            school_id: None,
            action: "finding.resolved",
            subject_kind: "finding",
            subject_id: "9",
            before: None,
            after: Some(&after),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(head(db).await, head_before, "the head did not move");
    assert_eq!(entries(db).await, already + 3, "no entry was left");
    let next = append(db, &person(), "finding.acknowledged", 4, Utc::now()).await;
    assert_eq!(
        next, rolled_back,
        "the rolled-back id is taken again: no gap"
    );
    let verification = verified(db).await;
    assert!(verification.is_intact(), "{:?}", verification.broken);
    assert_eq!(verification.checked as i64, already + 4);
    let (head_id, head_hash) = head(db).await;
    assert_eq!(head_id, next);
    assert_ne!(head_hash, GENESIS_HASH);
}

#[tokio::test]
async fn the_log_is_listed_newest_first_with_its_states_and_filters() {
    let app = spawn_app().await;
    let db = &app.db;
    let token = Actor::Token {
        id: 3,
        name: "nightly export".into(),
    };
    let earlier = Utc::now() - Duration::hours(2);
    let first = append(db, &person(), "finding.acknowledged", 1, earlier).await;
    let second = append(db, &token, "finding.viewed", 2, Utc::now()).await;
    let third = append(db, &person(), "finding.viewed", 3, Utc::now()).await;
    let filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };

    let all = audit::list(db, &filter).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|record| record.id).collect();
    assert_eq!(&ids[..3], &[third, second, first], "newest first");
    let record = &all[2];
    assert_eq!(record.actor.kind, ActorKind::Person);
    assert_eq!(record.actor.id, Some(7));
    assert_eq!(record.actor.label, "Ada Lovelace");
    assert_eq!(record.school_id, Some(1));
    assert_eq!(record.action, "finding.acknowledged");
    assert_eq!(
        (record.subject_kind.as_str(), record.subject_id.as_str()),
        ("finding", "1")
    );
    assert_eq!(record.before.as_ref().unwrap()["status"], "open");
    assert_eq!(record.after.as_ref().unwrap()["by"], "Ada Lovelace");

    let listed = |filter: AuditFilter| async move {
        audit::list(db, &filter)
            .await
            .unwrap()
            .iter()
            .map(|record| record.id)
            .collect::<Vec<_>>()
    };
    let by_token = listed(AuditFilter {
        actor_kind: Some(ActorKind::Token),
        actor_id: Some(3),
        ..filter.clone()
    });
    assert_eq!(by_token.await, vec![second]);
    let views = listed(AuditFilter {
        action: Some("finding.viewed".into()),
        ..filter.clone()
    });
    assert_eq!(views.await, vec![third, second]);
    let before_an_hour_ago = listed(AuditFilter {
        to: Some(Utc::now() - Duration::hours(1)),
        ..filter.clone()
    });
    assert_eq!(before_an_hour_ago.await, vec![first]);
    let recent = listed(AuditFilter {
        from: Some(Utc::now() - Duration::hours(1)),
        limit: 1,
        ..filter.clone()
    });
    assert_eq!(recent.await, vec![third]);
    let other_school = listed(AuditFilter {
        school_id: Some(2),
        ..filter.clone()
    });
    assert!(other_school.await.is_empty());
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_an_entry() {
    let app = spawn_app().await;
    let db = &app.db;
    append_several(db, 2).await;

    for sql in [
        "UPDATE audit_log SET after_state = '{}' WHERE id = 1",
        "UPDATE audit_log SET actor_label = 'someone else'",
        "DELETE FROM audit_log WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_head",
    ] {
        let error = execute(db, sql).await.expect_err(sql).to_string();
        assert!(
            error.contains("append-only") || error.contains("never deleted"),
            "{sql}: {error}"
        );
    }
    if db.backend == Backend::Postgres {
        let error = execute(db, "TRUNCATE audit_log")
            .await
            .expect_err("truncate");
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert_eq!(entries(db).await, 2);
    assert!(verified(db).await.is_intact());
}

#[tokio::test]
async fn an_altered_entry_fails_verification_naming_it() {
    let app = spawn_app().await;
    let db = &app.db;
    let ids = append_several(db, 5).await;
    drop_append_only_triggers(db).await;

    let altered = ids[2];
    let changed = execute(
        db,
        &format!(
            "UPDATE audit_log SET after_state = '{{\"status\":\"resolved\"}}' WHERE id = {altered}"
        ),
    )
    .await
    .unwrap();
    assert_eq!(changed, 1);

    let verification = verified(db).await;
    let broken = verification.broken.expect("the chain is broken");
    assert_eq!(broken.id, altered, "{broken}");
    assert!(
        matches!(broken.problem, Problem::HashMismatch { .. }),
        "{broken}"
    );
    assert_eq!(
        verification.checked as usize, 2,
        "the entries before it verified"
    );
    assert!(
        broken.to_string().contains(&format!("entry {altered}")),
        "{broken}"
    );
}

#[tokio::test]
async fn an_altered_entry_whose_hash_was_made_again_breaks_the_next_link() {
    let app = spawn_app().await;
    let db = &app.db;
    let ids = append_several(db, 4).await;
    drop_append_only_triggers(db).await;

    // A forger who knows the encoding alters entry 2 and gives it a matching hash.
    let forged = ids[1];
    let row = sqlx::query(
        "SELECT at, actor_kind, actor_id, actor_label, school_id, action, subject_kind, subject_id, \
         before_state, prev_hash FROM audit_log WHERE id = $1",
    )
    .bind(forged)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (prev_hash, kind, label, action): (String, String, String, String) = (
        row.get("prev_hash"),
        row.get("actor_kind"),
        row.get("actor_label"),
        row.get("action"),
    );
    let (subject_kind, subject_id): (String, String) =
        (row.get("subject_kind"), row.get("subject_id"));
    let before: Option<String> = row.get("before_state");
    let hash = audit::chain::ChainedFields {
        prev_hash: &prev_hash,
        id: forged,
        at_ms: row.get("at"),
        actor_kind: &kind,
        actor_id: row.get("actor_id"),
        actor_label: &label,
        school_id: row.get("school_id"),
        action: &action,
        subject_kind: &subject_kind,
        subject_id: &subject_id,
        before_state: before.as_deref(),
        after_state: Some("{}"),
    }
    .hash();
    sqlx::query("UPDATE audit_log SET after_state = '{}', hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(forged)
        .execute(&db.pool)
        .await
        .unwrap();

    let broken = verified(db).await.broken.expect("the chain is broken");
    assert_eq!(broken.id, ids[2], "{broken}");
    assert!(
        matches!(broken.problem, Problem::PreviousHashMismatch { .. }),
        "{broken}"
    );
}

#[tokio::test]
async fn a_removed_entry_fails_verification_naming_the_gap() {
    let app = spawn_app().await;
    let db = &app.db;
    let ids = append_several(db, 5).await;
    drop_append_only_triggers(db).await;

    execute(db, &format!("DELETE FROM audit_log WHERE id = {}", ids[2]))
        .await
        .unwrap();

    let broken = verified(db).await.broken.expect("the chain is broken");
    assert_eq!(broken.id, ids[3], "{broken}");
    assert_eq!(
        broken.problem,
        Problem::Gap {
            expected_id: ids[2],
            found_id: ids[3]
        }
    );
    assert!(
        broken
            .to_string()
            .contains(&format!("entry {} before it is missing", ids[2])),
        "{broken}"
    );
}

#[tokio::test]
async fn a_removed_last_entry_is_named_by_the_head() {
    let app = spawn_app().await;
    let db = &app.db;
    let ids = append_several(db, 3).await;
    drop_append_only_triggers(db).await;

    execute(db, &format!("DELETE FROM audit_log WHERE id = {}", ids[2]))
        .await
        .unwrap();

    let broken = verified(db).await.broken.expect("the chain is broken");
    assert_eq!(broken.id, ids[2], "{broken}");
    assert!(
        matches!(broken.problem, Problem::MissingAtEnd { last_id, .. } if last_id == ids[1]),
        "{broken}"
    );
}

#[tokio::test]
async fn concurrent_appends_keep_one_unbroken_chain() {
    let app = spawn_app().await;
    let already = verified(&app.db).await.checked;

    let tasks: Vec<_> = (0..20)
        .map(|task| {
            let db = app.db.clone();
            tokio::spawn(async move {
                let actor = Actor::Token {
                    id: task,
                    name: format!("token {task}"),
                };
                for subject in 0..5 {
                    append(
                        &db,
                        &actor,
                        "finding.viewed",
                        task * 10 + subject,
                        Utc::now(),
                    )
                    .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task appends");
    }

    let verification = verified(&app.db).await;
    assert!(verification.is_intact(), "{:?}", verification.broken);
    assert_eq!(verification.checked, already + 100);
    assert_eq!(head(&app.db).await.0, already as i64 + 100);
}

fn verify_command(app: &TestApp) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(["audit", "verify"])
        .env(
            "CHAPERONE__DATABASE__URL",
            app.state.settings.database.url.expose(),
        )
        .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_verify_command_passes_a_sound_chain_and_names_a_tampered_entry() {
    let app = spawn_app().await;
    let db = &app.db;
    let ids = append_several(db, 4).await;
    let total = verified(db).await.checked;

    let sound = verify_command(&app);
    let said = String::from_utf8_lossy(&sound.stderr).to_string();
    assert!(sound.status.success(), "{said}");
    assert!(said.contains(&format!("{total} entries")), "{said}");
    assert!(!said.contains("Ada Lovelace"), "no personal data: {said}");

    drop_append_only_triggers(db).await;
    execute(
        db,
        &format!(
            "UPDATE audit_log SET actor_label = 'Someone Else' WHERE id = {}",
            ids[1]
        ),
    )
    .await
    .unwrap();

    let tampered = verify_command(&app);
    let said = String::from_utf8_lossy(&tampered.stderr).to_string();
    assert!(!tampered.status.success(), "{said}");
    assert!(said.contains(&format!("entry {}", ids[1])), "{said}");
    assert!(said.contains("hash does not match"), "{said}");
    assert!(!said.contains("Someone Else"), "no personal data: {said}");
}

/// A page of the log holds as many entries as were asked for whenever as many are there to
/// show: entries of a school out of the reader's reach are left out before the page is cut,
/// not after.
#[tokio::test]
async fn a_page_of_the_log_is_full_even_when_the_newest_entries_are_another_schools() {
    let app = crate::helpers::spawn_app().await;
    app.import_toml(
        "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n",
    )
    .await;
    let ours = append_several(&app.db, 3).await;
    for subject in 1..=5 {
        let mut tx = app.db.pool.begin().await.unwrap();
        audit::record(
            &mut tx,
            app.db.backend,
            &Entry {
                actor: &person(),
                school_id: Some(2),
                action: "finding.acknowledged",
                subject_kind: "finding",
                subject_id: &subject.to_string(),
                before: None,
                after: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": "admin@greenfield.test", "name": "Admin", "password": "a long enough passphrase",
                   "roles": [{"role": "school_admin", "school_id": 1}]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let session: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/sign-in", app.address))
        .json(&json!({"email": "admin@greenfield.test", "password": "a long enough passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let page: Vec<serde_json::Value> = app
        .client
        .get(format!(
            "{}/api/v1/audit?limit=3&action=finding.acknowledged",
            app.address
        ))
        .bearer_auth(session["session"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = page
        .iter()
        .map(|entry| entry["id"].as_i64().unwrap())
        .collect();
    let mut newest_first = ours.clone();
    newest_first.reverse();
    assert_eq!(ids, newest_first, "{page:#?}");
}
