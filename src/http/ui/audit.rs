//! The audit log, newest first: filtered by school, action, actor and days, a page at a time,
//! each entry with who, what, when, its subject and the states before and after. Above it,
//! whether the chain verifies ([`crate::audit::verify`], as `chaperone audit verify` runs it),
//! naming the first entry that does not. A person sees the entries of the schools they
//! configure or safeguard (entries of no school with a reach of every school), as
//! `GET /api/v1/audit` shows them.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::console::percent_encode;
use super::error::PageError;
use super::Console;
use crate::audit::{self, ActorKind};
use crate::db::time::{from_millis, to_millis};
use crate::directory::{self, School};
use crate::identity::{Capability, Reach};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[("audit.html", include_str!("templates/audit.html"))];

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(show_audit))
}

/// Entries per page.
const PAGE_ENTRIES: i64 = 50;

/// The filters, as the form sends them (empty: not filtered).
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    school: String,
    #[serde(default)]
    action: String,
    /// `person:12`, `token:3`, `person`, `token`, `bootstrap` or `system`.
    #[serde(default)]
    actor: String,
    /// First day shown (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    from: String,
    /// Last day shown.
    #[serde(default)]
    to: String,
    /// Entries older than this id: the next page.
    #[serde(default)]
    before: String,
}

/// Which entries the person may see.
enum Visible {
    Everything,
    /// Entries of these schools (none of no school).
    Schools(BTreeSet<i64>),
}

impl Visible {
    fn includes(&self, school_id: Option<i64>) -> bool {
        match (self, school_id) {
            (Visible::Everything, _) => true,
            (Visible::Schools(schools), Some(id)) => schools.contains(&id),
            (Visible::Schools(_), None) => false,
        }
    }
}

fn visible(console: &Console) -> Result<Visible, PageError> {
    let reaches = [
        console.principal().reach(Capability::Configure),
        console.principal().reach(Capability::SeeSafeguarding),
    ];
    if reaches.iter().all(Reach::is_nowhere) {
        return Err(PageError::Forbidden(
            "The audit log is for admins and the DSLs.".into(),
        ));
    }
    let mut schools = BTreeSet::new();
    for reach in reaches {
        match reach {
            Reach::Everywhere => return Ok(Visible::Everything),
            Reach::Schools(ids) => schools.extend(ids),
        }
    }
    Ok(Visible::Schools(schools))
}

/// The filters read; `Err` holds the reasons a filter could not be read.
#[derive(Default)]
struct Filter {
    school_id: Option<i64>,
    action: Option<String>,
    actor_kind: Option<ActorKind>,
    actor_id: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before_id: Option<i64>,
}

fn parse_filter(query: &AuditQuery) -> Result<Filter, Vec<String>> {
    let mut errors = Vec::new();
    let mut filter = Filter::default();
    let text = |value: &str| Some(value.trim().to_string()).filter(|value| !value.is_empty());
    if let Some(school) = text(&query.school) {
        match school.parse() {
            Ok(id) => filter.school_id = Some(id),
            Err(_) => errors.push("Choose a school from the list.".to_string()),
        }
    }
    filter.action = text(&query.action);
    if let Some(actor) = text(&query.actor) {
        match parse_actor(&actor) {
            Some((kind, id)) => {
                filter.actor_kind = Some(kind);
                filter.actor_id = id;
            }
            None => errors.push(
                "An actor is person, token, bootstrap or system, or person:<id> or token:<id>."
                    .to_string(),
            ),
        }
    }
    let day = |value: &str, what: &str, errors: &mut Vec<String>| -> Option<NaiveDate> {
        let value = text(value)?;
        match NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
            Ok(day) => Some(day),
            Err(_) => {
                errors.push(format!("Give the {what} day as YYYY-MM-DD."));
                None
            }
        }
    };
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    filter.from = day(&query.from, "first", &mut errors).map(midnight);
    filter.to = day(&query.to, "last", &mut errors).map(|day| midnight(day + Duration::days(1)));
    if let Some(before) = text(&query.before) {
        match before.parse() {
            Ok(id) => filter.before_id = Some(id),
            Err(_) => errors.push("That page of the log does not exist.".to_string()),
        }
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(errors)
    }
}

/// `person`, `person:12`, `token:3`, `bootstrap`, `system`.
fn parse_actor(text: &str) -> Option<(ActorKind, Option<i64>)> {
    let (kind, id) = match text.split_once(':') {
        Some((kind, id)) => (kind, Some(id.parse::<i64>().ok()?)),
        None => (text, None),
    };
    let kind = ActorKind::parse(kind)?;
    if id.is_some() && !matches!(kind, ActorKind::Person | ActorKind::Token) {
        return None;
    }
    Some((kind, id))
}

/// A value bound to the query being built.
enum Bound {
    Int(i64),
    Text(String),
}

/// SQL conditions with their values, numbered as they are added.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Bound>,
}

impl Conditions {
    fn push(&mut self, template: &str, value: Bound) {
        self.values.push(value);
        let placeholder = format!("${}", self.values.len());
        self.sql.push(template.replace('?', &placeholder));
    }

    /// Only the entries the person may see.
    fn visible(mut self, visible: &Visible) -> Self {
        if let Visible::Schools(schools) = visible {
            if schools.is_empty() {
                self.sql.push("1 = 0".into());
            } else {
                let mut placeholders = Vec::new();
                for id in schools {
                    self.values.push(Bound::Int(*id));
                    placeholders.push(format!("${}", self.values.len()));
                }
                self.sql
                    .push(format!("school_id IN ({})", placeholders.join(", ")));
            }
        }
        self
    }

    fn filtered(mut self, filter: &Filter) -> Self {
        if let Some(id) = filter.school_id {
            self.push("school_id = ?", Bound::Int(id));
        }
        if let Some(action) = &filter.action {
            self.push("action = ?", Bound::Text(action.clone()));
        }
        if let Some(kind) = filter.actor_kind {
            self.push("actor_kind = ?", Bound::Text(kind.as_str().into()));
        }
        if let Some(id) = filter.actor_id {
            self.push("actor_id = ?", Bound::Int(id));
        }
        if let Some(from) = filter.from {
            self.push("at >= ?", Bound::Int(to_millis(from)));
        }
        if let Some(to) = filter.to {
            self.push("at < ?", Bound::Int(to_millis(to)));
        }
        if let Some(before) = filter.before_id {
            self.push("id < ?", Bound::Int(before));
        }
        self
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    async fn fetch(&self, db: &crate::db::Db, sql: &str) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut query = sqlx::query(sql);
        for value in &self.values {
            query = match value {
                Bound::Int(value) => query.bind(*value),
                Bound::Text(value) => query.bind(value.clone()),
            };
        }
        query.fetch_all(&db.pool).await
    }
}

#[derive(Serialize)]
struct EntryView {
    id: i64,
    at: String,
    actor: String,
    actor_kind: String,
    school: Option<String>,
    action: String,
    subject: String,
    before: Option<String>,
    after: Option<String>,
    /// Where the chain breaks.
    broken: bool,
}

#[derive(Serialize)]
struct ActorChoice {
    value: String,
    label: String,
}

#[derive(Serialize)]
struct ChainView {
    intact: bool,
    checked: u64,
    broken_id: Option<i64>,
    problem: Option<String>,
}

/// A stored state, indented for reading; text that is not JSON is shown as it is.
fn readable(state: Option<String>) -> Option<String> {
    state.map(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or(text)
    })
}

fn entry(
    row: &AnyRow,
    schools: &[School],
    broken_id: Option<i64>,
) -> Result<EntryView, sqlx::Error> {
    let id: i64 = row.try_get("id")?;
    let school_id: Option<i64> = row.try_get("school_id")?;
    let subject_kind: String = row.try_get("subject_kind")?;
    let subject_id: String = row.try_get("subject_id")?;
    Ok(EntryView {
        id,
        at: from_millis(row.try_get("at")?)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        actor: row.try_get("actor_label")?,
        actor_kind: row.try_get("actor_kind")?,
        school: school_id.map(|id| {
            schools
                .iter()
                .find(|school| school.id == id)
                .map(|school| school.name.clone())
                .unwrap_or_else(|| format!("school {id}"))
        }),
        action: row.try_get("action")?,
        subject: format!("{subject_kind} {subject_id}"),
        before: readable(row.try_get("before_state")?),
        after: readable(row.try_get("after_state")?),
        broken: broken_id == Some(id),
    })
}

pub async fn show_audit(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let visible = visible(&console)?;
    let schools: Vec<School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| visible.includes(Some(school.id)))
        .collect();
    let verification = audit::verify(&state.db).await?;
    let chain = ChainView {
        intact: verification.is_intact(),
        checked: verification.checked,
        broken_id: verification.broken.as_ref().map(|broken| broken.id),
        problem: verification
            .broken
            .as_ref()
            .map(|broken| broken.problem.to_string()),
    };
    let choices = Conditions::default().visible(&visible);
    let actions: Vec<String> = choices
        .fetch(
            &state.db,
            &format!(
                "SELECT DISTINCT action FROM audit_log {} ORDER BY action",
                choices.where_clause()
            ),
        )
        .await?
        .iter()
        .map(|row| row.try_get("action"))
        .collect::<Result<_, _>>()?;
    let actors: Vec<ActorChoice> = choices
        .fetch(
            &state.db,
            &format!(
                "SELECT actor_kind, actor_id, MAX(actor_label) AS actor_label FROM audit_log {} \
                 GROUP BY actor_kind, actor_id ORDER BY actor_kind, actor_id",
                choices.where_clause()
            ),
        )
        .await?
        .iter()
        .map(|row| {
            let kind: String = row.try_get("actor_kind")?;
            let id: Option<i64> = row.try_get("actor_id")?;
            let label: String = row.try_get("actor_label")?;
            Ok(ActorChoice {
                value: match id {
                    Some(id) => format!("{kind}:{id}"),
                    None => kind.clone(),
                },
                label: format!("{label} ({kind})"),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let filter = match parse_filter(&query) {
        Ok(filter) => filter,
        Err(errors) => {
            return console.page_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "audit.html",
                context! {
                    query => query, errors => errors, entries => Vec::<EntryView>::new(),
                    older => (), newest => (), chain => chain, schools => schools,
                    actions => actions, actors => actors,
                },
            );
        }
    };
    if let Some(school_id) = filter.school_id {
        if !visible.includes(Some(school_id)) {
            return Err(PageError::Forbidden(
                "That school's audit entries are not yours to see.".into(),
            ));
        }
    }
    let conditions = Conditions::default().visible(&visible).filtered(&filter);
    let rows = conditions
        .fetch(
            &state.db,
            &format!(
                "SELECT id, at, actor_kind, actor_id, actor_label, school_id, action, subject_kind, \
                 subject_id, before_state, after_state FROM audit_log {} ORDER BY id DESC LIMIT {}",
                conditions.where_clause(),
                PAGE_ENTRIES + 1
            ),
        )
        .await?;
    let more = rows.len() as i64 > PAGE_ENTRIES;
    let entries = rows
        .iter()
        .take(PAGE_ENTRIES as usize)
        .map(|row| entry(row, &schools, chain.broken_id))
        .collect::<Result<Vec<_>, _>>()?;
    let filters = filter_query(&query);
    let older = if more {
        entries
            .last()
            .map(|last| format!("/admin/audit?{filters}before={}", last.id))
    } else {
        None
    };
    let newest = filter.before_id.map(|_| format!("/admin/audit?{filters}"));
    console.page(
        "audit.html",
        context! {
            query => query, errors => Vec::<String>::new(), entries => entries, older => older,
            newest => newest, chain => chain, schools => schools, actions => actions,
            actors => actors,
        },
    )
}

/// The filters in use, as the start of a query string (each followed by `&`).
fn filter_query(query: &AuditQuery) -> String {
    [
        ("school", &query.school),
        ("action", &query.action),
        ("actor", &query.actor),
        ("from", &query.from),
        ("to", &query.to),
    ]
    .into_iter()
    .filter(|(_, value)| !value.trim().is_empty())
    .map(|(name, value)| format!("{name}={}&", percent_encode(value.trim())))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_utc_days_and_bad_filters_are_named() {
        let query = AuditQuery {
            from: "2026-03-01".into(),
            to: "2026-03-01".into(),
            actor: "person:4".into(),
            ..AuditQuery::default()
        };
        let filter = parse_filter(&query).unwrap();
        assert_eq!(filter.from, Some("2026-03-01T00:00:00Z".parse().unwrap()));
        assert_eq!(filter.to, Some("2026-03-02T00:00:00Z".parse().unwrap()));
        assert_eq!(
            (filter.actor_kind, filter.actor_id),
            (Some(ActorKind::Person), Some(4))
        );
        let bad = AuditQuery {
            from: "March".into(),
            actor: "system:1".into(),
            school: "x".into(),
            ..AuditQuery::default()
        };
        assert_eq!(parse_filter(&bad).err().map(|errors| errors.len()), Some(3));
    }

    #[test]
    fn conditions_are_numbered_in_the_order_they_are_bound() {
        let filter = Filter {
            action: Some("contact.created".into()),
            before_id: Some(9),
            ..Filter::default()
        };
        let conditions = Conditions::default()
            .visible(&Visible::Schools(BTreeSet::from([1, 2])))
            .filtered(&filter);
        assert_eq!(
            conditions.where_clause(),
            "WHERE school_id IN ($1, $2) AND action = $3 AND id < $4"
        );
    }

    #[test]
    fn the_next_page_keeps_the_filters() {
        let query = AuditQuery {
            action: "user.role_granted".into(),
            actor: "person:2".into(),
            ..AuditQuery::default()
        };
        assert_eq!(
            filter_query(&query),
            "action=user.role_granted&actor=person%3A2&"
        );
    }
}
