//! The DSL's findings: the inbox across their schools, and a finding's own page, where an
//! alert's "Open the finding" link lands, to acknowledge and resolve it.

mod inbox;
mod page;

use axum::routing::{get, post};
use axum::Router;
use chrono_tz::Tz;
use serde::Serialize;

use crate::directory::{self, School};
use crate::findings::query::FindingRecord;
use crate::identity::Reach;
use crate::meeting::Platform;
use crate::policy::finding::RuleId;
use crate::state::AppState;

use super::time_view::TimeView;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("findings.html", include_str!("templates/findings.html")),
    ("finding.html", include_str!("templates/finding.html")),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/findings", get(inbox::show_inbox))
        .route("/findings/latest", get(inbox::latest))
        .route("/findings/{id}", get(page::show_finding))
        .route("/findings/{id}/acknowledge", post(page::acknowledge))
        .route("/findings/{id}/resolve", post(page::resolve))
}

/// The schools in `reach`, by name, with their timezones read.
async fn schools_in(
    db: &crate::db::Db,
    reach: &Reach,
) -> Result<Vec<(School, Option<Tz>)>, sqlx::Error> {
    let mut schools: Vec<(School, Option<Tz>)> = directory::list_schools(db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .map(|school| {
            let timezone = school.timezone.parse().ok();
            (school, timezone)
        })
        .collect();
    schools.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(schools)
}

/// A finding as a row of the inbox, and the head of its own page.
#[derive(Serialize)]
struct FindingSummary {
    id: i64,
    school: String,
    rule: &'static str,
    platform: &'static str,
    severity: String,
    status: String,
    title: String,
    summary: String,
    occurred: TimeView,
    restricted: bool,
}

impl FindingSummary {
    fn new(finding: &FindingRecord, schools: &[(School, Option<Tz>)]) -> Self {
        let school = schools
            .iter()
            .find(|(school, _)| school.id == finding.school_id);
        FindingSummary {
            id: finding.id,
            school: school
                .map(|(school, _)| school.name.clone())
                .unwrap_or_default(),
            rule: RuleId::parse(&finding.rule)
                .map(RuleId::title)
                .unwrap_or("Other"),
            platform: finding
                .platform
                .as_deref()
                .and_then(Platform::parse)
                .map(Platform::display_name)
                .unwrap_or(""),
            severity: finding.severity.clone(),
            status: finding.status.clone(),
            title: finding.title.clone(),
            summary: finding.summary.clone(),
            occurred: TimeView::new(finding.occurred_at, school.and_then(|(_, tz)| *tz)),
            restricted: finding.restricted,
        }
    }
}
