//! PNG charts (plotters, with an embedded DejaVu Sans so no system fonts
//! are needed) of one group's [`Series`]. Pure rendering: series in, PNG
//! bytes out; no HTTP, no store. Callers run it off the async threads.
//! The drawing is generic over the plotters backend, so tests read what a
//! chart draws (its ticks, legend entries, titles and where they sit)
//! through a recording backend instead of pixels.

mod days;
mod heatmap;
#[cfg(test)]
mod record;

pub use days::{DayAxis, FIRST_REPLY_LEGEND, HIT_RATIO_LEGEND, NOT_FINAL, reply_axis};
pub use heatmap::{cell_label, heat_color, heat_ticks};

use crate::domain::daily::{SLA_BUCKETS, Series};
use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
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

type Area<DB> = DrawingArea<DB, Shift>;

/// Human ticks of a time scale (seconds, label): the first-reply axis
/// shows those up to above its largest value, the heatmap's colour bar
/// those up to 1 day.
const TIME_TICKS: [(f64, &str); 9] = [
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

/// Renders `chart` of `series`; `subject` names the account, channel and window.
pub fn render(chart: Chart, series: &Series, subject: &str) -> anyhow::Result<Vec<u8>> {
    font()?;
    let (w, h) = SIZE;
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, chart, series, subject)?;
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

/// Draws `chart` on any backend: the header, then the chart's body.
fn draw<DB: DrawingBackend>(
    root: &Area<DB>,
    chart: Chart,
    series: &Series,
    subject: &str,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let (top, body) = root.split_vertically(54);
    header(&top, chart, series, subject)?;
    match chart {
        Chart::FirstReply => days::first_reply(&body, series),
        Chart::HitRatios => days::hit_ratios(&body, series),
        Chart::Volume => days::volume(&body, series),
        Chart::Distribution => distribution(&body, series),
        Chart::Heatmap => heatmap::heatmap(&body, series),
    }
}

/// The chart's title, then its subject and how many requests it rests on,
/// the subject shortened with "…" so the line fits the image whatever the
/// length of the account's name.
fn header<DB: DrawingBackend>(
    top: &Area<DB>,
    chart: Chart,
    series: &Series,
    subject: &str,
) -> anyhow::Result<()> {
    let width = i64::from(top.dim_in_pixel().0) - 24;
    let title = ("sans-serif", 22).into_font();
    top.draw(&Text::new(chart.title(), (12, 6), title))
        .map_err(err)?;
    let small = ("sans-serif", 14).into_font();
    let style = TextStyle::from(small.clone());
    let measure = |text: &str| {
        top.estimate_text_size(text, &style)
            .map(|(w, _)| i64::from(w))
            .unwrap_or(i64::MAX)
    };
    let rests_on = format!(" · based on {} requests", series.requests);
    let line = fit(subject, width - measure(&rests_on), measure) + &rests_on;
    top.draw(&Text::new(
        line,
        (12, 33),
        small.color(&RGBColor(90, 90, 90)),
    ))
    .map_err(err)?;
    Ok(())
}

/// `text`, or its longest beginning that fits in `width` with "…" after it.
fn fit(text: &str, width: i64, measure: impl Fn(&str) -> i64) -> String {
    if measure(text) <= width {
        return text.to_string();
    }
    // `ends[k]`: where the first k characters end. The whole text does not
    // fit, so at most all but its last character are kept; the longest
    // prefix that fits is found by bisection.
    let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let shortened = |k: usize| format!("{}…", &text[..ends.get(k).copied().unwrap_or(0)]);
    let (mut lo, mut hi) = (0, ends.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match measure(&shortened(mid)) <= width {
            true => lo = mid,
            false => hi = mid - 1,
        }
    }
    shortened(lo)
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

fn bucket_label(i: usize) -> String {
    let fmt = |s: i64| match s {
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    };
    match i {
        i if i < SLA_BUCKETS.len() => format!("≤ {}", fmt(SLA_BUCKETS[i])),
        _ => "> 24 h".to_string(),
    }
}

fn distribution<DB: DrawingBackend>(area: &Area<DB>, s: &Series) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests;
