//! The calls still waiting for an outcome that the person may write, longest waiting first,
//! each against the school's policy deadline, with a form to write it. Staff see the calls
//! they hosted or joined (by their directory person); the DSL sees all of their schools'.
//! A written outcome queues the call for evaluation, which clears its "outcome logged"
//! finding.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::{DateTime, Duration, Utc};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::{form_problem, me_at, page_error, school_timezone};
use crate::directory::{self, settings as school_settings, PersonKind};
use crate::http::ui::time_view::TimeView;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::state::AppState;
use crate::timetable::outcomes::{self, NewOutcome};
use crate::timetable::{recorded, school_of, Record};

/// Calls listed per school at most.
const CALLS_SHOWN: i64 = 200;

#[derive(Serialize)]
struct WaitingLine {
    id: i64,
    title: String,
    school: String,
    platform: &'static str,
    started: Option<TimeView>,
    ended: TimeView,
    /// How long since it ended, in words ("3 hours", "2 days 4 hours").
    waiting: String,
    /// When the school's policy wants the outcome by (none: the policy does not ask).
    due: Option<TimeView>,
    overdue: bool,
    /// Whether the signed-in person may open the call's own page.
    may_open: bool,
}

/// A span in the largest two units that say it.
fn span_in_words(span: Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let minutes = span.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => plural(minutes, "minute"),
        (0, _) => plural(hours, "hour"),
        (_, 0) => plural(days, "day"),
        _ => format!("{} {}", plural(days, "day"), plural(hours, "hour")),
    }
}

/// The hours within which the school's policy wants an outcome, when it asks for one.
async fn outcome_hours(
    connection: &mut sqlx::AnyConnection,
    school_id: i64,
) -> Result<Option<i64>, PageError> {
    let settings = school_settings::load(connection, school_id).await?;
    let policy = settings
        .policy
        .resolve()
        .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?;
    Ok(policy
        .outcome_logged
        .enabled
        .then_some(policy.outcome_logged.params.within_hours))
}

pub async fn show_waiting(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    render(&state, &console, None, StatusCode::OK).await
}

/// The list, with `problem` (`call`: the call's id, `message`, `text`: what was typed) shown
/// at the form it is about.
async fn render(
    state: &AppState,
    console: &Console,
    problem: Option<Value>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::RecordSessions)?;
    let now = Utc::now();
    let mut schools: Vec<directory::School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .collect();
    schools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut connection = state.db.pool.acquire().await?;
    let mut lines: Vec<(DateTime<Utc>, WaitingLine)> = Vec::new();
    let mut without_person = false;
    for school in &schools {
        let sees_all = console
            .principal()
            .may(Capability::SeeSafeguarding, school.id);
        let person = if sees_all {
            None
        } else {
            match me_at(&mut connection, console, school.id).await? {
                Some(me) => Some(me.id),
                None => {
                    // Nobody to match the calls to: none of them is theirs.
                    without_person = true;
                    continue;
                }
            }
        };
        let calls = outcomes::waiting(&mut connection, school.id, person, CALLS_SHOWN).await?;
        if calls.is_empty() {
            continue;
        }
        let timezone = school_timezone(school);
        let hours = outcome_hours(&mut connection, school.id).await?;
        for call in calls {
            let due = hours.map(|hours| call.ended_at + Duration::hours(hours));
            let title = match (&call.topic, &call.platform_meeting_id) {
                (Some(topic), _) if !topic.trim().is_empty() => topic.clone(),
                (_, Some(meeting_id)) => format!("Call {meeting_id}"),
                _ => format!("Call {}", call.id),
            };
            let line = WaitingLine {
                id: call.id,
                title,
                school: school.name.clone(),
                platform: Platform::parse(&call.platform)
                    .map(Platform::display_name)
                    .unwrap_or(""),
                started: call.started_at.map(|at| TimeView::new(at, Some(timezone))),
                ended: TimeView::new(call.ended_at, Some(timezone)),
                waiting: span_in_words(now - call.ended_at),
                due: due.map(|at| TimeView::new(at, Some(timezone))),
                overdue: due.is_some_and(|due| due <= now),
                may_open: sees_all,
            };
            lines.push((call.ended_at, line));
        }
    }
    lines.sort_by_key(|(ended, line)| (*ended, line.id));
    let calls: Vec<WaitingLine> = lines.into_iter().map(|(_, line)| line).collect();
    console.page_with_status(
        status,
        "outcomes.html",
        context! {
            calls => calls,
            without_person => without_person,
            problem => problem.unwrap_or(Value::from(())),
        },
    )
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    #[serde(default)]
    outcome: String,
}

pub async fn record_outcome(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<OutcomeForm>,
) -> Result<Response, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let school_id = school_of(&mut connection, Record::Call, id)
        .await
        .map_err(page_error)?;
    console.require(Capability::RecordSessions, school_id)?;
    let me = me_at(&mut connection, &console, school_id).await?;
    // Staff write outcomes only for their own calls; to them another's does not exist.
    if !console
        .principal()
        .may(Capability::SeeSafeguarding, school_id)
    {
        let Some(me) = &me else {
            return Err(PageError::NotFound("call"));
        };
        if !outcomes::took_part(&mut connection, id, me.id).await? {
            return Err(PageError::NotFound("call"));
        }
    }
    drop(connection);
    let problem = |message: String| {
        Some(context! { call => id, message => message, text => form.outcome.clone() })
    };
    if form.outcome.trim().is_empty() {
        let message = "Write what happened in the call: the outcome cannot be empty.".to_string();
        return render(
            &state,
            &console,
            problem(message),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let new = NewOutcome {
        outcome: form.outcome.clone(),
        written_by_ref: me
            .filter(|me| me.kind == PersonKind::Staff)
            .map(|me| me.reference),
    };
    match recorded::record_outcome(&state.db, console.principal(), id, &new, Utc::now()).await {
        Ok(_) => Ok(console.redirect_with_notice("/timetable/outcomes", "Outcome recorded.")),
        Err(error) => {
            let message = form_problem(error)?;
            render(
                &state,
                &console,
                problem(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_said_in_its_two_largest_units() {
        assert_eq!(span_in_words(Duration::minutes(1)), "1 minute");
        assert_eq!(span_in_words(Duration::minutes(59)), "59 minutes");
        assert_eq!(span_in_words(Duration::minutes(185)), "3 hours");
        assert_eq!(span_in_words(Duration::hours(48)), "2 days");
        assert_eq!(span_in_words(Duration::hours(52)), "2 days 4 hours");
        assert_eq!(span_in_words(Duration::hours(25)), "1 day 1 hour");
    }
}
