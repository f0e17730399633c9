//! The daily digest: once a day, at the school's chosen local hour, every contact with an
//! email address gets the day's calls and findings in a few lines, and the completeness
//! statement of the last whole day. A row per school and local date is claimed before
//! sending, so several instances send it once.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use sqlx::{AnyConnection, Row};

use super::channels::Channels;
use crate::db::decode::decode_timezone;
use crate::db::time::to_millis;
use crate::db::Db;
use crate::directory::{self, settings as school_settings};
use crate::ledger::heads::{self, SignedHead};
use crate::register::completeness::{self, DailyStatement};

/// What one school's day looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayInReview {
    pub school_name: String,
    pub date: NaiveDate,
    pub calls_held: i64,
    /// (severity, how many raised today, how many of those are still open)
    pub raised_by_severity: Vec<(String, i64, i64)>,
    /// Open from any day.
    pub open_in_total: i64,
    /// The school's findings inbox in the console.
    pub inbox_url: String,
    /// The completeness statement of the day before `date`, the last whole day (none before
    /// the first day a calendar holds).
    pub record: Option<DailyStatement>,
    /// That day's signed ledger head, once signed: kept in the DSL's mailbox, it lets anyone
    /// show later that the school's record up to it was not rewritten.
    pub sealed_by: Option<SignedHead>,
}

impl DayInReview {
    pub fn subject(&self) -> String {
        format!(
            "[chaperone] Daily digest for {} — {}",
            self.school_name,
            self.date.format("%A %-d %B %Y")
        )
    }

    pub fn text(&self) -> String {
        let raised: i64 = self
            .raised_by_severity
            .iter()
            .map(|(_, raised, _)| raised)
            .sum();
        let mut lines = vec![
            format!(
                "{} on {}",
                self.school_name,
                self.date.format("%A %-d %B %Y")
            ),
            String::new(),
            format!("Calls held: {}", self.calls_held),
            format!("Findings raised: {raised}"),
        ];
        for (severity, count, open) in &self.raised_by_severity {
            lines.push(format!("  {severity}: {count} ({open} still open)"));
        }
        lines.push(format!("Findings open in total: {}", self.open_in_total));
        lines.push(String::new());
        lines.push(format!("Review and acknowledge them: {}", self.inbox_url));
        if let Some(record) = &self.record {
            lines.push(String::new());
            lines.push(format!(
                "Yesterday's record ({})",
                record.date.format("%a %-d %B %Y")
            ));
            lines.extend(record.text().into_iter().map(|line| format!("  {line}")));
            if let Some(head) = &self.sealed_by {
                lines.push(format!(
                    "  Record sealed at entry {} with hash {} (signing key {}). Keep this email: \
                     with it anyone can check later that the record up to here was not rewritten.",
                    head.seq,
                    head.hash,
                    head.key_fingerprint()
                ));
            }
        }
        lines.join("\n")
    }
}

/// Sends the digests due at `now`; returns how many emails went out.
pub async fn send_due(
    db: &Db,
    channels: &Channels,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut sent = 0;
    for school in directory::list_schools(db).await? {
        let mut connection = db.pool.acquire().await?;
        let settings = school_settings::load(&mut connection, school.id).await?;
        let Some(hour) = settings.alerts.digest_hour else {
            continue;
        };
        // A digest sent at the wrong local hour, for the wrong day, would mislead: a school
        // whose timezone cannot be read gets none, and the fault is logged.
        let tz = match decode_timezone("schools", school.id, &school.timezone) {
            Ok(tz) => tz,
            Err(error) => {
                tracing::error!(school_id = school.id, %error, "daily digest not sent");
                continue;
            }
        };
        let local = now.with_timezone(&tz);
        if local.hour() < hour {
            continue;
        }
        let date = local.date_naive();
        let claimed = sqlx::query(
            "INSERT INTO digests_sent (school_id, local_date, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(school.id)
        .bind(date.to_string())
        .bind(to_millis(now))
        .execute(&mut *connection)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            continue;
        }
        let inbox_url = format!("{public_url}/findings?school={}", school.id);
        let review = review(
            &mut connection,
            (school.id, &school.name),
            tz,
            date,
            inbox_url,
        )
        .await?;
        let recipients = sqlx::query("SELECT id, email FROM alert_contacts WHERE school_id = $1 AND email IS NOT NULL ORDER BY position")
            .bind(school.id)
            .fetch_all(&mut *connection)
            .await?;
        // Released before sending: with SQLite the connection is the only one.
        drop(connection);
        for recipient in recipients {
            let email: String = recipient.try_get("email")?;
            match channels
                .send_text_email(&email, &review.subject(), &review.text())
                .await
            {
                Ok(()) => sent += 1,
                Err(error) => tracing::warn!(
                    school_id = school.id,
                    contact_id = recipient.try_get::<i64, _>("id")?,
                    %error,
                    "daily digest not delivered"
                ),
            }
        }
    }
    Ok(sent)
}

/// The day `date` (local to `tz`) at one school.
pub async fn review(
    connection: &mut AnyConnection,
    (school_id, school_name): (i64, &str),
    tz: Tz,
    date: NaiveDate,
    inbox_url: String,
) -> Result<DayInReview, sqlx::Error> {
    let (start, end) = completeness::day_bounds(tz, date);
    let calls = sqlx::query(
        "SELECT COUNT(*) AS n FROM meeting_instances WHERE school_id = $1 \
         AND COALESCE(started_at, start_hint, first_seen_at) >= $2 AND COALESCE(started_at, start_hint, first_seen_at) < $3",
    )
    .bind(school_id)
    .bind(to_millis(start))
    .bind(to_millis(end))
    .fetch_one(&mut *connection)
    .await?;
    let rows = sqlx::query(
        "SELECT severity, COUNT(*) AS raised, SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS still_open \
         FROM findings WHERE school_id = $1 AND opened_at >= $2 AND opened_at < $3 GROUP BY severity",
    )
    .bind(school_id)
    .bind(to_millis(start))
    .bind(to_millis(end))
    .fetch_all(&mut *connection)
    .await?;
    let mut raised_by_severity = Vec::new();
    for severity in ["critical", "high", "medium", "low"] {
        if let Some(row) = rows
            .iter()
            .find(|row| row.try_get::<String, _>("severity").ok().as_deref() == Some(severity))
        {
            raised_by_severity.push((
                severity.to_string(),
                row.try_get("raised")?,
                row.try_get("still_open")?,
            ));
        }
    }
    let open =
        sqlx::query("SELECT COUNT(*) AS n FROM findings WHERE school_id = $1 AND status = 'open'")
            .bind(school_id)
            .fetch_one(&mut *connection)
            .await?;
    let (record, sealed_by) = match date.pred_opt() {
        Some(yesterday) => (
            Some(completeness::for_day(connection, school_id, tz, yesterday).await?),
            heads::of_day(connection, school_id, yesterday).await?,
        ),
        None => (None, None),
    };
    Ok(DayInReview {
        school_name: school_name.to_string(),
        date,
        calls_held: calls.try_get("n")?,
        raised_by_severity,
        open_in_total: open.try_get("n")?,
        inbox_url,
        record,
        sealed_by,
    })
}
