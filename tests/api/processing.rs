//! The processor's bookkeeping: events that cannot be applied are set aside visibly, and
//! processed events are purged only after the retention period.

use chaperone::inbox;
use chaperone::processor::Step;
use chrono::{Duration, Utc};

use crate::helpers::spawn_app_with;
use crate::zoom_events::started;

#[tokio::test]
async fn an_event_that_cannot_be_applied_is_set_aside_after_the_last_attempt() {
    let app = spawn_app_with(&[("CHAPERONE__PROCESSOR__MAX_ATTEMPTS", "3")]).await;
    app.deliver(&[started()]).await;
    // Damage the stored event so that it can never be applied.
    sqlx::query("UPDATE inbox SET body = '{\"kind\":\"no_such_event\"}'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(app.processor.process_next().await.unwrap(), Step::Failed);
    }
    assert_eq!(
        app.processor.process_next().await.unwrap(),
        Step::Empty,
        "set aside, not retried forever"
    );
    let counts = inbox::counts(&app.db).await.unwrap();
    assert_eq!((counts.pending, counts.failed), (0, 1));
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("chaperone_inbox_failed 1"), "{metrics}");
    assert!(
        metrics.contains("chaperone_events_set_aside_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn processed_events_are_purged_only_after_the_retention_period() {
    let app = spawn_app_with(&[]).await;
    app.deliver(&[started()]).await;
    app.drain().await;
    assert_eq!(
        inbox::purge_processed(&app.db, Utc::now() - Duration::days(14))
            .await
            .unwrap(),
        0
    );
    // An event still pending is never purged, however old.
    app.deliver(&[crate::zoom_events::ended("2025-03-11T15:02:44Z")])
        .await;
    assert_eq!(
        inbox::purge_processed(&app.db, Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.inbox_count().await, 1);
    // Once its key is gone, a redelivery is stored again (which is why retention outlasts
    // every redelivery window).
    assert_eq!(app.post_zoom(&started()).await.status(), 200);
    assert_eq!(app.inbox_count().await, 2);
}
