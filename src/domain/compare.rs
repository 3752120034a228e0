//! Words for the change of a figure between the previous period and this
//! one (SPEC §4 comparison): a shorter reply time is better, a higher rate
//! is better. Used by the page and the scheduled reports' text. Pure: no
//! IO, no clock.

/// Whether a change is good news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Better,
    Worse,
    Same,
}

/// A change in words, e.g. "3 min faster" or "+2.5 pts".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub direction: Direction,
    pub words: String,
}

/// A duration as a reader says it: "45 s", "24 min", "3.5 h", "2.1 d".
pub fn human_duration(seconds: f64) -> String {
    match seconds.abs() {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

/// The change of a reply time (seconds); None when either period has none.
/// Differences that round to nothing at the shown precision are "no change".
pub fn reply_time_change(now: Option<f64>, before: Option<f64>) -> Option<Change> {
    let (now, before) = (now?, before?);
    let diff = now - before;
    let words = human_duration(diff);
    let shown_zero = words.starts_with("0 ") || words.starts_with("0.0 ");
    Some(match diff {
        d if d < 0.0 && !shown_zero => Change {
            direction: Direction::Better,
            words: format!("{words} faster"),
        },
        d if d > 0.0 && !shown_zero => Change {
            direction: Direction::Worse,
            words: format!("{words} slower"),
        },
        _ => Change {
            direction: Direction::Same,
            words: "no change".into(),
        },
    })
}

/// The change of a ratio in percentage points; None when either period
/// has none.
pub fn rate_change(now: Option<f64>, before: Option<f64>) -> Option<Change> {
    let points = (now? - before?) * 100.0;
    let words = format!("{:+.1} pts", points);
    Some(match words.as_str() {
        "+0.0 pts" | "-0.0 pts" => Change {
            direction: Direction::Same,
            words: "no change".into(),
        },
        _ if points > 0.0 => Change {
            direction: Direction::Better,
            words,
        },
        _ => Change {
            direction: Direction::Worse,
            words: words.replace('-', "−"),
        },
    })
}

/// "median first reply 24 min, 3 min faster than the previous 7 days" (or
/// without the comparison when a period has no answered request).
pub fn median_sentence(now: Option<f64>, before: Option<f64>, period: &str) -> String {
    let Some(n) = now else {
        return "no request answered".into();
    };
    match reply_time_change(now, before) {
        Some(c) if c.direction == Direction::Same => format!(
            "median first reply {}, as in the previous {period}",
            human_duration(n)
        ),
        Some(c) => format!(
            "median first reply {}, {} than the previous {period}",
            human_duration(n),
            c.words
        ),
        None => format!(
            "median first reply {} (none answered in the previous {period})",
            human_duration(n)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_reply_time_is_better_news_and_a_tiny_difference_is_none() {
        let c = reply_time_change(Some(24.0 * 60.0), Some(27.0 * 60.0)).unwrap();
        assert_eq!(
            (c.direction, c.words.as_str()),
            (Direction::Better, "3 min faster")
        );
        let c = reply_time_change(Some(5.0 * 3600.0), Some(2.0 * 3600.0)).unwrap();
        assert_eq!(
            (c.direction, c.words.as_str()),
            (Direction::Worse, "3.0 h slower")
        );
        let c = reply_time_change(Some(600.2), Some(600.0)).unwrap();
        assert_eq!(c.direction, Direction::Same);
        assert_eq!(reply_time_change(Some(1.0), None), None);
    }

    #[test]
    fn a_higher_rate_is_better_news_in_points() {
        let c = rate_change(Some(0.92), Some(0.895)).unwrap();
        assert_eq!(
            (c.direction, c.words.as_str()),
            (Direction::Better, "+2.5 pts")
        );
        let c = rate_change(Some(0.80), Some(0.90)).unwrap();
        assert_eq!(
            (c.direction, c.words.as_str()),
            (Direction::Worse, "−10.0 pts")
        );
        assert_eq!(
            rate_change(Some(0.5), Some(0.5)).unwrap().direction,
            Direction::Same
        );
    }

    #[test]
    fn the_sentence_of_a_report_names_the_change_against_the_previous_period() {
        assert_eq!(
            median_sentence(Some(24.0 * 60.0), Some(27.0 * 60.0), "7 days"),
            "median first reply 24 min, 3 min faster than the previous 7 days"
        );
        assert_eq!(
            median_sentence(Some(90.0), None, "7 days"),
            "median first reply 2 min (none answered in the previous 7 days)"
        );
        assert_eq!(
            median_sentence(None, Some(5.0), "day"),
            "no request answered"
        );
    }
}
