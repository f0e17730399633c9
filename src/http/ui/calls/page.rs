//! Reads a call's register record, its findings and outcome, and draws its page.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::Serialize;
use sqlx::Row;

use super::timeline::{Breach, PresenceRow, Span, Stay, TimelineInput};
use crate::db::time::from_millis;
use crate::directory::{self, settings as school_settings};
use crate::findings::access;
use crate::findings::query::{self, FindingFilter, FindingRecord};
use crate::http::ui::time_view::TimeView;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::policy::calendar::SchoolCalendar;
use crate::policy::finding::RuleId;
use crate::register::{self, MeetingRecord, RegisterParticipant};
use crate::state::AppState;

#[derive(Serialize)]
struct ParticipantView {
    name: String,
    role: String,
    /// How sure chaperone is of who this is, in words.
    certainty: &'static str,
    possibly: Option<String>,
    is_host: bool,
    stays: Vec<StayView>,
    late_minutes: Option<i64>,
    early_minutes: Option<i64>,
}

#[derive(Serialize)]
struct StayView {
    joined: Option<TimeView>,
    left: Option<TimeView>,
    left_inferred: bool,
    source: String,
}

#[derive(Serialize)]
struct FindingLine {
    id: i64,
    title: String,
    rule: &'static str,
    severity: String,
    status: String,
    occurred: TimeView,
}

#[derive(Serialize)]
struct OutcomeView {
    written: TimeView,
    outcome: String,
}

fn certainty(basis: &str) -> &'static str {
    match basis {
        "verified" => "verified (signed-in account or email)",
        "registrant" => "registered for the meeting",
        "expected" => "expected (the planned session's pupil), not proven",
        "display_name" => "by the name shown only, not proven",
        _ => "not identified",
    }
}

/// Who a participant is, as the page names them: the directory's name where proven, else
/// the name shown in the call, marked as such.
fn name_of(participant: &RegisterParticipant) -> String {
    match (&participant.person, &participant.display_name) {
        (Some(person), _) => person.name.clone(),
        (None, Some(shown)) => format!("\u{201c}{shown}\u{201d} (name shown)"),
        (None, None) => "an unnamed participant".to_string(),
    }
}

pub async fn show_call(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let record = register::find(&state.db, id)
        .await?
        .ok_or(PageError::NotFound("call"))?;
    let school_id = record.summary.school_id;
    console.require(Capability::SeeSafeguarding, school_id)?;
    let school = directory::find_school(&state.db, school_id)
        .await?
        .ok_or(PageError::NotFound("call"))?;
    let timezone: Option<Tz> = school.timezone.parse().ok();
    let findings: Vec<FindingRecord> = query::list(
        &state.db,
        &FindingFilter {
            meeting_instance_id: Some(id),
            limit: 500,
            ..FindingFilter::default()
        },
    )
    .await?
    .into_iter()
    .filter(|finding| !access::hidden_from(console.principal(), finding))
    .collect();
    access::record_views(&state.db, console.principal(), &findings, "findings.listed").await?;
    let now = Utc::now();
    let calendar = match timezone {
        Some(timezone) => {
            let mut connection = state.db.pool.acquire().await?;
            let settings = school_settings::load(&mut connection, school_id).await?;
            Some(SchoolCalendar::new(
                timezone,
                settings.calendar,
                &state.bank_holidays,
            ))
        }
        None => None,
    };
    let timeline = timeline_of(&record, &findings, calendar.as_ref(), timezone, now);
    let time = |at: DateTime<Utc>| TimeView::new(at, timezone);
    let summary = &record.summary;
    let participants: Vec<ParticipantView> = record
        .participants
        .iter()
        .map(|participant| ParticipantView {
            name: name_of(participant),
            role: participant.role.clone(),
            certainty: certainty(&participant.identity_basis),
            possibly: participant
                .possibly
                .as_ref()
                .map(|person| person.name.clone()),
            is_host: participant.is_host,
            stays: participant
                .attendance
                .iter()
                .map(|stay| StayView {
                    joined: stay.joined_at.map(time),
                    left: stay.left_at.map(time),
                    left_inferred: stay.left_at_inferred,
                    source: stay.source.clone(),
                })
                .collect(),
            late_minutes: participant
                .arrived_after_start_secs
                .filter(|secs| *secs >= 60)
                .map(|secs| secs / 60),
            early_minutes: participant
                .left_before_end_secs
                .filter(|secs| *secs >= 60)
                .map(|secs| secs / 60),
        })
        .collect();
    let finding_lines: Vec<FindingLine> = findings
        .iter()
        .map(|finding| FindingLine {
            id: finding.id,
            title: finding.title.clone(),
            rule: RuleId::parse(&finding.rule)
                .map(RuleId::title)
                .unwrap_or("Other"),
            severity: finding.severity.clone(),
            status: finding.status.clone(),
            occurred: time(finding.occurred_at),
        })
        .collect();
    let outcomes = sqlx::query(
        "SELECT written_at, outcome FROM session_outcomes WHERE meeting_instance_id = $1 ORDER BY written_at",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?
    .iter()
    .map(|row| {
        Ok(OutcomeView {
            written: time(from_millis(row.try_get("written_at")?)),
            outcome: row.try_get("outcome")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    console.page(
        "call.html",
        context! {
            call => context! {
                id => id,
                title => call_title(&record),
                school => school.name,
                platform => Platform::parse(&summary.platform).map(Platform::display_name).unwrap_or(""),
                meeting_id => summary.meeting_id.clone(),
                host => summary.host.as_ref().map(|host| host.name.clone()),
                scheduled_start => summary.scheduled_start.map(time),
                scheduled_end => summary.scheduled_end.map(time),
                started => summary.started_at.map(time),
                ended => summary.ended_at.map(time),
                reconciliation => summary.reconciliation.clone(),
                reconciliation_error => summary.reconciliation_error.clone(),
                settings => summary.settings.as_ref().map(|settings| context! {
                    status => settings.status.clone(),
                    read => time(settings.read_at),
                    error => settings.error.clone(),
                }),
                chat_messages => record.activity.chat_messages,
            },
            timeline => timeline,
            participants => participants,
            findings => finding_lines,
            outcomes => outcomes,
        },
    )
}

fn call_title(record: &MeetingRecord) -> String {
    match (&record.summary.topic, &record.summary.meeting_id) {
        (Some(topic), _) if !topic.trim().is_empty() => topic.clone(),
        (_, Some(meeting_id)) => format!("Call {meeting_id}"),
        _ => format!("Call {}", record.summary.id),
    }
}

/// What the timeline draws: a running call's open stays and breaches end now.
fn timeline_of(
    record: &MeetingRecord,
    findings: &[FindingRecord],
    calendar: Option<&SchoolCalendar>,
    timezone: Option<Tz>,
    now: DateTime<Utc>,
) -> Option<super::timeline::TimelineView> {
    let summary = &record.summary;
    let end_of_call = summary.ended_at.unwrap_or(now);
    let scheduled = match (summary.scheduled_start, summary.scheduled_end) {
        (Some(from), Some(until)) => Some(Span { from, until }),
        _ => None,
    };
    let actual = summary.started_at.map(|from| Span {
        from,
        until: end_of_call.max(from),
    });
    let rows = record
        .participants
        .iter()
        .map(|participant| PresenceRow {
            label: name_of(participant),
            role: participant.role.clone(),
            stays: participant
                .attendance
                .iter()
                .filter_map(|stay| {
                    let from = stay.joined_at?;
                    let until = stay.left_at.unwrap_or(end_of_call).max(from);
                    Some(Stay {
                        span: Span { from, until },
                        inferred: stay.left_at_inferred || stay.left_at.is_none(),
                    })
                })
                .collect(),
        })
        .collect();
    let breaches = findings
        .iter()
        .flat_map(|finding| {
            let title = finding.title.clone();
            let windows: Vec<Span> = if finding.windows.is_empty() {
                // A rule without windows broke at one moment: a thin mark.
                vec![Span {
                    from: finding.occurred_at,
                    until: finding.occurred_at,
                }]
            } else {
                finding
                    .windows
                    .iter()
                    .map(|window| Span {
                        from: window.from,
                        until: window.until.unwrap_or(end_of_call).max(window.from),
                    })
                    .collect()
            };
            windows.into_iter().map(move |span| Breach {
                span,
                title: title.clone(),
                finding_id: finding.id,
            })
        })
        .collect();
    let day_of_call = summary
        .started_at
        .or(summary.scheduled_start)
        .map(|at| match timezone {
            Some(timezone) => at.with_timezone(&timezone).date_naive(),
            None => at.date_naive(),
        });
    let school_hours = calendar
        .zip(day_of_call)
        .and_then(|(calendar, day)| calendar.school_hours_on(day))
        .map(|(from, until)| Span { from, until });
    TimelineInput {
        scheduled,
        actual,
        school_hours,
        rows,
        breaches,
        timezone,
    }
    .lay_out()
}
