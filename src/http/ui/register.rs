//! The register: a school's calls a week at a time, day by day, with late arrivals and early
//! departures; for each day a statement of how complete the record is (every call reconciled
//! with the platform's report, or which are not, and any gap in monitoring); and the export
//! of the week as CSV or JSON (`/api/v1/register.csv`, which takes this session too).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::school_choice::choose_school;
use super::time_view::TimeView;
use super::Console;
use crate::findings::query;
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::register::{self, completeness, MeetingRecord, RegisterFilter};
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
    /// `complete`, or why not: `running`, `waiting`, `report_never_came`, `gave_up` or
    /// `no_api_access` (see [`completeness::NotReconciled`]).
    reconciliation: &'static str,
    findings: i64,
}

#[derive(Serialize)]
struct Unreconciled {
    id: i64,
    title: String,
    reconciliation: &'static str,
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

fn title(record: &MeetingRecord) -> String {
    let summary = &record.summary;
    match (&summary.topic, &summary.meeting_id) {
        (Some(topic), _) if !topic.trim().is_empty() => topic.clone(),
        (_, Some(meeting_id)) => format!("Call {meeting_id}"),
        _ => format!("Call {}", summary.id),
    }
}

fn call_line(
    record: &MeetingRecord,
    findings: i64,
    reconciliation: &'static str,
    timezone: Tz,
) -> CallLine {
    let summary = &record.summary;
    let time = |at| TimeView::new(at, Some(timezone));
    CallLine {
        id: summary.id,
        title: title(record),
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
        reconciliation,
        findings,
    }
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
    // The statements first, on a connection of their own: the register's reads take theirs.
    let stated = {
        let mut connection = state.db.pool.acquire().await?;
        completeness::for_days(&mut connection, school.id, timezone, monday, sunday).await?
    };
    let (from, to) = (
        completeness::day_bounds(timezone, monday).0,
        completeness::day_bounds(timezone, sunday).1,
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
    let by_id: HashMap<i64, &MeetingRecord> = records
        .iter()
        .map(|record| (record.summary.id, record))
        .collect();
    let days = stated
        .iter()
        .map(|day| {
            let statement = &day.statement;
            let reason = |id: i64| {
                statement
                    .not_reconciled
                    .iter()
                    .find(|call| call.meeting_instance_id == id)
                    .map_or("complete", |call| call.reason.as_str())
            };
            // A call of the statement past the page's limit is left out here; the page says
            // the week was cut short.
            let calls: Vec<CallLine> = day
                .call_ids
                .iter()
                .filter_map(|id| by_id.get(id))
                .map(|record| {
                    let about = findings_by_call
                        .get(&record.summary.id)
                        .copied()
                        .unwrap_or(0);
                    call_line(record, about, reason(record.summary.id), timezone)
                })
                .collect();
            let not_reconciled = statement
                .not_reconciled
                .iter()
                .map(|call| Unreconciled {
                    id: call.meeting_instance_id,
                    title: by_id.get(&call.meeting_instance_id).map_or_else(
                        || format!("Call {}", call.meeting_instance_id),
                        |record| title(record),
                    ),
                    reconciliation: call.reason.as_str(),
                })
                .collect();
            let gaps = statement
                .gaps
                .iter()
                .map(|gap| Gap {
                    finding_id: gap.finding_id,
                    title: match gap.platform {
                        Some(platform) => {
                            format!("{}: {}", platform.display_name(), gap.what.words())
                        }
                        None => gap.what.words().to_string(),
                    },
                    occurred: TimeView::new(gap.from, Some(timezone)),
                })
                .collect();
            Day {
                date: statement.date.to_string(),
                label: statement.date.format("%A %-d %B").to_string(),
                calls,
                statement: statement.summary(),
                complete: statement.complete,
                not_reconciled,
                gaps,
            }
        })
        .collect::<Vec<_>>();
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
