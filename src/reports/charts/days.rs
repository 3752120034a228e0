//! The daily charts (first reply, hit ratios, volume) on a true time axis:
//! every local day of the range has its place, a day without requests is a
//! gap (no line drawn across it), a strip under the chart shows how many
//! requests each day's point rests on, a pooled 7-day line sits beside thin
//! daily points, and days that are not final (SPEC §4) are shaded with
//! their line segments dashed. Pure drawing on any plotters backend.

use super::{Area, err, legend};
use crate::domain::daily::{DailyRow, Series, rolling};
use chrono::NaiveDate;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor;
use std::collections::HashMap;

/// Width of the y-axis label area of every daily chart and its strip, so
/// a day sits at the same x in both.
const Y_AXIS: u32 = 64;
/// Height of the count strip under a daily chart.
const STRIP: u32 = 118;
/// The not-final band's legend entry.
pub const NOT_FINAL: &str = "not final: can still change";
const BAND: RGBColor = RGBColor(255, 170, 0);

/// Every local day of the series' range, each at an integer x.
pub struct DayAxis {
    dates: Vec<NaiveDate>,
    index: HashMap<NaiveDate, usize>,
}

impl DayAxis {
    pub fn of(s: &Series) -> DayAxis {
        let dates = s.dates();
        let index = dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        DayAxis { dates, index }
    }

    pub fn len(&self) -> usize {
        self.dates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }

    pub fn x(&self, date: NaiveDate) -> Option<f64> {
        self.index.get(&date).map(|&i| i as f64)
    }

    fn span(&self) -> std::ops::Range<f64> {
        -0.5..self.dates.len().max(1) as f64 - 0.5
    }

    /// The day under an integer `x`, as "Nov 03"; nothing between days.
    pub fn label(&self, x: f64) -> String {
        let i = x.round();
        match self.dates.get(i.max(0.0) as usize) {
            Some(d) if (x - i).abs() < 1e-6 && i >= 0.0 => d.format("%b %d").to_string(),
            _ => String::new(),
        }
    }

    /// How many labels the axis asks for: every day up to two weeks.
    fn labels(&self) -> usize {
        self.dates.len().clamp(1, 14)
    }
}

/// One day's value on a daily chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub is_final: bool,
}

/// The days' values where defined, at their place on the axis.
fn daily(axis: &DayAxis, s: &Series, value: impl Fn(&DailyRow) -> Option<f64>) -> Vec<Point> {
    s.days
        .iter()
        .filter_map(|d| {
            Some(Point {
                x: axis.x(d.date)?,
                y: value(d)?,
                is_final: d.is_final,
            })
        })
        .collect()
}

/// Consecutive days as runs: a day without a value breaks the line (no
/// line is drawn across a gap).
pub fn runs(points: &[Point]) -> Vec<Vec<Point>> {
    let mut out: Vec<Vec<Point>> = Vec::new();
    for &p in points {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|q| p.x - q.x < 1.5) => run.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A line of daily points: solid between final days, dashed into and
/// within days that are not final, broken at gaps; dots on the days
/// (hollow when not final). `width` 0 draws the line without dots.
struct Line {
    label: &'static str,
    color: RGBColor,
    width: u32,
    points: Vec<Point>,
}

fn draw_line<DB: DrawingBackend>(chart: &mut Chart2d<'_, DB>, line: Line) -> anyhow::Result<()> {
    let (color, width) = (line.color, line.width.max(1));
    let style = color.stroke_width(width);
    chart
        .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), style))
        .map_err(err)?
        .label(line.label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    for run in runs(&line.points) {
        for pair in run.windows(2) {
            let ends = [(pair[0].x, pair[0].y), (pair[1].x, pair[1].y)];
            if pair[0].is_final && pair[1].is_final {
                chart
                    .draw_series(LineSeries::new(ends, style))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(ends, 7, 5, style))
                    .map_err(err)?;
            }
        }
        if line.width <= 2 {
            chart
                .draw_series(run.iter().map(|p| {
                    let fill = match p.is_final {
                        true => color.filled(),
                        false => color.stroke_width(2),
                    };
                    Circle::new((p.x, p.y), 3, fill)
                }))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Shades the days that are not final and names the shade in the legend.
fn not_final_bands<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    axis: &DayAxis,
    s: &Series,
    (lo, hi): (f64, f64),
) -> anyhow::Result<()> {
    let open: Vec<f64> = s
        .days
        .iter()
        .filter(|d| !d.is_final)
        .filter_map(|d| axis.x(d.date))
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(
            open.iter()
                .map(|&x| Rectangle::new([(x - 0.5, lo), (x + 0.5, hi)], BAND.mix(0.18).filled())),
        )
        .map_err(err)?
        .label(NOT_FINAL)
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], BAND.mix(0.35).filled()));
    Ok(())
}

/// Splits off the count strip under a daily chart and draws it: one grey
/// bar per day with its number of requests (printed where there is room).
/// Returns the area left for the chart above it.
fn with_count_strip<DB: DrawingBackend>(
    area: &Area<DB>,
    axis: &DayAxis,
    s: &Series,
) -> anyhow::Result<Area<DB>> {
    let (_, h) = area.dim_in_pixel();
    let (main, strip) = area.split_vertically(h.saturating_sub(STRIP));
    let max = s.days.iter().map(|d| d.requests).max().unwrap_or(0).max(1) as f64;
    let mut chart = ChartBuilder::on(&strip)
        .margin_left(12)
        .margin_right(12)
        .margin_bottom(8)
        .x_label_area_size(44)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(axis.span(), 0.0..max * 1.45)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("day (account's time zone); bars: requests each day's figures rest on")
        .y_desc("requests")
        .x_labels(axis.labels())
        .x_label_formatter(&|x| axis.label(*x))
        .y_labels(2)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(s.days.iter().filter_map(|d| {
            let x = axis.x(d.date)?;
            Some(Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, d.requests as f64)],
                grey.filled(),
            ))
        }))
        .map_err(err)?;
    // Each count printed above its bar where the day is wide enough for it
    // (thin days, the ones to read with care, have short numbers).
    let per_day =
        f64::from(area.dim_in_pixel().0.saturating_sub(Y_AXIS + 24)) / axis.len().max(1) as f64;
    let fits = |n: u64| per_day >= 7.0 * n.to_string().len() as f64;
    {
        let above = TextStyle::from(("sans-serif", 10).into_font())
            .color(&RGBColor(60, 60, 60))
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Center,
                text_anchor::VPos::Bottom,
            ));
        chart
            .draw_series(s.days.iter().filter(|d| fits(d.requests)).filter_map(|d| {
                let x = axis.x(d.date)?;
                Some(Text::new(
                    d.requests.to_string(),
                    (x, d.requests as f64),
                    above.clone(),
                ))
            }))
            .map_err(err)?;
    }
    Ok(main)
}

/// The chart above a count strip: the days' axis without labels (the
/// strip carries them), `y` over `range`.
fn upper_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    axis: &DayAxis,
    range: std::ops::Range<f64>,
) -> anyhow::Result<Chart2d<'a, DB>> {
    ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(12)
        .margin_top(8)
        .x_label_area_size(0)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(axis.span(), range)
        .map_err(err)
}

/// The logarithmic axis of the first-reply chart: from 30 s to above the
/// largest value (at least 1 h, so the targets show), and the human ticks
/// inside it. Median and p90 of very different sizes stay readable.
pub fn reply_axis(values: impl IntoIterator<Item = f64>) -> ((f64, f64), Vec<(f64, &'static str)>) {
    let max = values.into_iter().fold(3_600.0_f64, f64::max) * 1.5;
    let range = (30.0_f64.log10(), max.log10());
    let ticks = super::TIME_TICKS
        .iter()
        .copied()
        .filter(|(s, _)| s.log10() <= range.1)
        .collect();
    (range, ticks)
}

/// The series of the first-reply chart, in its legend's order (the
/// not-final shade follows when a day is not final).
pub const FIRST_REPLY_LEGEND: [&str; 5] = [
    "15 min target",
    "1 h target",
    "median of the last 7 days",
    "median",
    "p90",
];

pub(super) fn first_reply<DB: DrawingBackend>(area: &Area<DB>, s: &Series) -> anyhow::Result<()> {
    let axis = DayAxis::of(s);
    let pooled = rolling(&s.days, &axis.dates);
    let median = daily(&axis, s, |d| d.median_first_reply_seconds);
    let p90 = daily(&axis, s, |d| d.p90_first_reply_seconds);
    let week: Vec<Point> = pooled
        .iter()
        .filter_map(|p| {
            Some(Point {
                x: axis.x(p.date)?,
                y: p.median_first_reply_seconds?,
                is_final: p.is_final,
            })
        })
        .collect();
    let (range, ticks) = reply_axis(median.iter().chain(&p90).map(|p| p.y));
    let area = with_count_strip(area, &axis, s)?;
    let mut chart = upper_chart(&area, &axis, range.0..range.1)?;
    // No linear labels on y: the human ticks (log scale) are grid lines
    // labelled at their left end, inside the plot.
    chart
        .configure_mesh()
        .y_desc("first reply (log scale)")
        .x_labels(axis.labels())
        .x_label_formatter(&|_| String::new())
        .y_labels(0)
        .disable_y_mesh()
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    not_final_bands(&mut chart, &axis, s, range)?;
    let (x0, x1) = (axis.span().start, axis.span().end);
    let tick_style = TextStyle::from(("sans-serif", 13).into_font())
        .color(&RGBColor(80, 80, 80))
        .pos(text_anchor::Pos::new(
            text_anchor::HPos::Left,
            text_anchor::VPos::Bottom,
        ));
    for &(seconds, label) in &ticks {
        let y = seconds.log10();
        chart
            .draw_series(LineSeries::new([(x0, y), (x1, y)], RGBColor(200, 200, 200)))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (x0 + 0.05, y),
                tick_style.clone(),
            )))
            .map_err(err)?;
    }
    let targets = [(900.0, RGBColor(46, 139, 87)), (3_600.0, RED)];
    for (i, (seconds, color)) in targets.into_iter().enumerate() {
        let y = f64::log10(seconds);
        chart
            .draw_series(LineSeries::new([(x0, y), (x1, y)], color.stroke_width(2)))
            .map_err(err)?
            .label(FIRST_REPLY_LEGEND[i])
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    let log = |points: Vec<Point>| -> Vec<Point> {
        points
            .into_iter()
            .map(|p| Point {
                y: p.y.max(1.0).log10(),
                ..p
            })
            .collect()
    };
    // The pooled line first, under the daily points it smooths.
    let lines = [
        (FIRST_REPLY_LEGEND[2], RGBColor(150, 185, 255), 5, week),
        (FIRST_REPLY_LEGEND[3], BLUE, 2, median),
        (FIRST_REPLY_LEGEND[4], MAGENTA, 2, p90),
    ];
    for (label, color, width, points) in lines {
        let points = log(points);
        draw_line(
            &mut chart,
            Line {
                label,
                color,
                width,
                points,
            },
        )?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The series of the hit-ratio chart, in its legend's order.
pub const HIT_RATIO_LEGEND: [&str; 5] = [
    "90 % (badge)",
    "within 1 h, last 7 days",
    "within 24 h, last 7 days",
    "within 1 h",
    "within 24 h = response rate",
];

pub(super) fn hit_ratios<DB: DrawingBackend>(area: &Area<DB>, s: &Series) -> anyhow::Result<()> {
    let axis = DayAxis::of(s);
    let pooled = rolling(&s.days, &axis.dates);
    let percent = |v: Option<f64>| v.map(|v| v * 100.0);
    let week = |value: fn(&crate::domain::daily::Pooled) -> Option<f64>| -> Vec<Point> {
        pooled
            .iter()
            .filter_map(|p| {
                Some(Point {
                    x: axis.x(p.date)?,
                    y: value(p)? * 100.0,
                    is_final: p.is_final,
                })
            })
            .collect()
    };
    let area = with_count_strip(area, &axis, s)?;
    let mut chart = upper_chart(&area, &axis, 0.0..105.0)?;
    chart
        .configure_mesh()
        .y_desc("% of decided requests")
        .x_labels(axis.labels())
        .x_label_formatter(&|_| String::new())
        .y_labels(11)
        .light_line_style(RGBColor(245, 245, 245))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    not_final_bands(&mut chart, &axis, s, (0.0, 105.0))?;
    let (x0, x1) = (axis.span().start, axis.span().end);
    chart
        .draw_series(LineSeries::new([(x0, 90.0), (x1, 90.0)], BLACK.mix(0.6)))
        .map_err(err)?
        .label(HIT_RATIO_LEGEND[0])
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    let green = RGBColor(46, 139, 87);
    let lines = [
        Line {
            label: HIT_RATIO_LEGEND[1],
            color: RGBColor(150, 185, 255),
            width: 5,
            points: week(|p| p.hit_ratio_1h),
        },
        Line {
            label: HIT_RATIO_LEGEND[2],
            color: RGBColor(150, 215, 175),
            width: 5,
            points: week(|p| p.hit_ratio_24h),
        },
        Line {
            label: HIT_RATIO_LEGEND[3],
            color: BLUE,
            width: 2,
            points: daily(&axis, s, |d| percent(d.hit_ratio_1h)),
        },
        Line {
            label: HIT_RATIO_LEGEND[4],
            color: green,
            width: 2,
            points: daily(&axis, s, |d| percent(d.hit_ratio_24h)),
        },
    ];
    for line in lines {
        draw_line(&mut chart, line)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

pub(super) fn volume<DB: DrawingBackend>(area: &Area<DB>, s: &Series) -> anyhow::Result<()> {
    let axis = DayAxis::of(s);
    let max = s.days.iter().map(|d| d.requests).max().unwrap_or(1).max(1) as f64;
    let top = max * 1.35;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(axis.span(), 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("day (account's time zone)")
        .y_desc("requests")
        .x_labels(axis.labels())
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    not_final_bands(&mut chart, &axis, s, (0.0, top))?;
    type F = fn(&DailyRow) -> u64;
    let stack: [(F, &str, RGBColor); 4] = [
        (
            |d| d.within_1h,
            "answered within 1 h",
            RGBColor(46, 139, 87),
        ),
        (|d| d.within_24h, "within 24 h", RGBColor(240, 180, 40)),
        (|d| d.later, "later", RGBColor(220, 80, 60)),
        (|d| d.pending, "pending", RGBColor(150, 150, 150)),
    ];
    let mut base: Vec<u64> = vec![0; s.days.len()];
    for (f, label, color) in stack {
        let bars: Vec<Rectangle<(f64, f64)>> = s
            .days
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let x = axis.x(d.date)?;
                let (lo, hi) = (base[i], base[i] + f(d));
                base[i] = hi;
                Some(Rectangle::new(
                    [(x - 0.35, lo as f64), (x + 0.35, hi as f64)],
                    color.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64) -> Point {
        Point {
            x,
            y: 1.0,
            is_final: true,
        }
    }

    /// Issue 19: the first-reply axis is logarithmic with human ticks from
    /// 1 min up to above the largest value, so a 3,000-minute p90 and a
    /// 10-minute median are both readable; the targets stay on the chart.
    #[test]
    fn the_first_reply_axis_is_logarithmic_with_human_ticks() {
        let (range, ticks) = reply_axis([600.0, 180_000.0]);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1).collect();
        assert_eq!(
            labels,
            ["1 min", "5 min", "15 min", "1 h", "4 h", "1 d", "3 d"]
        );
        assert!((range.0 - 30f64.log10()).abs() < 1e-12);
        assert!(range.1 > 180_000f64.log10(), "the largest value fits");
        // A quick account: the 1 h target still shows.
        let (_, ticks) = reply_axis([120.0]);
        assert_eq!(ticks.last().unwrap().1, "1 h");
    }

    #[test]
    fn a_day_without_a_value_breaks_the_line() {
        let points = [p(0.0), p(1.0), p(3.0), p(4.0), p(6.0)];
        let lengths: Vec<usize> = runs(&points).iter().map(Vec::len).collect();
        assert_eq!(lengths, [2, 2, 1]);
    }
}
