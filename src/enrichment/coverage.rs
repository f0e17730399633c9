//! Knowing when chaperone is blind: a monitored account whose API credentials are refused,
//! or whose webhooks have gone silent during school hours while meetings are live on it, is
//! a finding for the school — a monitoring gap is a safeguarding risk, not a log line.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use crate::alerts::outbox;
use crate::db::time::{from_millis, to_millis};
use crate::findings::{self, EvaluatedScope};
use crate::meeting::Platform;
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

async fn evaluate_account(
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
    let scope = EvaluatedScope {
        school_id,
        scheduled_meeting_id: None,
        meeting_instance_id: None,
        platform_account_id: Some(id),
    };
    let applied = findings::apply_evaluation(connection, &scope, &found, now).await?;
    outbox::queue_after_evaluation(connection, &applied, now).await
}
