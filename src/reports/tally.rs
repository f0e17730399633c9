//! The figures put together from the database's grouped rows: each month's, and the whole
//! period's (the sum of the months', but for the times to act, which the database ranks
//! over the whole period too). Pure: rows in, figures out.

use super::period::MonthSpan;
use crate::policy::finding::RuleId;
use crate::policy::Severity;

/// Severities from the most serious, as reports list them.
pub const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

/// What became of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A person acknowledged it, or resolved it.
    ActedOn,
    /// The engine closed it (what it reported stopped) before anyone acted.
    ClosedBeforeAnyoneActed,
    /// Open, and no one has acted yet.
    Awaiting,
}

/// How many findings of a rule and severity a month opened, with what became of them.
#[derive(Debug, Clone)]
pub struct FindingCount {
    pub month: usize,
    pub rule: String,
    pub severity: String,
    pub disposition: Disposition,
    pub count: u64,
}

/// The time to act on findings in a month (`None`: over the whole period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToAct {
    pub month: Option<usize>,
    pub acted_on: u64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct GapCount {
    pub month: usize,
    pub began: u64,
    pub ended: u64,
    pub ended_secs: i64,
    pub still_open: u64,
}

#[derive(Debug, Clone)]
pub struct OutcomeCount {
    pub month: usize,
    pub needed: u64,
    pub on_time: u64,
    pub missing: u64,
}

/// How quickly findings were acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acknowledgement {
    /// Findings a person acted on.
    pub acted_on: u64,
    /// The median and 90th percentile of the time to act, nearest-rank, in seconds.
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
    /// Open findings no one has acted on yet.
    pub awaiting: u64,
    /// Findings the engine closed (what they reported stopped) before anyone acted.
    pub closed_before_anyone_acted: u64,
}

/// Outcomes of the calls that needed one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcomes {
    pub needed: u64,
    pub on_time: u64,
    pub late: u64,
    pub missing: u64,
}

/// Gaps in monitoring (findings of the coverage rule), by the month they began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    pub began: u64,
    /// Gaps that have ended (the engine saw them end), and their total length.
    pub closed: u64,
    pub closed_secs: i64,
    /// Gaps still open now.
    pub open: u64,
    /// Gaps a person closed: when the gap itself ended is not known.
    pub closed_by_a_person: u64,
}

/// The figures of a month, or of the whole period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub calls_held: u64,
    pub findings: u64,
    /// In the order of [`RuleId::ALL`].
    pub by_rule: Vec<(RuleId, u64)>,
    /// In the order of [`SEVERITIES`].
    pub by_severity: Vec<(Severity, u64)>,
    pub acknowledgement: Acknowledgement,
    /// `None` where the policy asks for no outcome.
    pub outcomes: Option<Outcomes>,
    pub gaps: Gaps,
}

impl Figures {
    fn empty(outcomes_asked: bool) -> Figures {
        Figures {
            calls_held: 0,
            findings: 0,
            by_rule: RuleId::ALL.into_iter().map(|rule| (rule, 0)).collect(),
            by_severity: SEVERITIES
                .into_iter()
                .map(|severity| (severity, 0))
                .collect(),
            acknowledgement: Acknowledgement::default(),
            outcomes: outcomes_asked.then(Outcomes::default),
            gaps: Gaps::default(),
        }
    }

    fn add_findings(&mut self, found: &FindingCount) {
        self.findings += found.count;
        if let Some(entry) = RuleId::parse(&found.rule)
            .and_then(|rule| self.by_rule.iter_mut().find(|(r, _)| *r == rule))
        {
            entry.1 += found.count;
        }
        if let Some(entry) = Severity::parse(&found.severity)
            .and_then(|severity| self.by_severity.iter_mut().find(|(s, _)| *s == severity))
        {
            entry.1 += found.count;
        }
        let acknowledgement = &mut self.acknowledgement;
        match found.disposition {
            // Counted with their times, which come ranked.
            Disposition::ActedOn => {}
            Disposition::ClosedBeforeAnyoneActed => {
                acknowledgement.closed_before_anyone_acted += found.count
            }
            Disposition::Awaiting => acknowledgement.awaiting += found.count,
        }
    }

    fn add_gaps(&mut self, gaps: &GapCount) {
        let closed_by_a_person = gaps
            .began
            .saturating_sub(gaps.ended)
            .saturating_sub(gaps.still_open);
        self.gaps.began += gaps.began;
        self.gaps.closed += gaps.ended;
        self.gaps.closed_secs += gaps.ended_secs;
        self.gaps.open += gaps.still_open;
        self.gaps.closed_by_a_person += closed_by_a_person;
    }

    fn add_outcomes(&mut self, counted: &OutcomeCount) {
        if let Some(outcomes) = &mut self.outcomes {
            outcomes.needed += counted.needed;
            outcomes.on_time += counted.on_time;
            outcomes.missing += counted.missing;
            outcomes.late += counted
                .needed
                .saturating_sub(counted.on_time)
                .saturating_sub(counted.missing);
        }
    }

    fn set_time_to_act(&mut self, time: &TimeToAct) {
        self.acknowledgement.acted_on = time.acted_on;
        self.acknowledgement.median_secs = time.median_secs;
        self.acknowledgement.p90_secs = time.p90_secs;
    }
}

#[derive(Debug, Clone)]
pub struct MonthFigures {
    pub span: MonthSpan,
    pub figures: Figures,
}

/// What the store counted, by month index into the period's spans.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    pub calls: Vec<(usize, u64)>,
    pub findings: Vec<FindingCount>,
    pub times_to_act: Vec<TimeToAct>,
    pub gaps: Vec<GapCount>,
    /// `None` where the policy asks for no outcome.
    pub outcomes: Option<Vec<OutcomeCount>>,
}

/// Each month's figures and the whole period's. Rows for a month outside `spans` are
/// ignored.
pub fn assemble(spans: &[MonthSpan], counted: &Counted) -> (Vec<MonthFigures>, Figures) {
    let asked = counted.outcomes.is_some();
    let mut months: Vec<Figures> = spans.iter().map(|_| Figures::empty(asked)).collect();
    let mut whole = Figures::empty(asked);
    for &(month, calls) in &counted.calls {
        if let Some(figures) = months.get_mut(month) {
            figures.calls_held += calls;
            whole.calls_held += calls;
        }
    }
    for found in &counted.findings {
        if let Some(figures) = months.get_mut(found.month) {
            figures.add_findings(found);
            whole.add_findings(found);
        }
    }
    for gaps in &counted.gaps {
        if let Some(figures) = months.get_mut(gaps.month) {
            figures.add_gaps(gaps);
            whole.add_gaps(gaps);
        }
    }
    for counted in counted.outcomes.iter().flatten() {
        if let Some(figures) = months.get_mut(counted.month) {
            figures.add_outcomes(counted);
            whole.add_outcomes(counted);
        }
    }
    for time in &counted.times_to_act {
        match time.month {
            None => whole.set_time_to_act(time),
            Some(month) => {
                if let Some(figures) = months.get_mut(month) {
                    figures.set_time_to_act(time);
                }
            }
        }
    }
    let months = spans
        .iter()
        .zip(months)
        .map(|(span, figures)| MonthFigures {
            span: *span,
            figures,
        })
        .collect();
    (months, whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::period::Period;

    fn spans() -> Vec<MonthSpan> {
        let london: chrono_tz::Tz = "Europe/London".parse().unwrap();
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        Period::AcademicYear { starting: 2024 }.months(london, now)
    }

    fn found(
        month: usize,
        rule: &str,
        severity: &str,
        disposition: Disposition,
        count: u64,
    ) -> FindingCount {
        FindingCount {
            month,
            rule: rule.into(),
            severity: severity.into(),
            disposition,
            count,
        }
    }

    #[test]
    fn months_add_up_to_the_whole_period_and_times_come_as_ranked() {
        let counted = Counted {
            calls: vec![(1, 3), (6, 2)],
            findings: vec![
                found(1, "two_adults", "critical", Disposition::ActedOn, 2),
                found(
                    1,
                    "school_hours",
                    "medium",
                    Disposition::ClosedBeforeAnyoneActed,
                    1,
                ),
                found(6, "coverage", "high", Disposition::Awaiting, 1),
                found(6, "a_rule_from_later", "urgent", Disposition::Awaiting, 1),
            ],
            times_to_act: vec![
                TimeToAct {
                    month: Some(1),
                    acted_on: 2,
                    median_secs: Some(300),
                    p90_secs: Some(900),
                },
                TimeToAct {
                    month: None,
                    acted_on: 2,
                    median_secs: Some(300),
                    p90_secs: Some(900),
                },
            ],
            gaps: vec![GapCount {
                month: 6,
                began: 3,
                ended: 1,
                ended_secs: 7200,
                still_open: 1,
            }],
            outcomes: Some(vec![OutcomeCount {
                month: 1,
                needed: 3,
                on_time: 1,
                missing: 1,
            }]),
        };
        let (months, whole) = assemble(&spans(), &counted);
        assert_eq!(months.len(), 12);
        let october = &months[1].figures;
        assert_eq!((october.calls_held, whole.calls_held), (3, 5));
        assert_eq!(october.findings, 3);
        assert_eq!(october.by_severity[0], (Severity::Critical, 2));
        assert_eq!(
            october.acknowledgement,
            Acknowledgement {
                acted_on: 2,
                median_secs: Some(300),
                p90_secs: Some(900),
                awaiting: 0,
                closed_before_anyone_acted: 1
            }
        );
        assert_eq!(
            october.outcomes,
            Some(Outcomes {
                needed: 3,
                on_time: 1,
                late: 1,
                missing: 1
            })
        );
        let march = &months[6].figures;
        // A finding of a rule this version does not know counts in the total only.
        assert_eq!(march.findings, 2);
        assert_eq!(march.by_rule.iter().map(|(_, n)| n).sum::<u64>(), 1);
        assert_eq!(march.gaps.closed_by_a_person, 1);
        assert_eq!(march.acknowledgement.median_secs, None);
        assert_eq!(whole.findings, 5);
        assert_eq!(whole.acknowledgement.awaiting, 2);
        assert_eq!(whole.acknowledgement.p90_secs, Some(900));
    }

    #[test]
    fn without_an_outcome_rule_there_are_no_outcome_figures() {
        let (months, whole) = assemble(&spans(), &Counted::default());
        assert_eq!(months.len(), 12);
        assert!(whole.outcomes.is_none());
        assert!(months.iter().all(|month| month.figures.outcomes.is_none()));
    }
}
