//! The PostgreSQL server stopped (immediate: as in a crash) and started again under load:
//! meanwhile webhooks are answered 503 with Retry-After and /readyz is not 200; afterwards
//! the same process serves again, and nothing acknowledged is lost.

use std::time::{Duration, Instant};

use crate::chaperone_process::Chaperone;
use crate::load::{summary, Load, LoadOptions, Outcome};
use crate::private_postgres::PrivatePostgres;
use crate::school::{import_env, write_school};
use crate::store::{fresh_postgres_database, Store};
use crate::{eventually, long_variant, one_at_a_time};

const SHORT_OUTAGE: Duration = Duration::from_secs(10);
const LONG_OUTAGE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn while_postgres_is_down_webhooks_get_503_and_readyz_is_not_ready_and_nothing_acknowledged_is_lost(
) {
    let _turn = one_at_a_time().await;
    let outage = if long_variant() {
        LONG_OUTAGE
    } else {
        SHORT_OUTAGE
    };
    let postgres = PrivatePostgres::start();
    let database_url = fresh_postgres_database(&postgres.server_url()).await;
    let folder = tempfile::tempdir().unwrap();
    let chaperone = Chaperone::new(&database_url, &[]);
    chaperone.import(&write_school(folder.path(), &[], &[]), &import_env());
    let mut running = chaperone.start().await;
    let client = reqwest::Client::new();
    let load = Load::start(
        &[chaperone.base_url()],
        LoadOptions {
            clients: 8,
            events_per_meeting: 50,
            limit: None,
        },
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    postgres.stop_immediately();
    let stopped_at = Instant::now();
    let not_ready = eventually(Duration::from_secs(30), || async {
        matches!(running.readiness(&client).await, Some(status) if status != 200)
    })
    .await;
    let not_ready_after = stopped_at.elapsed();
    let refused_with_retry_after = eventually(Duration::from_secs(30), || async {
        load.tally
            .outcomes_between(stopped_at, None)
            .contains(&Outcome::Unavailable { retry_after: true })
    })
    .await;
    let mut readiness_while_down = Vec::new();
    let mut slowest_readiness = Duration::ZERO;
    while stopped_at.elapsed() < outage {
        let asked = Instant::now();
        readiness_while_down.push(running.readiness(&client).await);
        slowest_readiness = slowest_readiness.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    postgres.start_again();
    let restarted_at = Instant::now();
    let ready_again = running.wait_ready(Duration::from_secs(60)).await;
    let acknowledging_again = eventually(Duration::from_secs(60), || async {
        load.tally
            .outcomes_between(restarted_at, None)
            .contains(&Outcome::Acknowledged)
    })
    .await;
    let first_acknowledged_after = restarted_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.stop().await;
    let same_process = running.is_running();

    let store = Store::connect(&database_url).await;
    let audit = store
        .audit_when_settled(&tally.acknowledged(), Duration::from_secs(120))
        .await;
    let during_outage = tally.outcomes_between(stopped_at, Some(restarted_at));
    let acknowledged_during_outage = during_outage
        .iter()
        .filter(|outcome| **outcome == Outcome::Acknowledged)
        .count();
    println!(
        "FAULTS database outage: PostgreSQL down {:.1} s under load; /readyz not 200 {} ms after \
         the stop, answers while down {:?} (the slowest in {} ms); webhooks while down {:?}; back: /readyz 200 after {:?} \
         ms, first acknowledgement after {} ms; same process throughout: {same_process}; events \
         acknowledged {}, in the inbox {}, processed {}, in the register {}; LOST {}",
        (restarted_at - stopped_at).as_secs_f64(),
        not_ready_after.as_millis(),
        readiness_summary(&readiness_while_down),
        slowest_readiness.as_millis(),
        summary(&during_outage),
        ready_again.map(|ready| ready.as_millis()),
        first_acknowledged_after.as_millis(),
        audit.acknowledged,
        audit.stored,
        audit.processed,
        audit.in_register,
        audit.lost,
    );

    assert!(not_ready, "/readyz stayed 200 with the database down");
    assert!(
        readiness_while_down
            .iter()
            .all(|status| *status == Some(503)),
        "/readyz did not answer 503 (within a probe's two seconds) while the database was down: \
         {readiness_while_down:?}"
    );
    assert!(
        refused_with_retry_after,
        "no webhook was answered 503 with Retry-After while the database was down: {:?}",
        summary(&during_outage)
    );
    // Only a request whose commit was under way at the stop can be acknowledged after it.
    assert!(
        acknowledged_during_outage <= 8,
        "{acknowledged_during_outage} webhooks acknowledged while the database was down"
    );
    assert!(ready_again.is_some(), "/readyz did not come back to 200");
    assert!(acknowledging_again, "webhooks were not acknowledged again");
    assert!(
        same_process,
        "the process exited: it should recover by itself"
    );
    assert_eq!(audit.lost, 0, "acknowledged events were lost: {audit:?}");
    assert!(
        audit.complete(),
        "not every acknowledged event was processed: {audit:?}"
    );
}

/// How often each answer of /readyz came while the database was down.
fn readiness_summary(answers: &[Option<u16>]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for answer in answers {
        let label = answer.map_or("no answer".to_string(), |status| status.to_string());
        *counts.entry(label).or_insert(0) += 1;
    }
    counts
}
