//! Registering a planned session: who runs it, the pupils and further staff from the school's
//! directory (a big school's pupils searched by name), the local date and time, how long, what
//! for, and the risk assessment's reference. A form with a mistake comes back (422) as it
//! was filled in, with what to fix.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::{form_problem, me_at, ChosenSchool, Offered};
use crate::directory::PersonKind;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::state::AppState;
use crate::timetable::choices;
use crate::timetable::planned::NewPlannedSession;
use crate::timetable::recorded;

/// Pupils listed at once; a school with more is searched by name.
const PUPILS_SHOWN: i64 = 60;
/// Staff listed at once (a form of checkboxes stays usable up to about this many).
const STAFF_SHOWN: i64 = 400;
const DEFAULT_MINUTES: i64 = 30;
const LONGEST_MINUTES: i64 = 8 * 60;

/// The form as filled in, kept as text so a mistake shows it again unchanged.
#[derive(Serialize, Default, Clone)]
struct SessionForm {
    host: String,
    pupils: Vec<String>,
    staff: Vec<String>,
    adults_only: bool,
    date: String,
    time: String,
    minutes: String,
    purpose: String,
    risk_assessment_ref: String,
}

impl SessionForm {
    fn from_fields(fields: &[(String, String)]) -> Self {
        let one = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.trim().to_string())
                .unwrap_or_default()
        };
        let all = |name: &str| -> Vec<String> {
            let mut values: Vec<String> = fields
                .iter()
                .filter(|(key, value)| key == name && !value.trim().is_empty())
                .map(|(_, value)| value.trim().to_string())
                .collect();
            values.dedup();
            values
        };
        SessionForm {
            host: one("host"),
            pupils: all("pupils"),
            staff: all("staff"),
            adults_only: !one("adults_only").is_empty(),
            date: one("date"),
            time: one("time"),
            minutes: one("minutes"),
            purpose: one("purpose"),
            risk_assessment_ref: one("risk_assessment_ref"),
        }
    }

    /// The session this form describes, or what to fix (every mistake at once).
    fn check(
        &self,
        school_id: i64,
        timezone: Tz,
        now: DateTime<Utc>,
    ) -> Result<NewPlannedSession, Vec<String>> {
        let mut errors = Vec::new();
        if self.host.is_empty() {
            errors.push("Choose who runs the session.".to_string());
        }
        if self.adults_only && !self.pupils.is_empty() {
            errors.push(
                "A meeting of adults only cannot name pupils: untick one or the other.".to_string(),
            );
        } else if !self.adults_only && self.pupils.is_empty() {
            errors.push(
                "Choose at least one pupil (or tick \u{201c}adults only\u{201d}).".to_string(),
            );
        }
        if self.staff.contains(&self.host) {
            errors.push(
                "The member of staff running the session is named again under further staff."
                    .to_string(),
            );
        }
        let date = NaiveDate::parse_from_str(&self.date, "%Y-%m-%d").ok();
        if date.is_none() {
            errors.push("Give the date as a date, such as 2026-12-07.".to_string());
        }
        let time = NaiveTime::parse_from_str(&self.time, "%H:%M").ok();
        if time.is_none() {
            errors.push("Give the start time as hours and minutes, such as 10:30.".to_string());
        }
        let minutes = self
            .minutes
            .parse::<i64>()
            .ok()
            .filter(|m| (5..=LONGEST_MINUTES).contains(m));
        if minutes.is_none() {
            errors.push(format!(
                "Give the length in minutes, from 5 to {LONGEST_MINUTES}."
            ));
        }
        if self.purpose.is_empty() {
            errors.push("Say what the session is for.".to_string());
        }
        let starts_at = match (date, time) {
            (Some(date), Some(time)) => {
                match date.and_time(time).and_local_timezone(timezone).earliest() {
                    Some(local) => Some(local.with_timezone(&Utc)),
                    None => {
                        errors.push("That time does not exist on that day (the clocks go forward): choose another.".to_string());
                        None
                    }
                }
            }
            _ => None,
        };
        if starts_at.is_some_and(|starts| starts < now) {
            errors.push(
                "The session would start in the past: the timetable is for sessions still to come."
                    .to_string(),
            );
        }
        match (starts_at, minutes) {
            (Some(starts_at), Some(minutes)) if errors.is_empty() => Ok(NewPlannedSession {
                school_id,
                host_ref: self.host.clone(),
                pupil_refs: self.pupils.clone(),
                staff_refs: self.staff.clone(),
                starts_at,
                ends_at: starts_at + Duration::minutes(minutes),
                purpose: self.purpose.clone(),
                approved_by_ref: None,
                risk_assessment_ref: Some(self.risk_assessment_ref.clone())
                    .filter(|reference| !reference.is_empty()),
                platform_meeting_id: None,
                adults_only: self.adults_only,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    school: String,
    /// Part of a pupil's name, for a school with more pupils than the form lists.
    #[serde(default)]
    q: String,
}

pub async fn show_form(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<NewQuery>,
) -> Result<Response, PageError> {
    let chosen =
        ChosenSchool::pick(&state, &console, Capability::RecordSessions, &query.school).await?;
    let mut connection = state.db.pool.acquire().await?;
    let me = me_at(&mut connection, &console, chosen.school.id).await?;
    let form = SessionForm {
        host: me
            .filter(|me| me.kind == PersonKind::Staff)
            .map(|me| me.reference)
            .unwrap_or_default(),
        minutes: DEFAULT_MINUTES.to_string(),
        ..SessionForm::default()
    };
    render(
        &mut connection,
        &console,
        &chosen,
        &form,
        &query.q,
        &[],
        StatusCode::OK,
    )
    .await
}

pub async fn register_session(
    State(state): State<AppState>,
    console: Console,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let asked = fields
        .iter()
        .find(|(key, _)| key == "school")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    // An empty choice would pick the first school: a form always says which.
    if asked.trim().is_empty() {
        return Err(PageError::NotFound("school"));
    }
    let chosen = ChosenSchool::pick(&state, &console, Capability::RecordSessions, asked).await?;
    let form = SessionForm::from_fields(&fields);
    let mut connection = state.db.pool.acquire().await?;
    let new = match form.check(chosen.school.id, chosen.timezone, Utc::now()) {
        Ok(new) => new,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(
                &mut connection,
                &console,
                &chosen,
                &form,
                "",
                &errors,
                status,
            )
            .await;
        }
    };
    drop(connection);
    match recorded::register_planned_session(&state.db, console.principal(), &new, Utc::now()).await
    {
        Ok(id) => Ok(console.redirect_with_notice(
            &format!("/timetable/sessions/{id}"),
            "Planned session registered: it waits for the DSL's approval.",
        )),
        Err(error) => {
            let errors = vec![form_problem(error)?];
            let mut connection = state.db.pool.acquire().await?;
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(
                &mut connection,
                &console,
                &chosen,
                &form,
                "",
                &errors,
                status,
            )
            .await
        }
    }
}

/// The form, filled in as `form`, with the pupils matching `search` and those already chosen.
async fn render(
    connection: &mut AnyConnection,
    console: &Console,
    chosen: &ChosenSchool,
    form: &SessionForm,
    search: &str,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, PageError> {
    let school_id = chosen.school.id;
    let (pupils, pupils_total) = choices::of_kind(
        connection,
        school_id,
        PersonKind::Pupil,
        search,
        PUPILS_SHOWN,
    )
    .await?;
    let (staff, _) =
        choices::of_kind(connection, school_id, PersonKind::Staff, "", STAFF_SHOWN).await?;
    let mut pupil_options: Vec<Offered> = Vec::new();
    // Those chosen stay on the form even when a search would not list them.
    for reference in &form.pupils {
        if !pupils.iter().any(|pupil| &pupil.reference == reference) {
            if let Some(person) =
                crate::directory::people::by_reference(connection, school_id, reference).await?
            {
                pupil_options.push(Offered {
                    value: person.reference,
                    label: person.display_name,
                    selected: true,
                });
            }
        }
    }
    pupil_options.extend(pupils.into_iter().map(|pupil| Offered {
        selected: form.pupils.contains(&pupil.reference),
        value: pupil.reference,
        label: pupil.name,
    }));
    let staff_options = |chosen: &dyn Fn(&str) -> bool| -> Vec<Offered> {
        staff
            .iter()
            .map(|person| Offered {
                value: person.reference.clone(),
                label: person.name.clone(),
                selected: chosen(&person.reference),
            })
            .collect()
    };
    let hosts = staff_options(&|reference| reference == form.host);
    let further = staff_options(&|reference| form.staff.iter().any(|s| s == reference));
    let (school, schools) = chosen.context();
    console.page_with_status(
        status,
        "timetable_new.html",
        context! {
            school => school,
            schools => schools,
            form => form,
            hosts => hosts,
            pupils => pupil_options,
            further_staff => further,
            search => search.trim(),
            pupils_total => pupils_total,
            pupils_limited => pupils_total > PUPILS_SHOWN,
            timezone => chosen.timezone.name(),
            errors => errors,
        },
    )
}
