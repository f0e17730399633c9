//! Stored platform events are translated when applied, so that after a mapping is corrected
//! they can be translated and applied again: `chaperone reprocess` reopens them and the
//! register is rebuilt from what the platform sent.

use chrono::{Duration, Utc};

use crate::helpers::spawn_app;
use crate::zoom_events::{joined, started, HOST, PUPIL};

fn participant_named<'a>(
    meeting: &'a serde_json::Value,
    name: &str,
) -> Option<&'a serde_json::Value> {
    meeting["participants"]
        .as_array()?
        .iter()
        .find(|participant| participant["display_name"] == name)
}

#[tokio::test]
async fn stored_events_translated_again_give_the_corrected_register() {
    let app = spawn_app().await;
    app.deliver(&[
        started(),
        joined(&HOST, "2025-03-11T14:31:30Z"),
        joined(&PUPIL, "2025-03-11T14:32:00Z"),
    ])
    .await;
    // What an earlier mapping made of these events: the pupil's join could not be read and
    // was set aside, and the host was stored without the email that identifies them.
    sqlx::query(
        "UPDATE inbox SET failed_at = 1, attempts = 5, last_error = 'payload: missing field' \
         WHERE event_type = 'participant_joined' AND body LIKE '%Jamie.Smith%'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    app.drain().await;
    sqlx::query("UPDATE participant_sessions SET email = NULL, person_id = NULL")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let before = app.only_meeting().await;
    assert!(
        participant_named(&before, PUPIL.name).is_none(),
        "{before:#}"
    );
    let host = participant_named(&before, HOST.name).expect("the host");
    assert_ne!(host["role"], "staff", "{before:#}");

    let reopened =
        chaperone::inbox::reopen_for_translation(&app.db, Utc::now() - Duration::days(1))
            .await
            .unwrap();
    assert_eq!(reopened.reopened, 3);
    assert_eq!(reopened.translated_before, 0);
    app.drain().await;

    let after = app.only_meeting().await;
    let host = participant_named(&after, HOST.name).expect("the host");
    assert_eq!(host["role"], "staff", "{after:#}");
    assert_eq!(host["person"]["reference"], "STAFF-0002");
    let pupil = participant_named(&after, PUPIL.name).expect("the pupil, applied at last");
    assert_eq!(pupil["role"], "pupil", "{after:#}");
    assert_eq!(pupil["person"]["reference"], "PUPIL-1001");
    // Applying again changed nothing that was already right: still one stay each.
    assert_eq!(
        after["participants"].as_array().map(Vec::len),
        Some(2),
        "{after:#}"
    );
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL OR failed_at IS NOT NULL",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0);
}
