//! The timetable (upcoming planned sessions, or one week's) and a session's own page, where
//! the DSL approves or declines it, in their own name or a senior leader's, or cancels it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::{
    form_problem, local_midnight, long_date, me_at, page_error, school_by_id, ChosenSchool, Names,
    Offered,
};
use crate::directory::{PersonKind, StaffRole};
use crate::http::ui::time_view::TimeView;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::state::AppState;
use crate::timetable::consents::Lapse;
use crate::timetable::planned::{self, Decision, PlannedSession};
use crate::timetable::{choices, recorded, school_of, Record};

/// How far ahead the timetable looks when no week is asked for.
const UPCOMING_DAYS: i64 = 28;

/// A planned session as the pages show it.
#[derive(Serialize)]
pub(super) struct SessionView {
    id: i64,
    starts: TimeView,
    /// The local time it ends ("10:30").
    ends: String,
    minutes: i64,
    host: String,
    pupils: Vec<String>,
    staff: Vec<String>,
    adults_only: bool,
    purpose: String,
    risk_assessment_ref: Option<String>,
    state: &'static str,
    decided_by: Option<String>,
    decided: Option<TimeView>,
    decision_note: Option<String>,
    /// Why it is flagged, one line per pupil whose consent lapsed (empty: not flagged).
    flags: Vec<String>,
}

pub(super) async fn session_view(
    connection: &mut AnyConnection,
    names: &mut Names,
    session: &PlannedSession,
    timezone: Tz,
) -> Result<SessionView, sqlx::Error> {
    let mut pupils = Vec::new();
    let mut staff = Vec::new();
    for id in &session.person_ids {
        let person = names.person(connection, *id).await?;
        match person {
            Some(person) if person.kind == PersonKind::Pupil => pupils.push(person.display_name),
            Some(person) => staff.push(person.display_name),
            None => staff.push(names.name(connection, *id).await?),
        }
    }
    let decider = session.approved_by.or(session.declined_by);
    let decided_by = match decider {
        Some(id) => Some(names.name(connection, id).await?),
        None => None,
    };
    let mut flags = Vec::new();
    for flag in &session.flags {
        let pupil = names.name(connection, flag.pupil_id).await?;
        let lapse = match flag.reason {
            Lapse::Withdrawn => "withdrawn",
            Lapse::Expired => "expired",
        };
        flags.push(format!(
            "Consent for {pupil} {lapse} on {}",
            long_date(flag.on)
        ));
    }
    Ok(SessionView {
        id: session.id,
        starts: TimeView::new(session.starts_at, Some(timezone)),
        ends: session
            .ends_at
            .with_timezone(&timezone)
            .format("%H:%M")
            .to_string(),
        minutes: (session.ends_at - session.starts_at).num_minutes(),
        host: names.name(connection, session.host_person_id).await?,
        pupils,
        staff,
        adults_only: session.adults_only,
        purpose: session.purpose.clone(),
        risk_assessment_ref: session.risk_assessment_ref.clone(),
        state: session.state.as_str(),
        decided_by,
        decided: session
            .approved_at
            .or(session.declined_at)
            .map(|at| TimeView::new(at, Some(timezone))),
        decision_note: session.decision_note.clone(),
        flags,
    })
}

#[derive(Deserialize, Default)]
pub struct TimetableQuery {
    #[serde(default)]
    school: String,
    /// Any day of the week to show (`YYYY-MM-DD`); empty: the coming four weeks.
    #[serde(default)]
    week: String,
}

pub async fn show_timetable(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<TimetableQuery>,
) -> Result<Response, PageError> {
    let chosen =
        ChosenSchool::pick(&state, &console, Capability::RecordSessions, &query.school).await?;
    let (school_id, timezone) = (chosen.school.id, chosen.timezone);
    let now = Utc::now();
    let today = now.with_timezone(&timezone).date_naive();
    let (from, to, week) = match query.week.trim() {
        "" => (now, now + Duration::days(UPCOMING_DAYS), Value::from(())),
        text => {
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| PageError::NotFound("week"))?;
            let monday = day - Duration::days(day.weekday().num_days_from_monday() as i64);
            let sunday = monday + Duration::days(6);
            let week = context! {
                first => long_date(monday),
                last => long_date(sunday),
                day => monday.to_string(),
                previous => (monday - Duration::days(7)).to_string(),
                next => (monday + Duration::days(7)).to_string(),
            };
            (
                local_midnight(timezone, monday),
                local_midnight(timezone, monday + Duration::days(7)),
                week,
            )
        }
    };
    let mut connection = state.db.pool.acquire().await?;
    let sessions = planned::list(&mut connection, school_id, Some(from), Some(to)).await?;
    let mut names = Names::default();
    let mut views = Vec::with_capacity(sessions.len());
    for session in &sessions {
        views.push(session_view(&mut connection, &mut names, session, timezone).await?);
    }
    let principal = console.principal();
    let (school, schools) = chosen.context();
    console.page(
        "timetable.html",
        context! {
            school => school,
            schools => schools,
            week => week,
            this_week => today.to_string(),
            sessions => views,
            may_see_consents => principal.may(Capability::SeeSafeguarding, school_id),
        },
    )
}

pub async fn show_session(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render_session(&state, &console, id, StatusCode::OK, Value::from(())).await
}

/// The session's page, with `problem` (the decision form's error) where there is one.
async fn render_session(
    state: &AppState,
    console: &Console,
    id: i64,
    status: StatusCode,
    problem: Value,
) -> Result<Response, PageError> {
    let school_id = {
        let mut connection = state.db.pool.acquire().await?;
        school_of(&mut connection, Record::PlannedSession, id)
            .await
            .map_err(page_error)?
    };
    console.require(Capability::RecordSessions, school_id)?;
    // Read before taking a connection of its own: a page holds one connection at a time.
    let (school, timezone) = school_by_id(state, school_id).await?;
    let mut connection = state.db.pool.acquire().await?;
    let session = planned::find(&mut connection, id)
        .await?
        .ok_or(PageError::NotFound("planned session"))?;
    let mut names = Names::default();
    let view = session_view(&mut connection, &mut names, &session, timezone).await?;
    let may_decide = console
        .principal()
        .may(Capability::ActOnSafeguarding, session.school_id)
        && session.cancelled_at.is_none();
    let deciders = if may_decide {
        deciders(&mut connection, console, session.school_id).await?
    } else {
        Vec::new()
    };
    console.page_with_status(
        status,
        "timetable_session.html",
        context! {
            session => view,
            school => context! { id => school.id.to_string(), name => school.name },
            may_decide => may_decide,
            deciders => deciders,
            problem => problem,
        },
    )
}

/// The staff who may be named as deciding: the DSLs and senior leaders (all staff where the
/// directory marks none), the signed-in person first chosen.
async fn deciders(
    connection: &mut AnyConnection,
    console: &Console,
    school_id: i64,
) -> Result<Vec<Offered>, sqlx::Error> {
    let me = me_at(connection, console, school_id).await?;
    let (staff, _) = choices::of_kind(connection, school_id, PersonKind::Staff, "", 2000).await?;
    let leaders: Vec<_> = staff
        .iter()
        .filter(|person| {
            matches!(
                person.staff_role,
                Some(StaffRole::Dsl | StaffRole::DeputyDsl | StaffRole::SeniorLeader)
            ) || me.as_ref().is_some_and(|me| me.id == person.id)
        })
        .cloned()
        .collect();
    let offered = if leaders.is_empty() { staff } else { leaders };
    Ok(offered
        .into_iter()
        .map(|person| {
            let role = match person.staff_role {
                Some(StaffRole::Dsl) => " (DSL)",
                Some(StaffRole::DeputyDsl) => " (deputy DSL)",
                Some(StaffRole::SeniorLeader) => " (senior leader)",
                _ => "",
            };
            Offered {
                selected: me.as_ref().is_some_and(|me| me.id == person.id),
                label: format!("{}{role}", person.name),
                value: person.reference,
            }
        })
        .collect())
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    decided_by: String,
    #[serde(default)]
    note: String,
}

pub async fn decide_session(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let school_id = {
        let mut connection = state.db.pool.acquire().await?;
        crate::timetable::school_of(
            &mut connection,
            crate::timetable::Record::PlannedSession,
            id,
        )
        .await
        .map_err(page_error)?
    };
    console.require(Capability::ActOnSafeguarding, school_id)?;
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "decline" => Decision::Decline,
        _ => {
            let problem = "Choose to approve or to decline the session.".to_string();
            return render_session(
                &state,
                &console,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::from(problem),
            )
            .await;
        }
    };
    if form.decided_by.trim().is_empty() {
        let problem = "Say who decided: choose a member of staff.".to_string();
        return render_session(
            &state,
            &console,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Value::from(problem),
        )
        .await;
    }
    let note = Some(form.note.trim()).filter(|note| !note.is_empty());
    let result = recorded::decide_planned_session(
        &state.db,
        console.principal(),
        id,
        decision,
        form.decided_by.trim(),
        note,
        Utc::now(),
    )
    .await;
    match result {
        Ok(()) => {
            let done = match decision {
                Decision::Approve => "Session approved.",
                Decision::Decline => "Session declined.",
            };
            Ok(console.redirect_with_notice(&format!("/timetable/sessions/{id}"), done))
        }
        Err(error) => {
            let problem = form_problem(error)?;
            render_session(
                &state,
                &console,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::from(problem),
            )
            .await
        }
    }
}

pub async fn cancel_session(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let school_id = {
        let mut connection = state.db.pool.acquire().await?;
        crate::timetable::school_of(
            &mut connection,
            crate::timetable::Record::PlannedSession,
            id,
        )
        .await
        .map_err(page_error)?
    };
    console.require(Capability::ActOnSafeguarding, school_id)?;
    recorded::cancel_planned_session(&state.db, console.principal(), id, Utc::now())
        .await
        .map_err(page_error)?;
    Ok(console.redirect_with_notice(&format!("/timetable/sessions/{id}"), "Session cancelled."))
}
