//! Builds: coverage of older revisions carried onto the current one, and baselines.
//!
//! A *build* is everything stored for one revision. Dumps of the configured revision accumulate
//! as before; each older build's line statuses are computed at its own revision (Go: its merged
//! profile projected with the sources and go.mod files of that revision, read from git objects;
//! Java: the line statuses saved while that build ran, because its class files are usually gone
//! and probe arrays must never cross class ids) and mapped through the diff old..new onto the
//! current revision. Unchanged lines keep the old status as "carried"; edited and added lines have
//! no preimage and start uncovered.

use super::accumulate::TargetAccumulator;
use crate::go::profile::{self, Profile};
use crate::java::exec::ExecData;
use crate::model::{FileCoverage, LineStatus};
use crate::session::{PayloadKind, StoredDump};
use crate::vcs::LineMaps;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Line statuses per path: what is carried and compared.
pub type LineStatuses = BTreeMap<String, BTreeMap<u32, LineStatus>>;

const LINES_FORMAT: &str = "covtop-build-lines 1";

/// The coverable lines of one build at its own revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildLines {
    /// Full commit id of the build.
    pub revision: String,
    pub files: LineStatuses,
}

/// The on-disk form: one compact string per file, `12c 13m 14p`.
#[derive(Serialize, Deserialize)]
struct LinesFile {
    format: String,
    revision: String,
    target: String,
    files: BTreeMap<String, String>,
}

fn status_letter(s: LineStatus) -> Option<char> {
    match s {
        LineStatus::Covered => Some('c'),
        LineStatus::Partial => Some('p'),
        LineStatus::Missed => Some('m'),
        LineStatus::NotCoverable => None,
    }
}

/// Errors of a saved build-lines file; the file is skipped and named in a diagnostic.
#[derive(Debug, thiserror::Error)]
pub enum LinesFileError {
    #[error("{path}: not a covtop build-lines file ({detail})")]
    Format { path: PathBuf, detail: String },
    #[error(
        "{path}: file {file}, entry {entry:?}: expected a line number and c, p or m (like 12c)"
    )]
    Entry {
        path: PathBuf,
        file: String,
        entry: String,
    },
    #[error("{path}: saved for revision {found}, expected {expected}")]
    Revision {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

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
            for l in &f.lines {
                if l.status.is_coverable() {
                    let e = lines.entry(l.line).or_insert(l.status);
                    *e = best(*e, l.status);
                }
            }
        }
        out.files.retain(|_, l| !l.is_empty());
        out
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

    /// The saved form for `target`.
    pub fn encode(&self, target: &str) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|(path, lines)| {
                let mut s = String::with_capacity(lines.len() * 5);
                for (&line, &st) in lines {
                    if let Some(c) = status_letter(st) {
                        if !s.is_empty() {
                            s.push(' ');
                        }
                        s.push_str(&line.to_string());
                        s.push(c);
                    }
                }
                (path.clone(), s)
            })
            .collect();
        let file = LinesFile {
            format: LINES_FORMAT.to_string(),
            revision: self.revision.clone(),
            target: target.to_string(),
            files,
        };
        let mut out = serde_json::to_vec(&file).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Reads a saved file; `expected` is the revision it must belong to.
    pub fn decode(bytes: &[u8], path: &Path, expected: &str) -> Result<Self, LinesFileError> {
        let file: LinesFile =
            serde_json::from_slice(bytes).map_err(|e| LinesFileError::Format {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        if file.format != LINES_FORMAT {
            return Err(LinesFileError::Format {
                path: path.to_path_buf(),
                detail: format!("format {:?}, expected {LINES_FORMAT:?}", file.format),
            });
        }
        if file.revision != expected {
            return Err(LinesFileError::Revision {
                path: path.to_path_buf(),
                found: file.revision,
                expected: expected.to_string(),
            });
        }
        let mut out = BuildLines {
            revision: file.revision,
            files: BTreeMap::new(),
        };
        for (name, entries) in file.files {
            let mut lines = BTreeMap::new();
            for entry in entries.split_ascii_whitespace() {
                let bad = || LinesFileError::Entry {
                    path: path.to_path_buf(),
                    file: name.clone(),
                    entry: entry.to_string(),
                };
                // The letter is one ASCII byte; anything else is damage, never a panic.
                let (num, status) = match entry.as_bytes().last() {
                    Some(b'c') => (&entry[..entry.len() - 1], LineStatus::Covered),
                    Some(b'p') => (&entry[..entry.len() - 1], LineStatus::Partial),
                    Some(b'm') => (&entry[..entry.len() - 1], LineStatus::Missed),
                    _ => return Err(bad()),
                };
                let line: u32 = num.parse().map_err(|_| bad())?;
                if line == 0 {
                    return Err(bad());
                }
                lines.insert(line, status);
            }
            out.files.insert(name, lines);
        }
        Ok(out)
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

/// The name of the file that keeps a Java build's line statuses in the session folder.
pub fn lines_file_name(target: &str, revision: &str) -> String {
    let safe: String = target
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(60)
        .collect();
    format!("build-{safe}-{revision}.lines")
}

/// A JaCoCo build's key: a stable hash (FNV-1a 64) of the sorted class ids it runs. Two class
/// sets with the same key are the same build, whatever the configured revision says.
pub fn build_key(ids: impl IntoIterator<Item = u64>) -> String {
    let mut ids: Vec<u64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for b in id.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The file that keeps a JaCoCo build's line statuses by its build key (see [`build_key`]).
pub fn keyed_lines_file_name(target: &str, key: &str) -> String {
    lines_file_name(target, &format!("k{key}"))
}

/// The file that lists a JaCoCo build's class ids and its revision, by its build key.
pub fn ids_file_name(target: &str, key: &str) -> String {
    lines_file_name(target, &format!("k{key}"))
        .trim_end_matches(".lines")
        .to_string()
        + ".ids"
}

const IDS_FORMAT: &str = "covtop-build-ids 1";

/// The class ids of a saved JaCoCo build, and the revision it was configured at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildIds {
    pub revision: String,
    pub ids: std::collections::BTreeSet<u64>,
}

impl BuildIds {
    /// `covtop-build-ids 1 <revision>` then one class id (16 hex digits) per line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{IDS_FORMAT} {}\n", self.revision);
        for id in &self.ids {
            out.push_str(&format!("{id:016x}\n"));
        }
        out.into_bytes()
    }

    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, LinesFileError> {
        let bad = |detail: String| LinesFileError::Format {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let revision = head
            .strip_prefix(IDS_FORMAT)
            .map(str::trim)
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                bad(format!(
                    "first line {head:?}, expected `{IDS_FORMAT} <revision>`"
                ))
            })?
            .to_string();
        let mut ids = std::collections::BTreeSet::new();
        for (n, line) in lines.enumerate() {
            let id = u64::from_str_radix(line.trim(), 16)
                .map_err(|_| bad(format!("line {}: {line:?} is not a class id", n + 2)))?;
            ids.insert(id);
        }
        Ok(BuildIds { revision, ids })
    }
}

/// Where the saved build lines of the session in `session_dir` (`<root>/sessions/<name>`) live:
/// `<root>/builds/<name>/`, beside the session rather than in it, so that the session folder holds
/// only dumps.
pub fn builds_dir(session_dir: &Path) -> PathBuf {
    match (
        session_dir.parent().and_then(Path::parent),
        session_dir.file_name(),
    ) {
        (Some(root), Some(name)) => root.join("builds").join(name),
        _ => session_dir.join("builds"),
    }
}

/// The raw data of one build (or of a baseline's dumps of one revision), accumulated with epochs.
#[derive(Default)]
pub struct BuildData {
    /// Per target.
    pub go: BTreeMap<String, TargetAccumulator<Profile>>,
    pub java: BTreeMap<String, TargetAccumulator<ExecData>>,
    /// The first sequence number seen, to order builds.
    pub first_seq: u64,
    pub dumps: usize,
    /// Dumps that could not be decoded: (file, error).
    pub undecodable: Vec<(PathBuf, String)>,
}

impl BuildData {
    pub fn apply(&mut self, d: &StoredDump) {
        if self.dumps == 0 {
            self.first_seq = d.meta.seq;
        }
        let target = d.meta.target.clone();
        if d.meta.reset_after {
            match d.meta.kind {
                PayloadKind::GoProfile => self
                    .go
                    .entry(target)
                    .or_default()
                    .mark_reset(&d.meta.replica),
                PayloadKind::JacocoExec => self
                    .java
                    .entry(target)
                    .or_default()
                    .mark_reset(&d.meta.replica),
            }
            return;
        }
        self.dumps += 1;
        let origin = format!("stored dump {}", d.path.display());
        match d.meta.kind {
            PayloadKind::GoProfile => match profile::parse(&d.payload, &origin) {
                Ok(p) => {
                    self.go.entry(target).or_default().apply_at(
                        &d.meta.replica,
                        p,
                        d.meta.instance.clone(),
                        d.meta.requested_at_ms,
                    );
                }
                Err(e) => self.undecodable.push((d.path.clone(), e.to_string())),
            },
            PayloadKind::JacocoExec => match crate::java::exec::parse(&d.payload, &origin) {
                Ok(e) => {
                    self.java.entry(target).or_default().apply_at(
                        &d.meta.replica,
                        e,
                        d.meta.instance.clone(),
                        d.meta.requested_at_ms,
                    );
                }
                Err(e) => self.undecodable.push((d.path.clone(), e.to_string())),
            },
        }
    }

    /// True when this build holds data of `target`.
    pub fn has_target(&self, target: &str) -> bool {
        self.go.contains_key(target) || self.java.contains_key(target)
    }

    /// The merged Go profile of every target.
    pub fn go_total(&self) -> Option<Profile> {
        let mut out: Option<Profile> = None;
        for acc in self.go.values() {
            if let Some(p) = acc.total() {
                match &mut out {
                    Some(o) => {
                        o.merge(&p);
                    }
                    None => out = Some(p),
                }
            }
        }
        out
    }
}

/// Groups dumps by their revision, in the order builds first appear.
pub fn group_by_revision<'a>(
    dumps: impl IntoIterator<Item = &'a StoredDump>,
) -> Vec<(String, BuildData)> {
    let mut groups: BTreeMap<String, BuildData> = BTreeMap::new();
    for d in dumps {
        groups.entry(d.meta.revision.clone()).or_default().apply(d);
    }
    let mut out: Vec<(String, BuildData)> = groups.into_iter().collect();
    out.sort_by_key(|(_, b)| b.first_seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineCoverage;

    fn cov(path: &str, lines: &[(u32, LineStatus)]) -> FileCoverage {
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

    #[test]
    fn saved_build_lines_round_trip_and_reject_damage() {
        use LineStatus::*;
        let b = BuildLines::from_coverage(
            "abc",
            &[
                cov("src/A.java", &[(3, Covered), (4, Missed), (5, Partial)]),
                cov("src/B.java", &[(1, NotCoverable)]),
            ],
        );
        assert_eq!(
            b.files.len(),
            1,
            "a file without coverable lines is not kept"
        );
        let bytes = b.encode("svc");
        let path = Path::new("/s/build.lines");
        assert_eq!(BuildLines::decode(&bytes, path, "abc").unwrap(), b);
        let e = BuildLines::decode(&bytes, path, "def").unwrap_err();
        assert!(e.to_string().contains("expected def"), "{e}");
        let damaged = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("4m", "4x");
        let e = BuildLines::decode(damaged.as_bytes(), path, "abc").unwrap_err();
        assert!(e.to_string().contains("\"4x\""), "{e}");
        let e = BuildLines::decode(&bytes[..bytes.len() / 2], path, "abc").unwrap_err();
        assert!(
            e.to_string().contains("not a covtop build-lines file"),
            "{e}"
        );
        let damaged = String::from_utf8(bytes).unwrap().replace("3c", "c");
        assert!(BuildLines::decode(damaged.as_bytes(), path, "abc").is_err());
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
    fn build_ids_round_trip_and_damage_is_an_error() {
        let ids = BuildIds {
            revision: "0123abcd".into(),
            ids: [7u64, u64::MAX, 0x1234].into_iter().collect(),
        };
        let p = Path::new("x.ids");
        assert_eq!(BuildIds::decode(&ids.encode(), p).unwrap(), ids);
        assert!(BuildIds::decode(b"covtop-build-ids 1 abc\nzz\n", p).is_err());
        assert!(BuildIds::decode(b"other 1 abc\n", p).is_err());
        assert!(BuildIds::decode(&[0xff, 0xfe], p).is_err());
        assert_eq!(build_key([3, 1, 2]), build_key([2, 3, 1, 1]));
        assert_ne!(build_key([1, 2]), build_key([1, 3]));
        assert_eq!(ids_file_name("a b", "00ff"), "build-a_b-k00ff.ids");
    }
}
