//! An alert channel down for a while (the case system answers 503), then back: every alert is
//! delivered once it is back, each once by `webhook-id`, none given up as failed.

use std::time::{Duration, Instant};

use crate::chaperone_process::Chaperone;
use crate::load::{Load, LoadOptions};
use crate::receiver::AlertReceiver;
use crate::school::{import_env, write_school};
use crate::store::{fresh_database_url, Store};
use crate::{eventually, long_variant, one_at_a_time};

const SHORT: (u64, Duration) = (20, Duration::from_secs(10));
const LONG: (u64, Duration) = (200, Duration::from_secs(60));
/// Retries start at this and double up to the maximum, with ±20 % jitter.
const RETRY_BASE_MS: &str = "250";
const RETRY_MAX_DELAY_SECS: &str = "2";

#[tokio::test]
async fn alerts_held_while_their_channel_is_down_are_delivered_once_when_it_is_back() {
    let _turn = one_at_a_time().await;
    let (events, outage) = if long_variant() { LONG } else { SHORT };
    let receiver = AlertReceiver::start().await;
    receiver.set_down(true);
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let chaperone = Chaperone::new(
        &database_url,
        &[
            ("CHAPERONE__ALERTS__RETRY_BASE_MS", RETRY_BASE_MS),
            (
                "CHAPERONE__ALERTS__RETRY_MAX_DELAY_SECS",
                RETRY_MAX_DELAY_SECS,
            ),
            // Enough attempts to outlast the outage at the longest delay.
            ("CHAPERONE__ALERTS__MAX_ATTEMPTS", "200"),
            ("CHAPERONE__ALERTS__POLL_INTERVAL_MS", "200"),
        ],
    );
    chaperone.import(
        &write_school(
            folder.path(),
            &["unknown_participant"],
            &[receiver.url("cases")],
        ),
        &import_env(),
    );
    let _running = chaperone.start().await;
    let went_down = Instant::now();
    let tally = Load::start(
        &[chaperone.base_url()],
        LoadOptions {
            clients: 4,
            events_per_meeting: 10,
            limit: Some(events),
        },
    )
    .finish()
    .await;
    let store = Store::connect(&database_url).await;
    let every_alert_tried = eventually(outage + Duration::from_secs(60), || async {
        receiver.refused() as u64 >= events
    })
    .await;
    assert!(
        every_alert_tried,
        "the alerts were not tried while the channel was down"
    );
    if let Some(rest) = outage.checked_sub(went_down.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    receiver.set_down(false);
    let back_at = Instant::now();
    let refused_while_down = receiver.refused();

    let findings = store
        .unknown_participant_findings()
        .await
        .expect("findings can be read");
    let delivered = eventually(Duration::from_secs(60), || async {
        receiver.alert_ids().len() >= findings.len()
    })
    .await;
    let delivered_after = receiver.last_arrival().map(|last| last - back_at);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alert_ids = receiver.alert_ids();
    let deliveries = store
        .webhook_deliveries_by_status()
        .await
        .expect("deliveries can be read");
    println!(
        "FAULTS channel outage on {}: alert webhook down {:.1} s, {} events acknowledged, {} \
         findings, {refused_while_down} attempts refused while down (retries every {RETRY_BASE_MS} \
         ms doubling to {RETRY_MAX_DELAY_SECS} s); back: {} of {} alerts delivered, the last {:?} \
         ms after the channel came back; {} arrivals in all, {} alerts under more than one \
         webhook-id; deliveries by status {deliveries:?}",
        database_url.split(':').next().unwrap_or_default(),
        (back_at - went_down).as_secs_f64(),
        tally.acknowledged_count(),
        findings.len(),
        alert_ids.len(),
        findings.len(),
        delivered_after.map(|after| after.as_millis()),
        receiver.arrivals(),
        alert_ids.values().filter(|ids| ids.len() > 1).count(),
    );

    assert_eq!(findings.len() as u64, events, "one finding per guest");
    assert!(
        delivered,
        "not every alert was delivered after the channel came back"
    );
    assert!(
        alert_ids.values().all(|ids| ids.len() == 1),
        "an alert was delivered under two webhook-ids"
    );
    assert_eq!(
        deliveries.get("failed"),
        None,
        "deliveries given up as failed"
    );
    assert_eq!(receiver.unverified(), 0, "alerts that did not verify");
}
