//! What the session keeps beside its dumps for carrying coverage across builds: the line
//! statuses of a JaCoCo build saved while it was current (`build-<target>-<rev>.lines`, and by
//! build key), and the class ids that identify that build (`.ids`). Their formats live here;
//! what they mean for a View lives in `engine::carry`.

use crate::model::LineStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Line statuses per path: what is carried and compared.
pub type LineStatuses = BTreeMap<String, BTreeMap<u32, LineStatus>>;

const LINES_FORMAT: &str = "covtop-build-lines 1";
/// The largest saved build file covtop reads (a build's line statuses or class ids): far more
/// than a real build's; a larger file in the session folder is named, not read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

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

/// [`LinesFile`] as written, borrowing its texts: the same JSON, field for field.
#[derive(Serialize)]
struct LinesFileOut<'a> {
    format: &'a str,
    revision: &'a str,
    target: &'a str,
    files: BTreeMap<&'a str, String>,
}

/// One file's entries (`12c 13m 14p`) for `lines`, in the order given; lines that are not
/// coverable are left out. Digits are written straight into the buffer: `write!` per line was
/// most of the encoding time of a big build.
fn entries(lines: impl IntoIterator<Item = (u32, LineStatus)>) -> String {
    let mut out = Vec::new();
    for (line, status) in lines {
        let Some(c) = status_letter(status) else {
            continue;
        };
        if !out.is_empty() {
            out.push(b' ');
        }
        crate::digits::push_decimal(&mut out, line.into());
        out.push(c as u8);
    }
    // Digits and ASCII letters only: always UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The saved form of files given in strictly increasing path order, each with its lines in
/// strictly increasing order (what [`BuildLines`] holds; callers that have such lists already
/// skip building one). Files without a coverable line are left out.
pub fn encode_sorted<'a, L>(
    revision: &str,
    target: &str,
    files: impl IntoIterator<Item = (&'a str, L)>,
) -> Vec<u8>
where
    L: IntoIterator<Item = (u32, LineStatus)>,
{
    let mut map = BTreeMap::new();
    for (path, lines) in files {
        let s = entries(lines);
        if !s.is_empty() {
            map.insert(path, s);
        }
    }
    let file = LinesFileOut {
        format: LINES_FORMAT,
        revision,
        target,
        files: map,
    };
    let mut out = serde_json::to_vec(&file).unwrap_or_default();
    out.push(b'\n');
    out
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
    /// The saved form for `target`.
    pub fn encode(&self, target: &str) -> Vec<u8> {
        encode_sorted(
            &self.revision,
            target,
            self.files
                .iter()
                .map(|(path, lines)| (path.as_str(), lines.iter().map(|(&l, &s)| (l, s)))),
        )
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
            let _ = writeln!(out, "{id:016x}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileCoverage;

    fn cov(path: &str, lines: &[(u32, LineStatus)]) -> FileCoverage {
        FileCoverage::with_statuses(path, lines)
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
