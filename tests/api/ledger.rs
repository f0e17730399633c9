//! The record ledger through the service's entry points: calls, findings, alerts, status
//! changes and outcomes made by signed webhooks and the API are chained per school; the API
//! and `chaperone verify` pass the sound chain; and any single row of the ledger, or of the
//! records it covers, edited, deleted or swapped with another, makes verification fail and
//! name the entry.

use std::process::{Command, Output};

use chaperone::db::Backend;
use chaperone::ledger::{self, ProblemKind, SchoolVerification};
use chrono::Utc;
use sqlx::{AnyConnection, Row};

use crate::alerts::{ago, scenario, Scenario};
use crate::helpers::{TestApp, SECRETS_KEY};
use crate::zoom_events::{chat_message, ended, joined, left, started, HOST, MEETING_UUID, PUPIL};

/// Three calls: two with a pupil alone with one adult (findings, alerts by email and signed
/// webhook), one with chat; one finding acknowledged and resolved, an outcome written.
async fn a_school_day() -> Scenario {
    let scenario = scenario(&["two_adults", "chat_disabled"], 0).await;
    let app = &scenario.app;
    for (call, uuid) in ["first", "second", "third"].iter().enumerate() {
        let uuid = format!("{uuid}{}", &MEETING_UUID[6..]);
        let offset = 3600 * (3 - call as i64);
        let mut events = vec![
            started().replace("2025-03-11T14:31:07Z", &ago(offset + 300)),
            joined(&HOST, &ago(offset + 300)),
            joined(&PUPIL, &ago(offset + 240)),
        ];
        if call == 2 {
            events.push(chat_message("m-1", &ago(offset + 200), "hello"));
        }
        events.push(left(&PUPIL, &ago(offset - 600)));
        events.push(ended(&ago(offset - 660)));
        let events: Vec<String> = events
            .into_iter()
            .map(|event| event.replace(MEETING_UUID, &uuid))
            .collect();
        app.deliver(&events).await;
    }
    app.settle_at(Utc::now()).await;
    let findings = crate::alerts::findings(app).await;
    assert!(findings.len() >= 2, "{findings:#?}");
    let finding = findings[0]["id"].as_i64().unwrap();
    let meeting = findings[0]["meeting_record_id"].as_i64().unwrap();
    for (action, body) in [
        ("acknowledge", serde_json::json!({"by": "Dee Esel"})),
        (
            "resolve",
            serde_json::json!({"by": "Dee Esel", "note": "Spoke to the tutor."}),
        ),
    ] {
        let response = app
            .post_json(&format!("/api/v1/findings/{finding}/{action}"), body)
            .await;
        assert_eq!(response.status(), 200, "{action}");
        app.settle_at(Utc::now()).await;
    }
    let response = app
        .post_json(
            &format!("/api/v1/meetings/{meeting}/outcome"),
            serde_json::json!({"outcome": "Talked through the week; no concerns."}),
        )
        .await;
    assert!(
        response.status().is_success(),
        "outcome: {}",
        response.status()
    );
    app.settle_at(Utc::now()).await;
    scenario
}

async fn school_id(app: &TestApp) -> i64 {
    sqlx::query("SELECT id FROM schools WHERE slug = 'greenfield'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("id")
        .unwrap()
}

async fn verified_on(connection: &mut AnyConnection, app: &TestApp) -> SchoolVerification {
    // The example school is the only one; asked on the caller's connection, since SQLite's
    // pool has no other.
    let school: i64 = sqlx::query("SELECT id FROM schools WHERE slug = 'greenfield'")
        .fetch_one(&mut *connection)
        .await
        .unwrap()
        .try_get("id")
        .unwrap();
    ledger::verify_school(connection, school, Some(&app.state.head_signer))
        .await
        .expect("the ledger can be read")
}

async fn verified(app: &TestApp) -> SchoolVerification {
    let mut connection = app.db.pool.acquire().await.unwrap();
    verified_on(&mut connection, app).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

/// What someone with the database could do first: take the guards away, within the
/// transaction the test rolls back.
async fn without_guards(connection: &mut AnyConnection, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &[
            "DROP TRIGGER ledger_entries_refuse_update",
            "DROP TRIGGER ledger_entries_refuse_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER ledger_entries_append_only ON ledger_entries"],
    };
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
}

async fn run(connection: &mut AnyConnection, sql: &str) -> u64 {
    sqlx::query(sql)
        .execute(&mut *connection)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .rows_affected()
}

#[tokio::test]
async fn a_school_day_is_chained_and_verifies_through_the_api_and_the_command() {
    let Scenario { app, .. } = a_school_day().await;
    let verification = verified(&app).await;
    assert!(verification.is_intact(), "{:#?}", verification.problems);
    assert_eq!(verification.awaiting_ledger, 0);
    // Every class of record the day made is in the chain.
    let classes: Vec<String> =
        sqlx::query("SELECT DISTINCT record_class FROM ledger_entries ORDER BY 1")
            .fetch_all(&app.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get("record_class").unwrap())
            .collect();
    for class in [
        "alert_delivery",
        "call",
        "finding",
        "finding_change",
        "outcome",
        "participant",
        "signal",
    ] {
        assert!(
            classes.iter().any(|found| found == class),
            "{class} not chained: {classes:?}"
        );
    }
    assert_eq!(
        verification.records_checked as i64,
        count(&app, "SELECT COUNT(*) FROM ledger_records WHERE content_hash <> '74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b'").await,
        "every record checked is one the chain holds"
    );
    // A finding's acknowledgement and resolution are changes of it, and every change to a
    // finding is in its history, each chained.
    let changes = count(
        &app,
        "SELECT COUNT(*) FROM ledger_entries WHERE record_class = 'finding' AND change = 'changed'",
    )
    .await;
    assert!(changes >= 2, "{changes}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM ledger_entries WHERE record_class = 'finding_change'"
        )
        .await,
        count(&app, "SELECT COUNT(*) FROM finding_history").await
    );

    let answer = app.get_json("/api/v1/ledger/verify").await;
    let school = &answer["schools"][0];
    assert_eq!(school["intact"], true, "{answer:#}");
    assert_eq!(school["entries"], verification.entries);
    assert_eq!(answer["public_key"].as_str().unwrap().len(), 64);

    let output = verify_command(&app);
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains(&format!("{} entries", verification.entries)),
        "{said}"
    );
}

#[tokio::test]
async fn redelivered_events_add_nothing_to_the_chain() {
    let Scenario { app, .. } = a_school_day().await;
    let before = count(&app, "SELECT COUNT(*) FROM ledger_entries").await;
    let events = vec![
        started().replace("2025-03-11T14:31:07Z", &ago(3 * 3600 + 300)),
        joined(&HOST, &ago(3 * 3600 + 300)),
    ]
    .into_iter()
    .map(|event| event.replace(MEETING_UUID, &format!("first{}", &MEETING_UUID[6..])))
    .collect::<Vec<_>>();
    app.deliver(&events).await;
    app.settle_at(Utc::now()).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM ledger_entries").await,
        before
    );
    assert!(verified(&app).await.is_intact());
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_an_entry_but_lets_a_purge_empty_one() {
    let Scenario { app, .. } = a_school_day().await;
    for sql in [
        "UPDATE ledger_entries SET at = at + 1 WHERE seq = 2",
        "UPDATE ledger_entries SET content = '{}' WHERE seq = 2",
        "DELETE FROM ledger_entries WHERE seq = 2",
    ] {
        let refused = sqlx::query(sql).execute(&app.db.pool).await;
        assert!(refused.is_err(), "{sql} was allowed");
    }
    let mut tx = app.db.pool.begin().await.unwrap();
    assert_eq!(
        run(
            &mut tx,
            "UPDATE ledger_entries SET content = NULL WHERE seq = 2"
        )
        .await,
        1
    );
    // Emptied without a purge saying so: verification names it.
    let verification = verified_on(&mut tx, &app).await;
    assert_eq!(verification.problems[0].kind, ProblemKind::ContentMissing);
    assert_eq!(verification.problems[0].seq, Some(2));
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn any_single_ledger_row_edited_deleted_or_moved_is_named() {
    let Scenario { app, .. } = a_school_day().await;
    let backend = app.db.backend;
    let school = school_id(&app).await;
    let last = count(
        &app,
        &format!("SELECT MAX(seq) FROM ledger_entries WHERE school_id = {school}"),
    )
    .await;
    assert!(last > 20, "a long enough chain: {last}");
    for seq in 1..=last {
        for (what, statements) in [
            ("edited", vec![format!("UPDATE ledger_entries SET at = at + 1 WHERE school_id = {school} AND seq = {seq}")]),
            ("content edited", vec![format!(
                "UPDATE ledger_entries SET content = '{{\"edited\":true}}' WHERE school_id = {school} AND seq = {seq}"
            )]),
            ("deleted", vec![format!("DELETE FROM ledger_entries WHERE school_id = {school} AND seq = {seq}")]),
            ("moved", {
                let other = if seq == last { seq - 1 } else { seq + 1 };
                vec![
                    format!("UPDATE ledger_entries SET seq = -1 WHERE school_id = {school} AND seq = {seq}"),
                    format!("UPDATE ledger_entries SET seq = {seq} WHERE school_id = {school} AND seq = {other}"),
                    format!("UPDATE ledger_entries SET seq = {other} WHERE school_id = {school} AND seq = -1"),
                ]
            }),
        ] {
            let mut tx = app.db.pool.begin().await.unwrap();
            without_guards(&mut tx, backend).await;
            for statement in &statements {
                run(&mut tx, statement).await;
            }
            let verification = verified_on(&mut tx, &app).await;
            tx.rollback().await.unwrap();
            let first = verification.problems.first().unwrap_or_else(|| panic!("entry {seq} {what}: not found"));
            // A removed entry is named by the one that no longer follows on (or by the head,
            // for the last); two entries swapped, by the first of them.
            let named = match what {
                "moved" => seq.min(if seq == last { seq - 1 } else { seq + 1 }),
                "deleted" if seq < last => seq + 1,
                _ => seq,
            };
            assert_eq!(first.seq, Some(named), "entry {seq} {what}: {:#?}", verification.problems);
        }
    }
}

/// A record of each class, by its table and a condition naming the row.
async fn one_record_of_each_class(app: &TestApp) -> Vec<(&'static str, String, String, i64)> {
    let rows = sqlx::query(
        "SELECT record_class, record_key, last_seq FROM ledger_records r WHERE content_hash <> \
         '74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b' ORDER BY last_seq",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut picked = Vec::new();
    for (class, table) in [
        ("call", "meeting_instances"),
        ("participant", "participant_sessions"),
        ("signal", "instance_signals"),
        ("finding", "findings"),
        ("finding_change", "finding_history"),
        ("alert_delivery", "alert_deliveries"),
        ("outcome", "session_outcomes"),
    ] {
        let row = rows
            .iter()
            .find(|row| row.try_get::<String, _>("record_class").unwrap() == class)
            .unwrap_or_else(|| panic!("no {class} chained"));
        let key: String = row.try_get("record_key").unwrap();
        let condition = match class {
            "signal" => {
                let parts: Vec<serde_json::Value> = serde_json::from_str(&key).unwrap();
                format!(
                    "instance_id = {} AND kind = {} AND at = {} AND source_ref = {}",
                    parts[0],
                    sql_text(&parts[1]),
                    parts[2],
                    sql_text(&parts[3])
                )
            }
            "finding_change" => {
                let parts: Vec<i64> = serde_json::from_str(&key).unwrap();
                format!("finding_id = {} AND version = {}", parts[0], parts[1])
            }
            _ => format!("id = {key}"),
        };
        picked.push((table, condition, key, row.try_get("last_seq").unwrap()));
    }
    picked
}

fn sql_text(value: &serde_json::Value) -> String {
    format!("'{}'", value.as_str().unwrap().replace('\'', "''"))
}

#[tokio::test]
async fn any_single_record_edited_deleted_or_swapped_is_named_by_its_last_entry() {
    let Scenario { app, .. } = a_school_day().await;
    let edits = [
        ("meeting_instances", "ended_at = ended_at + 60000"),
        ("participant_sessions", "joined_at = joined_at + 60000"),
        ("instance_signals", "source_ref = source_ref || '-x'"),
        ("findings", "severity = 'low'"),
        ("finding_history", "actor = 'someone else'"),
        ("alert_deliveries", "status = 'failed'"),
        ("session_outcomes", "outcome = 'Nothing to note.'"),
    ];
    for (table, condition, key, last_seq) in one_record_of_each_class(&app).await {
        let edit = edits.iter().find(|(name, _)| *name == table).unwrap().1;
        for (what, statement, kind) in [
            (
                "edited",
                format!("UPDATE {table} SET {edit} WHERE {condition}"),
                // A signal is all key: edited, it is another signal, and the chained one is gone.
                if table == "instance_signals" {
                    ProblemKind::RecordMissing
                } else {
                    ProblemKind::RecordAltered
                },
            ),
            (
                "deleted",
                format!("DELETE FROM {table} WHERE {condition}"),
                ProblemKind::RecordMissing,
            ),
        ] {
            let mut tx = app.db.pool.begin().await.unwrap();
            if table == "findings" || table == "meeting_instances" {
                // Rows that others refer to: a tamperer removes them with their references.
                if app.db.backend == Backend::Sqlite {
                    run(&mut tx, "PRAGMA defer_foreign_keys = ON").await;
                } else {
                    run(&mut tx, "SET CONSTRAINTS ALL DEFERRED").await;
                }
            }
            let changed = sqlx::query(&statement).execute(&mut *tx).await;
            let Ok(changed) = changed else {
                // A row the schema's references keep: deleting it is refused outright.
                tx.rollback().await.unwrap();
                continue;
            };
            assert_eq!(changed.rows_affected(), 1, "{statement}");
            // The triggers noted the write; a tamperer clears the note as well.
            run(&mut tx, "DELETE FROM ledger_pending").await;
            let verification = verified_on(&mut tx, &app).await;
            tx.rollback().await.unwrap();
            let named = verification
                .problems
                .iter()
                .find(|problem| problem.record_key.as_deref() == Some(key.as_str()))
                .unwrap_or_else(|| {
                    panic!(
                        "{table} {key} {what}: not named in {:#?}",
                        verification.problems
                    )
                });
            assert_eq!(named.kind, kind, "{table} {key} {what}");
            assert_eq!(named.seq, Some(last_seq), "{table} {key} {what}");
        }
    }

    // Two participants' joins swapped: both are named.
    let mut tx = app.db.pool.begin().await.unwrap();
    let joins: Vec<(i64, i64)> =
        sqlx::query("SELECT id, joined_at FROM participant_sessions ORDER BY id LIMIT 2")
            .fetch_all(&mut *tx)
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.try_get("id").unwrap(),
                    row.try_get("joined_at").unwrap(),
                )
            })
            .collect();
    assert_ne!(joins[0].1, joins[1].1);
    for (id, joined_at) in [(joins[0].0, joins[1].1), (joins[1].0, joins[0].1)] {
        run(
            &mut tx,
            &format!("UPDATE participant_sessions SET joined_at = {joined_at} WHERE id = {id}"),
        )
        .await;
    }
    run(&mut tx, "DELETE FROM ledger_pending").await;
    let verification = verified_on(&mut tx, &app).await;
    tx.rollback().await.unwrap();
    let altered: Vec<&str> = verification
        .problems
        .iter()
        .filter(|problem| problem.kind == ProblemKind::RecordAltered)
        .filter_map(|problem| problem.record_key.as_deref())
        .collect();
    assert_eq!(altered.len(), 2, "{:#?}", verification.problems);
}

#[tokio::test]
async fn a_record_changed_with_the_triggers_in_place_is_chained_as_a_change_not_hidden() {
    let Scenario { app, .. } = a_school_day().await;
    sqlx::query("UPDATE session_outcomes SET outcome = 'Rewritten later.'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let awaiting = verified(&app).await;
    assert!(awaiting.is_intact());
    assert_eq!(awaiting.awaiting_ledger, 1);
    app.ledger.drain().await.unwrap();
    let chained = verified(&app).await;
    assert!(chained.is_intact() && chained.awaiting_ledger == 0);
    let changes = count(
        &app,
        "SELECT COUNT(*) FROM ledger_entries WHERE record_class = 'outcome' AND change = 'changed'",
    )
    .await;
    assert_eq!(changes, 1, "the rewrite is in the chain for anyone to see");
}

#[tokio::test]
async fn a_day_ends_with_a_signed_head_and_a_forged_head_is_named() {
    let Scenario { app, .. } = a_school_day().await;
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    assert_eq!(app.ledger.publish_heads(tomorrow).await.unwrap(), 1);
    assert_eq!(
        app.ledger.publish_heads(tomorrow).await.unwrap(),
        0,
        "once a day"
    );
    let heads = app.get_json("/api/v1/ledger/heads").await;
    let head = &heads[0];
    let statement = count(
        &app,
        "SELECT COUNT(*) FROM ledger_entries WHERE record_class = 'statement'",
    )
    .await;
    assert_eq!(
        statement, 1,
        "the day's statement is chained before the head is signed"
    );
    let verification = verified(&app).await;
    assert!(verification.is_intact(), "{:#?}", verification.problems);
    assert_eq!(verification.signed_heads, 1);
    assert_eq!(head["seq"], verification.head_seq);

    // Someone with the database rewrites the last entry and its head: the signed head says so.
    let mut tx = app.db.pool.begin().await.unwrap();
    run(
        &mut tx,
        &format!(
            "UPDATE ledger_published_heads SET hash = '{}'",
            "0".repeat(64)
        ),
    )
    .await;
    let verification = verified_on(&mut tx, &app).await;
    tx.rollback().await.unwrap();
    assert_eq!(
        verification.problems[0].kind,
        ProblemKind::SignedHeadMismatch
    );
    let mut tx = app.db.pool.begin().await.unwrap();
    run(
        &mut tx,
        &format!(
            "UPDATE ledger_published_heads SET signature = '{}'",
            "ab".repeat(64)
        ),
    )
    .await;
    let verification = verified_on(&mut tx, &app).await;
    tx.rollback().await.unwrap();
    assert_eq!(verification.problems[0].kind, ProblemKind::SignatureInvalid);
}

#[tokio::test]
async fn the_verify_command_names_a_tampered_record() {
    let Scenario { app, .. } = a_school_day().await;
    sqlx::query("DELETE FROM ledger_pending")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let backend = app.db.backend;
    let drop_notes: &[&str] = match backend {
        Backend::Sqlite => &["DROP TRIGGER ledger_notes_session_outcomes_update"],
        Backend::Postgres => &["DROP TRIGGER ledger_notes_session_outcomes ON session_outcomes"],
    };
    for statement in drop_notes {
        sqlx::query(statement).execute(&app.db.pool).await.unwrap();
    }
    sqlx::query("UPDATE session_outcomes SET outcome = 'Nothing happened.'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let output = verify_command(&app);
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("(outcome "), "{said}");
    assert!(said.contains("is not as entry"), "{said}");
    assert!(
        !said.contains("Nothing happened"),
        "no record content in the output: {said}"
    );
}

fn verify_command(app: &TestApp) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(["verify", "--school", "greenfield"])
        .env(
            "CHAPERONE__DATABASE__URL",
            app.state.settings.database.url.expose(),
        )
        .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .output()
        .expect("the binary runs")
}

/// Two instances on PostgreSQL: a record written again while its earlier note is pending must
/// not be taken by the keeper before the write commits, or the keeper would chain it as it
/// stood before. (On SQLite one writer at a time makes this interleaving impossible: the
/// writer's open transaction holds the one write lock the keeper's claim needs.)
#[tokio::test]
async fn a_record_written_while_its_note_is_pending_is_chained_as_committed() {
    let Scenario { app, .. } = a_school_day().await;
    if app.db.backend != Backend::Postgres {
        assert!(verified(&app).await.is_intact());
        return;
    }
    sqlx::query("UPDATE session_outcomes SET outcome = 'First rewrite.'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let mut writer = app.db.pool.begin().await.unwrap();
    run(
        &mut writer,
        "UPDATE session_outcomes SET outcome = 'Second rewrite.'",
    )
    .await;
    // The keeper runs while the second write is open: it must leave the key to later.
    app.ledger.drain().await.unwrap();
    writer.commit().await.unwrap();
    app.ledger.drain().await.unwrap();
    let verification = verified(&app).await;
    assert!(verification.is_intact(), "{:#?}", verification.problems);
    let last: String = sqlx::query(
        "SELECT content FROM ledger_entries WHERE record_class = 'outcome' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get("content")
    .unwrap();
    assert!(last.contains("Second rewrite."), "{last}");
}
