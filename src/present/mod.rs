//! How coverage looks, whatever draws it: the one highlighter ([`lexer`]) and a file's lines
//! and colours ([`source`]), and the one set of marks for a line's status — glyph, CSS class, words — and
//! for its hits. The screen (`tui`) and the HTML report (`report::html`) both draw from here, so
//! a file looks the same in both; neither imports the other.

pub mod lexer;
pub mod source;

use crate::model::{LineCoverage, LineStatus};

/// The gutter glyph of a line carried from an older build: that build ran it, this one not yet.
pub const CARRIED_GLYPH: char = '↻';

/// What a file or folder without coverage data shows instead of `0/0`.
pub const NO_DATA: &str = "no data";

/// The glyph of a line status; the information never depends on colour alone.
pub fn status_glyph(status: LineStatus) -> char {
    match status {
        LineStatus::Covered => '✓',
        LineStatus::Partial => '~',
        LineStatus::Missed => '✗',
        LineStatus::NotCoverable => '·',
    }
}

/// The status in words (the help, the HTML gutter's title).
pub fn status_words(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Covered => "covered",
        LineStatus::Partial => "partly covered",
        LineStatus::Missed => "not covered",
        LineStatus::NotCoverable => "not coverable",
    }
}

/// The CSS class of a line's row in the HTML report.
pub fn status_class(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Covered => "s-covered",
        LineStatus::Partial => "s-partial",
        LineStatus::Missed => "s-missed",
        LineStatus::NotCoverable => "s-none",
    }
}

/// What the hits column shows for a coverable line: Go's count (`12`, `34k`, `5M` when `short`,
/// else whole), JaCoCo's `hit` or `-` (it knows whether a line ran, never how often).
pub fn hits_mark(line: &LineCoverage, java: bool, short: bool) -> String {
    match (line.hits, java) {
        (Some(h), false) if short => short_count(h),
        (Some(h), false) => h.to_string(),
        _ if line.status == LineStatus::Missed => "-".to_string(),
        _ => "hit".to_string(),
    }
}

/// A count in at most four characters: `9999`, `34k`, `5M`, `2G`.
pub fn short_count(n: u64) -> String {
    if n < 10_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{}k", n / 1000)
    } else if n < 1_000_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}G", n / 1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: LineStatus, hits: Option<u64>) -> LineCoverage {
        LineCoverage {
            line: 1,
            status,
            hits,
            units: (0, 0),
            branches: (0, 0),
        }
    }

    #[test]
    fn hits_show_go_counts_and_jacoco_marks() {
        assert_eq!(
            hits_mark(&line(LineStatus::Covered, Some(34_567)), false, true),
            "34k"
        );
        assert_eq!(
            hits_mark(&line(LineStatus::Covered, Some(34_567)), false, false),
            "34567"
        );
        assert_eq!(
            hits_mark(&line(LineStatus::Missed, Some(0)), false, true),
            "0"
        );
        // JaCoCo: never a count, even when one were given.
        assert_eq!(
            hits_mark(&line(LineStatus::Covered, None), true, true),
            "hit"
        );
        assert_eq!(
            hits_mark(&line(LineStatus::Partial, Some(3)), true, false),
            "hit"
        );
        assert_eq!(hits_mark(&line(LineStatus::Missed, None), true, false), "-");
        assert_eq!(short_count(9_999), "9999");
        assert_eq!(short_count(5_000_000), "5M");
        assert_eq!(short_count(2_000_000_000), "2G");
    }
}
