//! A finding's page: what happened, the clause of the school's policy it breaks, who, when,
//! the link to join the call while it can still be joined, acknowledge and resolve (in the
//! signed-in person's name), the finding's history and every alert sent about it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::Utc;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::{schools_in, FindingSummary};
use crate::findings::query::{self, FindingRecord};
use crate::findings::{access, FindingError, Status};
use crate::http::ui::time_view::TimeView;
use crate::http::ui::{Console, PageError};
use crate::identity::{Capability, Reach};
use crate::state::AppState;

/// The finding `id` if the person may `capability` it; one about themselves does not exist
/// for them (404), as in the API.
async fn finding_for(
    state: &AppState,
    console: &Console,
    capability: Capability,
    id: i64,
) -> Result<FindingRecord, PageError> {
    let finding = query::find(&state.db, id)
        .await?
        .ok_or(PageError::NotFound("finding"))?;
    console.require(capability, finding.school_id)?;
    if access::hidden_from(console.principal(), &finding) {
        return Err(PageError::NotFound("finding"));
    }
    Ok(finding)
}

#[derive(Serialize)]
struct Named {
    name: String,
    role: String,
}

#[derive(Serialize)]
struct HistoryView {
    at: TimeView,
    change: String,
    actor: String,
    note: Option<String>,
}

#[derive(Serialize)]
struct DeliveryView {
    channel: String,
    kind: String,
    escalation_level: i64,
    recipient: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    skipped_because: Option<String>,
    sent_at: Option<TimeView>,
}

pub async fn show_finding(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render(&state, &console, id, StatusCode::OK, Value::from(())).await
}

/// The page, with `problem` (a form's error) shown where it was made.
async fn render(
    state: &AppState,
    console: &Console,
    id: i64,
    status: StatusCode,
    problem: Value,
) -> Result<Response, PageError> {
    let finding = finding_for(state, console, Capability::SeeSafeguarding, id).await?;
    access::record_views(
        &state.db,
        console.principal(),
        std::slice::from_ref(&finding),
        "finding.viewed",
    )
    .await?;
    let schools = schools_in(&state.db, &Reach::Schools([finding.school_id].into())).await?;
    let timezone = schools.first().and_then(|(_, timezone)| *timezone);
    let time = |at| TimeView::new(at, timezone);
    let people: Vec<Named> = finding
        .people
        .as_array()
        .into_iter()
        .flatten()
        .map(|person| Named {
            name: person["name"].as_str().unwrap_or_default().to_string(),
            role: person["role"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    let history: Vec<HistoryView> = query::history(&state.db, id)
        .await?
        .into_iter()
        .map(|entry| HistoryView {
            at: time(entry.at),
            change: entry.change,
            actor: entry.actor,
            note: entry.note,
        })
        .collect();
    let deliveries: Vec<DeliveryView> = query::deliveries(&state.db, id)
        .await?
        .into_iter()
        .map(|delivery| DeliveryView {
            channel: delivery.channel,
            kind: delivery.kind,
            escalation_level: delivery.escalation_level,
            recipient: delivery.recipient,
            status: delivery.status,
            attempts: delivery.attempts,
            last_error: delivery.last_error,
            skipped_because: delivery.skipped_because,
            sent_at: delivery.sent_at.map(time),
        })
        .collect();
    let may_act = console
        .principal()
        .may(Capability::ActOnSafeguarding, finding.school_id)
        && finding.status != Status::Resolved.as_str();
    console.page_with_status(
        status,
        "finding.html",
        context! {
            finding => FindingSummary::new(&finding, &schools),
            clause => finding.clause.clone(),
            people => people,
            opened => time(finding.opened_at),
            acknowledged => finding.acknowledged_at.map(time),
            acknowledged_by => finding.acknowledged_by.clone(),
            resolved => finding.resolved_at.map(time),
            resolved_by => finding.resolved_by.clone(),
            resolution_note => finding.resolution_note.clone(),
            join_url => query::join_url(&state.db, id).await?,
            call_id => finding.meeting_record_id,
            history => history,
            deliveries => deliveries,
            may_act => may_act,
            problem => problem,
        },
    )
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    note: String,
}

pub async fn acknowledge(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    change(&state, &console, id, Status::Acknowledged, form.note).await
}

pub async fn resolve(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    if form.note.trim().is_empty() {
        let problem = context! {
            form => "resolve",
            message => "Say what was done: resolving a finding needs a note.",
        };
        return render(
            &state,
            &console,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            problem,
        )
        .await;
    }
    change(&state, &console, id, Status::Resolved, form.note).await
}

/// Moves the finding to `status` in the signed-in person's name, then back to its page.
async fn change(
    state: &AppState,
    console: &Console,
    id: i64,
    status: Status,
    note: String,
) -> Result<Response, PageError> {
    let before = finding_for(state, console, Capability::ActOnSafeguarding, id).await?;
    let note = Some(note.trim()).filter(|note| !note.is_empty());
    let result = access::change_status_recorded(
        &state.db,
        console.principal(),
        &before,
        status,
        &console.principal().label(),
        note,
        Utc::now(),
    )
    .await;
    let page = format!("/findings/{id}");
    match result {
        Ok(()) => {
            let done = match status {
                Status::Acknowledged => "Finding acknowledged: escalation has stopped.",
                _ => "Finding resolved.",
            };
            Ok(console.redirect_with_notice(&page, done))
        }
        Err(FindingError::AlreadyResolved) => Ok(console.redirect_with_notice(
            &page,
            "The finding was already resolved; nothing was changed.",
        )),
        Err(FindingError::NotFound) => Err(PageError::NotFound("finding")),
        Err(FindingError::Database(error)) => Err(error.into()),
    }
}
