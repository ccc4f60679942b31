//! Text helpers shared by the components: cutting to a width, numbers, durations and ages.

use crate::model::{Counts, CoverageRule};
use std::time::{Duration, SystemTime};

/// `s` if it fits in `width` characters, else its end after `…` (a path keeps its file name, an
/// address its port).
pub(crate) fn cut_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (width - 1)));
    out
}

/// The first ten characters of a revision.
pub(crate) fn short(revision: &str) -> String {
    revision.chars().take(10).collect()
}

/// `77.8%`, or `–` when nothing is coverable.
pub(crate) fn percent_text(rule: CoverageRule, c: &Counts) -> String {
    match rule.percent(c) {
        Some(p) => format!("{p:.1}%"),
        None => "–".to_string(),
    }
}

pub(crate) fn sparkline(values: &[f64], max: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let from = values.len().saturating_sub(max);
    values[from..]
        .iter()
        .map(|v| BARS[((v.clamp(0.0, 100.0) / 100.0) * 7.0).round() as usize])
        .collect()
}

pub(crate) fn format_interval(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) && ms < 60_000 {
        format!("{}s", ms / 1000)
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// How long ago, in one unit: `3s`, `2m`, `5h`, `3d`.
pub(crate) fn format_age(now: SystemTime, at: SystemTime) -> String {
    let secs = now.duration_since(at).map_or(0, |d| d.as_secs());
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86_400)
    }
}

/// `HH:MM:SS` (UTC) of a wall-clock time, for the messages log.
pub(crate) fn clock_time(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_the_end() {
        assert_eq!(cut_left("inventory/src/Main.java", 10), "…Main.java");
        assert_eq!(cut_left("a.go", 10), "a.go");
        assert_eq!(cut_left("abc", 0), "");
    }

    #[test]
    fn clock_time_is_utc_hours_minutes_seconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 61);
        assert_eq!(clock_time(t), "13:01:01");
    }
}
