//! The register: a school's calls a week at a time, day by day, with late arrivals and early
//! departures; for each day a statement of how complete the record is (every call reconciled
//! with the platform's report, or which are not, and any gap in monitoring); and the export
//! of the week as CSV or JSON (`/api/v1/register.csv`, which takes this session too).

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::school_choice::choose_school;
use super::time_view::TimeView;
use super::Console;
use crate::findings::query::{self, FindingFilter};
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::policy::finding::RuleId;
use crate::register::{self, MeetingRecord, RegisterFilter};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] =
    &[("register.html", include_str!("templates/register.html"))];

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/register", axum::routing::get(show_register))
}

/// Calls shown in one week at most; a week with more says so and points at the export.
const WEEK_CALLS: i64 = 5000;

#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    #[serde(default)]
    school: String,
    /// Any day of the week to show (`YYYY-MM-DD`); empty: this week.
    #[serde(default)]
    week: String,
}

#[derive(Serialize)]
struct CallLine {
    id: i64,
    title: String,
    platform: &'static str,
    time: Option<TimeView>,
    ended: Option<TimeView>,
    host: Option<String>,
    people: Vec<String>,
    late: Vec<String>,
    early: Vec<String>,
    /// `complete`, `pending`, `gave_up`, `running` before the call ends, or `unavailable`
    /// (ended, and the platform's report cannot be read: no API access).
    reconciliation: String,
    findings: i64,
}

#[derive(Serialize)]
struct Unreconciled {
    id: i64,
    title: String,
    reconciliation: String,
}

#[derive(Serialize)]
struct Gap {
    finding_id: i64,
    title: String,
    occurred: TimeView,
}

#[derive(Serialize)]
struct Day {
    date: String,
    label: String,
    calls: Vec<CallLine>,
    /// "14 calls, all reconciled", or which are not.
    statement: String,
    complete: bool,
    not_reconciled: Vec<Unreconciled>,
    gaps: Vec<Gap>,
}

/// Midnight at the start of `date` in `timezone` (the earlier one when the clocks go back).
fn local_midnight(timezone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    timezone
        .from_local_datetime(&midnight)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

fn name_list(
    record: &MeetingRecord,
    pick: impl Fn(&register::RegisterParticipant) -> Option<String>,
) -> Vec<String> {
    record.participants.iter().filter_map(pick).collect()
}

fn who(participant: &register::RegisterParticipant) -> String {
    let name = match (&participant.person, &participant.display_name) {
        (Some(person), _) => person.name.clone(),
        (None, Some(shown)) => format!("\u{201c}{shown}\u{201d}"),
        (None, None) => "unnamed".to_string(),
    };
    // Someone not proven is shown as who they are thought to be, and said to be unproven.
    match &participant.possibly {
        Some(person) => format!("{name} ({}, possibly {})", participant.role, person.name),
        None => format!("{name} ({})", participant.role),
    }
}

fn call_line(record: &MeetingRecord, findings: i64, timezone: Tz) -> CallLine {
    let summary = &record.summary;
    let time = |at| TimeView::new(at, Some(timezone));
    CallLine {
        id: summary.id,
        title: match (&summary.topic, &summary.meeting_id) {
            (Some(topic), _) if !topic.trim().is_empty() => topic.clone(),
            (_, Some(meeting_id)) => format!("Call {meeting_id}"),
            _ => format!("Call {}", summary.id),
        },
        platform: Platform::parse(&summary.platform)
            .map(Platform::display_name)
            .unwrap_or(""),
        time: summary.started_at.or(summary.scheduled_start).map(time),
        ended: summary.ended_at.map(time),
        host: summary.host.as_ref().map(|host| host.name.clone()),
        people: name_list(record, |p| Some(who(p))),
        late: name_list(record, |p| {
            let minutes = p.arrived_after_start_secs.filter(|secs| *secs >= 300)? / 60;
            Some(format!("{} ({minutes} min)", who(p)))
        }),
        early: name_list(record, |p| {
            let minutes = p.left_before_end_secs.filter(|secs| *secs >= 300)? / 60;
            Some(format!("{} ({minutes} min)", who(p)))
        }),
        reconciliation: match (&summary.reconciliation, summary.ended_at) {
            (Some(state), _) => state.clone(),
            (None, None) => "running".to_string(),
            // Ended, and no report was asked for: the platform's API is not connected.
            (None, Some(_)) => "unavailable".to_string(),
        },
        findings,
    }
}

/// What a day's record is worth: every call reconciled, or which are not and why.
fn statement(calls: &[CallLine]) -> (String, bool) {
    let count = calls.len();
    let noun = if count == 1 { "call" } else { "calls" };
    if count == 0 {
        return ("No calls.".to_string(), true);
    }
    let with = |state: &str| calls.iter().filter(|c| c.reconciliation == state).count();
    let reconciled = with("complete");
    if reconciled == count {
        return (format!("{count} {noun}, all reconciled."), true);
    }
    let mut parts = vec![format!("{reconciled} reconciled")];
    for (state, why) in [
        ("pending", "waiting for the platform's report"),
        ("running", "still running"),
        (
            "gave_up",
            "not reconciled: the platform's report never came",
        ),
        (
            "unavailable",
            "not reconciled: chaperone cannot read the platform's report (no API access)",
        ),
    ] {
        let how_many = with(state);
        if how_many > 0 {
            parts.push(format!("{how_many} {why}"));
        }
    }
    (format!("{count} {noun}: {}.", parts.join(", ")), false)
}

pub async fn show_register(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    let (schools, school) =
        choose_school(&state, &console, Capability::SeeSafeguarding, &query.school).await?;
    let Some(school) = school else {
        return Err(PageError::NotFound("school"));
    };
    let timezone: Tz = school.timezone.parse().unwrap_or(Tz::UTC);
    let today = Utc::now().with_timezone(&timezone).date_naive();
    let asked_day = match query.week.trim() {
        "" => today,
        text => {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| PageError::NotFound("week"))?
        }
    };
    let monday = asked_day - Duration::days(asked_day.weekday().num_days_from_monday() as i64);
    let sunday = monday + Duration::days(6);
    let (from, to) = (
        local_midnight(timezone, monday),
        local_midnight(timezone, monday + Duration::days(7)),
    );
    let records = register::list(
        &state.db,
        &RegisterFilter {
            school_id: Some(school.id),
            from: Some(from),
            to: Some(to),
            limit: WEEK_CALLS,
        },
    )
    .await?;
    let findings_by_call = query::counts_by_call(&state.db, school.id, from, to).await?;
    let coverage_gaps = query::list(
        &state.db,
        &FindingFilter {
            school_id: Some(school.id),
            rule: Some(RuleId::Coverage.as_str().to_string()),
            from: Some(from),
            to: Some(to),
            limit: 1000,
            ..FindingFilter::default()
        },
    )
    .await?;
    let mut days = Vec::new();
    for offset in 0..7 {
        let date = monday + Duration::days(offset);
        let (start, end) = (
            local_midnight(timezone, date),
            local_midnight(timezone, date + Duration::days(1)),
        );
        let calls: Vec<CallLine> = records
            .iter()
            .filter(|record| {
                let at = record.summary.started_at.or(record.summary.scheduled_start);
                at.is_some_and(|at| at >= start && at < end)
            })
            .map(|record| {
                let about = findings_by_call
                    .get(&record.summary.id)
                    .copied()
                    .unwrap_or(0);
                call_line(record, about, timezone)
            })
            .collect();
        let gaps = coverage_gaps
            .iter()
            .filter(|f| f.occurred_at >= start && f.occurred_at < end)
            .map(|f| Gap {
                finding_id: f.id,
                title: f.title.clone(),
                occurred: TimeView::new(f.occurred_at, Some(timezone)),
            })
            .collect::<Vec<_>>();
        let (statement, reconciled) = statement(&calls);
        let not_reconciled = calls
            .iter()
            .filter(|call| call.reconciliation != "complete")
            .map(|call| Unreconciled {
                id: call.id,
                title: call.title.clone(),
                reconciliation: call.reconciliation.clone(),
            })
            .collect();
        days.push(Day {
            date: date.to_string(),
            label: date.format("%A %-d %B").to_string(),
            calls,
            statement,
            complete: reconciled && gaps.is_empty(),
            not_reconciled,
            gaps,
        });
    }
    let export = format!("school_id={}&from={monday}&to={sunday}", school.id);
    console.page(
        "register.html",
        context! {
            school => context! { id => school.id.to_string(), name => school.name.clone() },
            schools => schools.iter().map(|s| context! { id => s.id.to_string(), name => s.name.clone() }).collect::<Vec<_>>(),
            week => context! {
                first => monday.format("%-d %B %Y").to_string(),
                last => sunday.format("%-d %B %Y").to_string(),
                previous => (monday - Duration::days(7)).to_string(),
                next => (monday + Duration::days(7)).to_string(),
                this => (monday <= today && today <= sunday),
                day => monday.to_string(),
            },
            days => days,
            calls => records.len(),
            truncated => records.len() as i64 >= WEEK_CALLS,
            csv => format!("/api/v1/register.csv?{export}"),
            json => format!("/api/v1/register?{export}&limit={WEEK_CALLS}"),
        },
    )
}
