//! The test alert that shows a channel works: down one channel of one contact, or to one
//! signed webhook, through the outbox like any alert (the dispatcher retries and records it),
//! but about no finding: its `kind` is [`KIND`], it has no finding id, and it says plainly that
//! it is a test.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};

use super::channels::ChannelTarget;
use super::contacts::*;
use super::message::AlertMessage;
use crate::config::Secret;
use crate::db::time::{from_millis, to_millis};
use crate::policy::Severity;

/// The delivery kind of a test alert.
pub const KIND: &str = "test";

/// Where a test alert goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestRecipient {
    /// One channel (`email`, `teams` or `slack`) of a contact.
    Contact {
        id: i64,
        channel: &'static str,
    },
    Webhook {
        id: i64,
    },
}

impl TestRecipient {
    fn recipient(&self) -> String {
        match self {
            TestRecipient::Contact { id, .. } => format!("contact:{id}"),
            TestRecipient::Webhook { id } => format!("webhook:{id}"),
        }
    }

    fn channel(&self) -> &'static str {
        match self {
            TestRecipient::Contact { channel, .. } => channel,
            TestRecipient::Webhook { .. } => "webhook",
        }
    }
}

/// Queues a test alert for the dispatcher; returns the delivery's id.
pub async fn queue_test(
    connection: &mut AnyConnection,
    school_id: i64,
    to: TestRecipient,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let (contact_id, webhook_id) = match to {
        TestRecipient::Contact { id, .. } => (Some(id), None),
        TestRecipient::Webhook { id } => (None, Some(id)),
    };
    let row = sqlx::query(
        "INSERT INTO alert_deliveries (school_id, finding_id, alert_round, escalation_level, kind, contact_id, \
           webhook_id, channel, recipient, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, NULL, 0, 0, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) RETURNING id",
    )
    .bind(school_id)
    .bind(KIND)
    .bind(contact_id)
    .bind(webhook_id)
    .bind(to.channel())
    .bind(to.recipient())
    .bind(to_millis(now))
    .fetch_one(connection)
    .await?;
    row.try_get("id")
}

/// A test alert's delivery, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDelivery {
    pub id: i64,
    /// `contact:ID` or `webhook:ID`.
    pub recipient: String,
    pub channel: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt failed: a reason without addresses or URLs.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The latest test alert of each recipient and channel of the school.
pub async fn latest_tests(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<TestDelivery>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, recipient, channel, status, attempts, last_error, created_at, sent_at \
         FROM alert_deliveries WHERE id IN ( \
           SELECT MAX(id) FROM alert_deliveries WHERE school_id = $1 AND kind = $2 \
           GROUP BY recipient, channel) \
         ORDER BY id",
    )
    .bind(school_id)
    .bind(KIND)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TestDelivery {
                id: row.try_get("id")?,
                recipient: row.try_get("recipient")?,
                channel: row.try_get("channel")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                created_at: from_millis(row.try_get("created_at")?),
                sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
            })
        })
        .collect()
}

/// The target and message of test delivery `delivery_id`, for the dispatcher; none when its
/// contact, channel or webhook is gone.
pub async fn compose(
    pool: &AnyPool,
    delivery_id: i64,
    public_url: &str,
) -> Result<Option<(ChannelTarget, AlertMessage)>, sqlx::Error> {
    let delivery = sqlx::query(
        "SELECT d.school_id, d.contact_id, d.webhook_id, d.channel, d.created_at, s.name AS school_name \
         FROM alert_deliveries d JOIN schools s ON s.id = d.school_id WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_one(pool)
    .await?;
    let school_id: i64 = delivery.try_get("school_id")?;
    let channel: String = delivery.try_get("channel")?;
    let contact_id: Option<i64> = delivery.try_get("contact_id")?;
    let webhook_id: Option<i64> = delivery.try_get("webhook_id")?;
    let mut connection = pool.acquire().await?;
    let target = match (contact_id, webhook_id) {
        (Some(contact_id), _) => match contact_by_id(&mut connection, contact_id).await? {
            Some(contact) => match channel.as_str() {
                "email" => contact.email.map(|to| ChannelTarget::Email { to }),
                "teams" => contact.teams_url.map(|url| ChannelTarget::Teams { url }),
                "slack" => contact.slack_url.map(|url| ChannelTarget::Slack { url }),
                _ => None,
            },
            None => None,
        },
        (None, Some(webhook_id)) => {
            let row = sqlx::query("SELECT url, secret FROM alert_webhooks WHERE id = $1")
                .bind(webhook_id)
                .fetch_optional(&mut *connection)
                .await?;
            match row {
                Some(row) => Some(ChannelTarget::Webhook {
                    url: row.try_get("url")?,
                    secret: Secret::new(row.try_get::<String, _>("secret")?),
                }),
                None => None,
            }
        }
        (None, None) => None,
    };
    let Some(target) = target else {
        return Ok(None);
    };
    let message = message(
        school_id,
        delivery.try_get("school_name")?,
        from_millis(delivery.try_get("created_at")?),
        public_url,
    );
    Ok(Some((target, message)))
}

/// What a test alert says: that it is a test, of which school, and that there is nothing to
/// do. Its links lead to the console's contacts page, never to a finding.
fn message(
    school_id: i64,
    school_name: String,
    queued_at: DateTime<Utc>,
    public_url: &str,
) -> AlertMessage {
    let contacts_page = format!(
        "{}/admin/contacts?school={school_id}",
        public_url.trim_end_matches('/')
    );
    AlertMessage {
        // Given once, on the first attempt, by the dispatcher.
        message_id: String::new(),
        finding_id: 0,
        school_name,
        platform: None,
        severity: Severity::Low,
        rule: "test_alert".into(),
        title: "TEST ALERT, not a finding".into(),
        summary: "This is a test of this alert channel, sent from the chaperone console. \
                  Nothing has happened and there is nothing to act on."
            .into(),
        occurred_at: queued_at,
        finding_url: contacts_page.clone(),
        join_url: None,
        acknowledge_url: contacts_page,
        escalation_level: 0,
        kind: KIND.into(),
        closed_because: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_alert_says_it_is_a_test_and_links_only_to_the_console() {
        let message = message(
            3,
            "Greenfield Academy".into(),
            Utc::now(),
            "https://chaperone.example/",
        );
        assert_eq!(message.kind, KIND);
        assert!(message.title.contains("TEST"), "{}", message.title);
        assert!(message.summary.contains("nothing to act on"));
        assert_eq!(
            message.finding_url,
            "https://chaperone.example/admin/contacts?school=3"
        );
        assert_eq!(message.acknowledge_url, message.finding_url);
        assert_eq!(message.join_url, None);
    }

    #[test]
    fn a_test_goes_to_one_channel_of_a_contact_or_to_a_webhook() {
        let contact = TestRecipient::Contact {
            id: 4,
            channel: "slack",
        };
        assert_eq!(
            (contact.recipient(), contact.channel()),
            ("contact:4".to_string(), "slack")
        );
        let webhook = TestRecipient::Webhook { id: 2 };
        assert_eq!(
            (webhook.recipient(), webhook.channel()),
            ("webhook:2".to_string(), "webhook")
        );
    }
}
