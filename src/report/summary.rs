//! The changed-line summary every text-like report shares.

use crate::model::{Category, CategoryCounts, Counts, LineStatus, View};
use serde::Serialize;

/// Line counts with their percent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LineCounts {
    pub coverable: u64,
    pub covered: u64,
    pub partial: u64,
    pub missed: u64,
    /// `None` when nothing is coverable.
    pub percent: Option<f64>,
}

impl LineCounts {
    fn from(c: Counts, partial_as_covered: bool) -> Self {
        LineCounts {
            coverable: c.coverable(),
            covered: c.covered,
            partial: c.partial,
            missed: c.missed,
            percent: c.percent(partial_as_covered).map(round2),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One changed file.
#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub path: String,
    pub changed: LineCounts,
    /// Missed changed lines as inclusive ranges.
    pub missed_ranges: Vec<(u32, u32)>,
    pub partial_lines: Vec<u32>,
    /// Changed lines the current build has not covered but an older build did (carried), as
    /// inclusive ranges; they are not in `missed_ranges`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carried_ranges: Vec<(u32, u32)>,
    pub whole: LineCounts,
}

/// The lines of one file a tester must act on against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineFileRow {
    pub path: String,
    pub counts: CategoryCounts,
    /// New code not covered (UNC), as inclusive ranges.
    pub unc: Vec<(u32, u32)>,
    /// Unchanged code that lost coverage (LBC), as inclusive ranges.
    pub lbc: Vec<(u32, u32)>,
}

/// The comparison with a baseline, in a report.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub label: String,
    pub revision: String,
    pub totals: CategoryCounts,
    /// Files with UNC or LBC lines, sorted by path.
    pub files: Vec<BaselineFileRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangedReport {
    pub revision: String,
    pub base: String,
    pub partial_as_covered: bool,
    /// Changed files with coverable changed lines, sorted by path.
    pub files: Vec<FileRow>,
    pub changed: LineCounts,
    pub whole: LineCounts,
    /// Go statements (covered, total) in blocks touching a changed line, and in all blocks.
    pub changed_statements: (u64, u64),
    pub whole_statements: (u64, u64),
    /// Changed files that have no coverage data at all.
    pub changed_without_data: Vec<String>,
    /// Changed code lines of files that should have data (a covered language) and have none:
    /// they are in no percentage, and `check` fails on them unless told otherwise.
    pub changed_no_data: u64,
    /// Configured targets the session holds no data of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets_without_data: Vec<String>,
    /// Changed files with coverage data but no coverable changed line.
    pub changed_not_coverable: Vec<String>,
    /// Changed coverable lines carried from older builds (covered there, not yet by this build).
    pub carried_changed: u64,
    /// `carried_changed` as a percent of the changed coverable lines.
    pub carried_percent: Option<f64>,
    /// Short ids of the older builds whose coverage is carried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carried_from: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineReport>,
}

/// Collapses sorted line numbers into inclusive ranges.
pub fn ranges(lines: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &l in lines {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => out.push((l, l)),
        }
    }
    out
}

pub fn summarize(view: &View) -> ChangedReport {
    let partial_as_covered = view.rule.partial_as_covered;
    let mut files = Vec::new();
    let mut without = Vec::new();
    let mut not_coverable = Vec::new();
    for f in &view.files {
        let Some(ch) = &f.changed else { continue };
        if ch.lines.is_empty() {
            continue;
        }
        let carried = view.carried.file(&f.path);
        if f.coverage.is_none() && carried.is_none_or(|c| c.changed == 0) {
            without.push(f.path.clone());
            continue;
        }
        if f.changed_counts.coverable() == 0 {
            not_coverable.push(f.path.clone());
            continue;
        }
        let mut missed = Vec::new();
        let mut partial = Vec::new();
        let mut carried_lines = Vec::new();
        for &l in &ch.lines {
            let now = f
                .coverage
                .as_ref()
                .map_or(LineStatus::NotCoverable, |c| c.status(l));
            if now != LineStatus::Covered && carried.and_then(|c| c.status(l)).is_some() {
                carried_lines.push(l);
                continue;
            }
            match now {
                LineStatus::Missed => missed.push(l),
                LineStatus::Partial => partial.push(l),
                _ => {}
            }
        }
        files.push(FileRow {
            path: f.path.clone(),
            changed: LineCounts::from(f.changed_counts, partial_as_covered),
            missed_ranges: ranges(&missed),
            partial_lines: partial,
            carried_ranges: ranges(&carried_lines),
            whole: LineCounts::from(f.whole_counts, partial_as_covered),
        });
    }
    ChangedReport {
        revision: view.revision.clone(),
        base: view.base.clone(),
        partial_as_covered,
        files,
        changed: LineCounts::from(view.totals.changed, partial_as_covered),
        whole: LineCounts::from(view.totals.whole, partial_as_covered),
        changed_statements: view.totals.changed_statements,
        whole_statements: view.totals.whole_statements,
        changed_without_data: without,
        changed_no_data: view.totals.changed.no_data,
        targets_without_data: view
            .targets
            .iter()
            .filter(|t| !t.has_data)
            .map(|t| t.name.clone())
            .collect(),
        changed_not_coverable: not_coverable,
        carried_changed: view.totals.carried_changed,
        carried_percent: view.totals.carried_changed_percent().map(round2),
        carried_from: view.carried.from.clone(),
        baseline: view.baseline.as_ref().map(|b| BaselineReport {
            label: b.label.clone(),
            revision: b.revision.clone(),
            totals: b.totals,
            files: b
                .files
                .iter()
                .filter(|(_, f)| f.counts.unc + f.counts.lbc > 0)
                .map(|(path, f)| BaselineFileRow {
                    path: path.clone(),
                    counts: f.counts,
                    unc: ranges(&f.lines_of(Category::Unc)),
                    lbc: ranges(&f.lines_of(Category::Lbc)),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_collapse_runs() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
        assert!(ranges(&[]).is_empty());
    }
}
