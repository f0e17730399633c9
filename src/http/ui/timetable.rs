//! The timetable in the console: planned sessions registered by staff and approved or declined
//! by the DSL (in their own name or a senior leader's), the consent register, and the outcomes
//! written after calls. Every change goes through `crate::timetable::recorded`, as the API's do.

mod consents;
mod outcomes;
mod register_form;
mod sessions;

use std::collections::HashMap;

use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::{context, Value};
use serde::Serialize;
use sqlx::AnyConnection;

use super::error::PageError;
use super::school_choice::choose_school;
use super::Console;
use crate::directory::people::{self, StoredPerson};
use crate::directory::{self, School};
use crate::identity::Capability;
use crate::state::AppState;
use crate::timetable::TimetableError;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("timetable.html", include_str!("templates/timetable.html")),
    (
        "timetable_new.html",
        include_str!("templates/timetable_new.html"),
    ),
    (
        "timetable_session.html",
        include_str!("templates/timetable_session.html"),
    ),
    ("consents.html", include_str!("templates/consents.html")),
    (
        "consents_withdraw.html",
        include_str!("templates/consents_withdraw.html"),
    ),
    ("outcomes.html", include_str!("templates/outcomes.html")),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/timetable",
            get(sessions::show_timetable).post(register_form::register_session),
        )
        .route("/timetable/new", get(register_form::show_form))
        .route("/timetable/sessions/{id}", get(sessions::show_session))
        .route(
            "/timetable/sessions/{id}/decision",
            post(sessions::decide_session),
        )
        .route(
            "/timetable/sessions/{id}/cancel",
            post(sessions::cancel_session),
        )
        .route(
            "/timetable/consents",
            get(consents::show_register).post(consents::record_consent),
        )
        .route(
            "/timetable/consents/{id}/withdraw",
            get(consents::confirm_withdrawal).post(consents::withdraw_consent),
        )
        .route("/timetable/outcomes", get(outcomes::show_waiting))
        .route("/timetable/outcomes/{id}", post(outcomes::record_outcome))
}

/// The school a page shows, among those where the person may use `capability`: the one asked
/// for (`school`, an id), else the first by name. Also every such school, for the chooser.
struct ChosenSchool {
    school: School,
    timezone: Tz,
    choices: Vec<School>,
}

impl ChosenSchool {
    async fn pick(
        state: &AppState,
        console: &Console,
        capability: Capability,
        asked: &str,
    ) -> Result<Self, PageError> {
        let (choices, school) = choose_school(state, console, capability, asked).await?;
        let school = school.ok_or(PageError::NotFound("school"))?;
        Ok(ChosenSchool {
            timezone: school_timezone(&school),
            school,
            choices,
        })
    }

    /// The school and the chooser, as templates use them.
    fn context(&self) -> (Value, Vec<Value>) {
        let choices = self
            .choices
            .iter()
            .map(|s| context! { id => s.id.to_string(), name => s.name.clone() })
            .collect();
        (
            context! { id => self.school.id.to_string(), name => self.school.name.clone() },
            choices,
        )
    }
}

fn school_timezone(school: &School) -> Tz {
    school.timezone.parse().unwrap_or(Tz::UTC)
}

/// The school with id `school_id`, with its timezone.
async fn school_by_id(state: &AppState, school_id: i64) -> Result<(School, Tz), PageError> {
    let school = directory::find_school(&state.db, school_id)
        .await?
        .ok_or(PageError::NotFound("school"))?;
    let timezone = school_timezone(&school);
    Ok((school, timezone))
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

/// A date as the pages write it: "3 December 2026".
fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// Directory people read once per page, by id.
#[derive(Default)]
struct Names {
    known: HashMap<i64, Option<StoredPerson>>,
}

impl Names {
    async fn person(
        &mut self,
        connection: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<StoredPerson>, sqlx::Error> {
        if let Some(person) = self.known.get(&id) {
            return Ok(person.clone());
        }
        let person = people::by_id(connection, id).await?;
        self.known.insert(id, person.clone());
        Ok(person)
    }

    async fn name(
        &mut self,
        connection: &mut AnyConnection,
        id: i64,
    ) -> Result<String, sqlx::Error> {
        Ok(self
            .person(connection, id)
            .await?
            .map(|person| person.display_name)
            .unwrap_or_else(|| "someone no longer in the directory".to_string()))
    }
}

/// The signed-in person's directory record at `school_id`, if they have one there.
async fn me_at(
    connection: &mut AnyConnection,
    console: &Console,
    school_id: i64,
) -> Result<Option<StoredPerson>, sqlx::Error> {
    let Some(person_id) = console.principal().person_id() else {
        return Ok(None);
    };
    let Some(person) = people::by_id(&mut *connection, person_id).await? else {
        return Ok(None);
    };
    // A person id is the school's own: the same reference at this school must be them.
    let here = people::by_reference(connection, school_id, &person.reference).await?;
    Ok(here.filter(|found| found.id == person.id))
}

/// A person offered by a form: the value sent, the label shown, whether it is chosen.
#[derive(Serialize, Clone)]
struct Offered {
    value: String,
    label: String,
    selected: bool,
}

/// What went wrong with a form, in words for the person who filled it in; anything else is
/// the page's own failure.
fn form_problem(error: TimetableError) -> Result<String, PageError> {
    match error {
        TimetableError::UnknownPerson(_) => {
            Ok("Someone chosen is no longer in the school's directory.".to_string())
        }
        TimetableError::WrongKind { expected, .. } => Ok(format!(
            "Someone chosen is not a {}.",
            expected.replace('_', " ")
        )),
        TimetableError::Invalid(detail) => Ok(detail),
        TimetableError::NotFound => Err(PageError::NotFound("record")),
        TimetableError::Database(error) => Err(error.into()),
    }
}

/// A failure of the timetable where no form is to be shown again.
fn page_error(error: TimetableError) -> PageError {
    match error {
        TimetableError::NotFound => PageError::NotFound("record"),
        TimetableError::Database(error) => error.into(),
        other => PageError::Internal(anyhow::Error::new(other)),
    }
}
