//! The alert outbox: deliveries are queued in the transaction that opens (or escalates) a
//! finding, one per recipient and channel, under a unique key, so an alert is never lost and
//! never queued twice — also with several instances.
//!
//! Who is told: the school's contacts in order, each with the lowest severity they are told
//! of. A new finding goes to the first contact it is severe enough for, and to every signed
//! webhook; if nobody acknowledges it in time, it goes to the next such contact, and so on.
//! When the engine resolves a finding by itself, everyone it reached (each contact and
//! webhook, on each channel) is sent a `closed` notice saying why; a finding a person
//! resolves needs none, since that person is the one who dealt with it.

use chrono::{DateTime, Duration, Utc};
use sqlx::{AnyConnection, Row};

use crate::db::time::to_millis;
use crate::directory::settings as school_settings;
use crate::findings::{Applied, Closed, Opened};
use crate::policy::Severity;

/// A person alerts go to, with their channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub min_severity: Severity,
    pub email: Option<String>,
    pub teams_url: Option<String>,
    pub slack_url: Option<String>,
}

impl Contact {
    fn channels(&self) -> Vec<&'static str> {
        let mut channels = Vec::new();
        if self.email.is_some() {
            channels.push("email");
        }
        if self.teams_url.is_some() {
            channels.push("teams");
        }
        if self.slack_url.is_some() {
            channels.push("slack");
        }
        channels
    }
}

/// The school's contacts told of findings of `severity`, in escalation order.
pub async fn eligible_contacts(
    connection: &mut AnyConnection,
    school_id: i64,
    severity: Severity,
) -> Result<Vec<Contact>, sqlx::Error> {
    let mut contacts = school_contacts(connection, school_id).await?;
    contacts.retain(|contact| contact.min_severity <= severity);
    Ok(contacts)
}

/// All the school's contacts, in escalation order.
async fn school_contacts(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<Contact>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, min_severity, email, teams_url, slack_url FROM alert_contacts \
         WHERE school_id = $1 ORDER BY position",
    )
    .bind(school_id)
    .fetch_all(connection)
    .await?;
    let mut contacts = Vec::new();
    for row in rows {
        let min_severity =
            Severity::parse(&row.try_get::<String, _>("min_severity")?).unwrap_or(Severity::Low);
        contacts.push(Contact {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            min_severity,
            email: row.try_get("email")?,
            teams_url: row.try_get("teams_url")?,
            slack_url: row.try_get("slack_url")?,
        });
    }
    Ok(contacts)
}

/// Whom a school's findings go to: its contacts and its signed webhooks, each with the least
/// severity it is told of. Read once for all the findings one evaluation opened.
struct Recipients {
    school_id: i64,
    contacts: Vec<Contact>,
    webhooks: Vec<(i64, Severity)>,
    escalate_after: Option<Duration>,
}

impl Recipients {
    async fn of_school(
        connection: &mut AnyConnection,
        school_id: i64,
    ) -> Result<Recipients, sqlx::Error> {
        let contacts = school_contacts(connection, school_id).await?;
        let webhooks = sqlx::query(
            "SELECT id, min_severity FROM alert_webhooks WHERE school_id = $1 ORDER BY id",
        )
        .bind(school_id)
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| {
            let min_severity = Severity::parse(&row.try_get::<String, _>("min_severity")?)
                .unwrap_or(Severity::Low);
            Ok((row.try_get("id")?, min_severity))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        // Escalation needs a second contact; the school's wait is read only then.
        let escalate_after = if contacts.len() > 1 {
            let settings = school_settings::load(connection, school_id).await?;
            Some(Duration::minutes(settings.alerts.escalate_after_mins))
        } else {
            None
        };
        Ok(Recipients {
            school_id,
            contacts,
            webhooks,
            escalate_after,
        })
    }
}

/// Queues what one evaluation calls for: the first alert of each finding it opened and the
/// closure notices of each it closed. Returns how many deliveries were queued.
pub async fn queue_after_evaluation(
    connection: &mut AnyConnection,
    applied: &Applied,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let alerts = queue_first_alerts(connection, &applied.opened, now).await?;
    let notices = queue_closure_notices(connection, &applied.closed, now).await?;
    Ok(alerts + notices)
}

/// Queues a `closed` notice for every delivery of the finding's current round that was sent
/// or is being sent now, on the same channel to the same recipient. One still waiting its
/// turn needs none: the dispatcher skips it, as its finding is no longer open.
async fn queue_closure_notices(
    connection: &mut AnyConnection,
    closed: &[Closed],
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    for finding in closed {
        let answered = sqlx::query(
            "SELECT id, school_id, escalation_level, contact_id, webhook_id, channel, recipient \
             FROM alert_deliveries WHERE finding_id = $1 AND alert_round = $2 \
               AND kind IN ('alert', 'escalation') \
               AND (status = 'sent' OR (status = 'pending' AND lease_until IS NOT NULL AND lease_until >= $3)) \
             ORDER BY id",
        )
        .bind(finding.finding_id)
        .bind(finding.alert_round)
        .bind(to_millis(now))
        .fetch_all(&mut *connection)
        .await?;
        for delivery in answered {
            let channel: String = delivery.try_get("channel")?;
            queued += insert_delivery(
                connection,
                NewDelivery {
                    school_id: delivery.try_get("school_id")?,
                    finding_id: finding.finding_id,
                    alert_round: finding.alert_round,
                    escalation_level: delivery.try_get("escalation_level")?,
                    kind: CLOSED_KIND,
                    contact_id: delivery.try_get("contact_id")?,
                    webhook_id: delivery.try_get("webhook_id")?,
                    channel: known_channel(&channel),
                    recipient: delivery.try_get("recipient")?,
                    answers_delivery_id: Some(delivery.try_get("id")?),
                },
                now,
            )
            .await?;
        }
    }
    Ok(queued)
}

/// The delivery kind of a closure notice.
pub const CLOSED_KIND: &str = "closed";

fn known_channel(channel: &str) -> &'static str {
    match channel {
        "email" => "email",
        "teams" => "teams",
        "slack" => "slack",
        _ => "webhook",
    }
}

/// Queues the first alert of each opened finding; returns how many deliveries were queued.
async fn queue_first_alerts(
    connection: &mut AnyConnection,
    opened: &[Opened],
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    let mut recipients: Option<Recipients> = None;
    for finding in opened {
        if recipients
            .as_ref()
            .is_none_or(|r| r.school_id != finding.school_id)
        {
            recipients = Some(Recipients::of_school(connection, finding.school_id).await?);
        }
        let school = recipients.as_ref().expect("read just above");
        let contacts: Vec<&Contact> = school
            .contacts
            .iter()
            .filter(|contact| contact.min_severity <= finding.severity)
            .collect();
        if let Some(first) = contacts.first() {
            queued += queue_for_contact(
                connection,
                finding.school_id,
                finding.finding_id,
                finding.alert_round,
                0,
                "alert",
                first,
                now,
            )
            .await?;
        }
        for &(webhook_id, min_severity) in &school.webhooks {
            if min_severity > finding.severity {
                continue;
            }
            queued += insert_delivery(
                connection,
                NewDelivery {
                    school_id: finding.school_id,
                    finding_id: finding.finding_id,
                    alert_round: finding.alert_round,
                    escalation_level: 0,
                    kind: "alert",
                    contact_id: None,
                    webhook_id: Some(webhook_id),
                    channel: "webhook",
                    recipient: format!("webhook:{webhook_id}"),
                    answers_delivery_id: None,
                },
                now,
            )
            .await?;
        }
        // The next contact, if there is one, after the school's wait.
        let escalate_at = school
            .escalate_after
            .filter(|_| contacts.len() > 1)
            .map(|wait| now + wait);
        sqlx::query(
            "UPDATE findings SET alert_level = 0, alerted_at = $1, escalate_at = $2 WHERE id = $3",
        )
        .bind(to_millis(now))
        .bind(escalate_at.map(to_millis))
        .bind(finding.finding_id)
        .execute(&mut *connection)
        .await?;
    }
    Ok(queued)
}

/// Escalates every open finding whose last alert has gone unacknowledged for longer than
/// its school allows, to the next contact; returns how many deliveries were queued.
pub async fn queue_escalations(
    connection: &mut AnyConnection,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let due = sqlx::query(
        "SELECT id, school_id, severity, alert_round, alert_level FROM findings \
         WHERE status = 'open' AND escalate_at IS NOT NULL AND escalate_at <= $1 ORDER BY escalate_at",
    )
    .bind(to_millis(now))
    .fetch_all(&mut *connection)
    .await?;
    let mut queued = 0;
    for row in due {
        let school_id: i64 = row.try_get("school_id")?;
        let finding_id: i64 = row.try_get("id")?;
        let level: i64 = row.try_get("alert_level")?;
        let severity =
            Severity::parse(&row.try_get::<String, _>("severity")?).unwrap_or(Severity::Low);
        let contacts = eligible_contacts(connection, school_id, severity).await?;
        let next_level = level + 1;
        if let Some(next) = contacts.get(next_level as usize) {
            let round: i64 = row.try_get("alert_round")?;
            queued += queue_for_contact(
                connection,
                school_id,
                finding_id,
                round,
                next_level,
                "escalation",
                next,
                now,
            )
            .await?;
        }
        let escalate_at =
            next_escalation(connection, school_id, contacts.len(), next_level, now).await?;
        // Guarded by the level read above: two instances escalate a finding once.
        sqlx::query(
            "UPDATE findings SET alert_level = $1, alerted_at = $2, escalate_at = $3 WHERE id = $4 AND alert_level = $5",
        )
        .bind(next_level)
        .bind(to_millis(now))
        .bind(escalate_at.map(to_millis))
        .bind(finding_id)
        .bind(level)
        .execute(&mut *connection)
        .await?;
    }
    Ok(queued)
}

/// When a finding alerted at `level` escalates next: after the school's wait, if there is a
/// further contact to tell.
async fn next_escalation(
    connection: &mut AnyConnection,
    school_id: i64,
    contacts: usize,
    level: i64,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    if level as usize + 1 >= contacts {
        return Ok(None);
    }
    let settings = school_settings::load(connection, school_id).await?;
    Ok(Some(
        now + Duration::minutes(settings.alerts.escalate_after_mins),
    ))
}

#[allow(clippy::too_many_arguments)]
async fn queue_for_contact(
    connection: &mut AnyConnection,
    school_id: i64,
    finding_id: i64,
    alert_round: i64,
    escalation_level: i64,
    kind: &'static str,
    contact: &Contact,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    for channel in contact.channels() {
        queued += insert_delivery(
            connection,
            NewDelivery {
                school_id,
                finding_id,
                alert_round,
                escalation_level,
                kind,
                contact_id: Some(contact.id),
                webhook_id: None,
                channel,
                recipient: format!("contact:{}", contact.id),
                answers_delivery_id: None,
            },
            now,
        )
        .await?;
    }
    Ok(queued)
}

struct NewDelivery {
    school_id: i64,
    finding_id: i64,
    alert_round: i64,
    escalation_level: i64,
    kind: &'static str,
    contact_id: Option<i64>,
    webhook_id: Option<i64>,
    channel: &'static str,
    recipient: String,
    answers_delivery_id: Option<i64>,
}

async fn insert_delivery(
    connection: &mut AnyConnection,
    delivery: NewDelivery,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO alert_deliveries (school_id, finding_id, alert_round, escalation_level, kind, contact_id, webhook_id, \
           channel, recipient, status, attempts, next_attempt_at, created_at, answers_delivery_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(delivery.school_id)
    .bind(delivery.finding_id)
    .bind(delivery.alert_round)
    .bind(delivery.escalation_level)
    .bind(delivery.kind)
    .bind(delivery.contact_id)
    .bind(delivery.webhook_id)
    .bind(delivery.channel)
    .bind(delivery.recipient)
    .bind(to_millis(now))
    .bind(delivery.answers_delivery_id)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() as usize)
}
