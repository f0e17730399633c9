//! The content of one alert: what the DSL needs to act, and nothing more (no chat text, no
//! personal data beyond what the finding names).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::Severity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMessage {
    /// Unique to the delivery, across installations and time, and the same on each of its
    /// retries: receivers de-duplicate on it (`webhook-id`, the email's `Message-ID`).
    pub message_id: String,
    pub finding_id: i64,
    pub school_name: String,
    /// The platform of the call or account, as people name it ("Google Meet"), where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub severity: Severity,
    /// The rule's id, e.g. `two_adults`.
    pub rule: String,
    /// A short headline, e.g. "Pupil alone with one adult".
    pub title: String,
    /// The sentence a DSL reads: who, when, what, why.
    pub summary: String,
    pub occurred_at: DateTime<Utc>,
    /// Opens the finding in chaperone.
    pub finding_url: String,
    /// Joins the call, while it runs, where the platform gave a link.
    pub join_url: Option<String>,
    /// One click to acknowledge (opens a confirmation page).
    pub acknowledge_url: String,
    /// 0 for the first contact, 1 for the next after an escalation, ...
    pub escalation_level: u32,
    /// "alert", "escalation", "closed" or "digest".
    pub kind: String,
    /// For a "closed" notice: why the finding closed by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_because: Option<String>,
}

impl AlertMessage {
    /// Whether this tells an earlier recipient that the finding closed by itself.
    pub fn is_closure(&self) -> bool {
        self.kind == "closed"
    }
}
