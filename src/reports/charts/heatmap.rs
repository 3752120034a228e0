//! The heatmap chart: median first reply by local weekday × hour on a
//! perceptually ordered (viridis) scale with a labelled colour bar. Pure
//! drawing on any plotters backend; no IO.

use super::{Area, err};
use crate::domain::daily::Series;
use plotters::prelude::*;
use plotters::style::text_anchor;

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
/// The colour bar's labels (seconds, label): the time ticks of the scale.
pub fn heat_ticks() -> impl Iterator<Item = (f64, &'static str)> {
    super::TIME_TICKS
        .into_iter()
        .filter(|(s, _)| (HEAT_FROM..=HEAT_TO).contains(s))
}

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
pub(super) fn luminance(c: RGBColor) -> f64 {
    (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0
}

pub(super) fn heatmap<DB: DrawingBackend>(area: &Area<DB>, s: &Series) -> anyhow::Result<()> {
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
fn colour_bar<DB: DrawingBackend>(area: &Area<DB>) -> anyhow::Result<()> {
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
    for (seconds, text) in heat_ticks() {
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
        let labels: Vec<&str> = heat_ticks().map(|t| t.1).collect();
        assert_eq!(labels, ["1 min", "5 min", "15 min", "1 h", "4 h", "1 d"]);
        let shown: Vec<String> = [45.0, 720.0, 10_800.0, 200_000.0]
            .iter()
            .map(|s| cell_label(*s))
            .collect();
        assert_eq!(shown, ["45s", "12m", "3h", "2d"]);
    }
}
