//! The reports' bar charts as geometry for the page's SVG: one group of bars per month,
//! stacked (findings by severity) or side by side (median beside 90th percentile), with a
//! value axis of round steps. Pure: numbers and labels in, positions out; the template draws
//! them and escapes every label.

use serde::Serialize;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = WIDTH - 12.0;
const PLOT_TOP: f64 = 12.0;
const BASELINE: f64 = HEIGHT - 28.0;
/// The share of a month's width its bars take.
const GROUP_SHARE: f64 = 0.6;
/// At most this many steps up the value axis.
const MAX_STEPS: f64 = 5.0;

/// What the values measure, which decides the axis's steps and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    /// Values in seconds, the axis in round lengths of time.
    Seconds,
}

impl Unit {
    /// The smallest round step that climbs to `max` in at most [`MAX_STEPS`] steps.
    fn step(self, max: f64) -> f64 {
        let candidates: &[f64] = match self {
            Unit::Count => &[1.0, 2.0, 5.0],
            Unit::Seconds => &[
                60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                43200.0, 86400.0, 172800.0, 432000.0, 864000.0,
            ],
        };
        let mut scale = 1.0;
        loop {
            for candidate in candidates {
                let step = candidate * scale;
                if max / step <= MAX_STEPS {
                    return step;
                }
            }
            scale *= 10.0;
        }
    }

    pub fn words(self, value: f64) -> String {
        match self {
            Unit::Count => format!("{value}"),
            Unit::Seconds => duration_words(value as i64),
        }
    }
}

/// A length of time as a reader says it: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
pub fn duration_words(secs: i64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match secs {
        ..60 => format!("{secs} s"),
        60..3600 => format!("{minutes} min"),
        3600..86_400 if minutes == 0 => format!("{hours} h"),
        3600..86_400 => format!("{hours} h {minutes} min"),
        _ if hours == 0 => format!("{days} d"),
        _ => format!("{days} d {hours} h"),
    }
}

/// One of the things each month has a bar for.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Series {
    pub name: &'static str,
    /// The bars' class, which colours them.
    pub class: &'static str,
}

/// A month: its key (`YYYY-MM`), the short label under its bars, its full title.
#[derive(Debug, Clone)]
pub struct Category {
    pub key: String,
    pub short: String,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub class: &'static str,
    pub series: &'static str,
    pub value: f64,
    /// The value as the bar's tooltip says it.
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub key: String,
    pub title: String,
    pub label: String,
    /// The middle of the month's space, where its label sits.
    pub label_x: f64,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub plot_left: f64,
    pub plot_right: f64,
    pub baseline: f64,
    pub label_y: f64,
    pub ticks: Vec<Tick>,
    pub groups: Vec<Group>,
    pub series: Vec<Series>,
}

/// Lays out bars for `values[category][series]` (`None`: no bar, as for a month in which no
/// one acted on a finding). Stacked bars leave out their empty parts; side-by-side bars keep
/// a zero as a bar of no height, so that every month with a value has its bar.
pub fn lay_out(
    categories: &[Category],
    series: &[Series],
    values: &[Vec<Option<f64>>],
    stacked: bool,
    unit: Unit,
) -> Chart {
    let height_of = |row: &Vec<Option<f64>>| -> f64 {
        let present = row.iter().flatten().copied();
        if stacked {
            present.sum()
        } else {
            present.fold(0.0, f64::max)
        }
    };
    let max = values.iter().map(height_of).fold(0.0, f64::max);
    let step = unit.step(max);
    let top = (max / step).ceil().max(1.0) * step;
    let scale = (BASELINE - PLOT_TOP) / top;
    let y_of = |value: f64| round(BASELINE - value * scale);
    let ticks = (0..=((top / step).round() as usize))
        .map(|index| {
            let value = index as f64 * step;
            Tick {
                y: y_of(value),
                // The axis starts at a bare nought, whatever the unit.
                label: if index == 0 {
                    "0".to_string()
                } else {
                    unit.words(value)
                },
            }
        })
        .collect();

    let slot = (PLOT_RIGHT - PLOT_LEFT) / categories.len().max(1) as f64;
    let group_width = slot * GROUP_SHARE;
    let groups = categories
        .iter()
        .zip(values)
        .enumerate()
        .map(|(index, (category, row))| {
            let left = PLOT_LEFT + index as f64 * slot + (slot - group_width) / 2.0;
            let mut bars = Vec::new();
            let mut stacked_so_far = 0.0;
            let bar_width = if stacked {
                group_width
            } else {
                group_width / series.len().max(1) as f64
            };
            for (position, (kind, value)) in series.iter().zip(row).enumerate() {
                let Some(value) = *value else { continue };
                let (base, x) = if stacked {
                    if value <= 0.0 {
                        continue;
                    }
                    (stacked_so_far, left)
                } else {
                    (0.0, left + position as f64 * bar_width)
                };
                stacked_so_far += value;
                let y = y_of(base + value);
                bars.push(Bar {
                    x: round(x),
                    y,
                    width: round(bar_width),
                    height: round(y_of(base) - y),
                    class: kind.class,
                    series: kind.name,
                    value,
                    text: unit.words(value),
                });
            }
            Group {
                key: category.key.clone(),
                title: category.title.clone(),
                label: category.short.clone(),
                label_x: round(PLOT_LEFT + (index as f64 + 0.5) * slot),
                bars,
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        plot_left: PLOT_LEFT,
        plot_right: PLOT_RIGHT,
        baseline: BASELINE,
        label_y: BASELINE + 18.0,
        ticks,
        groups,
        series: series.to_vec(),
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(count: usize) -> Vec<Category> {
        (0..count)
            .map(|index| Category {
                key: format!("2025-{:02}", index + 1),
                short: format!("M{index}"),
                title: format!("Month {index}"),
            })
            .collect()
    }

    const ONE: [Series; 1] = [Series {
        name: "Calls held",
        class: "calls",
    }];

    #[test]
    fn every_month_has_its_bar_and_the_tallest_reaches_the_axis_top_step() {
        let values = vec![vec![Some(3.0)], vec![Some(0.0)], vec![Some(7.0)]];
        let chart = lay_out(&months(3), &ONE, &values, false, Unit::Count);
        assert_eq!(chart.groups.len(), 3);
        assert!(chart.groups.iter().all(|group| group.bars.len() == 1));
        assert_eq!(chart.groups[1].bars[0].height, 0.0);
        // 7 climbs in steps of 2 to 8.
        let labels: Vec<&str> = chart.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "2", "4", "6", "8"]);
        let tallest = &chart.groups[2].bars[0];
        assert!(tallest.y > chart.ticks.last().unwrap().y);
        assert_eq!(tallest.y + tallest.height, chart.baseline);
    }

    #[test]
    fn stacked_bars_sit_on_each_other_and_leave_out_empty_parts() {
        let series = [
            Series {
                name: "critical",
                class: "critical",
            },
            Series {
                name: "high",
                class: "high",
            },
            Series {
                name: "low",
                class: "low",
            },
        ];
        let values = vec![vec![Some(1.0), Some(0.0), Some(2.0)]];
        let chart = lay_out(&months(1), &series, &values, true, Unit::Count);
        let bars = &chart.groups[0].bars;
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].y + bars[0].height, chart.baseline);
        assert!((bars[1].y + bars[1].height - bars[0].y).abs() < 0.2);
    }

    #[test]
    fn times_climb_in_round_lengths_and_read_as_words() {
        let values = vec![vec![Some(600.0), Some(5400.0)], vec![None, None]];
        let series = [
            Series {
                name: "Median",
                class: "median",
            },
            Series {
                name: "90th percentile",
                class: "p90",
            },
        ];
        let chart = lay_out(&months(2), &series, &values, false, Unit::Seconds);
        assert!(chart.groups[1].bars.is_empty());
        assert_eq!(chart.groups[0].bars[1].text, "1 h 30 min");
        assert_eq!(chart.ticks.last().unwrap().label, "1 h 30 min");
        assert_eq!(chart.ticks[1].label, "30 min");
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(3600), "1 h");
        assert_eq!(duration_words(2 * 86_400 + 4 * 3600 + 60), "2 d 4 h");
    }
}
