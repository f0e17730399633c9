//! The consent register: each pupil's signed agreements with their expiry and withdrawal and
//! who recorded them; recording one, and withdrawing one after seeing the upcoming planned
//! sessions it leaves without consent (which the timetable then flags).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::{NaiveDate, Utc};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::sessions::session_view;
use super::{form_problem, long_date, page_error, school_by_id, ChosenSchool, Names, Offered};
use crate::directory::PersonKind;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::state::AppState;
use crate::timetable::consents::{self, Consent, NewConsent};
use crate::timetable::{choices, planned, recorded, school_of, Record};

/// Pupils the record form lists at once; a school with more is searched by name.
const PUPILS_SHOWN: i64 = 200;

#[derive(Serialize)]
struct ConsentLine {
    id: i64,
    pupil: String,
    signed: String,
    expires: Option<String>,
    withdrawn: Option<String>,
    /// `in force`, `withdrawn`, `expired` or `not yet signed` (dated ahead), as of today.
    standing: &'static str,
    recorded_by: Option<String>,
    withdrawn_by: Option<String>,
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

fn written(text: &str) -> String {
    parse_date(text)
        .map(long_date)
        .unwrap_or_else(|| text.to_string())
}

fn line(consent: &Consent, today: NaiveDate) -> ConsentLine {
    let after = |text: &Option<String>| text.as_deref().and_then(parse_date);
    let standing = match (after(&consent.withdrawn_on), after(&consent.expires_on)) {
        (Some(withdrawn), _) if withdrawn <= today => "withdrawn",
        (_, Some(expires)) if expires < today => "expired",
        _ if parse_date(&consent.signed_on).is_some_and(|signed| signed > today) => {
            "not yet signed"
        }
        _ => "in force",
    };
    ConsentLine {
        id: consent.id,
        pupil: consent.pupil_name.clone(),
        signed: written(&consent.signed_on),
        expires: consent.expires_on.as_deref().map(written),
        withdrawn: consent.withdrawn_on.as_deref().map(written),
        standing,
        recorded_by: consent.recorded_by.clone(),
        withdrawn_by: consent.withdrawn_by.clone(),
    }
}

#[derive(Deserialize, Default)]
pub struct RegisterQuery {
    #[serde(default)]
    school: String,
    /// Part of a pupil's name, for the record form of a big school.
    #[serde(default)]
    q: String,
}

/// The record form as filled in.
#[derive(Serialize, Deserialize, Default)]
pub struct ConsentForm {
    #[serde(default)]
    school: String,
    #[serde(default)]
    pupil: String,
    #[serde(default)]
    signed_on: String,
    #[serde(default)]
    expires_on: String,
}

pub async fn show_register(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<RegisterQuery>,
) -> Result<Response, PageError> {
    let chosen =
        ChosenSchool::pick(&state, &console, Capability::SeeSafeguarding, &query.school).await?;
    let today = Utc::now().with_timezone(&chosen.timezone).date_naive();
    let form = ConsentForm {
        signed_on: today.to_string(),
        ..ConsentForm::default()
    };
    render(
        &state,
        &console,
        &chosen,
        &form,
        &query.q,
        &[],
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &AppState,
    console: &Console,
    chosen: &ChosenSchool,
    form: &ConsentForm,
    search: &str,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, PageError> {
    let school_id = chosen.school.id;
    let today = Utc::now().with_timezone(&chosen.timezone).date_naive();
    let mut connection = state.db.pool.acquire().await?;
    let lines: Vec<ConsentLine> = consents::list(&mut connection, school_id)
        .await?
        .iter()
        .map(|consent| line(consent, today))
        .collect();
    let may_act = console
        .principal()
        .may(Capability::ActOnSafeguarding, school_id);
    let (pupils, pupils_total) = if may_act {
        choices::of_kind(
            &mut connection,
            school_id,
            PersonKind::Pupil,
            search,
            PUPILS_SHOWN,
        )
        .await?
    } else {
        (Vec::new(), 0)
    };
    let pupils: Vec<Offered> = pupils
        .into_iter()
        .map(|pupil| Offered {
            selected: pupil.reference == form.pupil,
            value: pupil.reference,
            label: pupil.name,
        })
        .collect();
    let (school, schools) = chosen.context();
    console.page_with_status(
        status,
        "consents.html",
        context! {
            school => school,
            schools => schools,
            consents => lines,
            may_act => may_act,
            pupils => pupils,
            pupils_limited => pupils_total > PUPILS_SHOWN,
            search => search.trim(),
            form => form,
            errors => errors,
        },
    )
}

pub async fn record_consent(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<ConsentForm>,
) -> Result<Response, PageError> {
    if form.school.trim().is_empty() {
        return Err(PageError::NotFound("school"));
    }
    let chosen = ChosenSchool::pick(
        &state,
        &console,
        Capability::ActOnSafeguarding,
        &form.school,
    )
    .await?;
    let mut errors = Vec::new();
    if form.pupil.trim().is_empty() {
        errors.push("Choose the pupil.".to_string());
    }
    let signed_on = parse_date(&form.signed_on);
    if signed_on.is_none() {
        errors.push("Give the date it was signed, such as 2026-09-01.".to_string());
    }
    let expires_on = match form.expires_on.trim() {
        "" => None,
        text => {
            let date = parse_date(text);
            if date.is_none() {
                errors.push("Give the expiry as a date, or leave it empty.".to_string());
            }
            date
        }
    };
    if let (Some(signed), Some(expires)) = (signed_on, expires_on) {
        if expires < signed {
            errors.push("The expiry is before the date it was signed.".to_string());
        }
    }
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let Some(signed_on) = signed_on.filter(|_| errors.is_empty()) else {
        return render(&state, &console, &chosen, &form, "", &errors, status).await;
    };
    let new = NewConsent {
        school_id: chosen.school.id,
        pupil_ref: form.pupil.trim().to_string(),
        parent_ref: None,
        signed_on,
        expires_on,
    };
    match recorded::record_consent(&state.db, console.principal(), &new, Utc::now()).await {
        Ok(_) => Ok(console.redirect_with_notice(
            &format!("/timetable/consents?school={}", chosen.school.id),
            "Consent recorded.",
        )),
        Err(error) => {
            let errors = vec![form_problem(error)?];
            render(&state, &console, &chosen, &form, "", &errors, status).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct WithdrawalForm {
    /// The first day without consent (`YYYY-MM-DD`); empty: today.
    #[serde(default)]
    withdrawn_on: String,
}

pub async fn confirm_withdrawal(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Query(form): Query<WithdrawalForm>,
) -> Result<Response, PageError> {
    render_withdrawal(
        &state,
        &console,
        id,
        &form.withdrawn_on,
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn withdraw_consent(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<WithdrawalForm>,
) -> Result<Response, PageError> {
    let school_id = consent_school(&state, &console, id).await?;
    let Some(withdrawn_on) = parse_date(&form.withdrawn_on) else {
        let problem = "Give the date of the withdrawal, such as 2026-12-03.";
        return render_withdrawal(
            &state,
            &console,
            id,
            &form.withdrawn_on,
            Some(problem),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    match recorded::withdraw_consent(&state.db, console.principal(), id, withdrawn_on, Utc::now())
        .await
    {
        Ok(flagged) => {
            let notice = match flagged.len() {
                0 => "Consent withdrawn. No upcoming planned session relied on it.".to_string(),
                1 => "Consent withdrawn. 1 upcoming planned session is now flagged.".to_string(),
                n => format!("Consent withdrawn. {n} upcoming planned sessions are now flagged."),
            };
            Ok(console
                .redirect_with_notice(&format!("/timetable/consents?school={school_id}"), &notice))
        }
        Err(error) => {
            let problem = form_problem(error)?;
            render_withdrawal(
                &state,
                &console,
                id,
                &form.withdrawn_on,
                Some(&problem),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// The consent's school, where the person must be able to act on safeguarding.
async fn consent_school(state: &AppState, console: &Console, id: i64) -> Result<i64, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let school_id = school_of(&mut connection, Record::Consent, id)
        .await
        .map_err(page_error)?;
    console.require(Capability::ActOnSafeguarding, school_id)?;
    Ok(school_id)
}

/// The confirmation step: the consent, the date it is withdrawn from, and the upcoming
/// planned sessions that withdrawing it from then would flag.
async fn render_withdrawal(
    state: &AppState,
    console: &Console,
    id: i64,
    asked_date: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let school_id = consent_school(state, console, id).await?;
    let (school, timezone) = school_by_id(state, school_id).await?;
    let now = Utc::now();
    let today = now.with_timezone(&timezone).date_naive();
    let mut connection = state.db.pool.acquire().await?;
    let consent = consents::find(&mut connection, id)
        .await?
        .ok_or(PageError::NotFound("consent"))?;
    let withdrawn_on = match asked_date.trim() {
        "" => Some(today),
        text => parse_date(text),
    };
    let mut problem = problem.map(str::to_string);
    let mut affected = Vec::new();
    if let Some(withdrawn_on) = withdrawn_on {
        match consents::affected_sessions(&mut connection, id, withdrawn_on, now).await {
            Ok(ids) => {
                let mut names = Names::default();
                for session_id in ids {
                    if let Some(session) = planned::find(&mut connection, session_id).await? {
                        affected.push(
                            session_view(&mut connection, &mut names, &session, timezone).await?,
                        );
                    }
                }
            }
            Err(error) => problem = Some(form_problem(error)?),
        }
    } else if problem.is_none() {
        problem = Some("Give the date of the withdrawal, such as 2026-12-03.".to_string());
    }
    console.page_with_status(
        status,
        "consents_withdraw.html",
        context! {
            consent => line(&consent, today),
            school => context! { id => school.id.to_string(), name => school.name },
            withdrawn_on => withdrawn_on.map(|date| date.to_string()).unwrap_or_else(|| asked_date.trim().to_string()),
            withdrawn_on_words => withdrawn_on.map(long_date),
            already => consent.withdrawn_on.is_some(),
            affected => affected,
            problem => problem.map(Value::from).unwrap_or(Value::from(())),
        },
    )
}
