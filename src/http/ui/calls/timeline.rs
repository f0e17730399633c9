//! A call's timeline as geometry for the page's SVG: one row per participant with their stays,
//! the scheduled time beside the actual one, the school's hours as a band behind, and the
//! windows in which a rule was broken shaded across the participants. Pure: times in,
//! numbers and labels out; the template draws them (and escapes every label).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::http::ui::time_view::TimeView;

/// A time from `from` to `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Stay {
    pub span: Span,
    /// No leave was seen: the call's end (or now) stands in for it.
    pub inferred: bool,
}

#[derive(Debug, Clone)]
pub struct PresenceRow {
    pub label: String,
    pub role: String,
    pub stays: Vec<Stay>,
}

#[derive(Debug, Clone)]
pub struct Breach {
    pub span: Span,
    pub title: String,
    pub finding_id: i64,
}

/// What the timeline shows.
#[derive(Debug, Clone, Default)]
pub struct TimelineInput {
    pub scheduled: Option<Span>,
    pub actual: Option<Span>,
    pub school_hours: Option<Span>,
    pub rows: Vec<PresenceRow>,
    pub breaches: Vec<Breach>,
    pub timezone: Option<Tz>,
}

const WIDTH: f64 = 1000.0;
const LABEL_WIDTH: f64 = 230.0;
const RIGHT_MARGIN: f64 = 12.0;
const AXIS_HEIGHT: f64 = 28.0;
const ROW_HEIGHT: f64 = 26.0;
const BAR_HEIGHT: f64 = 14.0;
/// Tick steps, in minutes: the smallest that gives at most this many ticks is used.
const TICK_STEPS: [i64; 10] = [1, 2, 5, 10, 15, 30, 60, 120, 240, 480];
const MAX_TICKS: i64 = 8;

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub width: f64,
    pub inferred: bool,
    pub from: TimeView,
    pub until: TimeView,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub label: String,
    /// The label as the row's space allows.
    pub short_label: String,
    pub role: String,
    /// The row's top; its bar sits `bar_offset` below.
    pub y: f64,
    pub bar_y: f64,
    pub label_y: f64,
    pub bars: Vec<Bar>,
    /// `scheduled`, `call` or `person`.
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Band {
    pub x: f64,
    pub width: f64,
    pub from: TimeView,
    pub until: TimeView,
}

#[derive(Debug, Serialize)]
pub struct Shade {
    pub x: f64,
    pub width: f64,
    pub title: String,
    pub finding_id: i64,
    pub from: TimeView,
    pub until: TimeView,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct TimelineView {
    pub width: f64,
    pub height: f64,
    pub label_width: f64,
    pub plot_right: f64,
    pub axis_y: f64,
    /// The top and height of the participants' rows, which breaches shade.
    pub people_top: f64,
    pub people_height: f64,
    pub rows: Vec<Row>,
    pub school_hours: Option<Band>,
    pub breaches: Vec<Shade>,
    pub ticks: Vec<Tick>,
}

impl TimelineInput {
    /// Every time the timeline must show, to fit its range to.
    fn times(&self) -> Vec<DateTime<Utc>> {
        let mut times = Vec::new();
        let mut add = |span: &Span| {
            times.push(span.from);
            times.push(span.until);
        };
        self.scheduled.iter().for_each(&mut add);
        self.actual.iter().for_each(&mut add);
        self.rows
            .iter()
            .flat_map(|row| &row.stays)
            .for_each(|stay| add(&stay.span));
        self.breaches.iter().for_each(|breach| add(&breach.span));
        times
    }

    pub fn lay_out(&self) -> Option<TimelineView> {
        let times = self.times();
        let (first, last) = (*times.iter().min()?, *times.iter().max()?);
        let length = (last - first).max(Duration::minutes(10));
        let pad = length / 40;
        let (start, end) = (first - pad, first + length + pad);
        let plot_right = WIDTH - RIGHT_MARGIN;
        let scale = (plot_right - LABEL_WIDTH) / (end - start).num_milliseconds() as f64;
        let x = |at: DateTime<Utc>| {
            let at = at.clamp(start, end);
            round(LABEL_WIDTH + (at - start).num_milliseconds() as f64 * scale)
        };
        let time = |at: DateTime<Utc>| TimeView::new(at, self.timezone);
        let bar = |span: &Span, inferred: bool| Bar {
            x: x(span.from),
            width: (x(span.until) - x(span.from)).max(1.5),
            inferred,
            from: time(span.from),
            until: time(span.until),
        };

        let mut rows = Vec::new();
        if let Some(scheduled) = &self.scheduled {
            rows.push((
                "Scheduled".to_string(),
                String::new(),
                "scheduled",
                vec![bar(scheduled, false)],
            ));
        }
        if let Some(actual) = &self.actual {
            rows.push((
                "Call".to_string(),
                String::new(),
                "call",
                vec![bar(actual, false)],
            ));
        }
        let people_top = AXIS_HEIGHT + rows.len() as f64 * ROW_HEIGHT;
        for row in &self.rows {
            let bars = row
                .stays
                .iter()
                .map(|stay| bar(&stay.span, stay.inferred))
                .collect();
            rows.push((row.label.clone(), row.role.clone(), "person", bars));
        }
        let rows: Vec<Row> = rows
            .into_iter()
            .enumerate()
            .map(|(index, (label, role, kind, bars))| {
                let top = AXIS_HEIGHT + index as f64 * ROW_HEIGHT;
                Row {
                    short_label: shortened(&label),
                    label,
                    role,
                    y: round(top),
                    bar_y: round(top + (ROW_HEIGHT - BAR_HEIGHT) / 2.0),
                    label_y: round(top + ROW_HEIGHT / 2.0 + 4.0),
                    bars,
                    kind,
                }
            })
            .collect();
        let top = AXIS_HEIGHT + rows.len() as f64 * ROW_HEIGHT;
        let people_height = (top - people_top).max(ROW_HEIGHT);
        let height = round(people_top + people_height + 6.0);

        let band = |span: &Span| Band {
            x: x(span.from),
            width: x(span.until) - x(span.from),
            from: time(span.from),
            until: time(span.until),
        };
        let breaches = self
            .breaches
            .iter()
            .map(|breach| Shade {
                x: x(breach.span.from),
                width: (x(breach.span.until) - x(breach.span.from)).max(2.0),
                title: breach.title.clone(),
                finding_id: breach.finding_id,
                from: time(breach.span.from),
                until: time(breach.span.until),
            })
            .collect();
        Some(TimelineView {
            width: WIDTH,
            height,
            label_width: LABEL_WIDTH,
            plot_right,
            axis_y: AXIS_HEIGHT - 10.0,
            people_top,
            people_height,
            rows,
            school_hours: self
                .school_hours
                .as_ref()
                .filter(|hours| hours.until > start && hours.from < end)
                .map(band),
            breaches,
            ticks: ticks(start, end, self.timezone)
                .into_iter()
                .map(|(at, label)| Tick { x: x(at), label })
                .collect(),
        })
    }
}

/// Whole-minute ticks between `start` and `end`, labelled in the school's time.
fn ticks(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    timezone: Option<Tz>,
) -> Vec<(DateTime<Utc>, String)> {
    let minutes = (end - start).num_minutes().max(1);
    let step = TICK_STEPS
        .into_iter()
        .find(|step| minutes / step <= MAX_TICKS)
        .unwrap_or(*TICK_STEPS.last().expect("steps"));
    let step_secs = step * 60;
    let first = (start.timestamp() + step_secs - 1).div_euclid(step_secs) * step_secs;
    (0..)
        .map(|n| first + n * step_secs)
        .map_while(|secs| DateTime::from_timestamp(secs, 0).filter(|at| *at <= end))
        .map(|at| {
            let label = match timezone {
                Some(timezone) => at.with_timezone(&timezone).format("%H:%M").to_string(),
                None => at.format("%H:%M").to_string(),
            };
            (at, label)
        })
        .collect()
}

/// Labels longer than the space beside the rows end in an ellipsis (the whole name is in the
/// bar's title and in the table below).
fn shortened(label: &str) -> String {
    const ROOM: usize = 24;
    if label.chars().count() <= ROOM {
        label.to_string()
    } else {
        let kept: String = label.chars().take(ROOM - 1).collect();
        format!("{}\u{2026}", kept.trim_end())
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, hour, minute, 0).unwrap()
    }

    fn span(from: DateTime<Utc>, until: DateTime<Utc>) -> Span {
        Span { from, until }
    }

    fn call() -> TimelineInput {
        TimelineInput {
            scheduled: Some(span(at(10, 0), at(10, 30))),
            actual: Some(span(at(10, 0), at(10, 40))),
            school_hours: Some(span(at(8, 30), at(16, 0))),
            rows: vec![
                PresenceRow {
                    label: "Ravi Patel".into(),
                    role: "staff".into(),
                    stays: vec![Stay {
                        span: span(at(10, 0), at(10, 40)),
                        inferred: false,
                    }],
                },
                PresenceRow {
                    label: "Jamie Smith".into(),
                    role: "pupil".into(),
                    stays: vec![Stay {
                        span: span(at(10, 1), at(10, 40)),
                        inferred: true,
                    }],
                },
            ],
            breaches: vec![Breach {
                span: span(at(10, 1), at(10, 11)),
                title: "Pupil without two staff".into(),
                finding_id: 7,
            }],
            timezone: Some(chrono_tz::Europe::London),
        }
    }

    #[test]
    fn positions_follow_time_and_a_breach_covers_its_window_only() {
        let view = call().lay_out().unwrap();
        assert_eq!(view.rows.len(), 4, "scheduled, call, two people");
        let pupil = &view.rows[3];
        let ravi = &view.rows[2].bars[0];
        assert!(pupil.bars[0].x > ravi.x, "the pupil came a minute later");
        assert!(pupil.bars[0].inferred);
        let breach = &view.breaches[0];
        assert_eq!(breach.from.iso, "2026-03-10T10:01:00Z");
        assert_eq!(breach.until.iso, "2026-03-10T10:11:00Z");
        assert_eq!(breach.x, pupil.bars[0].x, "starts as the pupil arrives");
        // Ten of the 40 minutes (plus padding): about a quarter of the call's width.
        let call = &view.rows[1].bars[0];
        let share = breach.width / call.width;
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert!(view.people_top >= view.rows[1].y + 26.0);
    }

    #[test]
    fn school_hours_are_clamped_to_the_drawn_range_and_ticks_read_local_time() {
        let view = call().lay_out().unwrap();
        let hours = view.school_hours.unwrap();
        assert_eq!(hours.x, LABEL_WIDTH);
        assert_eq!(hours.x + hours.width, WIDTH - RIGHT_MARGIN);
        // March 10th is before the clocks change: London is on GMT.
        assert!(view.ticks.iter().any(|tick| tick.label == "10:10"));
        let mut summer = call();
        summer.timezone = Some(chrono_tz::Europe::London);
        for row in &mut summer.rows {
            for stay in &mut row.stays {
                stay.span.from += Duration::days(90);
                stay.span.until += Duration::days(90);
            }
        }
        summer.scheduled = None;
        summer.actual = None;
        summer.breaches.clear();
        let view = summer.lay_out().unwrap();
        assert!(view.ticks.iter().any(|tick| tick.label == "11:10"), "BST");
    }

    #[test]
    fn a_call_outside_school_hours_has_no_band_and_nothing_to_draw_is_none() {
        let mut evening = call();
        evening.school_hours = Some(span(at(8, 30), at(9, 0)));
        assert!(evening.lay_out().unwrap().school_hours.is_none());
        assert!(TimelineInput::default().lay_out().is_none());
    }
}
