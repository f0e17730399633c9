//! SIGKILL at random points under load, again and again: every event answered 2xx is in the
//! inbox when the process comes back, and is processed into the register.

use std::time::{Duration, Instant};

use crate::chaperone_process::Chaperone;
use crate::load::{summary, Load, LoadOptions};
use crate::school::{import_env, write_school};
use crate::store::{fresh_database_url, Store};
use crate::{long_variant, median_and_max_ms, one_at_a_time};

const SHORT_KILLS: usize = 5;
const LONG_KILLS: usize = 100;
const CLIENTS: usize = 16;
/// How long the process runs under load, once ready, before it is killed: drawn anew for
/// each kill.
const RUN_BEFORE_KILL_MS: std::ops::Range<u64> = 50..500;

#[tokio::test]
async fn events_acknowledged_before_repeated_sigkills_are_all_stored_and_processed() {
    let _turn = one_at_a_time().await;
    let kills = if long_variant() {
        LONG_KILLS
    } else {
        SHORT_KILLS
    };
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let backend = database_url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let chaperone = Chaperone::new(&database_url, &[]);
    chaperone.import(&write_school(folder.path(), &[], &[]), &import_env());

    let mut running = chaperone.start().await;
    let load = Load::start(
        &[chaperone.base_url()],
        LoadOptions {
            clients: CLIENTS,
            events_per_meeting: 50,
            limit: None,
        },
    );
    let started = Instant::now();
    let mut recoveries = Vec::with_capacity(kills);
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(RUN_BEFORE_KILL_MS))).await;
        let killed_at = Instant::now();
        running.kill();
        running = chaperone.spawn();
        let ready = running.wait_ready(Duration::from_secs(60)).await;
        assert!(ready.is_some(), "chaperone did not come back after a kill");
        recoveries.push(killed_at.elapsed());
    }
    // Load on the last instance for a moment, so that it is not only recovering.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load.stop().await;
    let under_load = started.elapsed();

    let store = Store::connect(&database_url).await;
    let acknowledged = tally.acknowledged();
    let audit = store
        .audit_when_settled(&acknowledged, Duration::from_secs(180))
        .await;
    let (median_ms, max_ms) = median_and_max_ms(&recoveries);
    println!(
        "FAULTS kill loop on {backend}: {kills} SIGKILLs over {:.1} s, {CLIENTS} clients; \
         events made {}, acknowledged {}, attempts {} {:?}; in the inbox {}, processed {}, \
         in the register {}, set aside as failed {}; LOST {}; recovery (kill to /readyz 200) \
         median {median_ms} ms, max {max_ms} ms",
        under_load.as_secs_f64(),
        tally.made(),
        audit.acknowledged,
        tally.attempts(),
        summary(&tally.outcomes_between(started, None)),
        audit.stored,
        audit.processed,
        audit.in_register,
        audit.failed,
        audit.lost,
    );

    assert!(
        audit.acknowledged > 0,
        "nothing was acknowledged under load"
    );
    assert_eq!(audit.lost, 0, "acknowledged events were lost: {audit:?}");
    assert!(
        audit.complete(),
        "not every acknowledged event was processed: {audit:?}"
    );
    assert_eq!(
        audit.failed, 0,
        "events were set aside as failed: {audit:?}"
    );
}
