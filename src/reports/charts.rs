//! PNG charts (plotters, with an embedded DejaVu Sans so no system fonts
//! are needed) of one group's [`Series`]. Pure rendering: series in, PNG
//! bytes out; no HTTP, no store. Callers run it off the async threads.

use crate::domain::daily::{DailyRow, SLA_BUCKETS, Series};
use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::text_anchor;
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (960, 540);

/// The charts of issue 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    FirstReply,
    HitRatios,
    Volume,
    Distribution,
    Heatmap,
}

impl Chart {
    pub const ALL: [Chart; 5] = [
        Chart::FirstReply,
        Chart::HitRatios,
        Chart::Volume,
        Chart::Distribution,
        Chart::Heatmap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Chart::FirstReply => "first-reply",
            Chart::HitRatios => "hit-ratios",
            Chart::Volume => "volume",
            Chart::Distribution => "distribution",
            Chart::Heatmap => "heatmap",
        }
    }

    pub fn parse(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.name() == name)
    }

    fn title(self) -> &'static str {
        match self {
            Chart::FirstReply => "First-reply time per day",
            Chart::HitRatios => "Hit ratios per day",
            Chart::Volume => "Requests per day",
            Chart::Distribution => "First replies by SLA bucket",
            Chart::Heatmap => "Median first reply by hour and weekday",
        }
    }
}

fn font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the embedded font is invalid"))
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e:?}")
}

/// Renders `chart` of `series`; `subject` names the account, channel and window.
pub fn render(chart: Chart, series: &Series, subject: &str) -> anyhow::Result<Vec<u8>> {
    font()?;
    let (w, h) = SIZE;
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(50);
        top.draw(&Text::new(
            format!("{} — {subject}", chart.title()),
            (12, 8),
            ("sans-serif", 22),
        ))
        .map_err(err)?;
        top.draw(&Text::new(
            format!("based on {} requests", series.requests),
            (12, 32),
            ("sans-serif", 14).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(err)?;
        match chart {
            Chart::FirstReply => first_reply(&body, series)?,
            Chart::HitRatios => hit_ratios(&body, series)?,
            Chart::Volume => volume(&body, series)?,
            Chart::Distribution => distribution(&body, series)?,
            Chart::Heatmap => heatmap(&body, series)?,
        }
        root.present().map_err(err)?;
    }
    let image =
        image::RgbImage::from_raw(w, h, pixels).ok_or_else(|| anyhow!("bad pixel buffer"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageOutputFormat::Png)
        .map_err(|e| anyhow!("encoding PNG: {e}"))?;
    Ok(png.into_inner())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn day_label(series: &Series, x: f64) -> String {
    let i = x.round() as usize;
    match series.days.get(i) {
        Some(d) if (x - i as f64).abs() < 1e-6 => d.date.format("%b %d").to_string(),
        _ => String::new(),
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(at)
        .draw()
        .map_err(err)
}

/// A daily series drawn as a line with dots.
struct Line {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// One value per day where defined.
fn daily(s: &Series, value: impl Fn(&DailyRow) -> Option<f64>) -> Vec<(f64, f64)> {
    s.days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| value(d).map(|v| (i as f64, v)))
        .collect()
}

/// A chart of daily lines over `0..y_max` with horizontal reference lines.
fn daily_lines(
    area: &Area,
    s: &Series,
    y_desc: &str,
    y_max: f64,
    references: &[(f64, &'static str, RGBColor)],
    lines: Vec<Line>,
    legend_at: SeriesLabelPosition,
) -> anyhow::Result<()> {
    let n = s.days.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("day (account's time zone)")
        .y_desc(y_desc)
        .x_labels(s.days.len().min(14))
        .x_label_formatter(&|x| day_label(s, *x))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for &(y, label, color) in references {
        chart
            .draw_series(LineSeries::new([(-0.5, y), (n - 0.5, y)], color.mix(0.6)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(line.points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(
                line.points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(err)?;
    }
    legend(&mut chart, legend_at)
}

/// The human ticks of the first-reply axis (seconds, label).
const REPLY_TICKS: [(f64, &str); 9] = [
    (60.0, "1 min"),
    (300.0, "5 min"),
    (900.0, "15 min"),
    (3_600.0, "1 h"),
    (14_400.0, "4 h"),
    (86_400.0, "1 d"),
    (259_200.0, "3 d"),
    (604_800.0, "7 d"),
    (2_592_000.0, "30 d"),
];

/// The logarithmic axis of the first-reply chart: from 30 s to above the
/// largest value (at least 1 h, so the targets show), and the human ticks
/// inside it. Median and p90 of very different sizes stay readable.
pub fn reply_axis(values: impl IntoIterator<Item = f64>) -> ((f64, f64), Vec<(f64, &'static str)>) {
    let max = values.into_iter().fold(3_600.0_f64, f64::max) * 1.5;
    let range = (30.0_f64.log10(), max.log10());
    let ticks = REPLY_TICKS
        .iter()
        .copied()
        .filter(|(s, _)| s.log10() <= range.1)
        .collect();
    (range, ticks)
}

/// Consecutive days as runs: a day without a value breaks the line (no
/// line is drawn across a gap).
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for &p in points {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|q| p.0 - q.0 < 1.5) => run.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

/// The series of the first-reply chart, in its legend's order.
pub const FIRST_REPLY_LEGEND: [&str; 4] = ["15 min target", "1 h target", "median", "p90"];

fn first_reply(area: &Area, s: &Series) -> anyhow::Result<()> {
    let median = daily(s, |d| d.median_first_reply_seconds);
    let p90 = daily(s, |d| d.p90_first_reply_seconds);
    let (range, ticks) = reply_axis(median.iter().chain(&p90).map(|p| p.1));
    let n = s.days.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(30)
        .build_cartesian_2d(-0.5..n - 0.5, range.0..range.1)
        .map_err(err)?;
    // Days on x; on y no linear labels: the human ticks (log scale) are
    // drawn as grid lines labelled at their left end, inside the plot.
    chart
        .configure_mesh()
        .x_desc("day (account's time zone)")
        .y_desc("first reply (log scale)")
        .x_labels(s.days.len().min(14))
        .x_label_formatter(&|x| day_label(s, *x))
        .y_labels(0)
        .disable_y_mesh()
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    let grey = RGBColor(200, 200, 200);
    let tick_style = TextStyle::from(("sans-serif", 13).into_font())
        .color(&RGBColor(80, 80, 80))
        .pos(text_anchor::Pos::new(
            text_anchor::HPos::Left,
            text_anchor::VPos::Bottom,
        ));
    for &(seconds, label) in &ticks {
        let y = seconds.log10();
        chart
            .draw_series(LineSeries::new([(-0.5, y), (n - 0.5, y)], grey))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (-0.45, y),
                tick_style.clone(),
            )))
            .map_err(err)?;
    }
    let targets = [(900.0, RGBColor(46, 139, 87)), (3_600.0, RED)];
    for (i, (seconds, color)) in targets.into_iter().enumerate() {
        let y = f64::log10(seconds);
        chart
            .draw_series(LineSeries::new(
                [(-0.5, y), (n - 0.5, y)],
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(FIRST_REPLY_LEGEND[i])
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (i, (points, color)) in [(median, BLUE), (p90, MAGENTA)].into_iter().enumerate() {
        let points: Vec<(f64, f64)> = points
            .into_iter()
            .map(|(x, v)| (x, v.max(1.0).log10()))
            .collect();
        for (j, run) in runs(&points).into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(run.clone(), color.stroke_width(2)))
                .map_err(err)?;
            if j == 0 {
                drawn
                    .label(FIRST_REPLY_LEGEND[2 + i])
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .draw_series(run.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn hit_ratios(area: &Area, s: &Series) -> anyhow::Result<()> {
    let percent = |v: Option<f64>| v.map(|v| v * 100.0);
    daily_lines(
        area,
        s,
        "% of decided requests",
        100.0,
        &[(90.0, "90 % (badge)", BLACK)],
        vec![
            Line {
                label: "within 1 h",
                color: BLUE,
                points: daily(s, |d| percent(d.hit_ratio_1h)),
            },
            Line {
                label: "within 24 h = response rate",
                color: RGBColor(46, 139, 87),
                points: daily(s, |d| percent(d.hit_ratio_24h)),
            },
        ],
        SeriesLabelPosition::LowerRight,
    )
}

fn volume(area: &Area, s: &Series) -> anyhow::Result<()> {
    let n = s.days.len().max(1) as f64;
    let max = s.days.iter().map(|d| d.requests).max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..max * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("day (account's time zone)")
        .y_desc("requests")
        .x_labels(s.days.len().min(14))
        .x_label_formatter(&|x| day_label(s, *x))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    type F = fn(&crate::domain::daily::DailyRow) -> u64;
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
    let mut base = vec![0u64; s.days.len()];
    for (f, label, color) in stack {
        let bars: Vec<Rectangle<(f64, f64)>> = s
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (lo, hi) = (base[i], base[i] + f(d));
                base[i] = hi;
                Rectangle::new(
                    [(i as f64 - 0.35, lo as f64), (i as f64 + 0.35, hi as f64)],
                    color.filled(),
                )
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

fn bucket_label(i: usize) -> String {
    let fmt = |s: i64| match s {
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    };
    match i {
        0 => format!("≤ {}", fmt(SLA_BUCKETS[0])),
        i if i < SLA_BUCKETS.len() => format!("≤ {}", fmt(SLA_BUCKETS[i])),
        _ => "> 24 h".to_string(),
    }
}

fn distribution(area: &Area, s: &Series) -> anyhow::Result<()> {
    let n = s.distribution.len();
    let max = s.distribution.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..max * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("first-reply time (SPEC §5 buckets)")
        .y_desc("answered requests")
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                bucket_label(i as usize)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(s.distribution.iter().enumerate().map(|(i, &c)| {
            let color = if i <= 4 {
                RGBColor(46, 139, 87)
            } else {
                RGBColor(220, 80, 60)
            };
            Rectangle::new(
                [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, c as f64)],
                color.filled(),
            )
        }))
        .map_err(err)?;
    Ok(())
}

/// The heatmap's scale: viridis anchors from fast (light yellow) to slow
/// (dark purple), perceptually ordered (lightness falls monotonically), on
/// a log scale from 1 min to 1 day.
const VIRIDIS: [(u8, u8, u8); 5] = [
    (253, 231, 37),
    (94, 201, 98),
    (33, 145, 140),
    (59, 82, 139),
    (68, 1, 84),
];
const HEAT_FROM: f64 = 60.0;
const HEAT_TO: f64 = 86_400.0;
/// The colour bar's labels (seconds, label).
pub const HEAT_TICKS: [(f64, &str); 6] = [
    (60.0, "1 min"),
    (300.0, "5 min"),
    (900.0, "15 min"),
    (3_600.0, "1 h"),
    (14_400.0, "4 h"),
    (86_400.0, "1 d"),
];

/// Where `seconds` sits on the scale, 0 (fast) to 1 (slow).
fn heat_position(seconds: f64) -> f64 {
    ((seconds.max(1.0) / HEAT_FROM).ln() / (HEAT_TO / HEAT_FROM).ln()).clamp(0.0, 1.0)
}

/// The colour of a median first reply.
pub fn heat_color(seconds: f64) -> RGBColor {
    let t = heat_position(seconds) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A median as it fits in a cell: "45s", "12m", "3h", "2d".
pub fn cell_label(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0}s"),
        s if s < 5_400.0 => format!("{:.0}m", s / 60.0),
        s if s < 172_800.0 => format!("{:.0}h", s / 3_600.0),
        s => format!("{:.0}d", s / 86_400.0),
    }
}

/// Relative luminance of a colour (0 dark … 1 light), to pick the text on it.
fn luminance(c: RGBColor) -> f64 {
    (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0
}

fn heatmap(area: &Area, s: &Series) -> anyhow::Result<()> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let (w, _) = area.dim_in_pixel();
    let (cells, bar) = area.split_horizontally(w.saturating_sub(110));
    let mut chart = ChartBuilder::on(&cells)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..24.0, -0.5..6.5)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(
            "hour of opening (account's time zone); cell: median first reply; blank: no request",
        )
        .x_labels(24)
        .y_labels(7)
        .x_label_formatter(&|x| format!("{:02}", *x as u32))
        .y_label_formatter(&|y: &f64| {
            let row = y.round();
            match (row - y).abs() < 1e-6 && (0.0..=6.0).contains(&row) {
                true => DAYS[6 - row as usize].to_string(),
                false => String::new(),
            }
        })
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    let centred = |ink: &'static RGBColor| {
        TextStyle::from(("sans-serif", 11).into_font())
            .color(ink)
            .pos(text_anchor::Pos::new(
                text_anchor::HPos::Center,
                text_anchor::VPos::Center,
            ))
    };
    for (day, hours) in s.heatmap.iter().enumerate() {
        let y = (6 - day) as f64; // Monday on top
        for (hour, cell) in hours.iter().enumerate() {
            let corners = [(hour as f64, y - 0.45), (hour as f64 + 0.95, y + 0.45)];
            match cell {
                Some(v) => {
                    let fill = heat_color(*v);
                    chart
                        .draw_series([Rectangle::new(corners, fill.filled())])
                        .map_err(err)?;
                    let ink: &'static RGBColor = match luminance(fill) > 0.5 {
                        true => &BLACK,
                        false => &WHITE,
                    };
                    chart
                        .draw_series([Text::new(
                            cell_label(*v),
                            (hour as f64 + 0.475, y),
                            centred(ink),
                        )])
                        .map_err(err)?;
                }
                // Empty: white with a thin outline, unlike any value.
                None => {
                    chart
                        .draw_series([Rectangle::new(corners, RGBColor(215, 215, 215))])
                        .map_err(err)?;
                }
            }
        }
    }
    colour_bar(&bar)
}

/// The heatmap's colour bar: the scale from 1 min (top) to 1 day, labelled.
fn colour_bar(area: &Area) -> anyhow::Result<()> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(12)
        .margin_bottom(52)
        .margin_left(8)
        .margin_right(60)
        .build_cartesian_2d(0.0..1.0, 1.0..0.0)
        .map_err(err)?;
    let steps = 100;
    bar.draw_series((0..steps).map(|i| {
        let (t0, t1) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        let seconds = HEAT_FROM * (HEAT_TO / HEAT_FROM).powf((t0 + t1) / 2.0);
        Rectangle::new([(0.0, t0), (1.0, t1)], heat_color(seconds).filled())
    }))
    .map_err(err)?;
    let label = TextStyle::from(("sans-serif", 12).into_font()).pos(text_anchor::Pos::new(
        text_anchor::HPos::Left,
        text_anchor::VPos::Center,
    ));
    for (seconds, text) in HEAT_TICKS {
        let t = heat_position(seconds);
        bar.draw_series([PathElement::new([(1.0, t), (1.25, t)], BLACK)])
            .map_err(err)?;
        bar.draw_series([Text::new(text, (1.3, t), label.clone())])
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            FIRST_REPLY_LEGEND,
            ["15 min target", "1 h target", "median", "p90"]
        );
    }

    /// Issue 19, heatmap: a perceptually ordered scale (lightness falls as
    /// the reply gets slower), a colour bar labelled 1 min … 1 d, compact
    /// values that fit a cell.
    #[test]
    fn the_heatmap_scale_darkens_with_the_reply_time_and_its_bar_is_labelled() {
        let seconds = [
            30.0, 60.0, 300.0, 900.0, 3_600.0, 14_400.0, 86_400.0, 300_000.0,
        ];
        let light: Vec<f64> = seconds.iter().map(|s| luminance(heat_color(*s))).collect();
        assert!(light.windows(2).all(|w| w[0] >= w[1]), "{light:?}");
        assert!(light[1] > 0.8 && light[6] < 0.1, "{light:?}");
        let labels: Vec<&str> = HEAT_TICKS.iter().map(|t| t.1).collect();
        assert_eq!(labels, ["1 min", "5 min", "15 min", "1 h", "4 h", "1 d"]);
        let shown: Vec<String> = [45.0, 720.0, 10_800.0, 200_000.0]
            .iter()
            .map(|s| cell_label(*s))
            .collect();
        assert_eq!(shown, ["45s", "12m", "3h", "2d"]);
    }

    #[test]
    fn a_day_without_a_value_breaks_the_line() {
        let points = [(0.0, 1.0), (1.0, 2.0), (3.0, 1.0), (4.0, 1.0), (6.0, 5.0)];
        let lengths: Vec<usize> = runs(&points).iter().map(Vec::len).collect();
        assert_eq!(lengths, [2, 2, 1]);
    }

    #[test]
    fn every_chart_renders_a_png_even_without_data() {
        for chart in Chart::ALL {
            let png = render(
                chart,
                &Series {
                    heatmap: vec![[None; 24]; 7],
                    distribution: vec![0; 10],
                    ..Series::default()
                },
                "acme/all, 7d",
            )
            .unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{chart:?}");
            assert_eq!(Chart::parse(chart.name()), Some(chart));
        }
    }
}
