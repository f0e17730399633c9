//! A meeting whose evaluation fails is tried again later and does not hold up the meetings
//! due after it: one school's unreadable data must not silence the checks of every other.

use chaperone::evaluation::Step;
use chrono::Utc;
use sqlx::Row;

use crate::helpers::spawn_app_with;
use crate::zoom_events::started;

#[tokio::test]
async fn a_meeting_that_cannot_be_evaluated_waits_while_the_next_one_is_evaluated() {
    let app = spawn_app_with(&[]).await;
    app.deliver(&[started()]).await;
    app.drain().await;
    let good: i64 = sqlx::query("SELECT id FROM meeting_instances")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("id");
    // A second school whose timezone this release cannot read, with a call of its own.
    sqlx::query(
        "INSERT INTO schools (id, slug, name, timezone, created_at) VALUES (99, 'broken', 'Broken', 'Mars/Olympus', 0)",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO meeting_instances (id, school_id, platform, instance_key, started_at, first_seen_at) \
         VALUES (990, 99, 'zoom', 'broken-call', 0, 0)",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM evaluation_queue")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO evaluation_queue (scope, scope_id, due_at) VALUES ('instance', 990, 1000), ('instance', $1, 2000)",
    )
    .bind(good)
    .execute(&app.db.pool)
    .await
    .unwrap();

    let now = Utc::now();
    let failed = app.evaluator.evaluate_next(now).await.unwrap_err();
    assert!(failed.to_string().contains("Mars/Olympus"), "{failed}");
    assert!(
        matches!(
            app.evaluator.evaluate_next(now).await.unwrap(),
            Step::Evaluated { .. }
        ),
        "the next meeting is evaluated, not the failing one again"
    );
    assert_eq!(app.evaluator.evaluate_next(now).await.unwrap(), Step::Empty);
    let retry_at: i64 = sqlx::query("SELECT due_at FROM evaluation_queue WHERE scope_id = 990")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get("due_at");
    assert!(
        retry_at >= now.timestamp_millis() + 59_000,
        "tried again in a minute: {retry_at}"
    );
}
