//! What the reports read, counted by the database: a few grouped rows per month for one
//! school, whatever the number of calls and findings behind them. Never a title, a summary
//! or a name (the people a finding names are read only to leave out the findings about the
//! reader).
//!
//! Each query cuts its rows into the period's months with one `CASE` over the months'
//! bounds (local midnights, as instants), bound as parameters `$4` onwards after the school
//! (`$1`) and the period's start and end (`$2`, `$3`).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use super::period::MonthSpan;
use super::tally::{Disposition, FindingCount, GapCount, OutcomeCount, TimeToAct};
use crate::db::time::to_millis;
use crate::findings::ENGINE_ACTOR;
use crate::policy::finding::RuleId;

/// One school's period, cut into months.
pub struct Cut {
    school_id: i64,
    from: i64,
    until: i64,
    /// Where each month but the last ends.
    inner_bounds: Vec<i64>,
    /// Findings left out (those about the reader).
    excluded: Vec<i64>,
}

impl Cut {
    /// `None` for a period with no months.
    pub fn new(school_id: i64, spans: &[MonthSpan]) -> Option<Cut> {
        let (first, last) = (spans.first()?, spans.last()?);
        Some(Cut {
            school_id,
            from: to_millis(first.from),
            until: to_millis(last.until),
            inner_bounds: spans[..spans.len() - 1]
                .iter()
                .map(|span| to_millis(span.until))
                .collect(),
            excluded: Vec::new(),
        })
    }

    /// The index of the month instant `column` falls in (rows already within the period).
    fn month_of(&self, column: &str) -> String {
        if self.inner_bounds.is_empty() {
            return "CAST(0 AS BIGINT)".to_string();
        }
        let whens: String = (0..self.inner_bounds.len())
            .map(|index| format!("WHEN {column} < ${} THEN {index} ", index + 4))
            .collect();
        format!(
            "CAST(CASE {whens}ELSE {} END AS BIGINT)",
            self.inner_bounds.len()
        )
    }

    /// The first placeholder after the cut's own.
    fn next_placeholder(&self) -> usize {
        4 + self.inner_bounds.len()
    }

    /// `AND id NOT IN (...)` for the findings left out, numbered from `first`.
    fn exclusion(&self, first: usize) -> String {
        if self.excluded.is_empty() {
            return String::new();
        }
        let placeholders: Vec<String> = (0..self.excluded.len())
            .map(|index| format!("${}", first + index))
            .collect();
        format!(" AND id NOT IN ({})", placeholders.join(", "))
    }

    fn bind<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        let mut query = sqlx::query(sql)
            .bind(self.school_id)
            .bind(self.from)
            .bind(self.until);
        for bound in &self.inner_bounds {
            query = query.bind(*bound);
        }
        query
    }

    fn bind_excluded<'q>(
        &self,
        mut query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for id in &self.excluded {
            query = query.bind(*id);
        }
        query
    }
}

/// Leaves out of `cut` the findings that name the directory person `person_id` (as the
/// findings' own pages do). Few findings mention the person's id at all: those are read and
/// their people looked at.
pub async fn exclude_findings_naming(
    connection: &mut AnyConnection,
    cut: &mut Cut,
    person_id: i64,
) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, people FROM findings \
         WHERE school_id = $1 AND opened_at >= $2 AND opened_at < $3 AND people LIKE $4",
    )
    .bind(cut.school_id)
    .bind(cut.from)
    .bind(cut.until)
    .bind(format!("%{person_id}%"))
    .fetch_all(&mut *connection)
    .await?;
    for row in &rows {
        if names(&row.try_get::<String, _>("people")?, person_id) {
            cut.excluded.push(row.try_get("id")?);
        }
    }
    Ok(())
}

/// Whether a finding's `people` (JSON, as stored) names the directory person `person_id`.
fn names(people: &str, person_id: i64) -> bool {
    serde_json::from_str::<serde_json::Value>(people)
        .ok()
        .and_then(|people| {
            people
                .as_array()
                .map(|people| people.iter().any(|person| person["person_id"] == person_id))
        })
        .unwrap_or(false)
}

fn month(row: &AnyRow) -> Result<usize, sqlx::Error> {
    let month: i64 = row.try_get("month")?;
    usize::try_from(month).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

fn count(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// Calls held per month: by when they started (or, where the start event was lost, the
/// start as later events repeated it).
pub async fn calls_per_month(
    connection: &mut AnyConnection,
    cut: &Cut,
) -> Result<Vec<(usize, u64)>, sqlx::Error> {
    // Two ranges rather than one over `COALESCE(...)`, so that each can use an index.
    let sql = format!(
        "SELECT {} AS month, COUNT(*) AS calls FROM ( \
           SELECT started_at AS started FROM meeting_instances \
           WHERE school_id = $1 AND started_at >= $2 AND started_at < $3 \
           UNION ALL \
           SELECT start_hint FROM meeting_instances \
           WHERE school_id = $1 AND started_at IS NULL AND start_hint >= $2 AND start_hint < $3 \
         ) AS held GROUP BY 1",
        cut.month_of("started")
    );
    let rows = cut.bind(&sql).fetch_all(&mut *connection).await?;
    rows.iter()
        .map(|row| Ok((month(row)?, count(row, "calls")?)))
        .collect()
}

/// Whether a person acted on a finding: acknowledged it, or resolved it themselves (the
/// engine closing a finding that no longer holds is no one's response). `engine` is the
/// placeholder of the engine's name.
fn acted_on(engine: usize) -> String {
    format!(
        "(acknowledged_at IS NOT NULL OR (resolved_at IS NOT NULL AND resolved_by <> ${engine}))"
    )
}

/// Findings opened per month, by rule, severity and what became of them.
pub async fn findings_per_month(
    connection: &mut AnyConnection,
    cut: &Cut,
) -> Result<Vec<FindingCount>, sqlx::Error> {
    let engine = cut.next_placeholder();
    let sql = format!(
        "SELECT {} AS month, rule, severity, \
           CAST(CASE WHEN {} THEN 0 WHEN status = 'resolved' THEN 1 ELSE 2 END AS BIGINT) AS disposition, \
           COUNT(*) AS findings \
         FROM findings WHERE school_id = $1 AND opened_at >= $2 AND opened_at < $3{} \
         GROUP BY 1, 2, 3, 4",
        cut.month_of("opened_at"),
        acted_on(engine),
        cut.exclusion(engine + 1)
    );
    let query = cut.bind(&sql).bind(ENGINE_ACTOR);
    let rows = cut.bind_excluded(query).fetch_all(&mut *connection).await?;
    rows.iter()
        .map(|row| {
            Ok(FindingCount {
                month: month(row)?,
                rule: row.try_get("rule")?,
                severity: row.try_get("severity")?,
                disposition: match row.try_get::<i64, _>("disposition")? {
                    0 => Disposition::ActedOn,
                    1 => Disposition::ClosedBeforeAnyoneActed,
                    _ => Disposition::Awaiting,
                },
                count: count(row, "findings")?,
            })
        })
        .collect()
}

/// The median and 90th percentile of the time from a finding's opening to the first thing a
/// person did about it, per month and for the whole period (`month` -1), by the
/// nearest-rank method: the value at position ⌈p·n/100⌉ of the n times in order, so always
/// one of the times measured.
pub async fn times_to_act(
    connection: &mut AnyConnection,
    cut: &Cut,
) -> Result<Vec<TimeToAct>, sqlx::Error> {
    let engine = cut.next_placeholder();
    let sql = format!(
        "WITH acted AS ( \
           SELECT {} AS month, \
             CASE WHEN acknowledged_at IS NOT NULL THEN acknowledged_at ELSE resolved_at END - opened_at AS waited \
           FROM findings WHERE school_id = $1 AND opened_at >= $2 AND opened_at < $3 AND {}{} \
         ), ranked AS ( \
           SELECT month, waited, \
             ROW_NUMBER() OVER (PARTITION BY month ORDER BY waited) AS rank_in_month, \
             COUNT(*) OVER (PARTITION BY month) AS acted \
           FROM acted \
           UNION ALL \
           SELECT CAST(-1 AS BIGINT), waited, ROW_NUMBER() OVER (ORDER BY waited), COUNT(*) OVER () \
           FROM acted \
         ) \
         SELECT month, acted, \
           CAST(CASE WHEN rank_in_month = (50 * acted + 99) / 100 THEN 1 ELSE 0 END AS BIGINT) AS is_median, \
           CAST(CASE WHEN rank_in_month = (90 * acted + 99) / 100 THEN 1 ELSE 0 END AS BIGINT) AS is_p90, \
           waited \
         FROM ranked \
         WHERE rank_in_month = (50 * acted + 99) / 100 OR rank_in_month = (90 * acted + 99) / 100",
        cut.month_of("opened_at"),
        acted_on(engine),
        cut.exclusion(engine + 1)
    );
    let query = cut.bind(&sql).bind(ENGINE_ACTOR);
    let rows = cut.bind_excluded(query).fetch_all(&mut *connection).await?;
    let mut times: Vec<TimeToAct> = Vec::new();
    for row in &rows {
        let month = match row.try_get::<i64, _>("month")? {
            -1 => None,
            _ => Some(self::month(row)?),
        };
        let waited_secs = (row.try_get::<i64, _>("waited")? / 1000).max(0);
        let index = match times.iter().position(|time| time.month == month) {
            Some(index) => index,
            None => {
                times.push(TimeToAct {
                    month,
                    acted_on: count(row, "acted")?,
                    median_secs: None,
                    p90_secs: None,
                });
                times.len() - 1
            }
        };
        if row.try_get::<i64, _>("is_median")? == 1 {
            times[index].median_secs = Some(waited_secs);
        }
        if row.try_get::<i64, _>("is_p90")? == 1 {
            times[index].p90_secs = Some(waited_secs);
        }
    }
    Ok(times)
}

/// Gaps in monitoring (coverage findings) per month they began: how many, how many the
/// engine saw end and their total length, and how many are still open.
pub async fn gaps_per_month(
    connection: &mut AnyConnection,
    cut: &Cut,
) -> Result<Vec<GapCount>, sqlx::Error> {
    let rule = cut.next_placeholder();
    let engine = rule + 1;
    let sql = format!(
        "SELECT {} AS month, COUNT(*) AS began, \
           CAST(SUM(CASE WHEN resolved_by = ${engine} THEN 1 ELSE 0 END) AS BIGINT) AS ended, \
           CAST(SUM(CASE WHEN resolved_by = ${engine} AND resolved_at > occurred_at \
             THEN resolved_at - occurred_at ELSE 0 END) AS BIGINT) AS ended_ms, \
           CAST(SUM(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS still_open \
         FROM findings WHERE school_id = $1 AND opened_at >= $2 AND opened_at < $3 AND rule = ${rule}{} \
         GROUP BY 1",
        cut.month_of("opened_at"),
        cut.exclusion(engine + 1)
    );
    let query = cut
        .bind(&sql)
        .bind(RuleId::Coverage.as_str())
        .bind(ENGINE_ACTOR);
    let rows = cut.bind_excluded(query).fetch_all(&mut *connection).await?;
    rows.iter()
        .map(|row| {
            Ok(GapCount {
                month: month(row)?,
                began: count(row, "began")?,
                ended: count(row, "ended")?,
                ended_secs: row.try_get::<i64, _>("ended_ms")? / 1000,
                still_open: count(row, "still_open")?,
            })
        })
        .collect()
}

/// Per month a call ended: the calls that needed an outcome, and whether their first
/// outcome was written within `within_ms` of the end, late or not at all. A call needed one
/// when an outcome was written for it, or when the engine found none written in time (the
/// outcome rule applies only to calls a child may be in, which the engine alone decides).
pub async fn outcomes_per_month(
    connection: &mut AnyConnection,
    cut: &Cut,
    within_ms: i64,
) -> Result<Vec<OutcomeCount>, sqlx::Error> {
    let within = cut.next_placeholder();
    let rule = within + 1;
    let sql = format!(
        "SELECT {} AS month, COUNT(*) AS needed, \
           CAST(SUM(CASE WHEN first_written_at <= ended_at + ${within} THEN 1 ELSE 0 END) AS BIGINT) AS on_time, \
           CAST(SUM(CASE WHEN first_written_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS missing \
         FROM ( \
           SELECT i.ended_at AS ended_at, MIN(o.written_at) AS first_written_at \
           FROM meeting_instances i LEFT JOIN session_outcomes o ON o.meeting_instance_id = i.id \
           WHERE i.school_id = $1 AND i.ended_at >= $2 AND i.ended_at < $3 \
             AND (o.id IS NOT NULL OR i.id IN ( \
               SELECT f.meeting_instance_id FROM findings f \
               WHERE f.school_id = $1 AND f.rule = ${rule} AND f.meeting_instance_id IS NOT NULL)) \
           GROUP BY i.id, i.ended_at \
         ) AS needing \
         GROUP BY 1",
        cut.month_of("ended_at")
    );
    let rows = cut
        .bind(&sql)
        .bind(within_ms)
        .bind(RuleId::OutcomeLogged.as_str())
        .fetch_all(&mut *connection)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(OutcomeCount {
                month: month(row)?,
                needed: count(row, "needed")?,
                on_time: count(row, "on_time")?,
                missing: count(row, "missing")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::period::Period;

    #[test]
    fn a_finding_names_a_person_by_their_id_not_by_digits_elsewhere() {
        let people = r#"[{"person_id":12,"name":"Sam 7","role":"host"},{"person_id":null,"name":"Guest","role":"guest"}]"#;
        assert!(names(people, 12));
        assert!(!names(people, 7));
        assert!(!names(people, 1));
        assert!(!names("not json 12", 12));
    }

    #[test]
    fn rows_are_cut_into_months_at_the_inner_bounds() {
        let london: chrono_tz::Tz = "Europe/London".parse().unwrap();
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let year = Period::AcademicYear { starting: 2024 }.months(london, now);
        let cut = Cut::new(7, &year).unwrap();
        let sql = cut.month_of("opened_at");
        assert!(sql.starts_with("CAST(CASE WHEN opened_at < $4 THEN 0 WHEN opened_at < $5 THEN 1 "));
        assert!(sql.ends_with("WHEN opened_at < $14 THEN 10 ELSE 11 END AS BIGINT)"));
        assert_eq!(cut.next_placeholder(), 15);
        let month = Period::Month(year[0].month).months(london, now);
        let single = Cut::new(7, &month).unwrap();
        assert_eq!(single.month_of("opened_at"), "CAST(0 AS BIGINT)");
    }
}
