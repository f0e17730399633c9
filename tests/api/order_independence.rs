//! A property: whatever order Zoom delivers a call's events in, and however often it
//! redelivers them, the register (participants and their stays, the call's start and end)
//! and the findings raised are those of the call delivered in order.
//!
//! Each case is a random call drawn from a seed: a host, a pupil, maybe a second adult,
//! guests, rejoins, lost leaves, chat, a schedule, `meeting.ended` before the last leaves.
//! It is delivered in order to one fresh app and shuffled, with redeliveries and the
//! processor running at random moments, to another. CHAPERONE_PROPERTY_CASES sets how many
//! cases run (24 by default); CHAPERONE_PROPERTY_SEED replays one case.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};
use crate::zoom_events::{
    chat_message, created, ended, joined, left, started, updated, Joiner, DSL, HOST, PUPIL,
};

const CASES_VARIABLE: &str = "CHAPERONE_PROPERTY_CASES";
const SEED_VARIABLE: &str = "CHAPERONE_PROPERTY_SEED";
const DEFAULT_CASES: usize = 24;

/// Session ids handed out in turn: every join of a call (a rejoin included) is a new session.
const SESSION_IDS: [&str; 16] = [
    "16790001", "16790002", "16790003", "16790004", "16790005", "16790006", "16790007", "16790008",
    "16790009", "16790010", "16790011", "16790012", "16790013", "16790014", "16790015", "16790016",
];

/// The pupil's parent, who joins with their directory email.
const PARENT: Joiner = Joiner {
    session_id: "",
    name: "Sam Smith",
    zoom_user_id: "",
    email: "sam.smith@home.example",
};

/// Guests known only by the name they typed; one of them uses the DSL's.
const GUESTS: [Joiner; 3] = [
    Joiner {
        session_id: "",
        name: "Dana Lee",
        zoom_user_id: "",
        email: "",
    },
    Joiner {
        session_id: "",
        name: "iPad (2)",
        zoom_user_id: "",
        email: "",
    },
    Joiner {
        session_id: "",
        name: "Uncle Bob",
        zoom_user_id: "",
        email: "",
    },
];

/// One webhook body and a short description of it for failure reports.
#[derive(Clone)]
struct Event {
    body: String,
    label: String,
}

#[tokio::test]
async fn any_permutation_with_redeliveries_gives_the_register_of_the_call_in_order() {
    for seed in case_seeds() {
        let call = generate_call(seed);
        let deliveries = shuffle_with_redeliveries(&call, seed);

        // The two apps side by side: most of a case is waiting on its databases.
        let (expected, actual) = tokio::join!(
            register_of_delivery_in_order(&call),
            register_of_shuffled_delivery(&deliveries, seed)
        );

        if actual != expected {
            panic!(
                "seed {seed}: the shuffled delivery gives another register \
                 (replay with {SEED_VARIABLE}={seed})\n\
                 first difference: {}\n\
                 in order:\n  {}\n\
                 delivered:\n  {}",
                first_difference(&expected, &actual, "$"),
                labels(&call),
                labels(&deliveries),
            );
        }
    }
}

/// The seeds to run: the one asked for, or fresh random ones.
fn case_seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var(SEED_VARIABLE) {
        let seed = seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VARIABLE} must be an unsigned integer"));
        return vec![seed];
    }
    let cases = std::env::var(CASES_VARIABLE)
        .ok()
        .map(|cases| {
            cases
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{CASES_VARIABLE} must be a count"))
        })
        .unwrap_or(DEFAULT_CASES);
    (0..cases).map(|_| rand::random()).collect()
}

/// Keeps the generator's, the shuffle's and the drains' random draws apart, so that changing
/// one does not change what the others draw for a seed.
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_4521;
const DRAIN_STREAM: u64 = 0x4452_4149_4e21_2121;

async fn register_of_delivery_in_order(call: &[Event]) -> Value {
    let app = spawn_app().await;
    let bodies: Vec<String> = call.iter().map(|event| event.body.clone()).collect();
    app.deliver(&bodies).await;
    register(&app).await
}

/// Delivers one by one, the processor running now and then between deliveries.
async fn register_of_shuffled_delivery(deliveries: &[Event], seed: u64) -> Value {
    let app = spawn_app().await;
    let mut rng = StdRng::seed_from_u64(seed ^ DRAIN_STREAM);
    for event in deliveries {
        app.deliver(std::slice::from_ref(&event.body)).await;
        if rng.gen_bool(0.25) {
            app.drain().await;
        }
    }
    register(&app).await
}

/// The register of the app's only call and its findings, once everything is processed and
/// the call evaluated; database ids and the moments of processing are left out.
async fn register(app: &TestApp) -> Value {
    app.settle_at(Utc::now()).await;
    let meeting = app.only_meeting().await;
    let mut findings: Vec<Value> = app
        .get_json("/api/v1/findings")
        .await
        .as_array()
        .expect("a list of findings")
        .iter()
        .map(|finding| {
            let mut kept = serde_json::Map::new();
            for field in [
                "rule",
                "scope",
                "subject",
                "severity",
                "status",
                "title",
                "summary",
                "clause",
                "people",
                "restricted",
                "occurred_at",
            ] {
                kept.insert(field.to_string(), finding[field].clone());
            }
            Value::Object(kept)
        })
        .collect();
    findings.sort_by_key(|finding| finding.to_string());
    serde_json::json!({ "meeting": meeting, "findings": findings })
}

/// A call on a school day, with who joins and leaves when drawn from `seed`, in the order
/// Zoom would send it.
fn generate_call(seed: u64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let day_starts: DateTime<Utc> = "2025-03-11T08:00:00Z".parse().expect("a time");
    let start = day_starts + Duration::seconds(rng.gen_range(0..9 * 3600));
    let end = start + Duration::seconds(rng.gen_range(10 * 60..60 * 60));
    let mut call = Call {
        rng,
        start,
        end,
        timed: Vec::new(),
        after_end: Vec::new(),
        next_session: 0,
    };

    if call.rng.gen_bool(0.5) {
        call.schedule();
    }
    if call.rng.gen_bool(0.9) {
        call.push(start, "meeting.started".into(), started());
    }
    let host_joins = start + Duration::seconds(call.rng.gen_range(0..30));
    call.attend(&HOST, "host", host_joins, 0.3);
    let pupil_joins = start + Duration::seconds(call.rng.gen_range(0..300));
    call.attend(&PUPIL, "pupil", pupil_joins, 0.3);
    match call.rng.gen_range(0..5) {
        0..=2 => {
            let joins = call.some_time();
            call.attend(&DSL, "DSL", joins, 0.2);
        }
        3 => {
            let joins = call.some_time();
            call.attend(&PARENT, "parent", joins, 0.1);
        }
        _ => {}
    }
    let guests: Vec<Joiner> = GUESTS.choose_multiple(&mut call.rng, 2).cloned().collect();
    for guest in &guests {
        if call.rng.gen_bool(0.35) {
            let joins = call.some_time();
            call.attend(guest, "guest", joins, 0.0);
        }
    }
    for message in 0..call.rng.gen_range(0..3) {
        let at = call.some_time();
        let id = format!("TUVTU0FHRS0{message}");
        call.push(
            at,
            format!("chat {id} {}", clock(at)),
            chat_message(&id, &zoom_time(at), "Can you hear me?"),
        );
    }
    call.finish()
}

struct Call {
    rng: StdRng,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Events with the time they happened at, sorted by it when the call is finished.
    timed: Vec<(DateTime<Utc>, Event)>,
    /// The leaves Zoom sends after `meeting.ended`, with the end as their time.
    after_end: Vec<Event>,
    next_session: usize,
}

impl Call {
    fn push(&mut self, at: DateTime<Utc>, label: String, body: String) {
        let body = with_start_time(&body, self.start);
        self.timed.push((at, Event { body, label }));
    }

    /// A moment during the call.
    fn some_time(&mut self) -> DateTime<Utc> {
        let length = (self.end - self.start).num_seconds();
        self.start + Duration::seconds(self.rng.gen_range(0..length))
    }

    /// `meeting.created`, sometimes followed by a `meeting.updated` moving the start.
    fn schedule(&mut self) {
        let planned = self.start - Duration::minutes(self.rng.gen_range(0..10));
        let alternative_hosts = if self.rng.gen_bool(0.5) {
            "dsl@greenfield.sch.example"
        } else {
            ""
        };
        let created_at = self.start - Duration::hours(2);
        let mut creation: Value =
            serde_json::from_str(&created(&zoom_time(planned), alternative_hosts)).expect("JSON");
        creation["event_ts"] = created_at.timestamp_millis().into();
        self.push(created_at, "meeting.created".into(), creation.to_string());
        if self.rng.gen_bool(0.5) {
            let updated_at = created_at + Duration::minutes(self.rng.gen_range(1..60));
            let moved = planned + Duration::minutes(self.rng.gen_range(-5..5));
            self.push(
                updated_at,
                "meeting.updated".into(),
                updated(updated_at.timestamp_millis(), &zoom_time(moved)),
            );
        }
    }

    /// `who` joins at `joins` and stays to the end, or leaves early, and with
    /// `rejoin_chance` comes back as a new session; a leave is sometimes lost.
    fn attend(&mut self, who: &Joiner, role: &str, joins: DateTime<Utc>, rejoin_chance: f64) {
        let mut joins = joins.min(self.end);
        loop {
            let session = Joiner {
                session_id: SESSION_IDS[self.next_session],
                ..who.clone()
            };
            self.next_session += 1;
            let label = format!("{role} {}", session.session_id);
            self.push(
                joins,
                format!("joined {label} {}", clock(joins)),
                joined(&session, &zoom_time(joins)),
            );
            let stays_to_end = self.rng.gen_bool(0.5);
            let leaves = if stays_to_end {
                self.end
            } else {
                joins + Duration::seconds(self.rng.gen_range(0..=(self.end - joins).num_seconds()))
            };
            let leave = Event {
                body: with_start_time(&left(&session, &zoom_time(leaves)), self.start),
                label: format!("left {label} {}", clock(leaves)),
            };
            if self.rng.gen_bool(0.1) {
                // Lost: the register infers the leave from the end.
            } else if leaves == self.end {
                self.after_end.push(leave);
            } else {
                self.timed.push((leaves, leave));
            }
            let gap = Duration::seconds(self.rng.gen_range(5..120));
            if leaves + gap >= self.end || !self.rng.gen_bool(rejoin_chance) {
                return;
            }
            joins = leaves + gap;
        }
    }

    /// The events in time order, `meeting.ended` (unless lost) before the last leaves.
    fn finish(mut self) -> Vec<Event> {
        self.timed.sort_by_key(|(at, _)| *at);
        let mut events: Vec<Event> = self.timed.into_iter().map(|(_, event)| event).collect();
        if self.rng.gen_bool(0.9) {
            events.push(Event {
                body: with_start_time(&ended(&zoom_time(self.end)), self.start),
                label: format!("meeting.ended {}", clock(self.end)),
            });
        }
        events.extend(self.after_end);
        events
    }
}

/// The events in a random order, a random few of them delivered again.
fn shuffle_with_redeliveries(call: &[Event], seed: u64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed ^ SHUFFLE_STREAM);
    let mut deliveries = call.to_vec();
    for _ in 0..rng.gen_range(0..=call.len() / 2) {
        let again = call.choose(&mut rng).expect("a call has events").clone();
        deliveries.push(Event {
            label: format!("{} (again)", again.label),
            ..again
        });
    }
    deliveries.shuffle(&mut rng);
    deliveries
}

/// The call's start as every instance event repeats it in `object.start_time`.
fn with_start_time(body: &str, start: DateTime<Utc>) -> String {
    let mut value: Value = serde_json::from_str(body).expect("a JSON body");
    let object = &mut value["payload"]["object"];
    if object.get("uuid").is_some()
        && object.get("start_time").is_some()
        && object.get("settings").is_none()
    {
        object["start_time"] = Value::String(zoom_time(start));
    }
    value.to_string()
}

fn zoom_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

fn labels(events: &[Event]) -> String {
    events
        .iter()
        .map(|event| event.label.as_str())
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Where two JSON values first differ, as a path and both values.
fn first_difference(expected: &Value, actual: &Value, path: &str) -> String {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let (x, y) = (&a.get(key), &b.get(key));
                if x != y {
                    return match (x, y) {
                        (Some(x), Some(y)) => first_difference(x, y, &format!("{path}.{key}")),
                        _ => format!("{path}.{key}: expected {x:?}, got {y:?}"),
                    };
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    return first_difference(x, y, &format!("{path}[{index}]"));
                }
            }
        }
        _ => {}
    }
    format!("{path}: expected {expected}, got {actual}")
}
