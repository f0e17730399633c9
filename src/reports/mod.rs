//! The safeguarding reports for the DSL, the head and governors (the annual filtering and
//! monitoring review): per school and month, calls held, findings by rule and severity, how
//! quickly people acted on them, outcomes written on time and gaps in monitoring. Counts
//! only: nothing here names a person or says what a finding was about.

mod period;
mod store;
mod tally;

pub use period::{Month, MonthSpan, Period};
pub use tally::{Acknowledgement, Figures, Gaps, MonthFigures, Outcomes, SEVERITIES};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::db::Db;
use crate::directory::settings;

/// A school's figures for a period.
#[derive(Debug, Clone)]
pub struct Report {
    /// The period's months that have begun, in order.
    pub months: Vec<MonthFigures>,
    pub whole: Figures,
    /// Hours after a call's end within which the policy asks for its outcome (`None`: the
    /// policy asks for none, or could not be read).
    pub outcome_within_hours: Option<i64>,
}

/// Counts a school's `period` as of `now`, in the school's `timezone`, leaving out the
/// findings that name `reader` (the directory person asking, if any).
pub async fn school_report(
    db: &Db,
    school_id: i64,
    timezone: Tz,
    period: Period,
    now: DateTime<Utc>,
    reader: Option<i64>,
) -> Result<Report, sqlx::Error> {
    let spans = period.months(timezone, now);
    let mut connection = db.pool.acquire().await?;
    let outcome_within_hours = settings::load(&mut connection, school_id)
        .await?
        .policy
        .resolve()
        .ok()
        .filter(|policy| policy.outcome_logged.enabled)
        .map(|policy| policy.outcome_logged.params.within_hours);
    let mut counted = tally::Counted::default();
    if let Some(mut cut) = store::Cut::new(school_id, &spans) {
        if let Some(person_id) = reader {
            store::exclude_findings_naming(&mut connection, &mut cut, person_id).await?;
        }
        counted.calls = store::calls_per_month(&mut connection, &cut).await?;
        counted.findings = store::findings_per_month(&mut connection, &cut).await?;
        counted.times_to_act = store::times_to_act(&mut connection, &cut).await?;
        counted.gaps = store::gaps_per_month(&mut connection, &cut).await?;
        if let Some(hours) = outcome_within_hours {
            let within_ms = hours * 3_600_000;
            counted.outcomes =
                Some(store::outcomes_per_month(&mut connection, &cut, within_ms).await?);
        }
    }
    let (months, whole) = tally::assemble(&spans, &counted);
    Ok(Report {
        months,
        whole,
        outcome_within_hours,
    })
}
