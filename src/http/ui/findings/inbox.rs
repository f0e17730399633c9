//! The findings inbox: what still needs someone (open or acknowledged) by default, or any
//! status, filtered by school, severity, rule, platform and days, newest first, a page at a
//! time. New findings are announced without a reload by a small script that asks
//! [`latest`] (the page works without it).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{schools_in, FindingSummary};
use crate::db::time::{from_millis, to_millis};
use crate::findings::access;
use crate::findings::query::{self, FindingFilter};
use crate::http::ui::console::percent_encode;
use crate::http::ui::{Console, PageError};
use crate::identity::Capability;
use crate::meeting::Platform;
use crate::policy::finding::RuleId;
use crate::policy::Severity;
use crate::state::AppState;

/// Findings per page.
const PAGE_FINDINGS: i64 = 50;

/// The filters, as the form sends them (empty: not filtered).
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct InboxQuery {
    /// `open`, `acknowledged`, `resolved` or `all`; empty: open and acknowledged.
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    school: String,
    /// First day shown (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    from: String,
    /// Last day shown.
    #[serde(default)]
    to: String,
    /// The last finding of the page before (`<millis>-<id>`): the next page.
    #[serde(default)]
    before: String,
}

impl InboxQuery {
    fn is_filtered(&self) -> bool {
        [
            &self.status,
            &self.severity,
            &self.rule,
            &self.platform,
            &self.school,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|value| !value.trim().is_empty())
    }

    /// The address of this query's page after the finding at (`at`, `id`).
    fn page_after(&self, at: DateTime<Utc>, id: i64) -> String {
        let mut next = self.clone();
        next.before = format!("{}-{id}", to_millis(at));
        let pairs = [
            ("status", &next.status),
            ("severity", &next.severity),
            ("rule", &next.rule),
            ("platform", &next.platform),
            ("school", &next.school),
            ("from", &next.from),
            ("to", &next.to),
            ("before", &next.before),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", percent_encode(value)))
            .collect();
        format!("/findings?{}", query.join("&"))
    }
}

/// The query read into a filter, or the reasons it could not be.
fn parse_filter(query: &InboxQuery) -> Result<FindingFilter, Vec<String>> {
    let mut errors = Vec::new();
    let mut filter = FindingFilter {
        limit: PAGE_FINDINGS + 1,
        ..FindingFilter::default()
    };
    let text = |value: &str| Some(value.trim().to_string()).filter(|value| !value.is_empty());
    filter.statuses = match text(&query.status).as_deref() {
        None => vec!["open".into(), "acknowledged".into()],
        Some("all") => Vec::new(),
        Some(status @ ("open" | "acknowledged" | "resolved")) => vec![status.to_string()],
        Some(_) => {
            errors.push("Choose a status from the list.".to_string());
            Vec::new()
        }
    };
    if let Some(severity) = text(&query.severity) {
        match Severity::parse(&severity) {
            Some(severity) => filter.severities = vec![severity.as_str().to_string()],
            None => errors.push("Choose a severity from the list.".to_string()),
        }
    }
    if let Some(rule) = text(&query.rule) {
        match RuleId::parse(&rule) {
            Some(rule) => filter.rule = Some(rule.as_str().to_string()),
            None => errors.push("Choose a rule from the list.".to_string()),
        }
    }
    if let Some(platform) = text(&query.platform) {
        match Platform::parse(&platform) {
            Some(platform) => filter.platform = Some(platform.as_str().to_string()),
            None => errors.push("Choose a platform from the list.".to_string()),
        }
    }
    if let Some(school) = text(&query.school) {
        match school.parse() {
            Ok(id) => filter.school_id = Some(id),
            Err(_) => errors.push("Choose a school from the list.".to_string()),
        }
    }
    let day = |value: &str, what: &str, errors: &mut Vec<String>| -> Option<NaiveDate> {
        let value = text(value)?;
        NaiveDate::parse_from_str(&value, "%Y-%m-%d")
            .map_err(|_| errors.push(format!("Give the {what} day as YYYY-MM-DD.")))
            .ok()
    };
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    filter.from = day(&query.from, "first", &mut errors).map(midnight);
    filter.to = day(&query.to, "last", &mut errors).map(|day| midnight(day + Duration::days(1)));
    if let Some(before) = text(&query.before) {
        let cursor = before
            .split_once('-')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
        match cursor {
            Some((at, id)) => filter.before = Some((from_millis(at), id)),
            None => errors.push("That page of findings does not exist.".to_string()),
        }
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(errors)
    }
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

pub async fn show_inbox(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::SeeSafeguarding)?;
    let schools = schools_in(&state.db, &reach).await?;
    let (filter, errors) = match parse_filter(&query) {
        Ok(filter) => (Some(filter), Vec::new()),
        Err(errors) => (None, errors),
    };
    let mut shown = Vec::new();
    let mut older = None;
    if let Some(mut filter) = filter {
        if filter.school_id.is_some_and(|id| !reach.includes(id)) {
            return Err(PageError::Forbidden(format!(
                "That school's findings need {}.",
                Capability::SeeSafeguarding.held_by()
            )));
        }
        filter.within_schools = reach.school_ids();
        let mut found = query::list(&state.db, &filter).await?;
        if found.len() as i64 > PAGE_FINDINGS {
            found.truncate(PAGE_FINDINGS as usize);
            older = found
                .last()
                .map(|last| query.page_after(last.occurred_at, last.id));
        }
        found.retain(|finding| !access::hidden_from(console.principal(), finding));
        access::record_views(&state.db, console.principal(), &found, "findings.listed").await?;
        shown = found
            .iter()
            .map(|finding| FindingSummary::new(finding, &schools))
            .collect();
    }
    let attention = access::attention(
        &state.db,
        console.principal(),
        reach.school_ids().as_deref(),
    )
    .await?;
    let rules: Vec<Choice> = RuleId::ALL
        .into_iter()
        .map(|rule| Choice {
            value: rule.as_str(),
            label: rule.title(),
        })
        .collect();
    let platforms: Vec<Choice> = [Platform::Zoom, Platform::GoogleMeet]
        .into_iter()
        .map(|platform| Choice {
            value: platform.as_str(),
            label: platform.display_name(),
        })
        .collect();
    let school_choices: Vec<_> = schools
        .iter()
        .map(|(school, _)| context! { id => school.id.to_string(), name => school.name.clone() })
        .collect();
    console.page(
        "findings.html",
        context! {
            findings => shown,
            errors => errors,
            query => query.clone(),
            filtered => query.is_filtered(),
            paged => !query.before.is_empty(),
            older => older,
            newest => attention.newest,
            schools => school_choices,
            rules => rules,
            platforms => platforms,
            severities => ["critical", "high", "medium", "low"],
        },
    )
}

/// What the inbox's script polls: how many findings no one has acknowledged, and the newest
/// finding's id, in the person's schools.
pub async fn latest(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::SeeSafeguarding)?;
    let attention = access::attention(
        &state.db,
        console.principal(),
        reach.school_ids().as_deref(),
    )
    .await?;
    let mut response = Json(attention).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
