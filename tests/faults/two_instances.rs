//! Two instances as processes on one PostgreSQL, both taking webhooks, one killed with
//! SIGKILL mid-way: nothing acknowledged is lost, no finding is made twice, and every alert
//! reaches each recipient once (de-duplicated by `webhook-id`, as Standard Webhooks receivers
//! do; the raw arrivals are printed too).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::chaperone_process::Chaperone;
use crate::load::{summary, Load, LoadOptions};
use crate::private_postgres::PrivatePostgres;
use crate::receiver::AlertReceiver;
use crate::school::{import_env, write_school};
use crate::store::{fresh_postgres_database, Store};
use crate::{eventually, long_variant, one_at_a_time};

const SHORT_EVENTS: u64 = 300;
const LONG_EVENTS: u64 = 3000;
const RECIPIENTS: [&str; 2] = ["cases", "trust-office"];
/// A delivery claimed by the killed instance is free again after its lease (15 s), then sent
/// at its next attempt.
const ALERTS_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn two_instances_one_killed_midway_lose_nothing_and_alert_each_recipient_once() {
    let _turn = one_at_a_time().await;
    let events = if long_variant() {
        LONG_EVENTS
    } else {
        SHORT_EVENTS
    };
    let postgres = PrivatePostgres::start();
    let database_url = fresh_postgres_database(&postgres.server_url()).await;
    let receiver = AlertReceiver::start().await;
    let folder = tempfile::tempdir().unwrap();
    let webhooks: Vec<String> = RECIPIENTS.iter().map(|name| receiver.url(name)).collect();
    let first = Chaperone::new(
        &database_url,
        &[
            ("CHAPERONE__ALERTS__RETRY_BASE_MS", "500"),
            ("CHAPERONE__ALERTS__RETRY_MAX_DELAY_SECS", "2"),
            ("CHAPERONE__ALERTS__MAX_ATTEMPTS", "100"),
            ("CHAPERONE__ALERTS__POLL_INTERVAL_MS", "200"),
        ],
    );
    first.import(
        &write_school(folder.path(), &["unknown_participant"], &webhooks),
        &import_env(),
    );
    let second = first.another();
    let mut first_running = first.start().await;
    let mut second_running = second.start().await;

    let load = Load::start(
        &[first.base_url(), second.base_url()],
        LoadOptions {
            clients: 8,
            events_per_meeting: 25,
            limit: Some(events),
        },
    );
    let halfway = eventually(Duration::from_secs(120), || async {
        load.tally.acknowledged_count() as u64 >= events / 2
    })
    .await;
    assert!(halfway, "half the events were not acknowledged in time");
    first_running.kill();
    let killed_at = Instant::now();
    load.retarget(&[second.base_url()]);
    let tally = load.finish().await;

    let store = Store::connect(&database_url).await;
    let acknowledged = tally.acknowledged();
    let audit = store
        .audit_when_settled(&acknowledged, Duration::from_secs(120))
        .await;
    let sessions: HashSet<&str> = acknowledged
        .iter()
        .map(|(_, session)| session.as_str())
        .collect();
    let findings_made = eventually(Duration::from_secs(120), || async {
        store
            .unknown_participant_findings()
            .await
            .is_ok_and(|findings| findings.len() >= sessions.len())
    })
    .await;
    let findings = store
        .unknown_participant_findings()
        .await
        .expect("findings can be read");
    let mut findings_per_session: HashMap<&str, usize> = HashMap::new();
    for (_, session) in &findings {
        *findings_per_session.entry(session.as_str()).or_default() += 1;
    }
    let duplicate_findings: usize = findings_per_session
        .values()
        .map(|count| count.saturating_sub(1))
        .sum();
    let sessions_without_finding = sessions
        .iter()
        .filter(|session| !findings_per_session.contains_key(*session))
        .count();

    let expected_alerts = findings.len() * RECIPIENTS.len();
    let all_alerted = eventually(ALERTS_DEADLINE, || async {
        receiver.alert_ids().len() >= expected_alerts
    })
    .await;
    // Late arrivals (a second send of the same alert) would come within a few retries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alert_ids = receiver.alert_ids();
    let missing_alerts = findings
        .iter()
        .flat_map(|(finding_id, _)| {
            RECIPIENTS
                .iter()
                .map(move |recipient| (recipient.to_string(), *finding_id))
        })
        .filter(|key| !alert_ids.contains_key(key))
        .count();
    let alerts_sent_under_two_ids = alert_ids.values().filter(|ids| ids.len() > 1).count();
    let alerts_done_after = receiver.last_arrival().map(|last| last - killed_at);
    let deliveries = store
        .webhook_deliveries_by_status()
        .await
        .expect("deliveries can be read");
    println!(
        "FAULTS two instances on one PostgreSQL, one SIGKILLed after {} of {events} events: \
         attempts {:?}; acknowledged {}, in the inbox {}, processed {}, in the register {}, \
         LOST {}; findings {} for {} guests, duplicates {duplicate_findings}, guests without a \
         finding {sessions_without_finding}; alerts: {} (recipient, finding) pairs expected, \
         {} received, {} arrivals in all, missing {missing_alerts}, sent under two webhook-ids \
         {alerts_sent_under_two_ids}; deliveries by status {deliveries:?}; last alert {:?} s \
         after the kill",
        events / 2,
        summary(&tally.outcomes()),
        audit.acknowledged,
        audit.stored,
        audit.processed,
        audit.in_register,
        audit.lost,
        findings.len(),
        sessions.len(),
        expected_alerts,
        alert_ids.len(),
        receiver.arrivals(),
        alerts_done_after.map(|after| after.as_secs_f64()),
    );

    assert!(second_running.is_running(), "the surviving instance exited");
    assert_eq!(
        audit.acknowledged as u64, events,
        "every event was acknowledged"
    );
    assert_eq!(audit.lost, 0, "acknowledged events were lost: {audit:?}");
    assert!(
        audit.complete(),
        "not every acknowledged event was processed: {audit:?}"
    );
    assert!(findings_made, "not every guest got a finding");
    assert_eq!(sessions_without_finding, 0, "guests without a finding");
    assert_eq!(duplicate_findings, 0, "findings made twice");
    assert!(all_alerted, "not every alert arrived");
    assert_eq!(missing_alerts, 0, "alerts missing");
    assert_eq!(
        alerts_sent_under_two_ids, 0,
        "an alert arrived under two webhook-ids (a receiver would take it twice)"
    );
    assert_eq!(receiver.unverified(), 0, "alerts that did not verify");
}
