//! Distinct, really signed Zoom `meeting.participant_joined` deliveries for the Zoom
//! benchmarks, sent to one or several addresses in turn.

use std::sync::atomic::{AtomicU64, Ordering};

use chaperone::config::Secret;
use chaperone::zoom::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, Utc};

use super::{answer_of, Answer, Sender};

/// The Zoom user id of the one staff member in the benchmark schools; even-numbered joins
/// carry it, so the processor resolves a known person as well as anonymous guests.
pub const HOST_ZOOM_ID: &str = "BenchHostZoomUserId00A";

/// What counts as an acknowledgement.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The pipeline's 200 `{"status":"accepted"}`: committed to the inbox.
    Accepted,
    /// Any 200, whatever the body: for the do-nothing server that sets the floor.
    AnyOk,
}

/// Sends the next distinct event, signed now, to the next of `urls` in turn.
pub struct ZoomSender {
    client: reqwest::Client,
    urls: Vec<String>,
    secret: Secret,
    account_id: String,
    run_id: String,
    expect: Expect,
    next_sequence: AtomicU64,
    guests_acknowledged: AtomicU64,
}

impl ZoomSender {
    pub fn new(
        client: reqwest::Client,
        urls: Vec<String>,
        secret: &str,
        account_id: &str,
        expect: Expect,
    ) -> Self {
        assert!(!urls.is_empty(), "a sender needs somewhere to send");
        ZoomSender {
            client,
            urls,
            secret: Secret::new(secret.to_string()),
            account_id: account_id.to_string(),
            run_id: super::random_hex(12),
            expect,
            next_sequence: AtomicU64::new(0),
            guests_acknowledged: AtomicU64::new(0),
        }
    }

    /// Acknowledged joins of guests (odd sequence numbers): each is a participant no school
    /// knows, so an unknown-participant finding where the policy checks for them.
    pub fn guests_acknowledged(&self) -> u64 {
        self.guests_acknowledged.load(Ordering::Relaxed)
    }
}

impl Sender for ZoomSender {
    async fn send_next(&self) -> Answer {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let url = &self.urls[(sequence % self.urls.len() as u64) as usize];
        let now = Utc::now();
        let body = participant_joined(&self.account_id, &self.run_id, sequence, now);
        let timestamp_secs = now.timestamp();
        let signature = signature::sign(&self.secret, timestamp_secs, body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp_secs.to_string())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let answer = match self.expect {
            Expect::Accepted => answer_of(sent).await,
            Expect::AnyOk => any_ok(sent).await,
        };
        if matches!(answer, Answer::Acknowledged) && sequence % 2 == 1 {
            self.guests_acknowledged.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }
}

/// Any 200, the body read to the end so the connection goes back to the pool.
async fn any_ok(sent: reqwest::Result<reqwest::Response>) -> Answer {
    let Ok(response) = sent else {
        return Answer::Failed;
    };
    let status = response.status();
    if response.bytes().await.is_err() {
        return Answer::Failed;
    }
    if status == reqwest::StatusCode::OK {
        Answer::Acknowledged
    } else {
        Answer::Status(status.as_u16())
    }
}

/// A `meeting.participant_joined` body shaped like Zoom's (see `JOINED` in
/// src/zoom/payload.rs). Each sequence number is a new participant session, so no event is
/// a duplicate; two sessions share each meeting instance, as in a one-to-one call: the
/// member of staff, then a guest.
pub fn participant_joined(
    account_id: &str,
    run_id: &str,
    sequence: u64,
    now: DateTime<Utc>,
) -> String {
    let meeting = sequence / 2;
    let meeting_number = 80_000_000_000 + meeting;
    let user_id = 16_000_000 + sequence;
    let platform_user_id = if sequence % 2 == 0 { HOST_ZOOM_ID } else { "" };
    let event_ts = now.timestamp_millis();
    let join_time = now.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{event_ts},"payload":{{"account_id":"{account_id}","object":{{"uuid":"{run_id}{meeting:010}==","participant":{{"user_id":"{user_id}","user_name":"Bench {sequence}","registrant_id":"","participant_user_id":"{platform_user_id}","id":"","participant_uuid":"{run_id}-{sequence:012}","join_time":"{join_time}","email":""}},"id":"{meeting_number}","type":2,"topic":"Y9 mentoring – bench","host_id":"{HOST_ZOOM_ID}","duration":30,"start_time":"{join_time}","timezone":"Europe/London"}}}}}}"#
    )
}
