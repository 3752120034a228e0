//! Chart tests read what the charts draw (ticks, legend entries, titles and
//! their boxes) through the recording backend, not pixels.

use super::record::{Drawn, Recorder};
use super::*;
use crate::domain::Micros;
use crate::domain::daily::DailyRow;
use chrono::NaiveDate;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A day whose requests were answered after `replies` seconds (none: pending).
fn day(on: &str, replies: &[Option<f64>], is_final: bool) -> DailyRow {
    let first: Vec<Micros> = replies
        .iter()
        .flatten()
        .map(|s| Micros((s * 1e6) as i64))
        .collect();
    let (median, p90) = crate::domain::stats::median_and_p90(first.clone());
    let within_1h = replies.iter().flatten().filter(|s| **s <= 3_600.0).count() as u64;
    let answered = first.len() as u64;
    let requests = replies.len() as u64;
    let decided = if is_final { requests } else { answered };
    DailyRow {
        date: date(on),
        requests,
        answered,
        within_1h,
        within_24h: answered - within_1h,
        later: 0,
        pending: requests - answered,
        median_first_reply_seconds: median,
        p90_first_reply_seconds: p90,
        hit_ratio_1h: (decided > 0).then(|| within_1h as f64 / decided as f64),
        hit_ratio_24h: (decided > 0).then(|| answered as f64 / decided as f64),
        decided_1h: decided,
        decided_24h: decided,
        first_replies: first,
        is_final,
    }
}

/// The Twitter sample's shape: two thin days far apart in a nine-week range.
fn sparse(last_is_final: bool) -> Series {
    Series {
        days: vec![
            day("2017-11-03", &[Some(120.0), Some(7_200.0)], true),
            day("2017-11-18", &[Some(600.0), None], last_is_final),
        ],
        distribution: vec![0; 10],
        heatmap: vec![[None; 24]; 7],
        requests: 4,
        range: Some((date("2017-10-01"), date("2017-12-03"))),
    }
}

fn drawn(chart: Chart, series: &Series, subject: &str) -> Vec<Drawn> {
    font().unwrap();
    let (recorder, log) = Recorder::new(SIZE);
    draw(&recorder.into_drawing_area(), chart, series, subject).unwrap();
    log.take()
}

fn texts(d: &[Drawn]) -> Vec<&str> {
    d.iter().map(|t| t.text.as_str()).collect()
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

/// Issue 19: every day of the range has its place on the x axis, so Nov 03
/// and Nov 18 sit 15 days apart and days without requests are labelled.
#[test]
fn a_sparse_range_keeps_every_day_on_a_true_time_axis() {
    let s = sparse(true);
    let axis = DayAxis::of(&s);
    assert_eq!(axis.len(), 64, "Oct 01 … Dec 03");
    let gap = axis.x(date("2017-11-18")).unwrap() - axis.x(date("2017-11-03")).unwrap();
    assert_eq!(gap, 15.0);
    for chart in [Chart::FirstReply, Chart::HitRatios, Chart::Volume] {
        let d = drawn(chart, &s, "AmazonHelp / all");
        let days: Vec<NaiveDate> = texts(&d)
            .iter()
            .filter_map(|t| NaiveDate::parse_from_str(&format!("2017 {t}"), "%Y %b %d").ok())
            .collect();
        assert!(days.len() >= 6, "{chart:?}: {days:?}");
        assert!(days.windows(2).all(|w| w[0] < w[1]), "{days:?}");
        assert!(
            days.iter()
                .any(|d| *d < date("2017-11-03") || *d > date("2017-11-18")),
            "{chart:?}: days without requests are on the axis: {days:?}"
        );
    }
}

/// Issue 19: the first-reply chart on log ticks, with its targets, lines
/// and the pooled 7-day line in the legend, and how many requests each
/// day rests on printed in the strip under it.
#[test]
fn the_first_reply_chart_draws_its_ticks_legend_and_counts() {
    let d = drawn(Chart::FirstReply, &sparse(true), "acme / all");
    let t = texts(&d);
    for tick in ["1 min", "5 min", "15 min", "1 h"] {
        assert!(t.contains(&tick), "tick {tick}: {t:?}");
    }
    for entry in FIRST_REPLY_LEGEND {
        assert!(t.contains(&entry), "legend {entry}: {t:?}");
    }
    assert!(t.contains(&"requests"), "the count strip's axis");
    // Two requests on each of the two days, printed above their bars (and
    // the strip's axis label 2).
    assert_eq!(t.iter().filter(|x| **x == "2").count(), 3, "{t:?}");
    assert!(!t.contains(&NOT_FINAL), "every day is final");
    let d = drawn(Chart::HitRatios, &sparse(true), "acme / all");
    for entry in HIT_RATIO_LEGEND {
        assert!(texts(&d).contains(&entry), "legend {entry}");
    }
}

/// Issue 19 / SPEC §4: a day that is not final is shaded and named in the
/// legend on every daily chart.
#[test]
fn a_day_that_is_not_final_is_marked_on_every_daily_chart() {
    for chart in [Chart::FirstReply, Chart::HitRatios, Chart::Volume] {
        let d = drawn(chart, &sparse(false), "acme / all");
        assert!(texts(&d).contains(&NOT_FINAL), "{chart:?}");
        let d = drawn(chart, &sparse(true), "acme / all");
        assert!(!texts(&d).contains(&NOT_FINAL), "{chart:?}");
    }
}

/// Issue 19: titles, subject and legends stay inside the image whatever
/// the length of the account's name; the subject is shortened with "…" and
/// the number of requests stays readable.
#[test]
fn titles_and_legends_fit_the_image_at_any_name_length() {
    let long = format!(
        "{} / all, 2017-10-01 to 2017-12-03",
        "VeryLongAccountName".repeat(20)
    );
    for subject in ["a / all", long.as_str()] {
        for chart in Chart::ALL {
            let d = drawn(chart, &sparse(false), subject);
            for t in d.iter().filter(|t| !t.turned && !t.text.is_empty()) {
                assert!(
                    t.left >= 0 && t.right <= SIZE.0 as i32,
                    "{chart:?}: {:?} spans {}..{}",
                    t.text,
                    t.left,
                    t.right
                );
            }
            let header = d
                .iter()
                .find(|t| t.text.ends_with("based on 4 requests"))
                .unwrap_or_else(|| panic!("{chart:?}: {:?}", texts(&d)));
            assert_eq!(header.text.contains('…'), subject.len() > 100);
        }
    }
}

#[test]
fn fitting_keeps_the_longest_beginning_that_fits() {
    let measure = |s: &str| s.chars().count() as i64;
    assert_eq!(fit("abcdef", 6, measure), "abcdef");
    assert_eq!(fit("abcdef", 4, measure), "abc…");
    assert_eq!(fit("äöüß", 3, measure), "äö…");
    assert_eq!(fit("abc", 0, measure), "…");
}
