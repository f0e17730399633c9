//! The console's schools pages: the schools a person configures, adding one (a trust admin),
//! and a school's name, timezone and calendar. What is written goes through the same checks
//! as the import file ([`crate::policy::edit`]) and is stored where the import stores it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use chrono::{NaiveDate, Utc};
use minijinja::context;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::error::PageError;
use super::Console;
use crate::db::is_unique_violation;
use crate::db::time::to_millis;
use crate::directory::{self, settings, School};
use crate::error::ApiError;
use crate::evaluation::queue;
use crate::http::api::audited::{self, Change};
use crate::identity::{Capability, Reach};
use crate::policy::calendar::{CalendarSpec, Nation};
use crate::policy::edit;
use crate::retention::{PeriodLine, RetentionSettings};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("schools.html", include_str!("templates/schools.html")),
    (
        "schools_edit.html",
        include_str!("templates/schools_edit.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/schools", get(list_schools).post(add_school))
        .route("/admin/schools/{id}", get(show_school).post(update_school))
}

/// The fields of an urlencoded form in the order sent. A name may come more than once: the
/// days' checkboxes, and a checkbox after the hidden field that says "unchecked" (the last
/// value of a name is the one meant).
pub(super) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The last value sent under `name`.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every non-empty value sent under `name`, or None when the name was not sent at all.
    pub fn all(&self, name: &str) -> Option<Vec<&str>> {
        let mut sent = self.0.iter().filter(|(key, _)| key == name).peekable();
        sent.peek()?;
        Some(
            sent.map(|(_, value)| value.as_str())
                .filter(|value| !value.is_empty())
                .collect(),
        )
    }

    /// A checkbox's state, if its name was sent: `true`/`on`/`1` or `false`/`off`/`0`/empty.
    pub fn flag(&self, name: &str) -> Option<Result<bool, String>> {
        self.last(name).map(|value| match value {
            "true" | "on" | "1" => Ok(true),
            "false" | "off" | "0" | "" => Ok(false),
            other => Err(format!("{name}: {other:?} is neither on nor off")),
        })
    }
}

/// An audit write that failed: the page cannot say more than that it failed.
pub(super) fn audit_failed(error: ApiError) -> PageError {
    PageError::Internal(anyhow::anyhow!("the audit log refused an entry: {error}"))
}

/// Whether the person configures every school, as a trust admin does: a role that
/// configures, held with no school.
fn is_trust_admin(console: &Console) -> bool {
    console.principal().reach(Capability::Configure) == Reach::Everywhere
}

/// The schools a person configures, by name.
pub(super) async fn configured_schools(
    state: &AppState,
    console: &Console,
) -> Result<Vec<School>, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let mut schools: Vec<School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .collect();
    schools.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(schools)
}

#[derive(Serialize)]
struct SchoolRow {
    id: i64,
    slug: String,
    name: String,
    timezone: String,
    nation: String,
}

/// What the add-a-school form was sent with, to show again beside its errors.
#[derive(Serialize, Default)]
struct NewSchoolForm {
    slug: String,
    name: String,
    timezone: String,
    nation: String,
}

pub async fn list_schools(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    let blank = NewSchoolForm {
        timezone: "Europe/London".into(),
        nation: Nation::EnglandAndWales.key().into(),
        ..NewSchoolForm::default()
    };
    render_list(&state, &console, StatusCode::OK, blank, Vec::new()).await
}

async fn render_list(
    state: &AppState,
    console: &Console,
    status: StatusCode,
    form: NewSchoolForm,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let schools = configured_schools(state, console).await?;
    let mut connection = state.db.pool.acquire().await?;
    let mut rows = Vec::with_capacity(schools.len());
    for school in schools {
        let stored = settings::load(&mut connection, school.id).await?;
        rows.push(SchoolRow {
            nation: stored.calendar.nation.to_string(),
            id: school.id,
            slug: school.slug,
            name: school.name,
            timezone: school.timezone,
        });
    }
    console.page_with_status(
        status,
        "schools.html",
        context! {
            schools => rows,
            may_add => is_trust_admin(console),
            form => form,
            nations => nation_options(&form_nation_or_default(&form.nation)),
            errors => errors,
        },
    )
}

fn form_nation_or_default(nation: &str) -> String {
    if nation.is_empty() {
        Nation::EnglandAndWales.key().to_string()
    } else {
        nation.to_string()
    }
}

/// `POST /admin/schools`: a trust admin adds a school (`slug`, `name`, `timezone`, and
/// optionally `nation`, whose bank holidays its calendar starts with).
pub async fn add_school(
    State(state): State<AppState>,
    console: Console,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    if !is_trust_admin(&console) {
        return Err(PageError::Forbidden(
            "Only a trust admin adds schools.".into(),
        ));
    }
    let fields = Fields(fields);
    let text = |name: &str| fields.last(name).unwrap_or_default().trim().to_string();
    let form = NewSchoolForm {
        slug: text("slug"),
        name: text("name"),
        timezone: text("timezone"),
        nation: text("nation"),
    };
    let mut errors = Vec::new();
    if let Err(problem) = check_slug(&form.slug) {
        errors.push(problem);
    }
    if form.name.is_empty() {
        errors.push("Name: write the school's name.".into());
    }
    if let Err(error) = edit::parse_timezone(&form.timezone) {
        errors.push(format!("Timezone: {error}."));
    }
    let nation = match form.nation.as_str() {
        "" => None,
        key => match Nation::ALL.into_iter().find(|nation| nation.key() == key) {
            Some(nation) => Some(nation),
            None => {
                errors.push(format!("Nation: {key:?} is not one of the UK nations."));
                None
            }
        },
    };
    if !errors.is_empty() {
        return render_list(
            &state,
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
        )
        .await;
    }

    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO schools (slug, name, timezone, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&form.slug)
    .bind(&form.name)
    .bind(&form.timezone)
    .bind(to_millis(now))
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(error) if is_unique_violation(&error) => {
            drop(tx);
            let taken = format!(
                "Short name: a school already has the short name {:?}.",
                form.slug
            );
            return render_list(
                &state,
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                vec![taken],
            )
            .await;
        }
        Err(error) => return Err(error.into()),
    };
    let mut after = json!({ "slug": form.slug, "name": form.name, "timezone": form.timezone });
    if let Some(nation) = nation {
        let mut stored = settings::SchoolSettings::default();
        stored.calendar.nation = nation;
        settings::save(&mut tx, id, &stored, now).await?;
        after["calendar"] = calendar_json(&stored.calendar);
    }
    audited::record(
        &mut tx,
        state.db.backend,
        console.principal(),
        Change {
            school_id: Some(id),
            action: "school.created",
            subject_kind: "school",
            subject_id: id,
            before: None,
            after: Some(after),
        },
    )
    .await
    .map_err(audit_failed)?;
    tx.commit().await?;
    tracing::info!(school_id = id, "a school was added from the console");
    Ok(console.redirect_with_notice(
        &format!("/admin/schools/{id}"),
        "School added. Set its calendar here, and its policy on the Policy page.",
    ))
}

/// A slug names a school in `chaperone import --school` and in files: short, lower case,
/// no spaces.
fn check_slug(slug: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if slug.is_empty() {
        return Err("Short name: write a short name for the school, such as greenfield.".into());
    }
    if slug.len() > 63 || !slug.chars().all(allowed) || slug.starts_with('-') {
        return Err(format!(
            "Short name: {slug:?} is not a short name: use up to 63 lower-case letters, digits \
             and hyphens, starting with a letter or digit, such as greenfield."
        ));
    }
    Ok(())
}

/// A school's form as shown: each value as text, the way the fields hold it.
#[derive(Debug, Clone, Serialize)]
struct SchoolForm {
    name: String,
    timezone: String,
    nation: String,
    days: Vec<String>,
    opens: String,
    closes: String,
    /// One term a line: `2025-09-03 to 2025-10-24 Autumn 1` (the name is optional).
    terms: String,
    /// One date a line.
    closures: String,
}

impl SchoolForm {
    fn stored(school: &School, calendar: &CalendarSpec) -> Self {
        let text = calendar_json(calendar);
        let string = |key: &str| text[key].as_str().unwrap_or_default().to_string();
        let days = text["days"]
            .as_array()
            .map(|days| {
                days.iter()
                    .filter_map(|day| day.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let terms = calendar
            .terms
            .iter()
            .map(|term| {
                let dates = format!("{} to {}", day_text(term.starts), day_text(term.ends));
                match &term.name {
                    Some(name) => format!("{dates} {name}"),
                    None => dates,
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let closures = calendar
            .closures
            .iter()
            .map(|date| day_text(*date))
            .collect::<Vec<_>>()
            .join("\n");
        SchoolForm {
            name: school.name.clone(),
            timezone: school.timezone.clone(),
            nation: string("nation"),
            days,
            opens: string("opens"),
            closes: string("closes"),
            terms,
            closures,
        }
    }

    /// The form with the fields that were sent in place of the stored ones (a field not sent
    /// is unchanged; the days are sent with an empty marker, so none ticked is "no days").
    fn overlaid(mut self, fields: &Fields) -> Self {
        let replace = |slot: &mut String, name: &str| {
            if let Some(value) = fields.last(name) {
                *slot = value.trim().to_string();
            }
        };
        replace(&mut self.name, "name");
        replace(&mut self.timezone, "timezone");
        replace(&mut self.nation, "nation");
        replace(&mut self.opens, "opens");
        replace(&mut self.closes, "closes");
        replace(&mut self.terms, "terms");
        replace(&mut self.closures, "closures");
        if let Some(days) = fields.all("days") {
            self.days = days.into_iter().map(str::to_string).collect();
        }
        self
    }

    /// The name, timezone and calendar the form says, or what is wrong with it.
    fn check(&self) -> Result<(String, String, CalendarSpec), Vec<String>> {
        let mut errors = Vec::new();
        if self.name.is_empty() {
            errors.push("Name: write the school's name.".to_string());
        }
        if let Err(error) = edit::parse_timezone(&self.timezone) {
            errors.push(format!("Timezone: {error}."));
        }
        let terms = match parse_terms(&self.terms) {
            Ok(terms) => terms,
            Err(problems) => {
                errors.extend(problems);
                Vec::new()
            }
        };
        let closures: Vec<&str> = self
            .closures
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|date| !date.is_empty())
            .collect();
        // The calendar is read as the import file's is, so its values are parsed, and refused,
        // with the same words.
        let spec = json!({
            "nation": self.nation,
            "days": self.days,
            "opens": self.opens,
            "closes": self.closes,
            "terms": terms,
            "closures": closures,
        });
        let calendar = match serde_json::from_value::<CalendarSpec>(spec) {
            Ok(calendar) => match edit::check_calendar(&calendar) {
                Ok(()) => Some(calendar),
                Err(error) => {
                    errors.push(format!("Calendar: {error}."));
                    None
                }
            },
            Err(error) => {
                errors.push(format!("Calendar: {error}."));
                None
            }
        };
        match calendar {
            Some(calendar) if errors.is_empty() => {
                Ok((self.name.clone(), self.timezone.clone(), calendar))
            }
            _ => Err(errors),
        }
    }
}

/// The terms textarea: one term a line, `2025-09-03 to 2025-10-24 Autumn 1` ("to" may be
/// left out; the name is optional). Dates stay text here: the calendar reads them.
fn parse_terms(text: &str) -> Result<Vec<Value>, Vec<String>> {
    let mut terms = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let rest = match words.as_slice() {
            [starts, "to" | "-" | "\u{2013}", ends, name @ ..] | [starts, ends, name @ ..]
                if looks_like_date(starts) && looks_like_date(ends) =>
            {
                Some((*starts, *ends, name.join(" ")))
            }
            _ => None,
        };
        match rest {
            Some((starts, ends, name)) => {
                let mut term = json!({ "starts": starts, "ends": ends });
                if !name.is_empty() {
                    term["name"] = Value::String(name);
                }
                terms.push(term);
            }
            None => problems.push(format!(
                "Terms, line {}: write a term as its first day, \u{201c}to\u{201d}, its last day \
                 and an optional name, such as 2025-09-03 to 2025-10-24 Autumn 1.",
                index + 1
            )),
        }
    }
    if problems.is_empty() {
        Ok(terms)
    } else {
        Err(problems)
    }
}

/// Whether a word is meant as a date (the calendar says whether it is one).
fn looks_like_date(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('-')
}

fn day_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The calendar as it is stored and audited.
fn calendar_json(calendar: &CalendarSpec) -> Value {
    serde_json::to_value(calendar).expect("a calendar serialises")
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

fn nation_options(selected: &str) -> Vec<Choice> {
    Nation::ALL
        .into_iter()
        .map(|nation| Choice {
            value: nation.key(),
            label: nation.to_string(),
            selected: nation.key() == selected,
        })
        .collect()
}

fn day_options(ticked: &[String]) -> Vec<Choice> {
    [
        ("mon", "Monday"),
        ("tue", "Tuesday"),
        ("wed", "Wednesday"),
        ("thu", "Thursday"),
        ("fri", "Friday"),
        ("sat", "Saturday"),
        ("sun", "Sunday"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label: label.to_string(),
        selected: ticked.iter().any(|day| day == value),
    })
    .collect()
}

/// The school, if the person configures it: 403 for a school they do not (whether or not
/// it exists), 404 for one that does not exist.
async fn configured_school(
    state: &AppState,
    console: &Console,
    id: i64,
) -> Result<School, PageError> {
    console.require(Capability::Configure, id)?;
    directory::find_school(&state.db, id)
        .await?
        .ok_or(PageError::NotFound("school"))
}

pub async fn show_school(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let school = configured_school(&state, &console, id).await?;
    let mut connection = state.db.pool.acquire().await?;
    let stored = settings::load(&mut connection, id).await?;
    let form = SchoolForm::stored(&school, &stored.calendar);
    let retention = retention_lines(&state, &stored.retention);
    render_school(
        &console,
        StatusCode::OK,
        &school,
        form,
        retention,
        Vec::new(),
    )
}

/// The school's retention as the page shows it (set by import, not here).
fn retention_lines(state: &AppState, retention: &RetentionSettings) -> Vec<PeriodLine> {
    let inbox_default_days = u32::try_from(state.settings.inbox.retention_days).unwrap_or(u32::MAX);
    retention.lines(inbox_default_days)
}

fn render_school(
    console: &Console,
    status: StatusCode,
    school: &School,
    form: SchoolForm,
    retention: Vec<PeriodLine>,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    console.page_with_status(
        status,
        "schools_edit.html",
        context! {
            school => school,
            nations => nation_options(&form.nation),
            days => day_options(&form.days),
            form => form,
            retention => retention,
            errors => errors,
        },
    )
}

/// `POST /admin/schools/{id}`: the school's name, timezone and calendar, checked as the
/// import checks them; stored only when all of it is valid, audited as `school.updated`.
pub async fn update_school(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let school = configured_school(&state, &console, id).await?;
    let fields = Fields(fields);
    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    let mut stored = settings::load(&mut tx, id).await?;
    let form = SchoolForm::stored(&school, &stored.calendar).overlaid(&fields);
    let (name, timezone, calendar) = match form.check() {
        Ok(checked) => checked,
        Err(errors) => {
            drop(tx);
            let retention = retention_lines(&state, &stored.retention);
            return render_school(
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                &school,
                form,
                retention,
                errors,
            );
        }
    };
    let before = school_json(&school.name, &school.timezone, &stored.calendar);
    let after = school_json(&name, &timezone, &calendar);
    if before == after {
        drop(tx);
        return Ok(
            console.redirect_with_notice(&format!("/admin/schools/{id}"), "Nothing changed.")
        );
    }
    sqlx::query("UPDATE schools SET name = $1, timezone = $2 WHERE id = $3")
        .bind(&name)
        .bind(&timezone)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    stored.calendar = calendar;
    settings::save(&mut tx, id, &stored, now).await?;
    reevaluate(&mut tx, id, now).await?;
    audited::record(
        &mut tx,
        state.db.backend,
        console.principal(),
        Change {
            school_id: Some(id),
            action: "school.updated",
            subject_kind: "school",
            subject_id: id,
            before: Some(before),
            after: Some(after),
        },
    )
    .await
    .map_err(audit_failed)?;
    tx.commit().await?;
    tracing::info!(
        school_id = id,
        "a school's settings were changed from the console"
    );
    Ok(console.redirect_with_notice(&format!("/admin/schools/{id}"), "School saved."))
}

/// Calls are checked again under what changed, as after an import.
pub(super) async fn reevaluate(
    connection: &mut AnyConnection,
    school_id: i64,
    now: chrono::DateTime<Utc>,
) -> Result<(), PageError> {
    queue::enqueue_school(connection, school_id, now).await?;
    Ok(())
}

fn school_json(name: &str, timezone: &str, calendar: &CalendarSpec) -> Value {
    json!({ "name": name, "timezone": timezone, "calendar": calendar_json(calendar) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_line_is_two_dates_and_an_optional_name() {
        let terms =
            parse_terms("2025-09-03 to 2025-10-24 Autumn 1\n\n2025-11-03 2025-12-19\n").unwrap();
        assert_eq!(
            terms,
            vec![
                json!({"starts": "2025-09-03", "ends": "2025-10-24", "name": "Autumn 1"}),
                json!({"starts": "2025-11-03", "ends": "2025-12-19"}),
            ]
        );
        let problems = parse_terms("2025-09-03 to 2025-10-24\nAutumn 2025-11-03").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("Terms, line 2:"), "{problems:?}");
    }

    #[test]
    fn a_slug_is_short_lower_case_and_without_spaces() {
        assert!(check_slug("greenfield-2").is_ok());
        for slug in ["", "Green field", "-x", "a/b", &"a".repeat(64)] {
            assert!(check_slug(slug).is_err(), "{slug}");
        }
    }
}
