use serde::Serialize;

/// The status of one source line, from the most to the least covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineStatus {
    /// Nothing executable maps to this line (comment, blank, declaration).
    NotCoverable,
    /// Executable code on the line; none of it ran.
    Missed,
    /// Some of the code on the line ran, some did not (or some branches were not taken).
    Partial,
    /// Everything on the line ran.
    Covered,
}

impl LineStatus {
    pub fn is_coverable(self) -> bool {
        self != LineStatus::NotCoverable
    }

    /// Combines the status of two pieces of code that share a line.
    pub fn combine(self, other: LineStatus) -> LineStatus {
        use LineStatus::*;
        match (self, other) {
            (NotCoverable, x) | (x, NotCoverable) => x,
            (Covered, Covered) => Covered,
            (Missed, Missed) => Missed,
            _ => Partial,
        }
    }
}

/// Which kind of agent produced the data: decides what a hit count means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceLanguage {
    /// Go cover profiles: blocks with counts (set mode gives 0/1, summed across replicas).
    Go,
    /// JaCoCo probes: booleans only, never a count.
    Java,
}

/// Coverage of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineCoverage {
    pub line: u32,
    pub status: LineStatus,
    /// Execution count (Go: the largest count of the blocks on the line). `None` for JaCoCo,
    /// which only knows hit or not.
    pub hits: Option<u64>,
    /// Instructions (JaCoCo) or statements (Go) on the line: (covered, missed).
    pub units: (u32, u32),
    /// Branches on the line: (covered, missed); (0, 0) when the line has no branch.
    pub branches: (u32, u32),
}

/// A byte range of a line that a Go block covers, kept for precise highlighting of partial lines.
/// Columns are 1-based byte offsets; `end_col` is exclusive, `None` means "to the end of the line".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ColumnSpan {
    pub line: u32,
    pub start_col: u32,
    pub end_col: Option<u32>,
    pub covered: bool,
}

/// Coverage of one repository file at the deployed revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    /// Repository-relative path with `/` separators.
    pub path: String,
    /// Coverable lines, sorted by line number, each line at most once.
    pub lines: Vec<LineCoverage>,
    /// Column spans of Go blocks (empty for JaCoCo), sorted by (line, start_col).
    pub spans: Vec<ColumnSpan>,
    /// Go statements (covered, total); for JaCoCo, instructions (covered, total).
    pub units: (u64, u64),
}

impl FileCoverage {
    pub fn line(&self, line: u32) -> Option<&LineCoverage> {
        self.lines
            .binary_search_by_key(&line, |l| l.line)
            .ok()
            .map(|i| &self.lines[i])
    }

    pub fn status(&self, line: u32) -> LineStatus {
        self.line(line)
            .map_or(LineStatus::NotCoverable, |l| l.status)
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for l in &self.lines {
            c.add(l.status);
        }
        c
    }
}

#[cfg(test)]
impl FileCoverage {
    /// A file with these line statuses and no counters, for unit tests.
    pub(crate) fn with_statuses(path: &str, lines: &[(u32, LineStatus)]) -> Self {
        FileCoverage {
            path: path.into(),
            lines: lines
                .iter()
                .map(|&(line, status)| LineCoverage {
                    line,
                    status,
                    hits: None,
                    units: (0, 0),
                    branches: (0, 0),
                })
                .collect(),
            spans: Vec::new(),
            units: (0, 0),
        }
    }
}

/// Line counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub covered: u64,
    pub partial: u64,
    pub missed: u64,
    /// Changed code lines of files that should have coverage (a language some target covers) but
    /// have no data at all: not coverable as far as anyone knows, never silently left out.
    #[serde(skip_serializing_if = "is_zero")]
    pub no_data: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    pub fn add(&mut self, status: LineStatus) {
        match status {
            LineStatus::Covered => self.covered += 1,
            LineStatus::Partial => self.partial += 1,
            LineStatus::Missed => self.missed += 1,
            LineStatus::NotCoverable => {}
        }
    }

    pub fn merge(&mut self, other: Counts) {
        self.covered += other.covered;
        self.partial += other.partial;
        self.missed += other.missed;
        self.no_data += other.no_data;
    }

    pub fn coverable(&self) -> u64 {
        self.covered + self.partial + self.missed
    }

    /// Percent of coverable lines covered; partial lines count as covered only when asked.
    /// `None` when nothing is coverable.
    pub fn percent(&self, partial_as_covered: bool) -> Option<f64> {
        let total = self.coverable();
        if total == 0 {
            return None;
        }
        let hit = self.covered + if partial_as_covered { self.partial } else { 0 };
        Some(hit as f64 * 100.0 / total as f64)
    }
}

/// The one rule for what counts as covered: the screen, every report, `check` and every export
/// where the format allows it use it (`[report] partial_as_covered`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CoverageRule {
    /// Partial lines (some code or branch of the line did not run) count as covered.
    pub partial_as_covered: bool,
}

impl CoverageRule {
    /// True when a line of this status counts as covered.
    pub fn counts_as_covered(self, s: LineStatus) -> bool {
        s == LineStatus::Covered || (self.partial_as_covered && s == LineStatus::Partial)
    }

    /// The lines of `c` that count as covered.
    pub fn covered(self, c: &Counts) -> u64 {
        c.covered
            + if self.partial_as_covered {
                c.partial
            } else {
                0
            }
    }

    /// The percentage of coverable lines that count as covered; `None` when nothing is coverable.
    pub fn percent(self, c: &Counts) -> Option<f64> {
        c.percent(self.partial_as_covered)
    }

    /// How many of `width` cells a bar for `c` fills: full only when everything is covered,
    /// empty only when nothing is.
    pub fn bar_cells(self, c: &Counts, width: usize) -> usize {
        let total = c.coverable();
        let hit = self.covered(c);
        if total == 0 || hit == 0 || width == 0 {
            return 0;
        }
        if hit >= total {
            return width;
        }
        let cells = (hit as u128 * width as u128 / total as u128) as usize;
        cells.clamp(1, width - 1)
    }

    /// A short statement of the rule, for headers and reports.
    pub fn describe(self) -> &'static str {
        if self.partial_as_covered {
            "partial lines count as covered"
        } else {
            "partial lines count as not covered"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_is_partial_when_mixed() {
        use LineStatus::*;
        assert_eq!(Covered.combine(Missed), Partial);
        assert_eq!(Missed.combine(Missed), Missed);
        assert_eq!(NotCoverable.combine(Covered), Covered);
        assert_eq!(Partial.combine(Covered), Partial);
    }

    #[test]
    fn bar_is_full_only_at_one_hundred_percent() {
        let rule = CoverageRule::default();
        let c = |covered, missed| Counts {
            covered,
            missed,
            ..Counts::default()
        };
        assert_eq!(rule.bar_cells(&c(15, 1), 8), 7, "15/16 is not a full bar");
        assert_eq!(rule.bar_cells(&c(16, 0), 8), 8);
        assert_eq!(rule.bar_cells(&c(1, 99), 8), 1, "something ran: not empty");
        assert_eq!(rule.bar_cells(&c(0, 5), 8), 0);
        assert_eq!(rule.bar_cells(&Counts::default(), 8), 0);
        let partial = Counts {
            partial: 2,
            ..Counts::default()
        };
        assert_eq!(rule.bar_cells(&partial, 8), 0);
        let lenient = CoverageRule {
            partial_as_covered: true,
        };
        assert_eq!(lenient.bar_cells(&partial, 8), 8);
        assert!(!rule.counts_as_covered(LineStatus::Partial));
        assert!(lenient.counts_as_covered(LineStatus::Partial));
    }

    #[test]
    fn percent_counts_partial_only_when_asked() {
        let c = Counts {
            covered: 1,
            partial: 1,
            missed: 2,
            no_data: 0,
        };
        assert_eq!(c.percent(false), Some(25.0));
        assert_eq!(c.percent(true), Some(50.0));
        assert_eq!(Counts::default().percent(false), None);
    }
}
