//! Knowing when chaperone is blind: a monitored account whose API credentials are refused,
//! or whose webhooks have gone silent during school hours while meetings are live on it, is
//! a finding for the school — a monitoring gap is a safeguarding risk, not a log line.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::alerts::outbox;
use crate::db::time::{from_millis, to_millis};
use crate::findings::{self, EvaluatedScope};
use crate::google::store::{self as google_store, SubscriptionState};
use crate::meeting::{DeliveryNotice, Platform};
use crate::policy::engine::COVERAGE_CLAUSE;
use crate::policy::finding::{Finding, RuleId, Scope};
use crate::policy::Severity;

/// Records whether the account's credentials work (`Some(reason)`: refused) and re-checks
/// the account's coverage findings; returns how many alerts were queued.
pub async fn record_credentials(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
    refused: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let changed = match refused {
        Some(reason) => sqlx::query(
            "UPDATE platform_accounts SET api_failing_since = COALESCE(api_failing_since, $1), api_last_error = $2 \
             WHERE platform = $3 AND account_id = $4 AND (api_failing_since IS NULL OR api_last_error IS NULL OR api_last_error <> $2)",
        )
        .bind(to_millis(now))
        .bind(reason)
        .bind(platform.as_str())
        .bind(account_id)
        .execute(&mut *connection)
        .await?
        .rows_affected(),
        None => sqlx::query(
            "UPDATE platform_accounts SET api_failing_since = NULL, api_last_error = NULL \
             WHERE platform = $1 AND account_id = $2 AND api_failing_since IS NOT NULL",
        )
        .bind(platform.as_str())
        .bind(account_id)
        .execute(&mut *connection)
        .await?
        .rows_affected(),
    };
    if changed == 0 {
        return Ok(0);
    }
    evaluate_account(connection, platform, account_id, now).await
}

/// Records what a platform said about its delivery of events (a Google subscription
/// suspended, expiring or expired) and re-checks the account's coverage findings; returns
/// how many alerts were queued. A notice about a feed chaperone does not hold is ignored.
pub async fn record_delivery_notice(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
    notice: &DeliveryNotice,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    if platform != Platform::GoogleMeet {
        return Ok(0);
    }
    let ours = match notice {
        DeliveryNotice::Suspended { feed, reason } => {
            google_store::set_state(
                connection,
                feed,
                SubscriptionState::Suspended,
                reason.as_deref(),
                now,
            )
            .await?
        }
        // Renewed at the next upkeep, as if due.
        DeliveryNotice::Expiring { feed } => {
            google_store::renew_soon(connection, feed).await?;
            false
        }
        DeliveryNotice::Expired { feed } => {
            google_store::set_state(connection, feed, SubscriptionState::Expired, None, now).await?
        }
    };
    if !ours {
        return Ok(0);
    }
    evaluate_account(connection, platform, account_id, now).await
}

/// Records whether the account's webhooks are silent while meetings are live
/// (`Some(count)`: silent with `count` live meetings).
pub async fn record_silence(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
    live_meetings: Option<u64>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    match live_meetings {
        Some(count) => {
            sqlx::query(
                "UPDATE platform_accounts SET silent_since = COALESCE(silent_since, $1), silent_live_meetings = $2 \
                 WHERE platform = $3 AND account_id = $4",
            )
            .bind(to_millis(now))
            .bind(count as i64)
            .bind(platform.as_str())
            .bind(account_id)
            .execute(&mut *connection)
            .await?;
        }
        None => {
            sqlx::query(
                "UPDATE platform_accounts SET silent_since = NULL, silent_live_meetings = NULL \
                 WHERE platform = $1 AND account_id = $2",
            )
            .bind(platform.as_str())
            .bind(account_id)
            .execute(&mut *connection)
            .await?;
        }
    }
    evaluate_account(connection, platform, account_id, now).await
}

/// Works out the account's coverage findings from what is stored about it (credentials,
/// silence, and for Google its subscriptions), opening and resolving them; returns how many
/// alerts were queued.
pub async fn evaluate_account(
    connection: &mut AnyConnection,
    platform: Platform,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, school_id, label, api_failing_since, api_last_error, silent_since, silent_live_meetings \
         FROM platform_accounts WHERE platform = $1 AND account_id = $2",
    )
    .bind(platform.as_str())
    .bind(account_id)
    .fetch_optional(&mut *connection)
    .await?
    else {
        return Ok(0);
    };
    let id: i64 = row.try_get("id")?;
    let school_id: i64 = row.try_get("school_id")?;
    let label: Option<String> = row.try_get("label")?;
    let platform_name = platform.display_name();
    let name = match label {
        Some(label) => format!("the {platform_name} account \u{201c}{label}\u{201d}"),
        None => format!("a monitored {platform_name} account"),
    };
    let finding = |subject: &str, title: &str, summary: String, at: DateTime<Utc>| Finding {
        rule: RuleId::Coverage,
        scope: Scope::Account,
        subject: subject.to_string(),
        severity: Severity::High,
        title: title.to_string(),
        summary,
        clause: COVERAGE_CLAUSE.to_string(),
        people: Vec::new(),
        occurred_at: at,
        windows: Vec::new(),
    };
    let mut found = Vec::new();
    if let Some(since) = row.try_get::<Option<i64>, _>("api_failing_since")? {
        let reason: Option<String> = row.try_get("api_last_error")?;
        found.push(finding(
            "credentials",
            &format!("{platform_name} API credentials refused"),
            format!(
                "Since {}, {platform_name} has refused chaperone's credentials for {name} ({}). Settings and attendance reports \
                 cannot be read, so calls on it are checked from webhooks alone until an admin renews chaperone's credentials.",
                from_millis(since).format("%H:%M on %-d %B %Y (UTC)"),
                reason.unwrap_or_else(|| "no reason given".into())
            ),
            from_millis(since),
        ));
    }
    if let Some(since) = row.try_get::<Option<i64>, _>("silent_since")? {
        let live: i64 = row
            .try_get::<Option<i64>, _>("silent_live_meetings")?
            .unwrap_or(0);
        found.push(finding(
            "webhooks",
            &format!("{platform_name} webhooks have stopped"),
            format!(
                "No {platform_name} events have arrived from {name} since before {} while {live} meeting{} {} live on it: \
                 those calls are not being monitored. Check chaperone's event subscription in {platform_name}.",
                from_millis(since).format("%H:%M on %-d %B %Y (UTC)"),
                if live == 1 { "" } else { "s" },
                if live == 1 { "was" } else { "were" },
            ),
            from_millis(since),
        ));
    }
    if platform == Platform::GoogleMeet {
        found.extend(
            subscription_gaps(connection, id, &name)
                .await?
                .into_iter()
                .map(|(subject, title, summary, at)| finding(&subject, title, summary, at)),
        );
    }
    let scope = EvaluatedScope {
        school_id,
        scheduled_meeting_id: None,
        meeting_instance_id: None,
        platform_account_id: Some(id),
    };
    let applied = findings::apply_evaluation(connection, &scope, &found, now).await?;
    outbox::queue_after_evaluation(connection, &applied, now).await
}

/// The monitored staff whose Meet events are not being delivered: a subscription suspended,
/// expired and not yet made again, or never made.
async fn subscription_gaps(
    connection: &mut AnyConnection,
    connection_id: i64,
    account_name: &str,
) -> Result<Vec<(String, &'static str, String, DateTime<Utc>)>, sqlx::Error> {
    let mut gaps = Vec::new();
    for subscription in google_store::subscriptions(connection, Some(connection_id)).await? {
        let since = subscription.updated_at.format("%H:%M on %-d %B %Y (UTC)");
        let who = &subscription.user_email;
        let (title, why) = match subscription.state {
            SubscriptionState::Active | SubscriptionState::Deleted => continue,
            SubscriptionState::Suspended => (
                "Meet events suspended",
                format!(
                    "Google suspended the event subscription ({})",
                    subscription
                        .suspension_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
            ),
            SubscriptionState::Expired => (
                "Meet events expired",
                "the event subscription expired and has not been made again yet".to_string(),
            ),
            SubscriptionState::Failed => (
                "Meet events not subscribed",
                format!(
                    "the event subscription could not be made ({})",
                    subscription
                        .last_error
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
            ),
        };
        gaps.push((
            format!("subscription:{}", subscription.user_id),
            title,
            format!(
                "Since {since}, the Google Meet calls of {who} on {account_name} are not being monitored: {why}. \
                 chaperone tries again on its own; if this stays, check the connection's Pub/Sub topic and \
                 domain-wide delegation."
            ),
            subscription.updated_at,
        ));
    }
    Ok(gaps)
}
