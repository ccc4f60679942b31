//! The sessions of one store folder: listing, the current session, creating, merging, removing.
//!
//! The store folder holds `sessions/<name>/` folders and a `current` file naming the session
//! that commands use when neither `--session` nor the configuration names one.

use super::{
    DumpMeta, ProblemKind, SESSIONS_DIR, SessionError, SessionStore, StoredDump, session_dir_name,
};
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

const CURRENT_FILE: &str = "current";
const MAX_NAME: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "invalid session name \"{0}\": use 1 to 80 letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    InvalidName(String),
    #[error("no session is named \"{name}\" in {root}; the sessions are: {existing}")]
    Unknown {
        name: String,
        root: PathBuf,
        existing: String,
    },
    #[error("session \"{0}\" already exists; pick another name, or use it with --session {0}")]
    Exists(String),
    #[error(
        "session \"{0}\" is the current session: pass --yes to remove it anyway (the current session then \
         falls back to \"default\")"
    )]
    RemoveCurrent(String),
    #[error("cannot merge session \"{0}\" into itself")]
    MergeIntoItself(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] SessionError),
}

/// What `covtop session list` shows for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub name: String,
    pub dumps: usize,
    /// Reset markers among the dumps.
    pub resets: usize,
    pub targets: BTreeSet<String>,
    /// (target, replica) pairs.
    pub replicas: BTreeSet<(String, String)>,
    pub revisions: BTreeSet<String>,
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    /// Bytes of every file in the folder.
    pub bytes: u64,
    /// Files that are not usable dumps (corrupt, truncated, foreign).
    pub bad_files: usize,
    /// Temporary files of interrupted writes.
    pub unfinished_writes: usize,
    /// The last checkpoint: every dump up to this sequence number, written at (ms).
    pub checkpoint: Option<(u64, u64)>,
    /// Dumps set aside because they could not be used (never replayed again).
    pub quarantined: usize,
    pub current: bool,
}

impl SessionSummary {
    /// An empty session's summary.
    pub fn new(name: &str, current: bool) -> Self {
        SessionSummary {
            name: name.to_string(),
            dumps: 0,
            resets: 0,
            targets: BTreeSet::new(),
            replicas: BTreeSet::new(),
            revisions: BTreeSet::new(),
            first_ms: None,
            last_ms: None,
            bytes: 0,
            bad_files: 0,
            unfinished_writes: 0,
            checkpoint: None,
            quarantined: 0,
            current,
        }
    }

    /// Counts one stored dump (or reset marker).
    pub fn count(&mut self, meta: &DumpMeta) {
        if meta.reset_after {
            self.resets += 1;
        } else {
            self.dumps += 1;
        }
        self.targets.insert(meta.target.clone());
        self.replicas
            .insert((meta.target.clone(), meta.replica.clone()));
        self.revisions.insert(meta.revision.clone());
        let t = meta.fetched_at_ms;
        self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    pub copied: usize,
    /// Dumps the destination already had (same metadata and payload).
    pub already_present: usize,
    /// Unusable files of the sources, not copied: (path, problem).
    pub skipped: Vec<(PathBuf, String)>,
}

/// The sessions under one store folder.
#[derive(Debug, Clone)]
pub struct SessionCatalog {
    root: PathBuf,
}

impl SessionCatalog {
    pub fn new(root: &Path) -> Self {
        SessionCatalog {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks a name given by a user for a new session.
    pub fn validate_name(name: &str) -> Result<(), CatalogError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(())
        } else {
            Err(CatalogError::InvalidName(name.to_string()))
        }
    }

    /// The folder holding one folder per session.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join(SESSIONS_DIR)
    }

    /// The folder of session `name` (whether or not it exists).
    pub fn session_path(&self, name: &str) -> PathBuf {
        self.sessions_dir().join(session_dir_name(name))
    }

    /// Names of the existing sessions, sorted.
    pub fn names(&self) -> Result<Vec<String>, CatalogError> {
        let dir = self.sessions_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CatalogError::Io { path: dir, source }),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.session_path(name).is_dir()
    }

    /// The session recorded as current, if any (a missing or empty file is none).
    pub fn current(&self) -> Option<String> {
        let text =
            crate::bounded_read::read_regular_text(&self.root.join(CURRENT_FILE), 4096).ok()?;
        let name = text.trim();
        Self::validate_name(name).ok()?;
        Some(name.to_string())
    }

    /// Records `name` as the current session (atomically).
    pub fn set_current(&self, name: &str) -> Result<(), CatalogError> {
        Self::validate_name(name)?;
        write_atomically(
            &self.root.join(CURRENT_FILE),
            format!("{name}\n").as_bytes(),
        )
    }

    fn clear_current(&self) -> Result<(), CatalogError> {
        let path = self.root.join(CURRENT_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CatalogError::Io { path, source }),
        }
    }

    fn unknown(&self, name: &str) -> CatalogError {
        let names = self.names().unwrap_or_default();
        CatalogError::Unknown {
            name: name.to_string(),
            root: self.root.clone(),
            existing: if names.is_empty() {
                "none yet (`covtop session new NAME` creates one)".to_string()
            } else {
                names.join(", ")
            },
        }
    }

    /// Nothing when session `name` exists, else an error listing the existing ones.
    pub fn require(&self, name: &str) -> Result<(), CatalogError> {
        if self.exists(name) {
            Ok(())
        } else {
            Err(self.unknown(name))
        }
    }

    /// Opens an existing session; an unknown name is an error listing the existing ones.
    pub fn open_existing(&self, name: &str) -> Result<SessionStore, CatalogError> {
        self.require(name)?;
        Ok(SessionStore::open(&self.root, name)?)
    }

    /// Creates session `name` (an error if it exists) and makes it current.
    pub fn create(&self, name: &str) -> Result<SessionStore, CatalogError> {
        Self::validate_name(name)?;
        if self.exists(name) {
            return Err(CatalogError::Exists(name.to_string()));
        }
        let store = SessionStore::open(&self.root, name)?;
        self.set_current(name)?;
        Ok(store)
    }

    /// Summaries of every session; `current` is the name commands use now.
    pub fn list(&self, current: &str) -> Result<Vec<SessionSummary>, CatalogError> {
        let mut out = Vec::new();
        for name in self.names()? {
            let store = SessionStore::open(&self.root, &name)?;
            // Metadata lines and file sizes only: no payload is read.
            let (metas, problems) = store.heads()?;
            let mut s = SessionSummary::new(&name, session_dir_name(current) == name);
            s.bytes = store.size_with(&metas);
            s.checkpoint = store.checkpoint_header();
            s.quarantined = store.quarantined().len();
            for p in &problems {
                match p.kind {
                    ProblemKind::BadDump => s.bad_files += 1,
                    ProblemKind::UnfinishedWrite => s.unfinished_writes += 1,
                }
            }
            for m in &metas {
                s.count(m);
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Copies every dump of `sources` into `into` (created if missing) with its metadata, in
    /// the order they were fetched. A dump `into` already holds (same metadata but the sequence
    /// number, same payload) is not copied again, so merging twice changes nothing. Each copy is
    /// written atomically like any dump.
    pub fn merge(&self, sources: &[String], into: &str) -> Result<MergeSummary, CatalogError> {
        Self::validate_name(into)?;
        let mut incoming: Vec<(usize, StoredDump)> = Vec::new();
        let mut summary = MergeSummary::default();
        for (i, src) in sources.iter().enumerate() {
            if session_dir_name(src) == session_dir_name(into) {
                return Err(CatalogError::MergeIntoItself(src.clone()));
            }
            let store = self.open_existing(src)?;
            let (dumps, problems) = store.load_all()?;
            summary.skipped.extend(
                problems
                    .into_iter()
                    .filter(|p| p.kind == ProblemKind::BadDump)
                    .map(|p| (p.path, p.problem)),
            );
            incoming.extend(dumps.into_iter().map(|d| (i, d)));
        }
        let mut dst = SessionStore::open(&self.root, into)?;
        let (present, _) = dst.load_all()?;
        let mut seen: HashSet<String> = present.iter().map(|d| identity(&d.meta)).collect();
        incoming.sort_by_key(|(i, d)| (d.meta.fetched_at_ms, *i, d.meta.seq));
        for (_, d) in incoming {
            if !seen.insert(identity(&d.meta)) {
                summary.already_present += 1;
                continue;
            }
            dst.persist(&d.meta, &d.payload)?;
            summary.copied += 1;
        }
        Ok(summary)
    }

    /// Removes session `name` and its dumps. The current session (`current`) is refused unless
    /// `force`; removing it clears the `current` record.
    pub fn remove(&self, name: &str, current: &str, force: bool) -> Result<usize, CatalogError> {
        if !self.exists(name) {
            return Err(self.unknown(name));
        }
        let is_current = session_dir_name(name) == session_dir_name(current);
        if is_current && !force {
            return Err(CatalogError::RemoveCurrent(name.to_string()));
        }
        let path = self.session_path(name);
        let files = fs::read_dir(&path).map(|rd| rd.count()).unwrap_or(0);
        // Renamed away first, so a reader never sees a half-removed session.
        let doomed = self.sessions_dir().join(format!(
            ".removing-{}-{}",
            session_dir_name(name),
            std::process::id()
        ));
        fs::rename(&path, &doomed).map_err(|source| CatalogError::Io {
            path: path.clone(),
            source,
        })?;
        fs::remove_dir_all(&doomed).map_err(|source| CatalogError::Io {
            path: doomed.clone(),
            source,
        })?;
        if self
            .current()
            .is_some_and(|c| session_dir_name(&c) == session_dir_name(name))
        {
            self.clear_current()?;
        }
        // Payloads only that session used go with it (other sessions keep theirs).
        super::remove_unused_blobs(&self.root, std::time::Duration::from_secs(60));
        Ok(files)
    }
}

/// What makes two stored dumps the same dump: the metadata without the sequence number (which
/// includes the payload's length and CRC-32).
fn identity(meta: &DumpMeta) -> String {
    serde_json::to_string(&meta.identity_form()).unwrap_or_default()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    crate::atomic_file::write_creating_dirs(path, bytes).map_err(|source| CatalogError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{DumpStore, PayloadKind};

    fn meta(replica: &str, at: u64) -> DumpMeta {
        DumpMeta::new("shop", replica, None, at, "abc", PayloadKind::GoProfile)
    }

    #[test]
    fn create_list_and_current() {
        let tmp = tempfile::tempdir().unwrap();
        let c = SessionCatalog::new(tmp.path());
        assert_eq!(c.current(), None);
        let mut s = c.create("sprint-42").unwrap();
        assert_eq!(c.current().as_deref(), Some("sprint-42"));
        s.persist(&meta("a", 10), b"mode: set\n").unwrap();
        s.persist(&meta("b", 20), b"mode: set\n").unwrap();
        s.append_reset("shop", "a", "abc", PayloadKind::GoProfile, 30)
            .unwrap();
        fs::write(s.dir().join("00000099-x.dump"), b"garbage").unwrap();
        c.create("other").unwrap();
        assert!(matches!(c.create("other"), Err(CatalogError::Exists(_))));
        let list = c.list("sprint-42").unwrap();
        assert_eq!(list.len(), 2);
        let l = &list[1];
        assert_eq!(l.name, "sprint-42");
        assert!(l.current && !list[0].current);
        assert_eq!((l.dumps, l.resets, l.bad_files), (2, 1, 1));
        assert_eq!(l.replicas.len(), 2);
        assert_eq!((l.first_ms, l.last_ms), (Some(10), Some(30)));
        assert!(l.bytes > 0);
    }

    #[test]
    fn list_reads_metadata_and_sizes_only_and_finds_what_a_load_finds_by_size() {
        let tmp = tempfile::tempdir().unwrap();
        let c = SessionCatalog::new(tmp.path());
        let mut s = c.create("x").unwrap();
        let blob_of = |s: &SessionStore, path: &Path| {
            let hex = super::super::read_meta(path).unwrap().blob.unwrap();
            super::super::blob_path(&s.blobs_dir().unwrap(), &hex).unwrap()
        };
        s.persist(&meta("good", 10), b"mode: set\ngood").unwrap();
        s.append_reset("shop", "good", "abc", PayloadKind::GoProfile, 11)
            .unwrap();
        // A blob cut short, a blob gone, bytes after a blob dump's metadata line.
        let cut = s.persist(&meta("cut", 20), b"mode: set\ncut").unwrap();
        fs::write(blob_of(&s, &cut), b"mode").unwrap();
        let gone = s.persist(&meta("gone", 30), b"mode: set\ngone").unwrap();
        fs::remove_file(blob_of(&s, &gone)).unwrap();
        let padded = s
            .persist(&meta("padded", 40), b"mode: set\npadded")
            .unwrap();
        let mut bytes = fs::read(&padded).unwrap();
        bytes.extend_from_slice(b"extra");
        fs::write(&padded, bytes).unwrap();
        // Foreign, metadata line without an end, an unfinished write.
        fs::write(s.dir().join("00000098-x.dump"), b"garbage").unwrap();
        fs::write(s.dir().join("00000099-x.dump"), b"COVTOP-DUMP 2\n{\"seq\":").unwrap();
        fs::write(s.dir().join(".00000100-x.dump.1-1.tmp"), b"COVTOP").unwrap();
        // Damaged in place at the same size: only reading the payload finds it.
        let flipped = s.persist(&meta("flipped", 50), b"mode: set\nflip").unwrap();
        fs::write(blob_of(&s, &flipped), b"mode: set\nFLIP").unwrap();

        let l = &c.list("x").unwrap()[0];
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!((l.dumps, l.resets), (2, 1), "good and flipped, one reset");
        assert_eq!((l.bad_files, l.unfinished_writes), (5, 1));
        assert_eq!(dumps.len(), 2, "good and its reset");
        assert_eq!(problems.len(), 7, "the same six, and flipped: {problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.path == flipped && p.problem.contains("checksum"))
        );
        assert_eq!((l.first_ms, l.last_ms), (Some(10), Some(50)));
    }

    #[test]
    fn names_are_validated() {
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(81)] {
            assert!(SessionCatalog::validate_name(bad).is_err(), "{bad:?}");
        }
        SessionCatalog::validate_name("release-1.2_rc").unwrap();
    }

    #[test]
    fn merge_copies_metadata_in_time_order_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let c = SessionCatalog::new(tmp.path());
        let mut a = c.create("a").unwrap();
        let mut b = c.create("b").unwrap();
        a.persist(&meta("r1", 30), b"mode: set\nA\n").unwrap();
        b.persist(&meta("r2", 10), b"mode: set\nB\n").unwrap();
        let mut m = meta("r2", 20);
        m.instance = Some("i-1".into());
        b.persist(&m, b"mode: set\nB2\n").unwrap();
        fs::write(b.dir().join("00000050-z.dump"), b"junk").unwrap();

        let first = c.merge(&["a".into(), "b".into()], "all").unwrap();
        assert_eq!((first.copied, first.already_present), (3, 0));
        assert_eq!(first.skipped.len(), 1);
        let again = c.merge(&["a".into(), "b".into()], "all").unwrap();
        assert_eq!((again.copied, again.already_present), (0, 3));

        let (dumps, problems) = c.open_existing("all").unwrap().load_all().unwrap();
        assert!(problems.is_empty());
        let at: Vec<u64> = dumps.iter().map(|d| d.meta.fetched_at_ms).collect();
        assert_eq!(at, vec![10, 20, 30]);
        assert_eq!(dumps[1].meta.instance.as_deref(), Some("i-1"));
        assert_eq!(dumps[1].payload, b"mode: set\nB2\n");
        assert!(matches!(
            c.merge(&["all".into()], "all"),
            Err(CatalogError::MergeIntoItself(_))
        ));
        let e = c.merge(&["nope".into()], "all").unwrap_err().to_string();
        assert!(e.contains("a, all, b"), "{e}");
    }

    #[test]
    fn remove_refuses_the_current_session_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let c = SessionCatalog::new(tmp.path());
        c.create("keep").unwrap();
        c.create("cur").unwrap();
        assert!(matches!(
            c.remove("cur", "cur", false),
            Err(CatalogError::RemoveCurrent(_))
        ));
        c.remove("keep", "cur", false).unwrap();
        assert!(!c.exists("keep"));
        c.remove("cur", "cur", true).unwrap();
        assert_eq!(c.current(), None);
        assert!(c.names().unwrap().is_empty());
        let e = c.remove("gone", "x", true).unwrap_err().to_string();
        assert!(e.contains("no session is named \"gone\""), "{e}");
    }
}
