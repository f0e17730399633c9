//! Zoom's answers read as Zoom means them (shared/platforms/zoom.md §3): the token endpoint's
//! refusal apart from its 429s and other failures, the live-meetings request with the dates
//! Zoom's SDKs require, and an empty participant report as the complete report of a call
//! with one participant.

use chrono::{TimeZone, Utc};

use crate::fake_zoom::FakeZoom;
use crate::zoom_api::{connected, findings};

#[tokio::test]
async fn the_live_meetings_request_carries_the_schools_dates_and_silent_webhooks_are_still_found() {
    let zoom = FakeZoom::start().await;
    zoom.with(|state| state.live_meetings = 2);
    let app = connected(&zoom, &[]).await;
    // Half past midnight on Thursday 16 July in London, still the 15th in UTC.
    let after_london_midnight = Utc.with_ymd_and_hms(2026, 7, 15, 23, 30, 0).unwrap();
    app.enricher
        .check_silence(after_london_midnight)
        .await
        .unwrap();

    let requests = zoom.with(|state| state.requests.clone());
    let live: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("/v2/metrics/meetings"))
        .collect();
    assert_eq!(live.len(), 1, "{requests:#?}");
    assert!(
        live[0].contains("type=live") && live[0].contains("from=2026-07-15&to=2026-07-16"),
        "{}",
        live[0]
    );
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("2 meetings were live"),
        "{}",
        found[0]["summary"]
    );
}

