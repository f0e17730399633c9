//! The console's policy page: a school's preset and every rule with the clause it enforces,
//! its severity and its parameters, edited and checked by the same path as the import file
//! ([`crate::policy::edit::resolve_policy`]) and stored as the import stores it: the preset
//! and the school's overrides. A setting the form changes is written into the overrides (or
//! taken out of them when it is back to the preset's); those it leaves alone stay as written.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::schools::{audit_failed, configured_schools, reevaluate, Fields};
use super::time_view::TimeView;
use super::Console;
use crate::directory::{self, settings, School};
use crate::error::ApiError;
use crate::evaluation::dry_run;
use crate::http::api::audited::{self, Change};
use crate::http::api::dry_run::{self as api_dry_run, Asked, DryRunRefusal};
use crate::identity::Capability;
use crate::policy::edit;
use crate::policy::settings::{PolicyChoice, PolicyError, PRESETS};
use crate::policy::Severity;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("policy.html", include_str!("templates/policy.html")),
    (
        "policy_dry_run.html",
        include_str!("templates/policy_dry_run.html"),
    ),
    (
        "policy_dry_run_form.html",
        include_str!("templates/policy_dry_run_form.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/policy", get(show_policy).post(update_policy))
        .route("/admin/policy/dry-run", post(dry_run_policy))
}

/// A rule as the page introduces it (DESIGN's rule table, in the policy's order).
struct RuleInfo {
    id: &'static str,
    title: &'static str,
    checks: &'static str,
}

const RULES: [RuleInfo; 11] = [
    RuleInfo {
        id: "school_account",
        title: "School accounts",
        checks: "The host is a monitored school account, and staff join with their school identities.",
    },
    RuleInfo {
        id: "dsl_invited",
        title: "DSL invited",
        checks: "A DSL or SLT member is invited (invitee, alternative host or calendar attendee) so they can enter at any time.",
    },
    RuleInfo {
        id: "chat_disabled",
        title: "Chat off",
        checks: "In-meeting chat is turned off, and no chat message is seen.",
    },
    RuleInfo {
        id: "school_hours",
        title: "Within school hours",
        checks: "The call starts and ends inside school hours on a school day (see the school's calendar).",
    },
    RuleInfo {
        id: "two_adults",
        title: "Two adults",
        checks: "Whenever a pupil is in the call, enough staff are present (a parent may count where the policy says so), after a short grace period.",
    },
    RuleInfo {
        id: "approved_in_advance",
        title: "Planned in advance",
        checks: "The call matches a session registered on the timetable before it starts (approved and risk assessed where the policy says so).",
    },
    RuleInfo {
        id: "recording",
        title: "Recording",
        checks: "Recording is required, or forbidden.",
    },
    RuleInfo {
        id: "parental_consent",
        title: "Parental consent",
        checks: "Every pupil in the call has a signed parental agreement on file.",
    },
    RuleInfo {
        id: "invite_via_parent",
        title: "Invited through a parent",
        checks: "Invitations go to a parent's address, never the pupil's own.",
    },
    RuleInfo {
        id: "unknown_participant",
        title: "Only expected people",
        checks: "Everyone in the call is identified (staff, pupil, parent); an unknown guest is flagged.",
    },
    RuleInfo {
        id: "outcome_logged",
        title: "Outcome logged",
        checks: "An outcome is logged within the set number of hours after the call.",
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum ParamKind {
    /// A checkbox.
    Flag,
    /// A whole number.
    Whole,
    /// A whole number that may be left blank (as the preset says).
    OptionalWhole,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// A rule's parameter as the page shows it; the values allowed are checked by
/// [`edit::resolve_policy`].
struct ParamInfo {
    rule: &'static str,
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    kind: ParamKind,
}

const PARAMS: [ParamInfo; 10] = [
    ParamInfo {
        rule: "school_account",
        name: "require_sign_in",
        label: "Pupils sign in to join",
        hint: "A scheduled meeting that lets people join without signing in is found before the call. Most pupils join as guests from a link sent to a parent: tick only if the school's policy asks pupils to sign in.",
        kind: ParamKind::Flag,
    },
    ParamInfo {
        rule: "two_adults",
        name: "min_staff",
        label: "Staff present, at least",
        hint: "Members of staff who must be present whenever a pupil is.",
        kind: ParamKind::Whole,
    },
    ParamInfo {
        rule: "two_adults",
        name: "parent_counts",
        label: "The pupil's own parent or carer counts as one of the adults",
        hint: "",
        kind: ParamKind::Flag,
    },
    ParamInfo {
        rule: "two_adults",
        name: "grace_secs",
        label: "Grace period, in seconds",
        hint: "A shortfall shorter than this (the order people join at the start, a rejoin) is not a breach.",
        kind: ParamKind::Whole,
    },
    ParamInfo {
        rule: "approved_in_advance",
        name: "require_approval",
        label: "The planned session must be approved (by SLT)",
        hint: "",
        kind: ParamKind::Flag,
    },
    ParamInfo {
        rule: "approved_in_advance",
        name: "require_risk_assessment",
        label: "The planned session must carry a risk assessment reference",
        hint: "",
        kind: ParamKind::Flag,
    },
    ParamInfo {
        rule: "approved_in_advance",
        name: "match_window_mins",
        label: "Match window, in minutes",
        hint: "A call matches a planned session of its host that starts this close to it.",
        kind: ParamKind::Whole,
    },
    ParamInfo {
        rule: "recording",
        name: "mode",
        label: "Recording is",
        hint: "",
        kind: ParamKind::Choice(&["required", "forbidden"]),
    },
    ParamInfo {
        rule: "recording",
        name: "retention_days",
        label: "Recordings are kept for, in days",
        hint: "Where recording is required. Blank: as the preset says.",
        kind: ParamKind::OptionalWhole,
    },
    ParamInfo {
        rule: "outcome_logged",
        name: "within_hours",
        label: "Outcome logged within, in hours",
        hint: "Hours after the call's end by which its outcome must be logged.",
        kind: ParamKind::Whole,
    },
];

/// The field names the form may send besides the rules' own.
const FORM_FIELDS: [&str; 4] = ["csrf", "preset", "reset_rules", "check_possible_pupils"];

/// The setting every rule has, beside its parameters.
const RULE_SETTINGS: [&str; 3] = ["enabled", "severity", "clause"];

#[derive(Debug, Deserialize)]
pub struct SchoolQuery {
    school: Option<String>,
}

impl SchoolQuery {
    /// The school asked for; an address naming no school by its id names none that exists.
    fn school(&self) -> Result<Option<i64>, PageError> {
        match self.school.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| PageError::NotFound("school")),
        }
    }
}

/// The preset's rules as shipped.
fn preset_table(name: &str) -> Option<toml::Table> {
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == name)
        .map(|(_, text)| text.parse().expect("shipped presets are valid TOML"))
}

/// Every rule's setting: the preset's with the school's overrides on top.
fn merged(preset: &toml::Table, overrides: &toml::Table) -> toml::Table {
    let mut table = preset.clone();
    crate::config::merge(&mut table, overrides.clone());
    table
}

/// What `table` says that `preset` does not.
fn differences(table: &toml::Table, preset: &toml::Table) -> toml::Table {
    let mut overrides = toml::Table::new();
    for (key, value) in table {
        match (value, preset.get(key)) {
            (toml::Value::Table(own), Some(toml::Value::Table(shipped))) => {
                let differs = differences(own, shipped);
                if !differs.is_empty() {
                    overrides.insert(key.clone(), toml::Value::Table(differs));
                }
            }
            (own, Some(shipped)) if own == shipped => {}
            (own, _) => {
                overrides.insert(key.clone(), own.clone());
            }
        }
    }
    overrides
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct ParamView {
    /// The form field: `rule.<rule>.<parameter>`.
    field: String,
    /// The element id (fields hold dots, ids need not, but plainer is safer in CSS and tests).
    id: String,
    label: &'static str,
    hint: &'static str,
    kind: &'static str,
    value: String,
    checked: bool,
    options: Vec<Choice>,
}

#[derive(Serialize)]
struct RuleView {
    id: &'static str,
    title: &'static str,
    checks: &'static str,
    enabled: bool,
    severity: Vec<Choice>,
    clause: String,
    /// The school's own setting differs from the preset's somewhere in this rule.
    changed: bool,
    params: Vec<ParamView>,
}

/// The rules as the form shows them, from every rule's setting (`table`) and where it
/// differs from the preset (`differs`). Values are shown as they are, even when not valid, so a
/// form refused shows what was sent.
fn rule_views(table: &toml::Table, differs: &toml::Table) -> Vec<RuleView> {
    let empty = toml::Table::new();
    RULES
        .iter()
        .map(|rule| {
            let setting = table
                .get(rule.id)
                .and_then(toml::Value::as_table)
                .unwrap_or(&empty);
            let severity = setting.get("severity").map(value_text).unwrap_or_default();
            let params = PARAMS
                .iter()
                .filter(|param| param.rule == rule.id)
                .map(|param| {
                    let value = setting.get(param.name);
                    let text = value.map(value_text).unwrap_or_default();
                    ParamView {
                        field: format!("rule.{}.{}", rule.id, param.name),
                        id: format!("rule-{}-{}", rule.id, param.name),
                        label: param.label,
                        hint: param.hint,
                        kind: match param.kind {
                            ParamKind::Flag => "flag",
                            ParamKind::Whole | ParamKind::OptionalWhole => "whole",
                            ParamKind::Choice(_) => "choice",
                        },
                        checked: value.and_then(toml::Value::as_bool).unwrap_or(false),
                        options: match param.kind {
                            ParamKind::Choice(options) => options
                                .iter()
                                .map(|option| Choice {
                                    value: option.to_string(),
                                    label: option.to_string(),
                                    selected: *option == text,
                                })
                                .collect(),
                            _ => Vec::new(),
                        },
                        value: text,
                    }
                })
                .collect();
            RuleView {
                id: rule.id,
                title: rule.title,
                checks: rule.checks,
                enabled: setting
                    .get("enabled")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false),
                severity: severity_options(&severity),
                clause: setting.get("clause").map(value_text).unwrap_or_default(),
                changed: differs.contains_key(rule.id),
                params,
            }
        })
        .collect()
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn severity_options(selected: &str) -> Vec<Choice> {
    [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .map(|severity| Choice {
        value: severity.as_str().to_string(),
        label: severity.as_str().to_string(),
        selected: severity.as_str() == selected,
    })
    .collect()
}

fn preset_options(selected: &str) -> Vec<Choice> {
    PRESETS
        .iter()
        .map(|(name, text)| {
            // Each preset file opens with "# Preset: what it is for".
            let purpose = text
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("# Preset: "))
                .unwrap_or_default();
            Choice {
                value: name.to_string(),
                label: if purpose.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}: {purpose}")
                },
                selected: *name == selected,
            }
        })
        .collect()
}

/// The school the page is about: the one asked for, if the person configures it, else the
/// first they configure.
async fn chosen_school(
    state: &AppState,
    console: &Console,
    asked: Option<i64>,
) -> Result<(Vec<School>, Option<School>), PageError> {
    let schools = configured_schools(state, console).await?;
    let school = match asked {
        Some(id) => {
            console.require(Capability::Configure, id)?;
            Some(
                directory::find_school(&state.db, id)
                    .await?
                    .ok_or(PageError::NotFound("school"))?,
            )
        }
        None => schools.first().cloned(),
    };
    Ok((schools, school))
}

/// What the page shows of a school's policy: its preset, every rule's setting, and where
/// the school's differs from the preset.
struct Shown {
    preset: String,
    table: toml::Table,
    differs: toml::Table,
}

impl Shown {
    fn new(preset: &str, table: toml::Table) -> Self {
        let shipped = preset_table(preset).unwrap_or_default();
        Shown {
            preset: preset.to_string(),
            differs: differences(&table, &shipped),
            table,
        }
    }

    fn stored(choice: &PolicyChoice) -> Self {
        let shipped = preset_table(&choice.preset).unwrap_or_default();
        Shown::new(&choice.preset, merged(&shipped, &choice.overrides))
    }
}

fn render(
    console: &Console,
    status: StatusCode,
    schools: &[School],
    school: Option<&School>,
    shown: Option<Shown>,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let picker: Vec<Choice> = schools
        .iter()
        .map(|each| Choice {
            value: each.id.to_string(),
            label: each.name.clone(),
            selected: school.is_some_and(|chosen| chosen.id == each.id),
        })
        .collect();
    let (preset, presets, check_possible_pupils, rules) = match &shown {
        Some(shown) => (
            shown.preset.clone(),
            preset_options(&shown.preset),
            shown
                .table
                .get("check_possible_pupils")
                .and_then(toml::Value::as_bool)
                .unwrap_or(true),
            rule_views(&shown.table, &shown.differs),
        ),
        None => (String::new(), Vec::new(), true, Vec::new()),
    };
    // The dry run's form starts at the last fortnight, in the school's dates.
    let today = school
        .and_then(|school| edit::parse_timezone(&school.timezone).ok())
        .map_or_else(
            || Utc::now().date_naive(),
            |timezone| Utc::now().with_timezone(&timezone).date_naive(),
        );
    let from = (today - chrono::Duration::days(14)).to_string();
    let to = today.to_string();
    console.page_with_status(
        status,
        "policy.html",
        context! {
            schools => picker,
            school => school,
            preset => preset,
            presets => presets,
            check_possible_pupils => check_possible_pupils,
            possible_pupils_changed => shown.as_ref().is_some_and(|shown| shown.differs.contains_key("check_possible_pupils")),
            rules => rules,
            errors => errors,
            from => from,
            to => to,
            policy => "",
        },
    )
}

/// `GET /admin/policy?school={id}`: the school's policy (the first school the person
/// configures when none is asked for).
pub async fn show_policy(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
) -> Result<Response, PageError> {
    let (schools, school) = chosen_school(&state, &console, query.school()?).await?;
    let Some(school) = school else {
        return render(&console, StatusCode::OK, &schools, None, None, Vec::new());
    };
    let mut connection = state.db.pool.acquire().await?;
    let stored = settings::load(&mut connection, school.id).await?;
    render(
        &console,
        StatusCode::OK,
        &schools,
        Some(&school),
        Some(Shown::stored(&stored.policy)),
        Vec::new(),
    )
}

/// `POST /admin/policy?school={id}`: a preset (`preset`, with `reset_rules` to drop the
/// school's own changes), and any rule's `rule.<rule>.enabled`, `.severity`, `.clause` and
/// `.<parameter>`, and `check_possible_pupils`. A field not sent is left as it is. Checked
/// by the import's path, stored only when valid, audited as `policy.updated`.
pub async fn update_policy(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let asked = query.school()?.ok_or(PageError::NotFound("school"))?;
    let (schools, school) = chosen_school(&state, &console, Some(asked)).await?;
    let school = school.ok_or(PageError::NotFound("school"))?;
    let fields = Fields(fields);
    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    let mut stored = settings::load(&mut tx, school.id).await?;
    let current = stored.policy.clone();

    let mut errors = unknown_fields(&fields);
    let preset = fields
        .last("preset")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|| current.preset.clone());
    let reset = match fields.flag("reset_rules").transpose() {
        Ok(reset) => reset.unwrap_or(false),
        Err(problem) => {
            errors.push(problem);
            false
        }
    };
    let Some(shipped) = preset_table(&preset) else {
        drop(tx);
        errors.push(PolicyError::UnknownPreset(preset).to_string());
        let shown = Shown::stored(&current);
        return render(
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            &schools,
            Some(&school),
            Some(shown),
            errors,
        );
    };
    let kept = if reset {
        toml::Table::new()
    } else {
        current.overrides.clone()
    };
    let base = merged(&shipped, &kept);
    let mut table = base.clone();
    apply_fields(&mut table, &shipped, &fields, &mut errors);
    let chosen = PolicyChoice {
        preset: preset.clone(),
        overrides: rewritten(kept, &table, &base, &shipped),
    };
    let resolved = if errors.is_empty() {
        match edit::resolve_policy(&chosen) {
            Ok(policy) => Some(policy),
            Err(error) => {
                errors.push(error.to_string());
                None
            }
        }
    } else {
        None
    };
    let Some(resolved) = resolved else {
        drop(tx);
        let shown = Shown::new(&preset, table);
        return render(
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            &schools,
            Some(&school),
            Some(shown),
            errors,
        );
    };

    let back = format!("/admin/policy?school={}", school.id);
    // The same rules under the same preset, written differently, are no change.
    if chosen.preset == current.preset && current.resolve().ok().as_ref() == Some(&resolved) {
        drop(tx);
        return Ok(console.redirect_with_notice(&back, "Nothing changed."));
    }
    let before = serde_json::to_value(&current).expect("a policy choice serialises");
    let after = serde_json::to_value(&chosen).expect("a policy choice serialises");
    stored.policy = chosen;
    settings::save(&mut tx, school.id, &stored, now).await?;
    reevaluate(&mut tx, school.id, now).await?;
    audited::record(
        &mut tx,
        state.db.backend,
        console.principal(),
        Change {
            school_id: Some(school.id),
            action: "policy.updated",
            subject_kind: "policy",
            subject_id: school.id,
            before: Some(before),
            after: Some(after),
        },
    )
    .await
    .map_err(audit_failed)?;
    tx.commit().await?;
    tracing::info!(
        school_id = school.id,
        "a school's policy was changed from the console"
    );
    Ok(console.redirect_with_notice(&back, "Policy saved."))
}

/// A call or a finding of a dry run as the page lists it, in the school's time.
#[derive(Serialize)]
struct DryRunRow {
    meeting_instance_id: Option<i64>,
    scheduled_meeting_id: Option<i64>,
    at: TimeView,
    summary: Option<String>,
    live: usize,
    proposed: usize,
}

/// One rule of a dry run, as the page shows it.
#[derive(Serialize)]
struct DryRunRule {
    rule: &'static str,
    title: &'static str,
    enabled: bool,
    live: usize,
    proposed: usize,
    newly_found: Vec<DryRunRow>,
    no_longer_found: Vec<DryRunRow>,
}

fn found_rows(found: &[dry_run::Found], timezone: Option<Tz>) -> Vec<DryRunRow> {
    found
        .iter()
        .map(|found| DryRunRow {
            meeting_instance_id: found.meeting_instance_id,
            scheduled_meeting_id: found.scheduled_meeting_id,
            at: TimeView::new(found.occurred_at, timezone),
            summary: found.summary.clone(),
            live: 0,
            proposed: 0,
        })
        .collect()
}

/// `POST /admin/policy/dry-run?school={id}`: `from`, `to` (dates in the school's time) and
/// `policy` (TOML as under `[school.policy]` in the import file; blank: the live policy), run
/// as the API runs it and shown beside the live findings. Nothing is changed; the run is
/// audited as `policy.dry_run`.
pub async fn dry_run_policy(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let asked = query.school()?.ok_or(PageError::NotFound("school"))?;
    let (_, school) = chosen_school(&state, &console, Some(asked)).await?;
    let school = school.ok_or(PageError::NotFound("school"))?;
    let fields = Fields(fields);
    let text = |name: &str| fields.last(name).unwrap_or_default().trim().to_string();
    let (from, to, policy) = (text("from"), text("to"), text("policy"));
    let asked = Asked {
        from: &from,
        to: &to,
        policy: Some(policy.as_str()).filter(|policy| !policy.is_empty()),
    };
    let timezone = edit::parse_timezone(&school.timezone).ok();
    let (status, run, errors) =
        match api_dry_run::run_recorded(&state, console.principal(), school.id, asked).await {
            Ok(run) => (StatusCode::OK, Some(run), Vec::new()),
            Err(DryRunRefusal::InvalidPolicy(reason)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, vec![reason])
            }
            Err(DryRunRefusal::Api(ApiError::BadRequest { detail, .. })) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, vec![detail])
            }
            Err(DryRunRefusal::Api(ApiError::NotFound(what))) => {
                return Err(PageError::NotFound(what))
            }
            Err(DryRunRefusal::Api(ApiError::Forbidden(why))) => {
                return Err(PageError::Forbidden(why))
            }
            Err(DryRunRefusal::Api(other)) => {
                return Err(PageError::Internal(anyhow::Error::new(other)))
            }
        };
    let rules: Vec<DryRunRule> = run
        .iter()
        .flat_map(|run| run.rules.iter())
        .map(|rule| DryRunRule {
            rule: rule.rule.as_str(),
            title: rule.title,
            enabled: rule.enabled,
            live: rule.live,
            proposed: rule.proposed,
            newly_found: found_rows(&rule.newly_found, timezone),
            no_longer_found: found_rows(&rule.no_longer_found, timezone),
        })
        .collect();
    let calls: Vec<DryRunRow> = run
        .iter()
        .flat_map(|run| run.calls.iter())
        .map(|call| DryRunRow {
            meeting_instance_id: Some(call.meeting_instance_id),
            scheduled_meeting_id: call.scheduled_meeting_id,
            at: TimeView::new(call.started_at, timezone),
            summary: call.topic.clone(),
            live: call.live,
            proposed: call.proposed,
        })
        .collect();
    console.page_with_status(
        status,
        "policy_dry_run.html",
        context! {
            school => school,
            from => from,
            to => to,
            policy => policy,
            ran => run.is_some(),
            period => run.as_ref().map(|run| (
                TimeView::new(run.period.from, timezone),
                TimeView::new(run.period.to, timezone),
            )),
            rules => rules,
            calls => calls,
            errors => errors,
        },
    )
}

/// The overrides with the settings the form changed (`table` against `base`) rewritten: set
/// where they differ from the preset, taken out where they are back to it.
fn rewritten(
    mut overrides: toml::Table,
    table: &toml::Table,
    base: &toml::Table,
    shipped: &toml::Table,
) -> toml::Table {
    fn rewrite(
        overrides: &mut toml::Table,
        key: &str,
        value: Option<&toml::Value>,
        shipped: Option<&toml::Value>,
    ) {
        match value {
            Some(value) if Some(value) != shipped => {
                overrides.insert(key.to_string(), value.clone());
            }
            _ => {
                overrides.remove(key);
            }
        }
    }
    let keys: Vec<&String> = table.keys().chain(base.keys()).collect();
    for key in keys {
        let (now, was) = (table.get(key), base.get(key));
        if now == was {
            continue;
        }
        match (now, was) {
            (Some(toml::Value::Table(now)), Some(toml::Value::Table(was))) => {
                let shipped_rule = shipped.get(key).and_then(toml::Value::as_table);
                let mut rule = overrides
                    .get(key)
                    .and_then(toml::Value::as_table)
                    .cloned()
                    .unwrap_or_default();
                for setting in now.keys().chain(was.keys()) {
                    if now.get(setting) != was.get(setting) {
                        let shipped_setting = shipped_rule.and_then(|rule| rule.get(setting));
                        rewrite(&mut rule, setting, now.get(setting), shipped_setting);
                    }
                }
                if rule.is_empty() {
                    overrides.remove(key);
                } else {
                    overrides.insert(key.clone(), toml::Value::Table(rule));
                }
            }
            _ => rewrite(&mut overrides, key, now, shipped.get(key)),
        }
    }
    overrides
}

/// Fields the page never sends: a misspelt rule or parameter must not be dropped unnoticed.
fn unknown_fields(fields: &Fields) -> Vec<String> {
    let known = |name: &str| {
        if FORM_FIELDS.contains(&name) {
            return true;
        }
        let Some((rule, setting)) = name
            .strip_prefix("rule.")
            .and_then(|rest| rest.split_once('.'))
        else {
            return false;
        };
        RULES.iter().any(|info| info.id == rule)
            && (RULE_SETTINGS.contains(&setting)
                || PARAMS
                    .iter()
                    .any(|param| param.rule == rule && param.name == setting))
    };
    let mut unknown: Vec<&str> = Vec::new();
    for (name, _) in &fields.0 {
        if !known(name) && !unknown.contains(&name.as_str()) {
            unknown.push(name);
        }
    }
    unknown
        .into_iter()
        .map(|name| format!("{name} is not a setting of the policy."))
        .collect()
}

/// Writes the fields that were sent into every rule's setting. A value that cannot be read
/// is kept as text, so the form shows it again beside its error.
fn apply_fields(
    table: &mut toml::Table,
    shipped: &toml::Table,
    fields: &Fields,
    errors: &mut Vec<String>,
) {
    if let Some(value) = read_flag(fields, "check_possible_pupils", errors) {
        table.insert("check_possible_pupils".into(), value);
    }
    let mut updates: Vec<(&'static str, &'static str, Option<toml::Value>)> = Vec::new();
    for rule in &RULES {
        let field = |setting: &str| format!("rule.{}.{setting}", rule.id);
        if let Some(value) = read_flag(fields, &field("enabled"), errors) {
            updates.push((rule.id, "enabled", Some(value)));
        }
        if let Some(text) = fields.last(&field("severity")) {
            if Severity::parse(text).is_none() {
                errors.push(format!(
                    "{}: severity {text:?} is not one of low, medium, high and critical.",
                    rule.title
                ));
            }
            updates.push((rule.id, "severity", Some(text_value(text))));
        }
        if let Some(text) = fields.last(&field("clause")) {
            // Browsers send a textarea's lines with CRLF.
            let clause = text.trim().replace("\r\n", "\n");
            updates.push((rule.id, "clause", Some(toml::Value::String(clause))));
        }
        for param in PARAMS.iter().filter(|param| param.rule == rule.id) {
            let name = field(param.name);
            let value = match param.kind {
                ParamKind::Flag => match read_flag(fields, &name, errors) {
                    Some(value) => Some(value),
                    None => continue,
                },
                ParamKind::Whole | ParamKind::OptionalWhole => {
                    let Some(text) = fields.last(&name).map(str::trim) else {
                        continue;
                    };
                    if text.is_empty() && param.kind == ParamKind::OptionalWhole {
                        // Blank: as the preset says (or not at all).
                        shipped
                            .get(rule.id)
                            .and_then(toml::Value::as_table)
                            .and_then(|setting| setting.get(param.name))
                            .cloned()
                    } else {
                        match text.parse::<i64>() {
                            Ok(number) => Some(toml::Value::Integer(number)),
                            Err(_) => {
                                errors.push(format!(
                                    "{}: {} {text:?} is not a whole number.",
                                    rule.title,
                                    param.label.to_lowercase()
                                ));
                                Some(text_value(text))
                            }
                        }
                    }
                }
                ParamKind::Choice(options) => {
                    let Some(text) = fields.last(&name) else {
                        continue;
                    };
                    if !options.contains(&text) {
                        errors.push(format!(
                            "{}: {} {text:?} is not one of {}.",
                            rule.title,
                            param.label.to_lowercase(),
                            options.join(", ")
                        ));
                    }
                    Some(text_value(text))
                }
            };
            updates.push((rule.id, param.name, value));
        }
    }
    for (rule, setting, value) in updates {
        let entry = table
            .entry(rule)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(rule_table) = entry {
            match value {
                Some(value) => {
                    rule_table.insert(setting.to_string(), value);
                }
                None => {
                    rule_table.remove(setting);
                }
            }
        }
    }
}

/// A checkbox's value, if it was sent.
fn read_flag(fields: &Fields, name: &str, errors: &mut Vec<String>) -> Option<toml::Value> {
    match fields.flag(name)? {
        Ok(value) => Some(toml::Value::Boolean(value)),
        Err(problem) => {
            errors.push(problem);
            None
        }
    }
}

fn text_value(text: &str) -> toml::Value {
    toml::Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_shows_every_rule_and_every_parameter_of_every_preset() {
        for (name, _) in PRESETS {
            let table = preset_table(name).unwrap();
            for (key, value) in &table {
                let Some(setting) = value.as_table() else {
                    assert_eq!(key, "check_possible_pupils", "{name}");
                    continue;
                };
                assert!(RULES.iter().any(|rule| rule.id == key), "{name}: {key}");
                for parameter in setting.keys() {
                    let shown = RULE_SETTINGS.contains(&parameter.as_str())
                        || PARAMS
                            .iter()
                            .any(|param| param.rule == key && param.name == parameter);
                    assert!(shown, "{name}: {key}.{parameter} has no field");
                }
            }
            assert_eq!(
                table.values().filter(|value| value.is_table()).count(),
                RULES.len()
            );
        }
    }

    #[test]
    fn only_what_differs_from_the_preset_is_stored() {
        let preset = preset_table("two-staff-code-of-conduct").unwrap();
        let mut table = preset.clone();
        let fields = Fields(vec![
            ("rule.two_adults.grace_secs".into(), "300".into()),
            ("rule.two_adults.parent_counts".into(), "false".into()),
            ("rule.two_adults.parent_counts".into(), "true".into()),
            ("rule.chat_disabled.enabled".into(), "false".into()),
            ("rule.chat_disabled.enabled".into(), "true".into()),
            ("rule.recording.severity".into(), "high".into()),
        ]);
        let mut errors = Vec::new();
        apply_fields(&mut table, &preset, &fields, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let expected: toml::Table = "[two_adults]\ngrace_secs = 300\nparent_counts = true\n"
            .parse()
            .unwrap();
        assert_eq!(differences(&table, &preset), expected);
        assert_eq!(
            rewritten(toml::Table::new(), &table, &preset, &preset),
            expected
        );
    }

    #[test]
    fn the_overrides_a_form_leaves_alone_stay_as_written() {
        let preset = preset_table("two-staff-code-of-conduct").unwrap();
        let kept: toml::Table = "check_possible_pupils = true\n\
                                 [two_adults]\nparent_counts = true\ngrace_secs = 300\n\
                                 [recording]\nretention_days = 30\n"
            .parse()
            .unwrap();
        let base = merged(&preset, &kept);
        let mut table = base.clone();
        let fields = Fields(vec![
            // Back to the preset's: no longer an override.
            ("rule.two_adults.grace_secs".into(), "120".into()),
            // Blank, and the preset says nothing: gone.
            ("rule.recording.retention_days".into(), "".into()),
            ("rule.chat_disabled.severity".into(), "low".into()),
        ]);
        let mut errors = Vec::new();
        apply_fields(&mut table, &preset, &fields, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let expected: toml::Table = "check_possible_pupils = true\n\
                                     [two_adults]\nparent_counts = true\n\
                                     [chat_disabled]\nseverity = \"low\"\n"
            .parse()
            .unwrap();
        assert_eq!(rewritten(kept, &table, &base, &preset), expected);
    }

    #[test]
    fn a_value_that_cannot_be_read_is_named_and_kept_for_the_form() {
        let preset = preset_table("remote-send-pastoral").unwrap();
        let mut table = preset.clone();
        let fields = Fields(vec![
            ("rule.two_adults.grace_secs".into(), "two minutes".into()),
            ("rule.recording.mode".into(), "sometimes".into()),
            ("rule.school_hours.severity".into(), "urgent".into()),
        ]);
        let mut errors = Vec::new();
        apply_fields(&mut table, &preset, &fields, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("\"urgent\""), "{errors:?}");
        assert!(
            errors[1].contains("grace period, in seconds \"two minutes\""),
            "{errors:?}"
        );
        assert_eq!(
            table["two_adults"]["grace_secs"].as_str(),
            Some("two minutes")
        );
        assert!(unknown_fields(&Fields(vec![(
            "rule.two_adult.enabled".into(),
            "true".into()
        )]))
        .iter()
        .any(|error| error.contains("rule.two_adult.enabled")));
        assert!(unknown_fields(&fields).is_empty());
    }
}
