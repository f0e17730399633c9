//! The daily completeness statement: for one school and one local day, the calls held, how
//! many were reconciled with the platform's participant report, which were not and why, every
//! gap in monitoring that day (coverage findings), and what retention purged. Its lines go into
//! the digest and the ledger, so they carry ids, platforms and times only: never a name or a
//! call's topic.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::CALL_TIME;
use crate::db::decode::{decode, decode_platform};
use crate::db::time::{from_millis, to_millis};
use crate::meeting::Platform;
use crate::policy::finding::RuleId;

/// What the enrichment worker records when the participant report was still not ready at its
/// last attempt (`enrichment::worker`); a call given up with it never had a report.
const REPORT_NOT_READY: &str = "the participant report is not available yet";
/// What the enrichment worker records when the account has no API credentials, or chaperone
/// has no API for the platform: nothing could ever be asked.
const NO_CREDENTIALS: &str = "no API credentials are configured";
const NO_PLATFORM_API: &str = "API to read it with";

/// One school's local day, as complete as its record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyStatement {
    pub school_id: i64,
    /// The day, in the school's timezone.
    pub date: NaiveDate,
    /// The school's timezone (IANA name), which the day and the times in the lines follow.
    pub timezone: String,
    /// The day's first instant, and the next day's.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Calls filed under the day (by their start, or the first thing seen of them).
    pub calls_held: i64,
    /// Of those, checked against the platform's participant report.
    pub reconciled: i64,
    /// The others, in the order they were held.
    pub not_reconciled: Vec<UnreconciledCall>,
    /// Gaps in monitoring that were open at any time during the day.
    pub gaps: Vec<CoverageGap>,
    /// What retention purged during the day.
    pub purges: Vec<Purge>,
    /// Every call reconciled and no gap in monitoring.
    pub complete: bool,
}

/// A call of the day not reconciled with the platform's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreconciledCall {
    /// The call's register record (`/api/v1/meetings/{id}`).
    pub meeting_instance_id: i64,
    pub platform: Platform,
    pub reason: NotReconciled,
    /// The reason in words.
    pub words: String,
}

/// Why a call is not reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotReconciled {
    /// Not ended yet: there is no report to ask for.
    Running,
    /// Ended; the report is asked for and has not come yet.
    Waiting,
    /// chaperone asked until its deadline and the platform never produced the report.
    ReportNeverCame,
    /// Asking for the report kept failing (errors, refused credentials) until the deadline.
    GaveUp,
    /// chaperone cannot read the platform's reports for the call's account.
    NoApiAccess,
}

impl NotReconciled {
    pub fn as_str(self) -> &'static str {
        match self {
            NotReconciled::Running => "running",
            NotReconciled::Waiting => "waiting",
            NotReconciled::ReportNeverCame => "report_never_came",
            NotReconciled::GaveUp => "gave_up",
            NotReconciled::NoApiAccess => "no_api_access",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            NotReconciled::Running => "still running",
            NotReconciled::Waiting => "waiting for the platform's report",
            NotReconciled::ReportNeverCame => "not reconciled: the platform's report never came",
            NotReconciled::GaveUp => {
                "not reconciled: reconciliation gave up (asking the platform for its report kept failing)"
            }
            NotReconciled::NoApiAccess => {
                "not reconciled: chaperone cannot read the platform's report (no API access)"
            }
        }
    }

    /// Why a call with this reconciliation state is not reconciled; `None`: it is.
    /// `state` is `None` before an end was seen and for a call whose report is never asked for.
    fn of(
        instance_id: i64,
        ended: bool,
        state: Option<&str>,
        error: Option<&str>,
    ) -> Result<Option<NotReconciled>, sqlx::Error> {
        let Some(state) = state else {
            // No report asked for: the call has not ended, or its account has no API access.
            return Ok(Some(if ended {
                NotReconciled::NoApiAccess
            } else {
                NotReconciled::Running
            }));
        };
        let reason = decode(
            "meeting_instances",
            instance_id,
            "reconciliation",
            "reconciliation state",
            state,
            |state| match state {
                "complete" => Some(None),
                "pending" => Some(Some(NotReconciled::Waiting)),
                "gave_up" => Some(Some(NotReconciled::given_up_because(error.unwrap_or("")))),
                _ => None,
            },
        )?;
        Ok(reason)
    }

    fn given_up_because(error: &str) -> NotReconciled {
        if error.contains(REPORT_NOT_READY) {
            NotReconciled::ReportNeverCame
        } else if error.contains(NO_CREDENTIALS) || error.contains(NO_PLATFORM_API) {
            NotReconciled::NoApiAccess
        } else {
            NotReconciled::GaveUp
        }
    }

    /// In the order the statement's sentence counts them.
    const ALL: [NotReconciled; 5] = [
        NotReconciled::Waiting,
        NotReconciled::Running,
        NotReconciled::ReportNeverCame,
        NotReconciled::GaveUp,
        NotReconciled::NoApiAccess,
    ];
}

/// A gap in monitoring open during the day: a coverage finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageGap {
    pub finding_id: i64,
    /// The finding's rule (`coverage`).
    pub rule: String,
    /// The connection (platform account) that was not covered.
    pub connection_id: Option<i64>,
    pub platform: Option<Platform>,
    pub what: GapKind,
    /// When the gap began, and when it ended (`None`: still open).
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// What kind of blindness a gap is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// The platform refused chaperone's API credentials.
    CredentialsRefused,
    /// No webhooks arrived while meetings were live.
    WebhooksSilent,
    /// A Meet event subscription was suspended, expired or could not be made.
    SubscriptionLost,
    /// A coverage finding of a kind this statement does not name.
    Other,
}

impl GapKind {
    /// From the coverage finding's subject (see `enrichment::coverage`).
    fn of_subject(subject: &str) -> GapKind {
        match subject {
            "credentials" => GapKind::CredentialsRefused,
            "webhooks" => GapKind::WebhooksSilent,
            subject if subject.starts_with("subscription:") => GapKind::SubscriptionLost,
            _ => GapKind::Other,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            GapKind::CredentialsRefused => "API credentials refused",
            GapKind::WebhooksSilent => "webhooks silent while meetings were live",
            GapKind::SubscriptionLost => "event subscription lost",
            GapKind::Other => "monitoring gap",
        }
    }
}

/// One retention purge of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    pub at: DateTime<Utc>,
    pub record_class: String,
    pub purged: i64,
    /// Records older than this were purged.
    pub older_than: DateTime<Utc>,
}

/// A day's statement with the calls it counts, for pages that list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedDay {
    pub statement: DailyStatement,
    /// The day's calls (register record ids), in the order they were held.
    pub call_ids: Vec<i64>,
}

/// The statement of `date` (local to `tz`) at school `school_id`.
pub async fn for_day(
    connection: &mut AnyConnection,
    school_id: i64,
    tz: Tz,
    date: NaiveDate,
) -> Result<DailyStatement, sqlx::Error> {
    let mut days = for_days(connection, school_id, tz, date, date).await?;
    Ok(days.remove(0).statement)
}

/// The statements of every day from `first` to `last` (both included; none when `last` is
/// before `first`), read with one query per kind of record for the whole range.
pub async fn for_days(
    connection: &mut AnyConnection,
    school_id: i64,
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<StatedDay>, sqlx::Error> {
    if last < first {
        return Ok(Vec::new());
    }
    let (start, _) = day_bounds(tz, first);
    let (_, end) = day_bounds(tz, last);
    let calls = calls(connection, school_id, start, end).await?;
    let gaps = gaps(connection, school_id, start, end).await?;
    let purges = purges(connection, school_id, start, end).await?;

    let mut days: BTreeMap<NaiveDate, StatedDay> = first
        .iter_days()
        .take_while(|date| *date <= last)
        .map(|date| {
            let (from, until) = day_bounds(tz, date);
            let statement = DailyStatement {
                school_id,
                date,
                timezone: tz.name().to_string(),
                from,
                until,
                calls_held: 0,
                reconciled: 0,
                not_reconciled: Vec::new(),
                gaps: gaps
                    .iter()
                    .filter(|gap| gap.from < until && gap.until.is_none_or(|ended| ended > from))
                    .cloned()
                    .collect(),
                purges: Vec::new(),
                complete: false,
            };
            let day = StatedDay {
                statement,
                call_ids: Vec::new(),
            };
            (date, day)
        })
        .collect();
    let local_date = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive();
    for call in calls {
        let Some(day) = days.get_mut(&local_date(call.filed_at)) else {
            continue;
        };
        day.call_ids.push(call.id);
        day.statement.calls_held += 1;
        match call.not_reconciled {
            None => day.statement.reconciled += 1,
            Some(reason) => day.statement.not_reconciled.push(UnreconciledCall {
                meeting_instance_id: call.id,
                platform: call.platform,
                reason,
                words: reason.words().to_string(),
            }),
        }
    }
    for purge in purges {
        if let Some(day) = days.get_mut(&local_date(purge.at)) {
            day.statement.purges.push(purge);
        }
    }
    Ok(days
        .into_values()
        .map(|mut day| {
            day.statement.complete =
                day.statement.not_reconciled.is_empty() && day.statement.gaps.is_empty();
            day
        })
        .collect())
}

/// The first instant of `date` in `tz` and of the day after. Where the clocks skip midnight
/// the day begins at the first local time that exists.
pub fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |date: NaiveDate| {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        (0..=2)
            .find_map(|hours| {
                tz.from_local_datetime(&(midnight + Duration::hours(hours)))
                    .earliest()
            })
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|| midnight.and_utc())
    };
    let next = date.succ_opt().unwrap_or(date);
    (start(date), start(next))
}

struct Call {
    id: i64,
    platform: Platform,
    filed_at: DateTime<Utc>,
    not_reconciled: Option<NotReconciled>,
}

async fn calls(
    connection: &mut AnyConnection,
    school_id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Call>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT i.id, i.platform, i.ended_at, i.reconciliation, i.reconciliation_error, {CALL_TIME} AS filed_at \
         FROM meeting_instances i WHERE i.school_id = $1 AND {CALL_TIME} >= $2 AND {CALL_TIME} < $3 \
         ORDER BY {CALL_TIME}, i.id"
    ))
    .bind(school_id)
    .bind(to_millis(start))
    .bind(to_millis(end))
    .fetch_all(&mut *connection)
    .await?;
    rows.iter().map(call).collect()
}

fn call(row: &AnyRow) -> Result<Call, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let platform: String = row.try_get("platform")?;
    let ended = row.try_get::<Option<i64>, _>("ended_at")?.is_some();
    let state: Option<String> = row.try_get("reconciliation")?;
    let error: Option<String> = row.try_get("reconciliation_error")?;
    Ok(Call {
        id,
        platform: decode_platform("meeting_instances", id, &platform)?,
        filed_at: from_millis(row.try_get("filed_at")?),
        not_reconciled: NotReconciled::of(id, ended, state.as_deref(), error.as_deref())?,
    })
}

/// Coverage findings open at any time in `[start, end)`: begun before its end and not ended
/// before its start. A gap a person closed counts as ended when they closed it.
async fn gaps(
    connection: &mut AnyConnection,
    school_id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<CoverageGap>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT f.id, f.rule, f.subject, f.platform_account_id, f.occurred_at, f.resolved_at, a.platform \
         FROM findings f LEFT JOIN platform_accounts a ON a.id = f.platform_account_id \
         WHERE f.school_id = $1 AND f.rule = $2 AND f.occurred_at < $3 \
           AND (f.resolved_at IS NULL OR f.resolved_at > $4) \
         ORDER BY f.occurred_at, f.id",
    )
    .bind(school_id)
    .bind(RuleId::Coverage.as_str())
    .bind(to_millis(end))
    .bind(to_millis(start))
    .fetch_all(&mut *connection)
    .await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let platform = row
                .try_get::<Option<String>, _>("platform")?
                .map(|platform| decode_platform("findings", id, &platform))
                .transpose()?;
            Ok(CoverageGap {
                finding_id: id,
                rule: row.try_get("rule")?,
                connection_id: row.try_get("platform_account_id")?,
                platform,
                what: GapKind::of_subject(&row.try_get::<String, _>("subject")?),
                from: from_millis(row.try_get("occurred_at")?),
                until: row
                    .try_get::<Option<i64>, _>("resolved_at")?
                    .map(from_millis),
            })
        })
        .collect()
}

async fn purges(
    connection: &mut AnyConnection,
    school_id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Purge>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, record_class, purged, older_than FROM retention_purges \
         WHERE school_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
    )
    .bind(school_id)
    .bind(to_millis(start))
    .bind(to_millis(end))
    .fetch_all(&mut *connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Purge {
                at: from_millis(row.try_get("at")?),
                record_class: row.try_get("record_class")?,
                purged: row.try_get("purged")?,
                older_than: from_millis(row.try_get("older_than")?),
            })
        })
        .collect()
}

impl DailyStatement {
    /// "14 calls, all reconciled.", or how many are not and why.
    pub fn summary(&self) -> String {
        let count = self.calls_held;
        let noun = if count == 1 { "call" } else { "calls" };
        if count == 0 {
            return "No calls.".to_string();
        }
        if self.not_reconciled.is_empty() {
            return format!("{count} {noun}, all reconciled.");
        }
        let mut parts = vec![format!("{} reconciled", self.reconciled)];
        for reason in NotReconciled::ALL {
            let how_many = self
                .not_reconciled
                .iter()
                .filter(|call| call.reason == reason)
                .count();
            if how_many > 0 {
                parts.push(format!("{how_many} {}", reason.words()));
            }
        }
        format!("{count} {noun}: {}.", parts.join(", "))
    }

    /// The statement in plain English, a line each: ids, platforms and times only.
    pub fn text(&self) -> Vec<String> {
        let tz: Tz = self.timezone.parse().unwrap_or(Tz::UTC);
        let when = |at: DateTime<Utc>| {
            let local = at.with_timezone(&tz);
            if local.date_naive() == self.date {
                local.format("%H:%M").to_string()
            } else {
                local.format("%H:%M on %-d %B %Y").to_string()
            }
        };
        let mut lines = vec![
            format!(
                "The record of {} ({}) is {}.",
                self.date.format("%A %-d %B %Y"),
                tz.name(),
                if self.complete {
                    "complete"
                } else {
                    "incomplete"
                }
            ),
            self.summary(),
        ];
        for call in &self.not_reconciled {
            lines.push(format!(
                "Call {} ({}): {}.",
                call.meeting_instance_id,
                call.platform.display_name(),
                call.words
            ));
        }
        if self.gaps.is_empty() {
            lines.push("No gap in monitoring.".to_string());
        }
        for gap in &self.gaps {
            let on = match (gap.platform, gap.connection_id) {
                (Some(platform), Some(id)) => {
                    format!("{} connection {id}", platform.display_name())
                }
                (None, Some(id)) => format!("connection {id}"),
                (_, None) => "no connection".to_string(),
            };
            let until = match gap.until {
                Some(until) => format!("until {}", when(until)),
                None => "still open".to_string(),
            };
            lines.push(format!(
                "Monitoring gap, finding {} ({on}): {}, from {}, {until}.",
                gap.finding_id,
                gap.what.words(),
                when(gap.from)
            ));
        }
        if self.purges.is_empty() {
            lines.push("Nothing was purged by retention.".to_string());
        }
        for purge in &self.purges {
            lines.push(format!(
                "Retention purged {} {} record{} older than {}, at {}.",
                purge.purged,
                purge.record_class.replace('_', " "),
                if purge.purged == 1 { "" } else { "s" },
                purge
                    .older_than
                    .with_timezone(&tz)
                    .format("%H:%M on %-d %B %Y"),
                when(purge.at)
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::memory_database;

    const LONDON: Tz = chrono_tz::Europe::London;

    fn at(text: &str) -> i64 {
        to_millis(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    async fn school_with(rows: &str) -> AnyConnection {
        let schema = format!(
            "CREATE TABLE meeting_instances (id INTEGER PRIMARY KEY, school_id BIGINT, platform TEXT, topic TEXT, \
               started_at BIGINT, start_hint BIGINT, first_seen_at BIGINT NOT NULL, ended_at BIGINT, \
               reconciliation TEXT, reconciliation_error TEXT); \
             CREATE TABLE platform_accounts (id INTEGER PRIMARY KEY, school_id BIGINT, platform TEXT, account_id TEXT); \
             CREATE TABLE findings (id INTEGER PRIMARY KEY, school_id BIGINT, rule TEXT, subject TEXT, \
               platform_account_id BIGINT, occurred_at BIGINT, resolved_at BIGINT); \
             CREATE TABLE retention_purges (id INTEGER PRIMARY KEY, school_id BIGINT, at BIGINT, record_class TEXT, \
               purged BIGINT, older_than BIGINT); \
             INSERT INTO platform_accounts VALUES (3, 1, 'zoom', 'acc'); {rows}"
        );
        memory_database(&schema)
            .await
            .acquire()
            .await
            .unwrap()
            .detach()
    }

    fn call_row(id: i64, school: i64, started: &str, state: &str, error: &str) -> String {
        format!(
            "INSERT INTO meeting_instances VALUES ({id}, {school}, 'zoom', 'Maths with J.S.', {}, NULL, {}, {}, {state}, {error});",
            at(started),
            at(started),
            at(started) + 600_000
        )
    }

    #[tokio::test]
    async fn a_day_is_the_schools_local_day_and_says_why_each_call_is_not_reconciled() {
        let rows = [
            // 00:30 BST on the 14th is still the 13th in UTC: it is the 14th's.
            call_row(1, 1, "2026-07-13T23:30:00Z", "'complete'", "NULL"),
            call_row(
                2,
                1,
                "2026-07-14T10:00:00Z",
                "'gave_up'",
                "'the participant report is not available yet'",
            ),
            call_row(
                3,
                1,
                "2026-07-14T12:00:00Z",
                "'gave_up'",
                "'Zoom answered 503'",
            ),
            call_row(4, 1, "2026-07-14T13:00:00Z", "NULL", "NULL"),
            call_row(5, 1, "2026-07-14T14:00:00Z", "'pending'", "NULL"),
            // 23:30 UTC on the 14th is the 15th in London; another school's call is not ours.
            call_row(6, 1, "2026-07-14T23:30:00Z", "NULL", "NULL"),
            call_row(7, 2, "2026-07-14T12:00:00Z", "NULL", "NULL"),
        ]
        .concat();
        let mut connection = school_with(&rows).await;
        let date = NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        let day = for_day(&mut connection, 1, LONDON, date).await.unwrap();
        assert_eq!(day.calls_held, 5);
        assert_eq!(day.reconciled, 1);
        let reasons: Vec<(i64, NotReconciled)> = day
            .not_reconciled
            .iter()
            .map(|call| (call.meeting_instance_id, call.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (2, NotReconciled::ReportNeverCame),
                (3, NotReconciled::GaveUp),
                (4, NotReconciled::NoApiAccess),
                (5, NotReconciled::Waiting),
            ]
        );
        assert!(!day.complete);
        assert_eq!(
            day.summary(),
            "5 calls: 1 reconciled, 1 waiting for the platform's report, 1 not reconciled: the platform's \
             report never came, 1 not reconciled: reconciliation gave up (asking the platform for its report \
             kept failing), 1 not reconciled: chaperone cannot read the platform's report (no API access)."
        );
        let text = day.text().join("\n");
        assert!(!text.contains("Maths"), "no topic in the lines: {text}");
        assert!(text.contains("Call 2 (Zoom): not reconciled: the platform's report never came."));
    }

    #[tokio::test]
    async fn gaps_open_during_the_day_and_the_days_purges_are_stated() {
        let rows = format!(
            "INSERT INTO findings VALUES (10, 1, 'coverage', 'credentials', 3, {}, NULL); \
             INSERT INTO findings VALUES (11, 1, 'coverage', 'webhooks', 3, {}, {}); \
             INSERT INTO findings VALUES (12, 1, 'coverage', 'webhooks', 3, {}, {}); \
             INSERT INTO findings VALUES (13, 1, 'two_adults', 'pupil', NULL, {}, NULL); \
             INSERT INTO retention_purges VALUES (1, 1, {}, 'inbox', 120, {}); \
             INSERT INTO retention_purges VALUES (2, 1, {}, 'inbox', 5, {});",
            at("2026-07-10T09:00:00Z"),
            at("2026-07-14T12:00:00Z"),
            at("2026-07-14T12:30:00Z"),
            // Ended before the day began.
            at("2026-07-13T12:00:00Z"),
            at("2026-07-13T22:00:00Z"),
            at("2026-07-14T12:00:00Z"),
            at("2026-07-14T01:00:00Z"),
            at("2026-06-14T01:00:00Z"),
            at("2026-07-15T01:00:00Z"),
            at("2026-06-15T01:00:00Z"),
        );
        let mut connection = school_with(&rows).await;
        let date = NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        let day = for_day(&mut connection, 1, LONDON, date).await.unwrap();
        assert_eq!(day.calls_held, 0);
        let gaps: Vec<(i64, GapKind)> = day.gaps.iter().map(|g| (g.finding_id, g.what)).collect();
        assert_eq!(
            gaps,
            vec![
                (10, GapKind::CredentialsRefused),
                (11, GapKind::WebhooksSilent)
            ]
        );
        assert_eq!(day.gaps[0].platform, Some(Platform::Zoom));
        assert_eq!(day.gaps[0].connection_id, Some(3));
        assert!(!day.complete, "a gap leaves the day incomplete");
        assert_eq!(day.purges.len(), 1);
        assert_eq!(day.purges[0].purged, 120);
        let text = day.text();
        assert_eq!(
            text[0],
            "The record of Tuesday 14 July 2026 (Europe/London) is incomplete."
        );
        assert!(text.contains(&"Monitoring gap, finding 10 (Zoom connection 3): API credentials refused, from 10:00 on 10 July 2026, still open.".to_string()), "{text:#?}");
        assert!(text.contains(&"Monitoring gap, finding 11 (Zoom connection 3): webhooks silent while meetings were live, from 13:00, until 13:30.".to_string()), "{text:#?}");
        assert!(
            text.contains(
                &"Retention purged 120 inbox records older than 02:00 on 14 June 2026, at 02:00."
                    .to_string()
            ),
            "{text:#?}"
        );

        let week = for_days(&mut connection, 1, LONDON, date, date + Duration::days(6))
            .await
            .unwrap();
        assert_eq!(week.len(), 7);
        assert_eq!(week[1].statement.purges[0].purged, 5);
        let serialised = serde_json::to_string(&day).unwrap();
        assert_eq!(
            serde_json::from_str::<DailyStatement>(&serialised).unwrap(),
            day
        );
    }

    #[tokio::test]
    async fn a_day_without_calls_or_gaps_is_complete_and_an_unknown_state_names_the_row() {
        let mut connection = school_with(&call_row(
            1,
            1,
            "2026-07-14T10:00:00Z",
            "'half_done'",
            "NULL",
        ))
        .await;
        let quiet = NaiveDate::from_ymd_opt(2026, 7, 20).unwrap();
        let day = for_day(&mut connection, 1, LONDON, quiet).await.unwrap();
        assert!(day.complete);
        assert_eq!(day.summary(), "No calls.");
        let busy = NaiveDate::from_ymd_opt(2026, 7, 14).unwrap();
        let error = for_day(&mut connection, 1, LONDON, busy)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("meeting_instances row 1") && error.contains("half_done"),
            "{error}"
        );
    }

    #[test]
    fn a_day_begins_at_local_midnight_or_the_first_local_time_after_it() {
        let (from, until) = day_bounds(LONDON, NaiveDate::from_ymd_opt(2026, 7, 14).unwrap());
        assert_eq!(from.to_rfc3339(), "2026-07-13T23:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2026-07-14T23:00:00+00:00");
        // Santiago skips from midnight to 01:00 when its clocks go forward.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let (from, _) = day_bounds(santiago, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(
            from.with_timezone(&santiago).format("%H:%M").to_string(),
            "01:00"
        );
    }
}
