//! Reports for the DSL, the head and governors: per month and per school, counts and charts
//! for the annual filtering and monitoring review. Counts only, for everyone: no name, no
//! finding's title or summary, and for governors no link to a finding, a call or a person.
//! Those who see the findings get links to the inbox, filtered by rule and month.

mod charts;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use chrono_tz::Tz;
use minijinja::context;
use serde::{Deserialize, Serialize};

use self::charts::{duration_words, Category, Chart, Series, Unit};
use super::school_choice::choose_school;
use super::{Console, PageError};
use crate::identity::Capability;
use crate::policy::finding::RuleId;
use crate::reports::{self, Figures, Month, MonthSpan, Period, Report};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[("reports.html", include_str!("templates/reports.html"))];

pub fn routes() -> Router<AppState> {
    Router::new().route("/reports", get(show_reports))
}

/// The earliest year a report may be asked for.
const FIRST_YEAR: i32 = 2000;
/// Academic years offered in the form, the current one and those before it.
const YEARS_OFFERED: i32 = 6;

/// The choice, as the form sends it (empty: the first school, this month).
#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    school: String,
    /// `month` or `year`.
    #[serde(default)]
    period: String,
    /// `YYYY-MM`.
    #[serde(default)]
    month: String,
    /// The calendar year the academic year starts in.
    #[serde(default)]
    year: String,
}

/// The period asked for, or why it cannot be shown.
fn parse_period(query: &ReportQuery, current: Month) -> Result<Period, String> {
    match query.period.trim() {
        "" | "month" if query.month.trim().is_empty() => Ok(Period::Month(current)),
        "" | "month" => match Month::parse(&query.month) {
            None => Err("Give the month as YYYY-MM, for example 2025-03.".to_string()),
            Some(month) if month > current => Err("That month has not begun yet.".to_string()),
            Some(month) if month.year < FIRST_YEAR => {
                Err(format!("Reports begin in {FIRST_YEAR}."))
            }
            Some(month) => Ok(Period::Month(month)),
        },
        "year" => match query.year.trim().parse::<i32>() {
            Ok(starting) if (FIRST_YEAR..=current.academic_year()).contains(&starting) => {
                Ok(Period::AcademicYear { starting })
            }
            _ => Err("Choose an academic year from the list.".to_string()),
        },
        _ => Err("Choose a month or an academic year.".to_string()),
    }
}

pub async fn show_reports(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<ReportQuery>,
) -> Result<Response, PageError> {
    let (schools, school) =
        choose_school(&state, &console, Capability::SeeReports, &query.school).await?;
    let school_choices: Vec<_> = schools
        .iter()
        .map(|school| context! { id => school.id.to_string(), name => school.name.clone() })
        .collect();
    let Some(school) = school else {
        return console.page(
            "reports.html",
            context! { schools => school_choices, school => (), errors => Vec::<String>::new(),
            choice => (), years => Vec::<i32>::new(), report => () },
        );
    };

    let timezone: Tz = school.timezone.parse().unwrap_or(Tz::UTC);
    let now = Utc::now();
    let current = Month::containing(now, timezone);
    let period = parse_period(&query, current);
    let shown_month = match &period {
        Ok(Period::Month(month)) => *month,
        _ => Month::parse(&query.month).unwrap_or(current),
    };
    let shown_year = match &period {
        Ok(Period::AcademicYear { starting }) => *starting,
        _ => query.year.trim().parse().unwrap_or(current.academic_year()),
    };
    let mut years: Vec<i32> = (0..YEARS_OFFERED)
        .map(|back| current.academic_year() - back)
        .collect();
    if !years.contains(&shown_year) && (FIRST_YEAR..=current.academic_year()).contains(&shown_year)
    {
        years.push(shown_year);
    }
    let choice = context! {
        school => school.id.to_string(),
        period => if matches!(period, Ok(Period::AcademicYear { .. })) || query.period.trim() == "year" { "year" } else { "month" },
        month => shown_month.key(),
        year => shown_year,
    };
    let school_view = context! { id => school.id, name => school.name.clone() };
    let period = match period {
        Ok(period) => period,
        Err(error) => {
            return console.page(
                "reports.html",
                context! { schools => school_choices, school => school_view, errors => vec![error],
                choice => choice, years => years, report => () },
            );
        }
    };

    let reader = console.principal().person_id();
    let report =
        reports::school_report(&state.db, school.id, timezone, period, now, reader).await?;
    // Those who may open the findings get links to the inbox; governors get none.
    let links = console
        .principal()
        .may(Capability::SeeSafeguarding, school.id)
        .then_some(school.id);
    console.page(
        "reports.html",
        context! {
            schools => school_choices,
            school => school_view,
            errors => Vec::<String>::new(),
            choice => choice,
            years => years,
            report => ReportView::new(&report, period, links),
        },
    )
}

/// The report as the page shows it.
#[derive(Serialize)]
struct ReportView {
    title: String,
    /// More than one month: the tables end with the whole period.
    several_months: bool,
    months: Vec<MonthRow>,
    whole: FiguresView,
    rules: Vec<RuleRow>,
    severities: Vec<&'static str>,
    outcome_within_hours: Option<i64>,
    links: bool,
    calls_chart: Option<Chart>,
    severity_chart: Option<Chart>,
    acknowledgement_chart: Option<Chart>,
    outcomes_chart: Option<Chart>,
}

#[derive(Serialize)]
struct MonthRow {
    key: String,
    title: String,
    /// "Mar 2025", where twelve months share a table's width.
    short_title: String,
    /// The month's findings in the inbox, for those who may open them.
    findings_link: Option<String>,
    figures: FiguresView,
}

#[derive(Serialize)]
struct FiguresView {
    calls_held: u64,
    findings: u64,
    by_severity: Vec<u64>,
    acted_on: u64,
    median: Option<String>,
    p90: Option<String>,
    awaiting: u64,
    closed_before_anyone_acted: u64,
    outcomes: Option<reports::Outcomes>,
    /// Outcomes written on time, as a share of those needed ("83%").
    on_time_share: Option<String>,
    gaps_began: u64,
    gaps_closed: u64,
    gaps_closed_length: String,
    gaps_open: u64,
    gaps_closed_by_a_person: u64,
}

impl FiguresView {
    fn new(figures: &Figures) -> Self {
        let ack = &figures.acknowledgement;
        let outcomes = figures.outcomes.clone();
        FiguresView {
            calls_held: figures.calls_held,
            findings: figures.findings,
            by_severity: figures
                .by_severity
                .iter()
                .map(|(_, count)| *count)
                .collect(),
            acted_on: ack.acted_on,
            median: ack.median_secs.map(duration_words),
            p90: ack.p90_secs.map(duration_words),
            awaiting: ack.awaiting,
            closed_before_anyone_acted: ack.closed_before_anyone_acted,
            on_time_share: outcomes
                .as_ref()
                .filter(|outcomes| outcomes.needed > 0)
                .map(|outcomes| {
                    format!(
                        "{}%",
                        (outcomes.on_time * 100 + outcomes.needed / 2) / outcomes.needed
                    )
                }),
            outcomes,
            gaps_began: figures.gaps.began,
            gaps_closed: figures.gaps.closed,
            gaps_closed_length: duration_words(figures.gaps.closed_secs),
            gaps_open: figures.gaps.open,
            gaps_closed_by_a_person: figures.gaps.closed_by_a_person,
        }
    }
}

/// A count, and where those who may open findings find them.
#[derive(Serialize)]
struct Cell {
    count: u64,
    link: Option<String>,
}

#[derive(Serialize)]
struct RuleRow {
    rule: &'static str,
    title: &'static str,
    months: Vec<Cell>,
    whole: Cell,
}

/// The inbox, filtered to every finding of `school` (and `rule`) from `first` to `last`.
/// The inbox filters by the day a finding occurred, in UTC: at a month's edges its list can
/// differ a little from the report's count of findings opened.
fn inbox_link(school: i64, rule: Option<RuleId>, first: &MonthSpan, last: &MonthSpan) -> String {
    let rule = rule
        .map(|rule| format!("&rule={}", rule.as_str()))
        .unwrap_or_default();
    format!(
        "/findings?status=all&school={school}{rule}&from={}&to={}",
        first.month.first_day(),
        last.month.last_day()
    )
}

impl ReportView {
    fn new(report: &Report, period: Period, links: Option<i64>) -> Self {
        let link = |rule: Option<RuleId>, first: &MonthSpan, last: &MonthSpan, count: u64| {
            links
                .filter(|_| count > 0)
                .map(|school| inbox_link(school, rule, first, last))
        };
        let months: Vec<MonthRow> = report
            .months
            .iter()
            .map(|month| MonthRow {
                key: month.span.month.key(),
                title: month.span.month.title(),
                short_title: month.span.month.first_day().format("%b %Y").to_string(),
                findings_link: link(None, &month.span, &month.span, month.figures.findings),
                figures: FiguresView::new(&month.figures),
            })
            .collect();
        let rules = report
            .whole
            .by_rule
            .iter()
            .enumerate()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(index, (rule, count))| RuleRow {
                rule: rule.as_str(),
                title: rule.title(),
                months: report
                    .months
                    .iter()
                    .map(|month| {
                        let count = month.figures.by_rule[index].1;
                        Cell {
                            count,
                            link: link(Some(*rule), &month.span, &month.span, count),
                        }
                    })
                    .collect(),
                whole: Cell {
                    count: *count,
                    link: match (report.months.first(), report.months.last()) {
                        (Some(first), Some(last)) => {
                            link(Some(*rule), &first.span, &last.span, *count)
                        }
                        _ => None,
                    },
                },
            })
            .collect();
        let categories: Vec<Category> = report
            .months
            .iter()
            .map(|month| Category {
                key: month.span.month.key(),
                short: match period {
                    Period::Month(_) => month.span.month.title(),
                    Period::AcademicYear { .. } => month.span.month.short_title(),
                },
                title: month.span.month.title(),
            })
            .collect();
        let chart = |series: &[Series],
                     stacked: bool,
                     unit: Unit,
                     values: &dyn Fn(&Figures) -> Vec<Option<f64>>| {
            (!categories.is_empty()).then(|| {
                let values: Vec<_> = report.months.iter().map(|m| values(&m.figures)).collect();
                charts::lay_out(&categories, series, &values, stacked, unit)
            })
        };
        let severity_series: Vec<Series> = reports::SEVERITIES
            .iter()
            .map(|severity| Series {
                name: severity.as_str(),
                class: severity.as_str(),
            })
            .collect();
        ReportView {
            title: period.title(),
            several_months: report.months.len() > 1,
            whole: FiguresView::new(&report.whole),
            rules,
            severities: reports::SEVERITIES.iter().map(|s| s.as_str()).collect(),
            outcome_within_hours: report.outcome_within_hours,
            links: links.is_some(),
            calls_chart: chart(
                &[Series {
                    name: "Calls held",
                    class: "calls",
                }],
                false,
                Unit::Count,
                &|figures| vec![Some(figures.calls_held as f64)],
            ),
            severity_chart: chart(&severity_series, true, Unit::Count, &|figures| {
                figures
                    .by_severity
                    .iter()
                    .map(|(_, count)| Some(*count as f64))
                    .collect()
            }),
            acknowledgement_chart: chart(
                &[
                    Series {
                        name: "Median",
                        class: "median",
                    },
                    Series {
                        name: "90th percentile",
                        class: "p90",
                    },
                ],
                false,
                Unit::Seconds,
                &|figures| {
                    let ack = &figures.acknowledgement;
                    vec![
                        ack.median_secs.map(|secs| secs as f64),
                        ack.p90_secs.map(|secs| secs as f64),
                    ]
                },
            ),
            outcomes_chart: report.outcome_within_hours.and(chart(
                &[
                    Series {
                        name: "On time",
                        class: "on-time",
                    },
                    Series {
                        name: "Late",
                        class: "late",
                    },
                    Series {
                        name: "Not written",
                        class: "missing",
                    },
                ],
                true,
                Unit::Count,
                &|figures| {
                    let outcomes = figures.outcomes.clone().unwrap_or_default();
                    [outcomes.on_time, outcomes.late, outcomes.missing]
                        .into_iter()
                        .map(|count| Some(count as f64))
                        .collect()
                },
            )),
            months,
        }
    }
}
