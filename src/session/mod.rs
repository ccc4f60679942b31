//! The session store: every dump is written to disk, atomically, before anything else uses it.
//!
//! A session is a folder `<dir>/sessions/<name>/` of dump files. Each file holds one dump:
//! a magic line, one line of JSON metadata (with the payload's length and CRC-32), then the raw
//! payload bytes exactly as the agent sent them. A file is written to a temporary name, fsynced,
//! renamed into place and the folder fsynced, so a crash never leaves a half dump visible and an
//! acknowledged one is never lost. Files that are truncated, corrupt or foreign are reported and
//! skipped when the session is loaded.

pub mod builds;
mod catalog;

pub use catalog::{CatalogError, MergeSummary, SessionCatalog, SessionSummary};

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const SESSIONS_DIR: &str = "sessions";
/// The largest dump file read: the largest payload an agent's reply may have, plus room for
/// the metadata line.
const MAX_DUMP_FILE_BYTES: u64 = (512 << 20) + (1 << 20);

/// Why `path` cannot be a dump file, without opening it; `None` when it may be one.
fn not_a_dump_file(path: &Path) -> Option<String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot read: {e}")),
    };
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "a FIFO, device or socket"
        };
        return Some(format!(
            "cannot read: not a regular file ({kind}); it is set aside, not opened"
        ));
    }
    if meta.len() > MAX_DUMP_FILE_BYTES {
        return Some(format!(
            "cannot read: {} bytes, larger than any dump covtop writes ({MAX_DUMP_FILE_BYTES} at most); it is set aside, not read",
            meta.len()
        ));
    }
    None
}

/// The highest sequence number a session uses: a dump every millisecond for 30 years.
const MAX_SEQ: u64 = 999_999_999_999;
const MAGIC: &[u8] = b"COVTOP-DUMP 1\n";
const SUFFIX: &str = ".dump";
const TMP_SUFFIX: &str = ".tmp";
/// The folder inside a session where dumps that cannot be used are moved.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Beside each quarantined dump: why it was set aside.
const REASON_SUFFIX: &str = ".reason.txt";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "cannot create session folder {path}: {source} (set [session] dir to a writable folder)"
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write dump {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read session folder {path}: {source}")]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What kind of payload a dump holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadKind {
    GoProfile,
    JacocoExec,
}

/// Metadata stored with every dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpMeta {
    /// Order of the dump within the session (assigned by the store).
    #[serde(default)]
    pub seq: u64,
    pub target: String,
    pub replica: String,
    pub instance: Option<String>,
    /// Milliseconds since the Unix epoch when the dump was fetched.
    pub fetched_at_ms: u64,
    /// Milliseconds since the Unix epoch when the dump was requested from the agent: places a
    /// dump that answered late (after a newer one was stored) in the right epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at_ms: Option<u64>,
    /// The deployed revision the dump belongs to.
    pub revision: String,
    pub kind: PayloadKind,
    /// True when the agent was reset right after this dump (the next dump opens a new epoch).
    #[serde(default)]
    pub reset_after: bool,
    #[serde(default)]
    len: u64,
    #[serde(default)]
    crc32: u32,
}

impl DumpMeta {
    pub fn new(
        target: &str,
        replica: &str,
        instance: Option<String>,
        fetched_at_ms: u64,
        revision: &str,
        kind: PayloadKind,
    ) -> Self {
        DumpMeta {
            seq: 0,
            target: target.to_string(),
            replica: replica.to_string(),
            instance,
            fetched_at_ms,
            requested_at_ms: None,
            revision: revision.to_string(),
            kind,
            reset_after: false,
            len: 0,
            crc32: 0,
        }
    }
}

/// A dump read back from disk.
#[derive(Debug, Clone)]
pub struct StoredDump {
    pub path: PathBuf,
    pub meta: DumpMeta,
    pub payload: Vec<u8>,
}

/// A file of the session that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProblem {
    pub path: PathBuf,
    pub problem: String,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A `.dump` file that is truncated, corrupt, foreign or unreadable.
    BadDump,
    /// The temporary file of a write that never finished (its writer was killed). It was never a
    /// dump: nothing acknowledged is lost. Removed by [`SessionStore::open`] once it is old.
    UnfinishedWrite,
}

/// One session folder.
#[derive(Debug)]
pub struct SessionStore {
    dir: PathBuf,
    next_seq: u64,
}

impl SessionStore {
    /// Opens (creating if needed) session `name` under `root`.
    pub fn open(root: &Path, name: &str) -> Result<Self, SessionError> {
        let dir = root.join(SESSIONS_DIR).join(session_dir_name(name));
        fs::create_dir_all(&dir).map_err(|source| SessionError::Create {
            path: dir.clone(),
            source,
        })?;
        let mut store = SessionStore { dir, next_seq: 1 };
        store.next_seq = store.max_seq()? + 1;
        store.remove_unfinished_writes(std::time::Duration::from_secs(60));
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one dump atomically and returns where it is. Only after this returns may the dump
    /// be shown, exported or followed by a reset.
    ///
    /// The file is written under a temporary name (with this process's id, so two writers of one
    /// session never share it), fsynced, then hard-linked to its final name, which fails rather
    /// than replaces when another process took that sequence number meanwhile: the sequence is
    /// then re-read from the folder and the write retried. Where the file system has no hard
    /// links, a rename is used instead.
    pub fn persist(&mut self, meta: &DumpMeta, payload: &[u8]) -> Result<PathBuf, SessionError> {
        let mut meta = meta.clone();
        meta.len = payload.len() as u64;
        meta.crc32 = crc32fast::hash(payload);
        for _ in 0..64 {
            meta.seq = self.next_seq;
            let name = format!(
                "{:08}-{}-{}{}",
                meta.seq,
                sanitize(&meta.target),
                sanitize(&meta.replica),
                SUFFIX
            );
            let path = self.dir.join(&name);
            let tmp = self
                .dir
                .join(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()));
            let werr = |source| SessionError::Write {
                path: path.clone(),
                source,
            };
            if self.seq_taken(meta.seq)? {
                self.next_seq = self.max_seq()? + 1;
                continue;
            }
            let mut header =
                serde_json::to_vec(&meta).map_err(|e| werr(std::io::Error::other(e)))?;
            header.push(b'\n');
            {
                let mut f = fs::File::create(&tmp).map_err(werr)?;
                f.write_all(MAGIC).map_err(werr)?;
                f.write_all(&header).map_err(werr)?;
                f.write_all(payload).map_err(werr)?;
                f.sync_all().map_err(werr)?;
            }
            match fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = fs::remove_file(&tmp);
                    self.next_seq = self.max_seq()? + 1;
                    continue;
                }
                Err(_) => {
                    if let Err(e) = fs::rename(&tmp, &path) {
                        let _ = fs::remove_file(&tmp);
                        return Err(werr(e));
                    }
                }
            }
            if let Ok(d) = fs::File::open(&self.dir) {
                // Makes the link (or rename) itself durable.
                let _ = d.sync_all();
            }
            self.next_seq = meta.seq + 1;
            return Ok(path);
        }
        Err(SessionError::Write {
            path: self.dir.clone(),
            source: std::io::Error::other(
                "other writers keep taking the next sequence number; retry",
            ),
        })
    }

    /// True when a dump with sequence number `seq` exists (written by another process).
    fn seq_taken(&self, seq: u64) -> Result<bool, SessionError> {
        let prefix = format!("{seq:08}-");
        Ok(self.file_names()?.iter().any(|n| n.starts_with(&prefix)))
    }

    /// The highest sequence number a dump file's name carries. Names whose number is out of
    /// any real range (a stray `18446744073709551615-x.dump`) never number the next dump: the
    /// sequence would wrap and every later store would fail.
    fn max_seq(&self) -> Result<u64, SessionError> {
        Ok(self
            .file_names()?
            .iter()
            .filter_map(|n| n.split('-').next()?.parse::<u64>().ok())
            .filter(|&n| n <= MAX_SEQ)
            .max()
            .unwrap_or(0))
    }

    /// Marks the most recent stored dump of (target, replica) as followed by a reset, by storing
    /// an empty dump with `reset_after` set (stored dumps are never rewritten).
    pub fn persist_reset_marker(
        &mut self,
        target: &str,
        replica: &str,
        revision: &str,
        kind: PayloadKind,
        at_ms: u64,
    ) -> Result<PathBuf, SessionError> {
        let mut meta = DumpMeta::new(target, replica, None, at_ms, revision, kind);
        meta.reset_after = true;
        self.persist(&meta, &[])
    }

    /// Removes temporary files of interrupted writes older than `min_age` (younger ones may
    /// belong to a writer of this session in another process that is still running). Returns
    /// how many were removed.
    pub fn remove_unfinished_writes(&self, min_age: std::time::Duration) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with('.') && name.ends_with(TMP_SUFFIX)) {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    fn unfinished_writes(&self) -> Vec<PathBuf> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with('.') && n.ends_with(TMP_SUFFIX))
            })
            .map(|e| e.path())
            .collect();
        out.sort();
        out
    }

    fn file_names(&self) -> Result<Vec<String>, SessionError> {
        let rd = fs::read_dir(&self.dir).map_err(|source| SessionError::List {
            path: self.dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(SUFFIX) && !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Moves a stored dump that cannot be used (it does not decode, exceeds a budget or made
    /// covtop fail) into the session's `quarantine/` folder, with `reason` in a text file beside
    /// it, so that no later command reads it again. Returns where it is now.
    pub fn quarantine(&self, path: &Path, reason: &str) -> Result<PathBuf, SessionError> {
        let dir = self.dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&dir).map_err(|source| SessionError::Create {
            path: dir.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .map_or_else(|| "dump".into(), |n| n.to_string_lossy().into_owned());
        let mut to = dir.join(&name);
        let mut n = 1;
        while to.exists() {
            to = dir.join(format!("{name}.{n}"));
            n += 1;
        }
        let werr = |source| SessionError::Write {
            path: to.clone(),
            source,
        };
        fs::rename(path, &to).map_err(werr)?;
        let mut why = to.clone().into_os_string();
        why.push(REASON_SUFFIX);
        fs::write(&why, format!("{}\n", crate::redact::redact(reason))).map_err(werr)?;
        Ok(to)
    }

    /// The dumps in the session's `quarantine/` folder, by name.
    pub fn quarantined(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = fs::read_dir(self.dir.join(QUARANTINE_DIR))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| !p.to_string_lossy().ends_with(REASON_SUFFIX))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every readable dump of the session in order, and the files that could not be used.
    pub fn load_all(&self) -> Result<(Vec<StoredDump>, Vec<SessionProblem>), SessionError> {
        let mut dumps = Vec::new();
        let mut problems = Vec::new();
        for name in self.file_names()? {
            let path = self.dir.join(&name);
            // Only regular files of a sane size are opened: a FIFO would block the read for
            // ever, a device or a stray huge file would fill memory.
            if let Some(problem) = not_a_dump_file(&path) {
                problems.push(SessionProblem {
                    path,
                    problem,
                    kind: ProblemKind::BadDump,
                });
                continue;
            }
            match fs::read(&path) {
                Ok(bytes) => match decode(&bytes) {
                    Ok((meta, payload)) => dumps.push(StoredDump {
                        path,
                        meta,
                        payload,
                    }),
                    Err(problem) => problems.push(SessionProblem {
                        path,
                        problem,
                        kind: ProblemKind::BadDump,
                    }),
                },
                Err(e) => problems.push(SessionProblem {
                    path,
                    problem: format!("cannot read: {e}"),
                    kind: ProblemKind::BadDump,
                }),
            }
        }
        for path in self.unfinished_writes() {
            problems.push(SessionProblem {
                path,
                problem: "unfinished write of an interrupted covtop (never acknowledged, ignored; \
                          removed automatically after a minute)"
                    .to_string(),
                kind: ProblemKind::UnfinishedWrite,
            });
        }
        dumps.sort_by(|a, b| a.meta.seq.cmp(&b.meta.seq).then(a.path.cmp(&b.path)));
        Ok((dumps, problems))
    }
}

fn decode(bytes: &[u8]) -> Result<(DumpMeta, Vec<u8>), String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(
        "not a covtop dump (bad magic line); move foreign files out of the session folder",
    )?;
    let nl = memchr::memchr(b'\n', rest).ok_or("truncated: the metadata line has no end")?;
    let meta: DumpMeta =
        serde_json::from_slice(&rest[..nl]).map_err(|e| format!("corrupt metadata line: {e}"))?;
    let payload = &rest[nl + 1..];
    if payload.len() as u64 != meta.len {
        return Err(format!(
            "truncated or padded: payload is {} bytes, metadata says {}",
            payload.len(),
            meta.len
        ));
    }
    if crc32fast::hash(payload) != meta.crc32 {
        return Err("corrupt: payload checksum does not match".to_string());
    }
    Ok((meta, payload.to_vec()))
}

/// The folder name of session `name`: `-` is kept (dump file names use it as a separator, session
/// folders do not), anything else outside `[A-Za-z0-9._]` becomes `_`.
pub(crate) fn session_dir_name(name: &str) -> String {
    let out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if out.is_empty() || out.starts_with('.') {
        format!("_{out}")
    } else {
        out
    }
}

/// Makes a string safe as part of a file name.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if out.is_empty() { "_".to_string() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> DumpMeta {
        DumpMeta::new(
            "shop",
            "http://127.0.0.1:7778",
            None,
            1,
            "abc",
            PayloadKind::GoProfile,
        )
    }

    #[test]
    fn quarantined_dumps_leave_the_session_with_their_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "default").unwrap();
        let a = s.persist(&meta(), b"mode: set\n").unwrap();
        let b = s.persist(&meta(), b"mode: set\n").unwrap();
        assert!(s.quarantined().is_empty());
        let moved = s
            .quarantine(&a, "cannot decode: http://u:secret@h:1 said no")
            .unwrap();
        assert!(!a.exists() && moved.exists());
        // A second file of the same name does not replace the first.
        std::fs::copy(&b, &a).unwrap();
        let again = s.quarantine(&a, "again").unwrap();
        assert_ne!(again, moved);
        assert_eq!(s.quarantined(), vec![moved.clone(), again]);
        let reason = std::fs::read_to_string(format!("{}.reason.txt", moved.display())).unwrap();
        assert!(
            reason.contains("cannot decode") && !reason.contains("secret"),
            "{reason}"
        );
        // Only the dump still in the session is loaded.
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!(dumps.len(), 1);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn persist_and_load_round_trip_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "default").unwrap();
        s.persist(&meta(), b"mode: set\n").unwrap();
        s.persist(&meta(), b"mode: count\n").unwrap();
        let s2 = SessionStore::open(tmp.path(), "default").unwrap();
        assert_eq!(s2.next_seq, 3);
        let (dumps, problems) = s2.load_all().unwrap();
        assert!(problems.is_empty());
        assert_eq!(dumps.len(), 2);
        assert_eq!(dumps[0].payload, b"mode: set\n");
        assert_eq!(dumps[1].meta.seq, 2);
    }

    #[test]
    fn corrupt_truncated_and_foreign_files_are_reported_and_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let good = s.persist(&meta(), b"mode: set\nabc").unwrap();
        let bytes = fs::read(&good).unwrap();
        fs::write(s.dir().join("00000100-a.dump"), &bytes[..bytes.len() - 2]).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        fs::write(s.dir().join("00000101-b.dump"), flipped).unwrap();
        fs::write(s.dir().join("00000102-c.dump"), b"garbage").unwrap();
        fs::write(s.dir().join(".00000103-d.dump.7.tmp"), b"half").unwrap();
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!(dumps.len(), 1);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(
            problems
                .iter()
                .filter(|p| p.kind == ProblemKind::UnfinishedWrite)
                .count(),
            1
        );
        assert!(problems.iter().any(|p| p.problem.contains("truncated")));
        assert!(problems.iter().any(|p| p.problem.contains("checksum")));
        assert!(problems.iter().any(|p| p.problem.contains("magic")));
    }

    #[test]
    fn a_stray_huge_number_never_numbers_the_next_dump() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let first = s.persist(&meta(), b"mode: set\n").unwrap();
        fs::write(s.dir().join("18446744073709551615-x.dump"), b"garbage").unwrap();
        // Reopened (a restart) and written again: the sequence goes on from the real dumps.
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let second = s.persist(&meta(), b"mode: count\n").unwrap();
        assert!(
            first
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("00000001-")
        );
        assert!(
            second
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("00000002-"),
            "{}",
            second.display()
        );
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!(dumps.len(), 2);
        assert_eq!(dumps[1].payload, b"mode: count\n");
        assert!(
            problems
                .iter()
                .any(|p| p.path.ends_with("18446744073709551615-x.dump")),
            "{problems:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_huge_files_are_set_aside_without_being_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        s.persist(&meta(), b"mode: set\n").unwrap();
        let fifo = s.dir().join("00000005-a-fifo.dump");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let big = s.dir().join("00000006-a-big.dump");
        fs::File::create(&big)
            .unwrap()
            .set_len(MAX_DUMP_FILE_BYTES + 1)
            .unwrap();
        // Returns at once: nothing blocks on the pipe, nothing reads the sparse file.
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!(dumps.len(), 1);
        let why = |name: &str| {
            problems
                .iter()
                .find(|p| p.path.ends_with(name))
                .map(|p| p.problem.clone())
                .unwrap_or_default()
        };
        if made.is_ok_and(|st| st.success()) {
            assert!(
                why("00000005-a-fifo.dump").contains("not a regular file"),
                "{problems:?}"
            );
        }
        assert!(
            why("00000006-a-big.dump").contains("larger than any dump"),
            "{problems:?}"
        );
    }

    #[test]
    fn unwritable_folder_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        let e = SessionStore::open(&file, "x").unwrap_err().to_string();
        assert!(e.contains("cannot create session folder"), "{e}");
    }
}
