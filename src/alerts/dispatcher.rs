//! The alert dispatcher: claims due deliveries from the outbox (with a lease, so another
//! instance does not send the same one), composes the message, sends it, and records the
//! result. Failures are retried on an exponential schedule with jitter, honouring
//! `Retry-After` up to `alerts.max_retry_after_secs` (an alert must stay timely whatever a
//! receiver asks for); after the last attempt a delivery is marked failed, visibly. On its timers
//! it escalates findings nobody has acknowledged and sends the daily digests.
//!
//! A delivery is sent only while it is still true when its turn comes: an alert for a
//! finding resolved in the meantime (found on a partial picture, then cleared) is skipped,
//! visibly, with the reason; the daily digest still counts the finding. A closure notice
//! follows its alert, never overtakes it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::sync::Notify;

use super::channels::{ChannelTarget, Channels, DeliveryError};
use super::links::{AcknowledgeGrant, LinkSigner};
use super::message::AlertMessage;
use super::outbox::{self, CLOSED_KIND};
use crate::config::Secret;
use crate::db::claim::Queue;
use crate::db::time::{from_millis, to_millis};
use crate::db::Db;
use crate::findings::query::CALL_JOINS;
use crate::findings::reason_closed;
use crate::meeting::Platform;
use crate::policy::Severity;
use crate::retry::RetryPolicy;
use crate::supervision::Role;
use crate::telemetry::metrics::Metrics;
use crate::timers::Timer;
use crate::worker::{Pass, Wakeups, Worker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchStep {
    Sent,
    Retrying,
    Failed,
    /// Not sent: the finding was no longer open (or the alert a notice follows never went).
    Skipped,
    /// A closure notice waits for the alert it follows, still being sent.
    Deferred,
    Empty,
}

/// How long a claimed delivery is another instance's to leave alone: short, so that a delivery
/// whose instance died is sent again within seconds, and renewed every [`RENEW_EVERY`] while
/// its send runs, so that a slow receiver does not get the alert twice.
pub const LEASE: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Deliveries waiting and due, earliest first, unless another sender holds them.
const DUE_DELIVERIES: Queue = Queue {
    table: "alert_deliveries",
    key: "id",
    due:
        "status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)",
    order_by: "next_attempt_at",
};

/// How long a closure notice waits before looking again at the alert it follows.
const CLOSURE_WAIT: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    channels: Arc<Channels>,
    links: LinkSigner,
    public_url: String,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
}

struct Claimed {
    id: i64,
    finding_id: i64,
    alert_round: i64,
    answers_delivery_id: Option<i64>,
    channel: String,
    kind: String,
    escalation_level: i64,
    contact_id: Option<i64>,
    webhook_id: Option<i64>,
    attempts: i64,
    /// The message as sent on the first attempt (JSON), if there was one.
    first_composed: Option<String>,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        channels: Arc<Channels>,
        links: LinkSigner,
        public_url: String,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Dispatcher {
            db,
            channels,
            links,
            public_url: public_url.trim_end_matches('/').to_string(),
            retry,
            metrics,
        }
    }

    /// Sends the earliest due delivery, if any.
    pub async fn dispatch_next(&self, now: DateTime<Utc>) -> Result<DispatchStep, sqlx::Error> {
        self.db.yield_to_ingestion().await;
        let Some(claimed) = self.claim(now).await? else {
            return Ok(DispatchStep::Empty);
        };
        let channel = channel_label(&claimed.channel);
        let outcome = match self.compose(&claimed, now).await? {
            Turn::Send(target, message) => {
                let message = self.as_first_composed(&claimed, *message).await?;
                self.while_leased(claimed.id, now, self.channels.deliver(&target, &message))
                    .await
            }
            Turn::RecipientGone => Err(DeliveryError::Permanent {
                reason: "the recipient is no longer configured".into(),
            }),
            Turn::Hold(Hold::Skip(reason)) => {
                self.skip(&claimed, reason).await?;
                self.metrics
                    .record_alert(channel, step_label(DispatchStep::Skipped));
                return Ok(DispatchStep::Skipped);
            }
            Turn::Hold(Hold::Wait) => {
                self.wait(&claimed, now).await?;
                return Ok(DispatchStep::Deferred);
            }
        };
        let step = match outcome {
            Ok(()) => {
                sqlx::query("UPDATE alert_deliveries SET status = 'sent', sent_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2")
                    .bind(to_millis(Utc::now()))
                    .bind(claimed.id)
                    .execute(&self.db.pool)
                    .await?;
                DispatchStep::Sent
            }
            Err(error) => {
                let attempts = claimed.attempts as u32;
                let retry = error.is_retryable() && attempts < self.retry.max_attempts;
                let reason = error.to_string();
                if retry {
                    let delay = self.retry.delay(attempts, error.retry_after());
                    let next = now
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
                    sqlx::query(
                        "UPDATE alert_deliveries SET next_attempt_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3",
                    )
                    .bind(to_millis(next))
                    .bind(&reason)
                    .bind(claimed.id)
                    .execute(&self.db.pool)
                    .await?;
                    tracing::warn!(
                        delivery_id = claimed.id,
                        channel,
                        attempts,
                        delay_ms = delay.as_millis() as u64,
                        "alert delivery failed; will retry"
                    );
                    DispatchStep::Retrying
                } else {
                    // A failure worth retrying that was retried as often as allowed is final
                    // now: the record says so, not "worth retrying".
                    let reason = match &error {
                        DeliveryError::Retryable { reason, .. } => {
                            format!("delivery failed after {attempts} attempts; the last: {reason}")
                        }
                        DeliveryError::Permanent { .. } => reason,
                    };
                    sqlx::query("UPDATE alert_deliveries SET status = 'failed', lease_until = NULL, last_error = $1 WHERE id = $2")
                        .bind(&reason)
                        .bind(claimed.id)
                        .execute(&self.db.pool)
                        .await?;
                    tracing::error!(
                        delivery_id = claimed.id,
                        finding_id = claimed.finding_id,
                        channel,
                        attempts,
                        "alert delivery failed for good"
                    );
                    DispatchStep::Failed
                }
            }
        };
        self.metrics.record_alert(channel, step_label(step));
        Ok(step)
    }

    /// Escalates unacknowledged findings; returns how many deliveries were queued.
    pub async fn escalate(&self, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        let mut tx = self.db.pool.begin().await?;
        let queued = outbox::queue_escalations(&mut tx, now).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Sends and escalates until nothing is due at `now` (for tests and tools).
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<Vec<DispatchStep>, sqlx::Error> {
        let mut steps = Vec::new();
        loop {
            match self.dispatch_next(now).await? {
                DispatchStep::Empty => {
                    if self.escalate(now).await? == 0 {
                        return Ok(steps);
                    }
                }
                step => steps.push(step),
            }
        }
    }

    /// Sends the daily digests due at `now`; returns how many emails went out.
    pub async fn send_digests(&self, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        super::digest::send_due(&self.db, &self.channels, &self.public_url, now).await
    }

    /// Records that a delivery will not be sent, and why; the claim was no attempt.
    async fn skip(&self, claimed: &Claimed, reason: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE alert_deliveries SET status = 'skipped', skipped_because = $1, lease_until = NULL, \
             attempts = attempts - 1 WHERE id = $2",
        )
        .bind(reason)
        .bind(claimed.id)
        .execute(&self.db.pool)
        .await?;
        tracing::info!(
            delivery_id = claimed.id,
            finding_id = claimed.finding_id,
            kind = %claimed.kind,
            "alert delivery skipped: {reason}"
        );
        Ok(())
    }

    /// Puts a closure notice back until the alert it follows has been sent (or given up).
    async fn wait(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE alert_deliveries SET next_attempt_at = $1, lease_until = NULL, attempts = attempts - 1 WHERE id = $2",
        )
        .bind(to_millis(now + CLOSURE_WAIT))
        .bind(claimed.id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn claim(&self, now: DateTime<Utc>) -> Result<Option<Claimed>, sqlx::Error> {
        let sql = DUE_DELIVERIES.claim_with_lease(
            self.db.backend,
            "lease_until = $2, attempts = attempts + 1",
            "id, finding_id, alert_round, answers_delivery_id, channel, kind, escalation_level, \
             contact_id, webhook_id, attempts, first_composed",
        );
        let lease_until = now + chrono::Duration::from_std(LEASE).expect("lease fits");
        let row = sqlx::query(&sql)
            .bind(to_millis(now))
            .bind(to_millis(lease_until))
            .fetch_optional(&self.db.pool)
            .await?;
        row.as_ref().map(claimed_from_row).transpose()
    }

    /// Runs `send`, extending the delivery's lease every [`RENEW_EVERY`] until it ends.
    async fn while_leased<T>(
        &self,
        id: i64,
        claimed_at: DateTime<Utc>,
        send: impl std::future::Future<Output = T>,
    ) -> T {
        let started = tokio::time::Instant::now();
        let mut renew = tokio::time::interval_at(started + RENEW_EVERY, RENEW_EVERY);
        tokio::pin!(send);
        loop {
            tokio::select! {
                sent = &mut send => return sent,
                _ = renew.tick() => {
                    let until = claimed_at
                        + chrono::Duration::from_std(started.elapsed() + LEASE)
                            .unwrap_or(chrono::Duration::MAX);
                    let renewed = sqlx::query(
                        "UPDATE alert_deliveries SET lease_until = $1 WHERE id = $2 AND status = 'pending'",
                    )
                    .bind(to_millis(until))
                    .bind(id)
                    .execute(&self.db.pool)
                    .await;
                    if let Err(error) = renewed {
                        tracing::warn!(delivery_id = id, %error, "could not renew a delivery's lease");
                    }
                }
            }
        }
    }

    /// The message a retry sends: the first attempt's, unchanged (its id, its acknowledge
    /// link, its words), even if the finding has moved on since; on the first attempt,
    /// `composed` with an id of its own, kept for the retries.
    async fn as_first_composed(
        &self,
        claimed: &Claimed,
        composed: AlertMessage,
    ) -> Result<AlertMessage, sqlx::Error> {
        if let Some(first) = claimed
            .first_composed
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
        {
            return Ok(first);
        }
        let message = AlertMessage {
            message_id: delivery_message_id(),
            ..composed
        };
        let json = serde_json::to_string(&message)
            .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        sqlx::query("UPDATE alert_deliveries SET first_composed = $1 WHERE id = $2")
            .bind(json)
            .bind(claimed.id)
            .execute(&self.db.pool)
            .await?;
        Ok(message)
    }

    /// What to do with a claimed delivery: send it (to this target, this message), hold it,
    /// or fail it because its recipient was removed.
    async fn compose(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<Turn, sqlx::Error> {
        if claimed.kind == super::test_alert::KIND {
            // A test from the console: no finding behind it, nothing to hold it back.
            return Ok(
                match super::test_alert::compose(&self.db.pool, claimed.id, &self.public_url)
                    .await?
                {
                    Some((target, message)) => Turn::Send(target, Box::new(message)),
                    None => Turn::RecipientGone,
                },
            );
        }
        let finding = sqlx::query(&format!(
            "SELECT f.id, f.rule, f.severity, f.title, f.summary, f.occurred_at, s.name AS school_name, \
               f.status, f.alert_round, f.resolution_note, \
               COALESCE(direct.join_url, via_call.join_url) AS join_url, i.ended_at, \
               COALESCE(i.platform, direct.platform, account.platform) AS platform \
             FROM findings f JOIN schools s ON s.id = f.school_id {CALL_JOINS} \
             WHERE f.id = $1",
        ))
        .bind(claimed.finding_id)
        .fetch_one(&self.db.pool)
        .await?;
        let answered = match claimed.answers_delivery_id {
            Some(id) => {
                let row = sqlx::query("SELECT status FROM alert_deliveries WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.db.pool)
                    .await?;
                row.map(|row| row.try_get::<String, _>("status"))
                    .transpose()?
            }
            None => None,
        };
        let status: String = finding.try_get("status")?;
        if let Err(hold) = still_due(
            &claimed.kind,
            claimed.alert_round,
            &status,
            finding.try_get("alert_round")?,
            answered.as_deref(),
        ) {
            return Ok(Turn::Hold(hold));
        }
        let target = match (
            claimed.channel.as_str(),
            claimed.contact_id,
            claimed.webhook_id,
        ) {
            (_, Some(contact_id), _) => {
                let row = sqlx::query(
                    "SELECT email, teams_url, slack_url FROM alert_contacts WHERE id = $1",
                )
                .bind(contact_id)
                .fetch_optional(&self.db.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(Turn::RecipientGone);
                };
                let column = |name: &str| row.try_get::<Option<String>, _>(name);
                match claimed.channel.as_str() {
                    "email" => column("email")?.map(|to| ChannelTarget::Email { to }),
                    "teams" => column("teams_url")?.map(|url| ChannelTarget::Teams { url }),
                    "slack" => column("slack_url")?.map(|url| ChannelTarget::Slack { url }),
                    _ => None,
                }
            }
            ("webhook", None, Some(webhook_id)) => {
                let row = sqlx::query("SELECT url, secret FROM alert_webhooks WHERE id = $1")
                    .bind(webhook_id)
                    .fetch_optional(&self.db.pool)
                    .await?;
                match row {
                    Some(row) => Some(ChannelTarget::Webhook {
                        url: row.try_get("url")?,
                        secret: Secret::new(row.try_get::<String, _>("secret")?),
                    }),
                    None => None,
                }
            }
            _ => None,
        };
        let Some(target) = target else {
            return Ok(Turn::RecipientGone);
        };
        let closure = claimed.kind == CLOSED_KIND;
        let rule: String = finding.try_get("rule")?;
        let grant = AcknowledgeGrant {
            finding_id: claimed.finding_id,
            contact_id: claimed.contact_id.unwrap_or(0),
        };
        let message = AlertMessage {
            // Given once, on the first attempt (`as_first_composed`).
            message_id: String::new(),
            finding_id: claimed.finding_id,
            school_name: finding.try_get("school_name")?,
            platform: finding
                .try_get::<Option<String>, _>("platform")?
                .as_deref()
                .and_then(Platform::parse)
                .map(|platform| platform.display_name().to_string()),
            severity: Severity::parse(&finding.try_get::<String, _>("severity")?)
                .unwrap_or(Severity::High),
            closed_because: closure.then(|| {
                finding
                    .try_get::<Option<String>, _>("resolution_note")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| reason_closed(&rule).to_string())
            }),
            rule,
            title: finding.try_get("title")?,
            summary: finding.try_get("summary")?,
            occurred_at: from_millis(finding.try_get("occurred_at")?),
            // The finding's page in the console, behind sign-in (which comes back to it).
            finding_url: format!("{}/findings/{}", self.public_url, claimed.finding_id),
            // Offered while the call can still be joined (before it, or while it runs) and
            // there is still something to act on.
            join_url: if !closure && finding.try_get::<Option<i64>, _>("ended_at")?.is_none() {
                finding.try_get("join_url")?
            } else {
                None
            },
            acknowledge_url: format!(
                "{}/acknowledge/{}",
                self.public_url,
                self.links.acknowledge_token(grant, now)
            ),
            escalation_level: claimed.escalation_level as u32,
            kind: match claimed.kind.as_str() {
                "escalation" => "escalation",
                CLOSED_KIND => CLOSED_KIND,
                _ => "alert",
            }
            .to_string(),
        };
        Ok(Turn::Send(target, Box::new(message)))
    }
}

/// What the dispatcher does with a claimed delivery.
enum Turn {
    Send(ChannelTarget, Box<AlertMessage>),
    Hold(Hold),
    RecipientGone,
}

/// Why a delivery is not sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Never: what it would say is no longer true (the reason is kept on the delivery).
    Skip(&'static str),
    /// Not yet: a closure notice waits for the alert it follows, still being sent.
    Wait,
}

/// Whether a delivery of `kind` from `round` still has something true to say, given the
/// finding's status and round now, and, for a closure notice, the status of the alert it
/// follows.
fn still_due(
    kind: &str,
    round: i64,
    finding_status: &str,
    finding_round: i64,
    answered_status: Option<&str>,
) -> Result<(), Hold> {
    if round != finding_round {
        return Err(Hold::Skip(
            "the finding was found again since: the alerts of its new round replace this one",
        ));
    }
    match kind {
        CLOSED_KIND => {
            if finding_status != "resolved" {
                return Err(Hold::Skip("the finding is no longer closed"));
            }
            match answered_status {
                Some("sent") => Ok(()),
                Some("pending") => Err(Hold::Wait),
                _ => Err(Hold::Skip("the alert it follows was never delivered")),
            }
        }
        "escalation" if finding_status == "acknowledged" => Err(Hold::Skip(
            "the finding was acknowledged before the escalation's turn came",
        )),
        _ if finding_status == "resolved" => Err(Hold::Skip(
            "the finding was no longer open when the alert's turn came",
        )),
        _ => Ok(()),
    }
}

/// An id no other delivery has, in this installation or another, now or later: 128 random
/// bits (a row id would repeat in a new database).
fn delivery_message_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system provides random bytes");
    format!("msg_{}", hex::encode(bytes))
}

fn claimed_from_row(row: &AnyRow) -> Result<Claimed, sqlx::Error> {
    Ok(Claimed {
        id: row.try_get("id")?,
        // A test alert has no finding.
        finding_id: row
            .try_get::<Option<i64>, _>("finding_id")?
            .unwrap_or_default(),
        alert_round: row.try_get("alert_round")?,
        answers_delivery_id: row.try_get("answers_delivery_id")?,
        channel: row.try_get("channel")?,
        kind: row.try_get("kind")?,
        escalation_level: row.try_get("escalation_level")?,
        contact_id: row.try_get("contact_id")?,
        webhook_id: row.try_get("webhook_id")?,
        attempts: row.try_get("attempts")?,
        first_composed: row.try_get("first_composed")?,
    })
}

fn channel_label(channel: &str) -> &'static str {
    match channel {
        "email" => "email",
        "teams" => "teams",
        "slack" => "slack",
        _ => "webhook",
    }
}

fn step_label(step: DispatchStep) -> &'static str {
    match step {
        DispatchStep::Sent => "sent",
        DispatchStep::Retrying => "retrying",
        DispatchStep::Failed => "failed",
        DispatchStep::Skipped => "skipped",
        DispatchStep::Deferred => "deferred",
        DispatchStep::Empty => "empty",
    }
}

/// Sends whatever the outbox holds; woken when alerts are queued, and by the poll interval
/// for retries falling due and other instances' alerts.
impl Worker for Dispatcher {
    type Error = sqlx::Error;
    const ROLE: Role = Role::Dispatcher;

    fn woken_by(wakeups: &Wakeups) -> &Arc<Notify> {
        &wakeups.alerts_queued
    }

    async fn step(&self, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        Ok(match self.dispatch_next(now).await? {
            DispatchStep::Empty => Pass::Idle,
            _ => Pass::Worked,
        })
    }

    async fn run_timer(&self, timer: Timer, now: DateTime<Utc>) -> Result<Pass, sqlx::Error> {
        match timer {
            Timer::Escalation if self.escalate(now).await? > 0 => Ok(Pass::Worked),
            Timer::DailyDigests => {
                self.send_digests(now).await?;
                Ok(Pass::Idle)
            }
            _ => Ok(Pass::Idle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_sent_while_its_finding_is_open_or_acknowledged_and_skipped_once_resolved() {
        assert_eq!(still_due("alert", 0, "open", 0, None), Ok(()));
        assert_eq!(still_due("alert", 0, "acknowledged", 0, None), Ok(()));
        assert!(matches!(
            still_due("alert", 0, "resolved", 0, None),
            Err(Hold::Skip(_))
        ));
    }

    #[test]
    fn an_escalation_is_skipped_once_someone_acknowledged_the_finding() {
        assert_eq!(still_due("escalation", 0, "open", 0, None), Ok(()));
        for status in ["acknowledged", "resolved"] {
            assert!(matches!(
                still_due("escalation", 0, status, 0, None),
                Err(Hold::Skip(_))
            ));
        }
    }

    #[test]
    fn a_delivery_of_an_earlier_round_is_skipped_even_while_the_finding_is_open_again() {
        assert!(matches!(
            still_due("alert", 0, "open", 1, None),
            Err(Hold::Skip(_))
        ));
    }

    #[test]
    fn a_closure_notice_follows_only_an_alert_that_was_sent_and_waits_for_one_being_sent() {
        assert_eq!(still_due("closed", 0, "resolved", 0, Some("sent")), Ok(()));
        assert_eq!(
            still_due("closed", 0, "resolved", 0, Some("pending")),
            Err(Hold::Wait)
        );
        for answered in [Some("failed"), Some("skipped"), None] {
            assert!(matches!(
                still_due("closed", 0, "resolved", 0, answered),
                Err(Hold::Skip(_))
            ));
        }
        assert!(matches!(
            still_due("closed", 0, "open", 0, Some("sent")),
            Err(Hold::Skip(_))
        ));
    }
}
