//! Case-management systems receiving signed alert webhooks (Standard Webhooks): every
//! delivery is verified and recorded with its `webhook-id`, so the test can count what each
//! recipient got, with and without de-duplicating by that id. It can be taken down (answering
//! 503) and brought back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chaperone::alerts::channels::verify_standard_webhook;
use chaperone::config::Secret;

pub const WEBHOOK_SECRET: &str = "whsec_ZmF1bHRzLXN1aXRlLXdlYmhvb2stc2VjcmV0LTEyMzQ1Ng==";

/// One verified alert as it arrived.
pub struct Received {
    pub recipient: String,
    pub webhook_id: String,
    pub finding_id: i64,
    pub kind: String,
    pub at: Instant,
}

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    down: AtomicBool,
    refused: AtomicUsize,
    unverified: AtomicUsize,
}

#[derive(Clone)]
pub struct AlertReceiver {
    inbox: Arc<Inbox>,
    base_url: String,
}

impl AlertReceiver {
    pub async fn start() -> AlertReceiver {
        let inbox = Arc::new(Inbox::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the receiver");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hooks/{recipient}", post(receive))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        AlertReceiver { inbox, base_url }
    }

    /// The URL a recipient's alerts go to.
    pub fn url(&self, recipient: &str) -> String {
        format!("{}/hooks/{recipient}", self.base_url)
    }

    /// While down, every delivery is answered 503 (and not recorded as received).
    pub fn set_down(&self, down: bool) {
        self.inbox.down.store(down, Ordering::SeqCst);
    }

    pub fn refused(&self) -> usize {
        self.inbox.refused.load(Ordering::SeqCst)
    }

    pub fn unverified(&self) -> usize {
        self.inbox.unverified.load(Ordering::SeqCst)
    }

    /// Alerts received (`finding.alert`), counting every arrival.
    pub fn arrivals(&self) -> usize {
        self.inbox
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|received| received.kind == "finding.alert")
            .count()
    }

    /// For each (recipient, finding), the distinct `webhook-id`s of its alerts.
    pub fn alert_ids(&self) -> HashMap<(String, i64), HashSet<String>> {
        let mut ids: HashMap<(String, i64), HashSet<String>> = HashMap::new();
        for received in self.inbox.received.lock().unwrap().iter() {
            if received.kind == "finding.alert" {
                ids.entry((received.recipient.clone(), received.finding_id))
                    .or_default()
                    .insert(received.webhook_id.clone());
            }
        }
        ids
    }

    /// When the last alert arrived.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.inbox
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|received| received.at)
            .max()
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    Path(recipient): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if inbox.down.load(Ordering::SeqCst) {
        inbox.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = chrono::Utc::now().timestamp();
    if verify_standard_webhook(&Secret::new(WEBHOOK_SECRET), &headers, &body, now).is_err() {
        inbox.unverified.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let webhook_id = headers["webhook-id"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    inbox.received.lock().unwrap().push(Received {
        recipient,
        webhook_id,
        finding_id: message["finding_id"].as_i64().unwrap_or(-1),
        kind: message["type"].as_str().unwrap_or_default().to_string(),
        at: Instant::now(),
    });
    StatusCode::NO_CONTENT
}
