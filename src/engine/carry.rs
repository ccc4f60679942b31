//! Builds: coverage of older revisions carried onto the current one, and baselines.
//!
//! A *build* is everything stored for one revision. Dumps of the configured revision accumulate
//! as before; each older build's line statuses are computed at its own revision (Go: its merged
//! profile projected with the sources and go.mod files of that revision, read from git objects;
//! Java: the line statuses saved while that build ran, because its class files are usually gone
//! and probe arrays must never cross class ids) and mapped through the diff old..new onto the
//! current revision. Unchanged lines keep the old status as "carried"; edited and added lines have
//! no preimage and start uncovered.

use crate::model::{FileCoverage, LineStatus};
pub use crate::session::builds::{
    BuildIds, BuildLines, LineStatuses, LinesFileError, build_key, builds_dir, ids_file_name,
    keyed_lines_file_name, lines_file_name,
};
use crate::vcs::LineMaps;
use std::collections::BTreeMap;

impl BuildLines {
    pub fn from_coverage<'a>(
        revision: &str,
        files: impl IntoIterator<Item = &'a FileCoverage>,
    ) -> Self {
        let mut out = BuildLines {
            revision: revision.to_string(),
            files: BTreeMap::new(),
        };
        for f in files {
            let lines = out.files.entry(f.path.clone()).or_default();
            let coverable = f.lines.iter().filter(|l| l.status.is_coverable());
            if lines.is_empty() && f.lines.windows(2).all(|w| w[0].line < w[1].line) {
                // The usual case (one file's lines, sorted, each once): built in one pass.
                *lines = coverable.map(|l| (l.line, l.status)).collect();
                continue;
            }
            for l in coverable {
                let e = lines.entry(l.line).or_insert(l.status);
                *e = best(*e, l.status);
            }
        }
        out.files.retain(|_, l| !l.is_empty());
        out
    }

    /// The saved form ([`BuildLines::encode`]) of [`BuildLines::from_coverage`]`(files)`, the
    /// same bytes. When the files come in increasing path order with their lines sorted and
    /// unique (a projection's output), encoded straight from them, without building the maps.
    pub fn encode_coverage(revision: &str, target: &str, files: &[&FileCoverage]) -> Vec<u8> {
        let sorted = files.windows(2).all(|w| w[0].path < w[1].path)
            && files
                .iter()
                .all(|f| f.lines.windows(2).all(|w| w[0].line < w[1].line));
        if !sorted {
            return BuildLines::from_coverage(revision, files.iter().copied()).encode(target);
        }
        crate::session::builds::encode_sorted(
            revision,
            target,
            files
                .iter()
                .map(|f| (f.path.as_str(), f.lines.iter().map(|l| (l.line, l.status)))),
        )
    }

    /// Adds `other` (another target of the same build): a line run by either is run.
    pub fn absorb(&mut self, other: &BuildLines) {
        for (path, lines) in &other.files {
            let mine = self.files.entry(path.clone()).or_default();
            for (&line, &s) in lines {
                let e = mine.entry(line).or_insert(s);
                *e = best(*e, s);
            }
        }
    }

    /// Maps these lines onto the new revision through `maps` into `out`, combining with what is
    /// already there. `hit_only` keeps only covered and partial lines (what carries).
    pub fn map_onto(&self, maps: &LineMaps, hit_only: bool, out: &mut LineStatuses) {
        for (path, lines) in &self.files {
            if maps.new_path(path).is_none() {
                continue;
            }
            for (&line, &status) in lines {
                if hit_only && !is_hit(status) {
                    continue;
                }
                if let Some((new_path, new_line)) = maps.map(path, line) {
                    let e = out
                        .entry(new_path)
                        .or_default()
                        .entry(new_line)
                        .or_insert(status);
                    *e = best(*e, status);
                }
            }
        }
    }
}

/// The more covered of two statuses of the same line in two builds or targets.
pub fn best(a: LineStatus, b: LineStatus) -> LineStatus {
    a.max(b)
}

pub fn is_hit(s: LineStatus) -> bool {
    matches!(s, LineStatus::Covered | LineStatus::Partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov(path: &str, lines: &[(u32, LineStatus)]) -> FileCoverage {
        FileCoverage::with_statuses(path, lines)
    }

    #[test]
    fn targets_of_one_build_combine_to_the_better_status() {
        use LineStatus::*;
        let mut a = BuildLines::from_coverage("r", &[cov("f", &[(1, Missed), (2, Partial)])]);
        let b = BuildLines::from_coverage("r", &[cov("f", &[(1, Covered), (3, Missed)])]);
        a.absorb(&b);
        let f = &a.files["f"];
        assert_eq!(f[&1], Covered);
        assert_eq!(f[&2], Partial);
        assert_eq!(f[&3], Missed);
    }

    #[test]
    fn build_lines_keep_the_best_status_of_a_line_seen_twice() {
        use LineStatus::*;
        // Sorted lines (built in one pass), a file seen twice, and lines repeated or out of
        // order in one file (merged line by line) give the same map.
        let sorted = BuildLines::from_coverage(
            "r",
            &[cov(
                "f",
                &[(1, Missed), (2, Partial), (4, NotCoverable), (5, Covered)],
            )],
        );
        let twice = BuildLines::from_coverage(
            "r",
            &[
                cov("f", &[(1, Missed), (2, Missed), (5, Covered)]),
                cov("f", &[(2, Partial), (4, NotCoverable)]),
            ],
        );
        let repeated = BuildLines::from_coverage(
            "r",
            &[cov(
                "f",
                &[(5, Covered), (2, Missed), (1, Missed), (2, Partial)],
            )],
        );
        for b in [&sorted, &twice, &repeated] {
            let f: Vec<(u32, LineStatus)> = b.files["f"].iter().map(|(&l, &s)| (l, s)).collect();
            assert_eq!(f, vec![(1, Missed), (2, Partial), (5, Covered)]);
        }
        let none = BuildLines::from_coverage("r", &[cov("g", &[(3, NotCoverable)])]);
        assert!(
            none.files.is_empty(),
            "a file without coverable lines is left out"
        );
    }

    #[test]
    fn coverage_is_encoded_as_its_build_lines_are() {
        use LineStatus::*;
        let a = cov(
            "a/A.java",
            &[(1, Missed), (2, Partial), (4, NotCoverable), (12, Covered)],
        );
        let b = cov("b/B.java", &[(3, NotCoverable)]);
        let c = cov("c/C.java", &[(7, Covered), (1_000_000, Missed)]);
        let a2 = cov("a/A.java", &[(2, Covered), (3, Missed)]);
        let unsorted = cov("d/D.java", &[(9, Missed), (2, Covered), (2, Partial)]);
        let cases: Vec<Vec<&FileCoverage>> = vec![
            // Sorted and unique: encoded straight from the coverage.
            vec![&a, &b, &c],
            vec![],
            // Paths repeated or out of order, lines out of order: through the maps.
            vec![&c, &a],
            vec![&a, &a2, &c],
            vec![&unsorted, &a],
        ];
        for files in cases {
            let expected = BuildLines::from_coverage("rev", files.iter().copied()).encode("jdt");
            let got = BuildLines::encode_coverage("rev", "jdt", &files);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "{:?}",
                files.iter().map(|f| &f.path).collect::<Vec<_>>()
            );
        }
        let text =
            String::from_utf8(BuildLines::encode_coverage("rev", "jdt", &[&a, &b, &c])).unwrap();
        assert!(text.contains(r#""a/A.java":"1m 2p 12c""#), "{text}");
        assert!(text.contains(r#""c/C.java":"7c 1000000m""#), "{text}");
        assert!(
            !text.contains("B.java"),
            "a file without coverable lines is left out: {text}"
        );
    }
}
