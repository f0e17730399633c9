//! A policy dry run: a proposed policy run over the calls of a past period, compared rule by
//! rule with what the live policy found for the same calls. Each call (and its schedule) is
//! loaded as the evaluation worker loads it and judged by the same pure engine, but nothing is
//! kept: every call's reading is rolled back, no finding is opened or changed, no alert is
//! queued.
//!
//! Calls are judged at the time of the dry run, as the worker would judge them now: every
//! timer of a call in the period (a grace period, the outcome deadline) has fallen due, and
//! what the live findings were built from is what the proposed policy sees.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::load;
use crate::db::time::{from_millis, to_millis};
use crate::db::Db;
use crate::directory::settings as school_settings;
use crate::findings::{Status, ENGINE_ACTOR};
use crate::policy::calendar::{BankHolidays, SchoolCalendar};
use crate::policy::edit;
use crate::policy::engine;
use crate::policy::finding::{Finding, RuleId, Scope};
use crate::policy::settings::{Policy, PolicyChoice, PolicyError};
use crate::policy::Severity;

/// The longest period one dry run covers: any three consecutive calendar months (a quarter,
/// a whole half-term and more) fit in 92 days. Every call of the period is loaded and judged
/// within one request, one call at a time on SQLite's single connection: a longer period
/// would outlast the request's time limit; run it as successive periods instead.
pub const MAX_PERIOD_DAYS: i64 = 92;

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    /// The proposed policy is not one the school could choose; the reason says why.
    #[error("{0}")]
    InvalidPolicy(String),
    #[error("the period ends ({to}) before it starts ({from})")]
    EmptyPeriod {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error(
        "the period is {days} days long; a dry run covers at most {MAX_PERIOD_DAYS} days \
         (run a longer stretch as successive periods)"
    )]
    PeriodTooLong { days: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The calls whose start falls in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Period, DryRunError> {
        if to <= from {
            return Err(DryRunError::EmptyPeriod { from, to });
        }
        let length = to - from;
        if length > Duration::days(MAX_PERIOD_DAYS) {
            // Part of a day over counts as a day: "92 days and an hour" is not 92 days.
            let days = length.num_days() + i64::from(length > Duration::days(length.num_days()));
            return Err(DryRunError::PeriodTooLong { days });
        }
        Ok(Period { from, to })
    }
}

/// The policy a dry run tries, from TOML written as under `[school.policy]` in the import file:
/// `preset = "…"` and `[overrides.<rule>]` tables. Without a preset, the overrides are laid over
/// the school's live policy (its preset and its own overrides): "the live policy, but with
/// this". With one, the policy is that preset with these overrides alone.
pub fn proposed_choice(text: &str, live: &PolicyChoice) -> Result<PolicyChoice, DryRunError> {
    let invalid = |message: String| DryRunError::InvalidPolicy(message);
    let mut table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
        invalid(format!("the policy is not TOML: {}", error.message()))
    })?;
    if let Some(key) = table
        .keys()
        .find(|key| !matches!(key.as_str(), "preset" | "overrides"))
    {
        return Err(invalid(format!(
            "unknown key `{key}`: write `preset = \"…\"` and `[overrides.<rule>]` tables, as under \
             [school.policy] in the import file"
        )));
    }
    let overrides = match table.remove("overrides") {
        None => toml::Table::new(),
        Some(toml::Value::Table(overrides)) => overrides,
        Some(_) => return Err(invalid("`overrides` must be a table of rules".into())),
    };
    match table.remove("preset") {
        Some(toml::Value::String(preset)) => Ok(PolicyChoice { preset, overrides }),
        Some(_) => Err(invalid("`preset` must be a preset's name".into())),
        None => {
            let mut laid_over = live.overrides.clone();
            crate::config::merge(&mut laid_over, overrides);
            Ok(PolicyChoice {
                preset: live.preset.clone(),
                overrides: laid_over,
            })
        }
    }
}

/// The proposed policy, checked as the console and the import check a policy.
pub fn resolve_proposed(choice: &PolicyChoice) -> Result<Policy, DryRunError> {
    edit::resolve_policy(choice).map_err(|error| match error {
        PolicyError::UnknownPreset(_) | PolicyError::Invalid(_) => {
            DryRunError::InvalidPolicy(error.to_string())
        }
    })
}

/// What a finding is about: a call, or the schedule of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum About {
    Call(i64),
    Schedule(i64),
}

/// A finding, live or proposed, as the comparison lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub rule: RuleId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_instance_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_meeting_id: Option<i64>,
    /// What the finding is about within the meeting (`person:12`, `guest:dara finch`, ...).
    pub subject: String,
    /// The stored finding, for one the live policy found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<i64>,
    pub severity: Severity,
    pub title: String,
    /// The sentence a DSL reads; withheld (`None`) from whoever may not read it.
    pub summary: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The directory people the finding names, to withhold it from one of them.
    #[serde(skip)]
    pub person_ids: Vec<i64>,
}

impl Found {
    fn about(&self) -> About {
        match (self.meeting_instance_id, self.scheduled_meeting_id) {
            (Some(call), _) => About::Call(call),
            (None, Some(schedule)) => About::Schedule(schedule),
            (None, None) => unreachable!("a dry run's findings are about a call or a schedule"),
        }
    }

    /// The finding's identity, as the findings table keys it: the meeting, the rule, the subject.
    fn key(&self) -> (About, RuleId, String) {
        (self.about(), self.rule, self.subject.clone())
    }

    fn proposed(finding: &Finding, about: About) -> Found {
        let (meeting_instance_id, scheduled_meeting_id) = match about {
            About::Call(id) => (Some(id), None),
            About::Schedule(id) => (None, Some(id)),
        };
        Found {
            rule: finding.rule,
            meeting_instance_id,
            scheduled_meeting_id,
            subject: finding.subject.clone(),
            finding_id: None,
            severity: finding.severity,
            title: finding.title.clone(),
            summary: Some(finding.summary.clone()),
            occurred_at: finding.occurred_at,
            person_ids: finding.people.iter().filter_map(|p| p.person_id).collect(),
        }
    }
}

/// Whether a stored finding is one the live policy stands by: a finding the engine itself
/// withdrew (a later picture showed it did not hold) was not, in the end, found.
pub fn stands(status: &str, resolved_by: Option<&str>) -> bool {
    !(status == Status::Resolved.as_str() && resolved_by == Some(ENGINE_ACTOR))
}

/// One rule's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleComparison {
    pub rule: RuleId,
    pub title: &'static str,
    /// Whether the rule is on in the proposed policy.
    pub enabled: bool,
    /// Findings the live policy made over the period's calls.
    pub live: usize,
    /// Findings the proposed policy would have made.
    pub proposed: usize,
    pub newly_found: Vec<Found>,
    pub no_longer_found: Vec<Found>,
}

/// Compares the live and proposed findings rule by rule (every policy rule, in the policy's
/// order), matching findings by meeting, rule and subject as the findings table does.
pub fn compare(live: &[Found], proposed: &[Found], policy: &Policy) -> Vec<RuleComparison> {
    let live_keys: BTreeSet<_> = live.iter().map(Found::key).collect();
    let proposed_keys: BTreeSet<_> = proposed.iter().map(Found::key).collect();
    RuleId::ALL
        .into_iter()
        .filter(|rule| *rule != RuleId::Coverage)
        .map(|rule| {
            let of_rule = |found: &&Found| found.rule == rule;
            RuleComparison {
                rule,
                title: rule.title(),
                enabled: enabled(policy, rule),
                live: live.iter().filter(of_rule).count(),
                proposed: proposed.iter().filter(of_rule).count(),
                newly_found: proposed
                    .iter()
                    .filter(of_rule)
                    .filter(|found| !live_keys.contains(&found.key()))
                    .cloned()
                    .collect(),
                no_longer_found: live
                    .iter()
                    .filter(of_rule)
                    .filter(|found| !proposed_keys.contains(&found.key()))
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

fn enabled(policy: &Policy, rule: RuleId) -> bool {
    match rule {
        RuleId::SchoolAccount => policy.school_account.enabled,
        RuleId::DslInvited => policy.dsl_invited.enabled,
        RuleId::ChatDisabled => policy.chat_disabled.enabled,
        RuleId::SchoolHours => policy.school_hours.enabled,
        RuleId::TwoAdults => policy.two_adults.enabled,
        RuleId::ApprovedInAdvance => policy.approved_in_advance.enabled,
        RuleId::Recording => policy.recording.enabled,
        RuleId::ParentalConsent => policy.parental_consent.enabled,
        RuleId::InviteViaParent => policy.invite_via_parent.enabled,
        RuleId::UnknownParticipant => policy.unknown_participant.enabled,
        RuleId::OutcomeLogged => policy.outcome_logged.enabled,
        RuleId::Coverage => true,
    }
}

/// A call of the period, with how many findings each policy made of it (its schedule's
/// included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallConsidered {
    pub meeting_instance_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_meeting_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Withheld (`None`) from whoever may not read the calls' details.
    pub topic: Option<String>,
    pub live: usize,
    pub proposed: usize,
}

/// The dry run's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRun {
    pub period: Period,
    /// When the calls were judged.
    pub judged_at: DateTime<Utc>,
    pub calls_considered: usize,
    pub rules: Vec<RuleComparison>,
    pub calls: Vec<CallConsidered>,
}

impl DryRun {
    /// Keeps only what a reader without the right to see safeguarding records may have (an
    /// admin trying a policy): counts, ids, times and rules, but no summary and no topic.
    pub fn without_details(mut self) -> DryRun {
        for comparison in &mut self.rules {
            for found in comparison
                .newly_found
                .iter_mut()
                .chain(comparison.no_longer_found.iter_mut())
            {
                found.summary = None;
            }
        }
        for call in &mut self.calls {
            call.topic = None;
        }
        self
    }

    /// Withholds the summary of every finding that names `person_id`: a finding about the
    /// reader is not theirs to read (as `findings::access::hidden_from` has it).
    pub fn withholding_about(mut self, person_id: Option<i64>) -> DryRun {
        let Some(person_id) = person_id else {
            return self;
        };
        for comparison in &mut self.rules {
            for found in comparison
                .newly_found
                .iter_mut()
                .chain(comparison.no_longer_found.iter_mut())
                .filter(|found| found.person_ids.contains(&person_id))
            {
                found.summary = None;
            }
        }
        self
    }

    /// Every finding count, per policy, for the audit log (no names, no summaries).
    pub fn totals(&self) -> (usize, usize) {
        self.rules.iter().fold((0, 0), |(live, proposed), rule| {
            (live + rule.live, proposed + rule.proposed)
        })
    }
}

/// Runs `proposed` over the calls of `school_id` that started in `period`, judged at `now`,
/// and compares it with the findings the live policy made of them. Changes nothing.
pub async fn dry_run(
    db: &Db,
    bank_holidays: &BankHolidays,
    school_id: i64,
    proposed: &Policy,
    period: Period,
    now: DateTime<Utc>,
) -> Result<DryRun, DryRunError> {
    let mut connection = db.pool.acquire().await?;
    let settings = school_settings::load(&mut connection, school_id).await?;
    let timezone = load::school_timezone(&mut connection, school_id).await?;
    let calls = calls_in(&mut connection, school_id, period).await?;
    drop(connection);
    let calendar = SchoolCalendar::new(timezone, settings.calendar, bank_holidays);
    let window = proposed.approved_in_advance.params.match_window_mins;

    let mut live = Vec::new();
    let mut found = Vec::new();
    let mut considered = Vec::with_capacity(calls.len());
    let mut schedules = BTreeSet::new();
    for call in calls {
        // One short transaction per call, rolled back: loading a call stores how its
        // participants were identified, which a dry run must not, and on SQLite the one
        // connection is given back to the webhooks between calls.
        db.yield_to_ingestion().await;
        let mut tx = db.pool.begin().await?;
        let loaded = load::instance(&mut tx, call.id, now, window).await?;
        let stored = stored_findings(&mut tx, About::Call(call.id)).await?;
        tx.rollback().await?;
        live.extend(stored);
        let Some((ids, view)) = loaded else {
            continue;
        };
        let evaluation = engine::evaluate(&view, proposed, &calendar, now);
        found.extend(
            evaluation
                .findings
                .iter()
                .filter(|finding| finding.scope == Scope::Instance)
                .map(|finding| Found::proposed(finding, About::Call(call.id))),
        );
        schedules.extend(ids.scheduled_meeting_id);
        considered.push(CallConsidered {
            meeting_instance_id: call.id,
            scheduled_meeting_id: ids.scheduled_meeting_id,
            started_at: call.started_at,
            ended_at: call.ended_at,
            topic: call.topic,
            live: 0,
            proposed: 0,
        });
    }
    // What was found of a call's schedule before the call (the DSL not invited, no consent)
    // is filed with the schedule, and judged with it.
    for schedule in schedules {
        db.yield_to_ingestion().await;
        let mut tx = db.pool.begin().await?;
        let loaded = load::scheduled(&mut tx, schedule, now, window).await?;
        let stored = stored_findings(&mut tx, About::Schedule(schedule)).await?;
        tx.rollback().await?;
        live.extend(stored);
        let Some((_, view)) = loaded else {
            continue;
        };
        let evaluation = engine::evaluate(&view, proposed, &calendar, now);
        found.extend(
            evaluation
                .findings
                .iter()
                .filter(|finding| finding.scope == Scope::Scheduled)
                .map(|finding| Found::proposed(finding, About::Schedule(schedule))),
        );
    }
    count_per_call(&mut considered, &live, &found);
    Ok(DryRun {
        period,
        judged_at: now,
        calls_considered: considered.len(),
        rules: compare(&live, &found, proposed),
        calls: considered,
    })
}

/// Sets each call's counts: its own findings and its schedule's.
fn count_per_call(calls: &mut [CallConsidered], live: &[Found], proposed: &[Found]) {
    let tally = |found: &[Found]| {
        let mut counts: BTreeMap<About, usize> = BTreeMap::new();
        for each in found {
            *counts.entry(each.about()).or_default() += 1;
        }
        counts
    };
    let (live, proposed) = (tally(live), tally(proposed));
    for call in calls {
        let count = |counts: &BTreeMap<About, usize>| {
            counts
                .get(&About::Call(call.meeting_instance_id))
                .copied()
                .unwrap_or(0)
                + call
                    .scheduled_meeting_id
                    .and_then(|id| counts.get(&About::Schedule(id)).copied())
                    .unwrap_or(0)
        };
        call.live = count(&live);
        call.proposed = count(&proposed);
    }
}

struct StoredCall {
    id: i64,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    topic: Option<String>,
}

/// A call's time as the register has it: its start, else the start other events repeated,
/// else when it was first seen.
const CALL_TIME: &str = "COALESCE(started_at, start_hint, first_seen_at)";

async fn calls_in(
    connection: &mut AnyConnection,
    school_id: i64,
    period: Period,
) -> Result<Vec<StoredCall>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT id, {CALL_TIME} AS at, ended_at, topic FROM meeting_instances \
         WHERE school_id = $1 AND {CALL_TIME} >= $2 AND {CALL_TIME} < $3 ORDER BY at, id"
    ))
    .bind(school_id)
    .bind(to_millis(period.from))
    .bind(to_millis(period.to))
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredCall {
                id: row.try_get("id")?,
                started_at: from_millis(row.try_get("at")?),
                ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(from_millis),
                topic: row.try_get("topic")?,
            })
        })
        .collect()
}

/// The findings the live policy made of a call or a schedule, and still stands by.
async fn stored_findings(
    connection: &mut AnyConnection,
    about: About,
) -> Result<Vec<Found>, sqlx::Error> {
    let (column, scope, id) = match about {
        About::Call(id) => ("meeting_instance_id", "instance", id),
        About::Schedule(id) => ("scheduled_meeting_id", "scheduled", id),
    };
    let rows = sqlx::query(&format!(
        "SELECT id, rule, subject, severity, status, resolved_by, title, summary, people, occurred_at \
         FROM findings WHERE {column} = $1 AND scope = $2 ORDER BY occurred_at, id"
    ))
    .bind(id)
    .bind(scope)
    .fetch_all(connection)
    .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let finding_id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        if !stands(
            &status,
            row.try_get::<Option<String>, _>("resolved_by")?.as_deref(),
        ) {
            continue;
        }
        let unreadable = |column: &str| {
            sqlx::Error::Decode(format!("findings {finding_id}: {column} cannot be read").into())
        };
        let rule =
            RuleId::parse(&row.try_get::<String, _>("rule")?).ok_or_else(|| unreadable("rule"))?;
        let severity = Severity::parse(&row.try_get::<String, _>("severity")?)
            .ok_or_else(|| unreadable("severity"))?;
        let people: Vec<crate::policy::finding::Involved> =
            serde_json::from_str(&row.try_get::<String, _>("people")?)
                .map_err(|_| unreadable("people"))?;
        let (meeting_instance_id, scheduled_meeting_id) = match about {
            About::Call(id) => (Some(id), None),
            About::Schedule(id) => (None, Some(id)),
        };
        found.push(Found {
            rule,
            meeting_instance_id,
            scheduled_meeting_id,
            subject: row.try_get("subject")?,
            finding_id: Some(finding_id),
            severity,
            title: row.try_get("title")?,
            summary: Some(row.try_get("summary")?),
            occurred_at: from_millis(row.try_get("occurred_at")?),
            person_ids: people
                .iter()
                .filter_map(|person| person.person_id)
                .collect(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn live_choice() -> PolicyChoice {
        PolicyChoice {
            preset: "two-staff-code-of-conduct".into(),
            overrides: "[two_adults]\nparent_counts = true\n".parse().unwrap(),
        }
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
    }

    fn found(rule: RuleId, call: i64, subject: &str) -> Found {
        Found {
            rule,
            meeting_instance_id: Some(call),
            scheduled_meeting_id: None,
            subject: subject.into(),
            finding_id: None,
            severity: Severity::High,
            title: "Pupil without two staff".into(),
            summary: Some(
                "Jamie Smith (pupil) was in the call with only one member of staff".into(),
            ),
            occurred_at: day(2),
            person_ids: vec![7],
        }
    }

    #[test]
    fn a_change_without_a_preset_is_laid_over_the_live_policy() {
        let choice =
            proposed_choice("[overrides.two_adults]\ngrace_secs = 300\n", &live_choice()).unwrap();
        let policy = resolve_proposed(&choice).unwrap();
        assert_eq!(choice.preset, "two-staff-code-of-conduct");
        assert_eq!(policy.two_adults.params.grace_secs, 300);
        assert!(
            policy.two_adults.params.parent_counts,
            "the live override is kept"
        );
    }

    #[test]
    fn another_preset_is_that_preset_with_only_the_overrides_given() {
        let choice =
            proposed_choice("preset = \"in-school-one-to-one\"\n", &live_choice()).unwrap();
        assert_eq!(choice.preset, "in-school-one-to-one");
        assert!(choice.overrides.is_empty());
        assert!(resolve_proposed(&choice).is_ok());
    }

    #[test]
    fn a_proposed_policy_that_cannot_be_used_is_refused_with_the_reason() {
        #[rustfmt::skip]
        let cases = [
            ("[overrides.two_adults]\ngrace_secs = -5", "two_adults.grace_secs is -5"),
            ("[overrides.two_adult]\nenabled = false", "two_adult"),
            ("preset = \"lenient\"", "lenient"),
            ("preset = 3", "`preset` must be"),
            ("overrides = 3", "`overrides` must be"),
            ("[two_adults]\ngrace_secs = 300", "unknown key `two_adults`"),
            ("[overrides.two_adults\n", "not TOML"),
        ];
        for (text, reason) in cases {
            let refused = proposed_choice(text, &live_choice())
                .and_then(|choice| resolve_proposed(&choice))
                .expect_err(text);
            assert!(matches!(refused, DryRunError::InvalidPolicy(_)), "{text}");
            assert!(refused.to_string().contains(reason), "{text}: {refused}");
        }
    }

    #[test]
    fn a_period_is_forwards_and_at_most_ninety_two_days() {
        assert!(Period::new(day(1), day(1) + Duration::days(MAX_PERIOD_DAYS)).is_ok());
        let long = Period::new(
            day(1),
            day(1) + Duration::days(MAX_PERIOD_DAYS) + Duration::hours(1),
        );
        assert!(matches!(long, Err(DryRunError::PeriodTooLong { days: 93 })));
        assert!(matches!(
            Period::new(day(2), day(1)),
            Err(DryRunError::EmptyPeriod { .. })
        ));
        assert!(matches!(
            Period::new(day(2), day(2)),
            Err(DryRunError::EmptyPeriod { .. })
        ));
    }

    #[test]
    fn findings_are_matched_by_meeting_rule_and_subject() {
        let choice =
            proposed_choice("[overrides.school_hours]\nenabled = false", &live_choice()).unwrap();
        let policy = resolve_proposed(&choice).unwrap();
        let live = [
            found(RuleId::TwoAdults, 1, "person:7"),
            found(RuleId::TwoAdults, 2, "person:7"),
            found(RuleId::SchoolHours, 2, "meeting"),
        ];
        let proposed = [
            found(RuleId::TwoAdults, 2, "person:7"),
            found(RuleId::TwoAdults, 3, "person:7"),
            found(RuleId::SchoolHours, 2, "meeting"),
        ];
        let rules = compare(&live, &proposed, &policy);
        assert_eq!(rules.len(), 11, "every policy rule, no coverage");
        let two_adults = rules.iter().find(|r| r.rule == RuleId::TwoAdults).unwrap();
        assert_eq!((two_adults.live, two_adults.proposed), (2, 2));
        let ids = |list: &[Found]| {
            list.iter()
                .map(|f| f.meeting_instance_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&two_adults.newly_found), [Some(3)]);
        assert_eq!(ids(&two_adults.no_longer_found), [Some(1)]);
        let hours = rules
            .iter()
            .find(|r| r.rule == RuleId::SchoolHours)
            .unwrap();
        assert!(hours.newly_found.is_empty() && hours.no_longer_found.is_empty());
        assert!(!hours.enabled, "switched off in the proposed policy");
    }

    #[test]
    fn a_finding_the_engine_withdrew_is_not_counted_as_found() {
        assert!(stands("open", None));
        assert!(stands("acknowledged", None));
        assert!(stands("resolved", Some("Dana Lee")), "a person's decision");
        assert!(!stands("resolved", Some(ENGINE_ACTOR)));
    }

    #[test]
    fn details_are_withheld_from_admins_and_from_the_person_a_finding_names() {
        let policy = resolve_proposed(&live_choice()).unwrap();
        let run = DryRun {
            period: Period::new(day(1), day(15)).unwrap(),
            judged_at: day(16),
            calls_considered: 1,
            rules: compare(&[found(RuleId::TwoAdults, 1, "person:7")], &[], &policy),
            calls: vec![CallConsidered {
                meeting_instance_id: 1,
                scheduled_meeting_id: None,
                started_at: day(2),
                ended_at: None,
                topic: Some("Y9 mentoring – J.S.".into()),
                live: 1,
                proposed: 0,
            }],
        };
        let summary = |run: &DryRun| {
            let rule = run
                .rules
                .iter()
                .find(|r| r.rule == RuleId::TwoAdults)
                .unwrap();
            rule.no_longer_found[0].summary.clone()
        };
        assert!(summary(&run.clone().withholding_about(Some(8))).is_some());
        assert!(summary(&run.clone().withholding_about(Some(7))).is_none());
        let bare = run.without_details();
        assert!(summary(&bare).is_none());
        assert_eq!(bare.calls[0].topic, None);
        assert_eq!(bare.totals(), (1, 0));
    }

    #[test]
    fn each_call_counts_its_own_findings_and_its_schedule_s() {
        let mut calls = vec![CallConsidered {
            meeting_instance_id: 1,
            scheduled_meeting_id: Some(9),
            started_at: day(2),
            ended_at: None,
            topic: None,
            live: 0,
            proposed: 0,
        }];
        let mut of_schedule = found(RuleId::DslInvited, 0, "meeting");
        of_schedule.meeting_instance_id = None;
        of_schedule.scheduled_meeting_id = Some(9);
        let live = [found(RuleId::TwoAdults, 1, "person:7"), of_schedule.clone()];
        count_per_call(&mut calls, &live, &[of_schedule]);
        assert_eq!((calls[0].live, calls[0].proposed), (2, 1));
    }
}
