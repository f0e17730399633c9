//! A load generator playing the platform: concurrent clients each post one signed event at a
//! time and, as Zoom does, post it again until it is acknowledged (a 2xx). It keeps what
//! was acknowledged, so the store can be checked for every one of them afterwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::zoom::{guest_joined, signature_headers, Delivery};

/// How long a client waits for an answer before counting the attempt unanswered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause after an attempt that was not acknowledged, before the same event again.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Acknowledged,
    /// 503, and whether it carried `Retry-After`.
    Unavailable {
        retry_after: bool,
    },
    OtherStatus(u16),
    /// Refused connection, reset, timeout: the process was gone or stuck.
    NoAnswer,
}

pub struct Answer {
    pub at: Instant,
    pub outcome: Outcome,
}

pub struct Acknowledged {
    pub dedup_key: String,
    pub session_key: String,
}

#[derive(Default)]
pub struct Tally {
    /// Events made (each posted until acknowledged or the load stopped).
    made: AtomicU64,
    acknowledged: Mutex<Vec<Acknowledged>>,
    answers: Mutex<Vec<Answer>>,
}

impl Tally {
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::SeqCst)
    }

    pub fn acknowledged_count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// The acknowledged events' (dedup key, session key).
    pub fn acknowledged(&self) -> Vec<(String, String)> {
        self.acknowledged
            .lock()
            .unwrap()
            .iter()
            .map(|event| (event.dedup_key.clone(), event.session_key.clone()))
            .collect()
    }

    /// Attempts whose answer came at or after `from` (and before `until`, when given).
    pub fn outcomes_between(&self, from: Instant, until: Option<Instant>) -> Vec<Outcome> {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .filter(|answer| answer.at >= from && until.is_none_or(|until| answer.at < until))
            .map(|answer| answer.outcome)
            .collect()
    }

    /// Every attempt's outcome.
    pub fn outcomes(&self) -> Vec<Outcome> {
        let answers = self.answers.lock().unwrap();
        answers.iter().map(|answer| answer.outcome).collect()
    }

    pub fn attempts(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    fn record(&self, outcome: Outcome) {
        self.answers.lock().unwrap().push(Answer {
            at: Instant::now(),
            outcome,
        });
    }
}

/// Counts of outcomes by kind, for printing.
pub fn summary(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for outcome in outcomes {
        let label = match outcome {
            Outcome::Acknowledged => "2xx".to_string(),
            Outcome::Unavailable { retry_after: true } => "503 with Retry-After".to_string(),
            Outcome::Unavailable { retry_after: false } => "503 without Retry-After".to_string(),
            Outcome::OtherStatus(status) => status.to_string(),
            Outcome::NoAnswer => "no answer".to_string(),
        };
        *counts.entry(label).or_insert(0) += 1;
    }
    counts
}

pub struct LoadOptions {
    pub clients: usize,
    /// Events per meeting: joins are spread over meetings so that no call grows huge.
    pub events_per_meeting: u64,
    /// Stop making new events after this many; `None`: until stopped.
    pub limit: Option<u64>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
    targets: Arc<Mutex<Vec<String>>>,
    pub tally: Arc<Tally>,
}

impl Load {
    /// Starts posting to the instances at `targets` (base URLs), taking turns among them.
    pub fn start(targets: &[String], options: LoadOptions) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let targets = Arc::new(Mutex::new(targets.to_vec()));
        let turn = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::builder()
            .timeout(ANSWER_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let clients = (0..options.clients)
            .map(|_| {
                let platform = Platform {
                    client: client.clone(),
                    stop: stop.clone(),
                    tally: tally.clone(),
                    targets: targets.clone(),
                    turn: turn.clone(),
                    events_per_meeting: options.events_per_meeting,
                    limit: options.limit,
                };
                tokio::spawn(platform.run())
            })
            .collect();
        Load {
            stop,
            clients,
            targets,
            tally,
        }
    }

    /// From now on, post only to `targets`.
    pub fn retarget(&self, targets: &[String]) {
        *self.targets.lock().unwrap() = targets.to_vec();
    }

    /// Stops making and retrying events and waits for the clients to finish.
    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        self.finish().await
    }

    /// Waits for the clients to reach the limit and finish (only with a limit).
    pub async fn finish(self) -> Arc<Tally> {
        for client in self.clients {
            client.await.expect("a load client does not panic");
        }
        self.tally
    }
}

struct Platform {
    client: reqwest::Client,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    targets: Arc<Mutex<Vec<String>>>,
    turn: Arc<AtomicUsize>,
    events_per_meeting: u64,
    limit: Option<u64>,
}

impl Platform {
    async fn run(self) {
        while !self.stop.load(Ordering::SeqCst) {
            let sequence = self.tally.made.fetch_add(1, Ordering::SeqCst);
            if self.limit.is_some_and(|limit| sequence >= limit) {
                self.tally.made.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            let delivery = guest_joined(sequence / self.events_per_meeting, sequence);
            self.deliver_until_acknowledged(delivery).await;
        }
    }

    async fn deliver_until_acknowledged(&self, delivery: Delivery) {
        while !self.stop.load(Ordering::SeqCst) {
            let outcome = self.attempt(&delivery.body).await;
            self.tally.record(outcome);
            if outcome == Outcome::Acknowledged {
                self.tally.acknowledged.lock().unwrap().push(Acknowledged {
                    dedup_key: delivery.dedup_key,
                    session_key: delivery.session_key,
                });
                return;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn attempt(&self, body: &str) -> Outcome {
        let target = {
            let targets = self.targets.lock().unwrap();
            targets[self.turn.fetch_add(1, Ordering::Relaxed) % targets.len()].clone()
        };
        let mut request = self
            .client
            .post(format!("{target}/webhooks/zoom"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in signature_headers(body) {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Outcome::Acknowledged,
            Ok(response) if response.status() == 503 => Outcome::Unavailable {
                retry_after: response.headers().contains_key("retry-after"),
            },
            Ok(response) => Outcome::OtherStatus(response.status().as_u16()),
            Err(_) => Outcome::NoAnswer,
        }
    }
}
