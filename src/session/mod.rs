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
mod checkpoints;
pub mod pg_tls;
pub mod postgres;
pub mod store;

pub use catalog::{CatalogError, MergeSummary, SessionCatalog, SessionSummary};
pub use store::{Dropped, DumpFeed, DumpStore, Loaded, Persisted, StoredCheckpoint};

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const SESSIONS_DIR: &str = "sessions";
/// The largest dump file read: the largest payload an agent's reply may have (256 MiB:
/// `agent::goc_v1::MAX_PROFILE_BYTES`, `agent::jacoco::DEFAULT_MAX_REPLY_BYTES`), plus room for
/// the metadata line.
const MAX_DUMP_FILE_BYTES: u64 = (256 << 20) + (1 << 20);

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
/// A dump file whose payload is a blob of the store (named by the metadata's `blob`).
const MAGIC_BLOB: &[u8] = b"COVTOP-DUMP 2\n";
/// The store folder's payloads by SHA-256: `blobs/<first 2 hex digits>/<64 hex digits>`.
pub(crate) const BLOBS_DIR: &str = "blobs";
const SUFFIX: &str = ".dump";
const TMP_SUFFIX: &str = ".tmp";
/// Numbers the temporary files of this process's writes.
static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The folder inside a session where dumps that cannot be used are moved.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Beside each quarantined dump: why it was set aside.
const REASON_SUFFIX: &str = ".reason.txt";
/// The number the session's next dump takes (decimal, one line). Read and rewritten only under
/// the session folder's lock, and rewritten (and synced) *before* the dump taking the number is
/// linked, so a writer killed at any moment leaves at worst an unused number, never a number
/// handed out twice. Missing, unreadable or out of range: recovered from a listing.
const NEXT_SEQ_FILE: &str = ".next-seq";
/// The names of the dumps linked into the session folder, one a line, appended under the
/// folder's lock: a writer learns what other processes appended since it last looked by reading
/// the new lines, not by listing the folder. Only a cache (never fsynced): a line missing or
/// garbled means a listing. Started again once it passes [`APPENDED_MAX`].
const APPENDED_FILE: &str = ".appended";
const APPENDED_MAX: u64 = 4 << 20;

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
    /// The shared store (`store` names it without any password) failed or is unreachable.
    #[error("session store {store}: {message}")]
    Database { store: String, message: String },
}

/// Opens session `config.name`: in PostgreSQL when `[session] store` names a database (saved
/// build lines then go to the session's folder under `root`), else in the folder store `root`.
pub fn open_store(
    config: &crate::config::SessionConfig,
    root: &Path,
) -> Result<Box<dyn DumpStore>, SessionError> {
    match &config.store {
        Some(url) => {
            let target = postgres::PgTarget::new(url, config.password_file.as_deref())?;
            let local = root.join(SESSIONS_DIR).join(session_dir_name(&config.name));
            Ok(Box::new(postgres::PgStore::open(
                target,
                &config.name,
                &local,
            )?))
        }
        None => Ok(Box::new(SessionStore::open(root, &config.name)?)),
    }
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
    /// The SHA-256 (hex) of the payload when it is kept in the store's `blobs/` folder (once,
    /// whichever sessions and replicas stored it) rather than in the dump file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
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
            blob: None,
        }
    }

    /// The metadata of a reset marker: (target, replica) was reset after its most recent stored
    /// dump (an empty payload; stored dumps are never rewritten).
    pub fn reset_marker(
        target: &str,
        replica: &str,
        revision: &str,
        kind: PayloadKind,
        at_ms: u64,
    ) -> DumpMeta {
        let mut meta = DumpMeta::new(target, replica, None, at_ms, revision, kind);
        meta.reset_after = true;
        meta
    }

    /// The metadata that make a dump this dump wherever it is stored: without the sequence
    /// number and where the payload is kept.
    pub(crate) fn identity_form(&self) -> DumpMeta {
        let mut m = self.clone();
        m.seq = 0;
        m.blob = None;
        m
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
    /// The value of [`NEXT_SEQ_FILE`] when this store last looked at the folder or wrote to it:
    /// while the file still holds it, no other process has added a dump since.
    seen_next: Option<u64>,
    /// The dumps of the folder by identity, for idempotent appends.
    index: store::IdentityIndex,
    /// How much of [`APPENDED_FILE`] the index holds.
    appended_at: u64,
    /// How many times appends listed the folder (for tests of the journal).
    listings: u32,
}

impl SessionStore {
    /// Opens (creating if needed) session `name` under `root`.
    pub fn open(root: &Path, name: &str) -> Result<Self, SessionError> {
        let dir = root.join(SESSIONS_DIR).join(session_dir_name(name));
        fs::create_dir_all(&dir).map_err(|source| SessionError::Create {
            path: dir.clone(),
            source,
        })?;
        let store = SessionStore::open_dir(&dir)?;
        store.remove_unfinished_writes(std::time::Duration::from_secs(60));
        Ok(store)
    }

    /// Opens the existing session folder `dir`.
    pub(crate) fn open_dir(dir: &Path) -> Result<Self, SessionError> {
        let mut store = SessionStore {
            dir: dir.to_path_buf(),
            next_seq: 1,
            seen_next: None,
            index: store::IdentityIndex::default(),
            appended_at: 0,
            listings: 0,
        };
        store.next_seq = store.max_seq()? + 1;
        Ok(store)
    }

    /// The store's blob folder: `<store>/blobs` beside `<store>/sessions/<name>`.
    fn blobs_dir(&self) -> Option<PathBuf> {
        Some(self.dir.parent()?.parent()?.join(BLOBS_DIR))
    }

    /// The highest sequence number of the folder's dumps (0 when it holds none).
    pub(crate) fn highest_seq(&self) -> Result<u64, SessionError> {
        self.max_seq()
    }

    /// [`DumpStore::append`] for the folder: a dump whose metadata (but the sequence number) and
    /// payload equal a stored one's is not written again. Metadata are compared through the
    /// index (filled from the files' metadata lines only), payloads byte by byte.
    pub(crate) fn append_idempotent(
        &mut self,
        meta: &DumpMeta,
        payload: &[u8],
    ) -> Result<Persisted, SessionError> {
        let mut m = meta.clone();
        m.len = payload.len() as u64;
        m.crc32 = crc32fast::hash(payload);
        let key = meta_key(&m);
        // Appends to one session take turns (across processes and within one): the look for an
        // equal dump and the write are one step, so two writers of one dump store it once. The
        // lock is the session folder's own (no lock file) and goes with the process, whatever
        // kills it. Where a folder cannot be locked, the no-clobber link still keeps writers
        // from overwriting each other.
        let lock = self.lock_folder();
        // The folder is listed only when another process added a dump since this store last
        // looked (the next number moved) or when the folder cannot be locked.
        let next = lock.as_ref().and_then(|_| self.read_next_seq());
        if next.is_none() || next != self.seen_next {
            // What others appended, from the names they noted; else from a listing.
            if !next.is_some_and(|n| self.index_appended(n)) {
                self.appended_at = self.appended_len();
                self.refresh_index()?;
            }
            self.seen_next = next;
        }
        if let Some((seq, path)) = self.index.get(&key)
            && read_whole(path, self.blobs_dir().as_deref()).is_ok_and(|(_, p)| p == payload)
        {
            return Ok(Persisted {
                seq: *seq,
                location: path.clone(),
                new: false,
            });
        }
        let path = self.persist_locked(meta, payload, lock.is_some())?;
        if lock.is_some() {
            // What the file holds now: this store's own dump is indexed just below.
            self.seen_next = Some(self.next_seq);
        }
        drop(lock);
        let seq = self.next_seq - 1;
        self.index.insert(key, seq, path.clone());
        Ok(Persisted {
            seq,
            location: path,
            new: true,
        })
    }

    /// The length of [`APPENDED_FILE`] (0 when there is none).
    fn appended_len(&self) -> u64 {
        fs::metadata(self.dir.join(APPENDED_FILE)).map_or(0, |m| m.len())
    }

    /// Indexes the dumps other writers noted in [`APPENDED_FILE`] since this store last read
    /// it; only with the folder's lock held. False (the caller lists the folder) when the
    /// notes do not account for every number up to `next` (a writer that notes nothing, one
    /// killed between its link and its note, a file started again or damaged).
    fn index_appended(&mut self, next: u64) -> bool {
        let Ok(mut f) = fs::File::open(self.dir.join(APPENDED_FILE)) else {
            return false;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        // Far behind (or the file was started again): a listing is as cheap.
        if len < self.appended_at || len - self.appended_at > APPENDED_MAX {
            return false;
        }
        use std::io::{Read, Seek};
        let mut text = String::new();
        if f.seek(std::io::SeekFrom::Start(self.appended_at)).is_err()
            || f.take(len - self.appended_at)
                .read_to_string(&mut text)
                .is_err()
            || !(text.is_empty() || text.ends_with('\n'))
        {
            return false;
        }
        let from = self.index.upto();
        let mut found = std::collections::BTreeMap::new();
        for name in text.lines() {
            let seq = seq_of_name(name).filter(|_| name.ends_with(SUFFIX) && !name.contains('/'));
            let Some(seq) = seq else {
                return false;
            };
            if seq > from {
                found.insert(seq, self.dir.join(name));
            }
        }
        // Every number after the index's up to `next` noted, none beyond.
        let top = found.keys().next_back().copied().unwrap_or(from);
        if top + 1 != next || found.len() as u64 != top - from {
            return false;
        }
        for (seq, path) in found {
            if not_a_dump_file(&path).is_some() {
                continue;
            }
            if let Some(meta) = read_meta(&path) {
                self.index.insert(meta_key(&meta), seq, path);
            }
        }
        self.index.set_upto(top);
        self.appended_at = len;
        true
    }

    /// Notes dump file `name` in [`APPENDED_FILE`] (with the folder's lock held), starting the
    /// file again when it is long. A note that cannot be written only costs a listing later.
    fn note_appended(&mut self, name: &str) {
        let path = self.dir.join(APPENDED_FILE);
        let restart = self.appended_len() > APPENDED_MAX;
        let file = fs::OpenOptions::new()
            .create(true)
            .append(!restart)
            .write(true)
            .truncate(restart)
            .open(&path);
        if let Ok(mut f) = file {
            let _ = f.write_all(format!("{name}\n").as_bytes());
        }
    }

    /// Indexes the metadata of the dump files written since the last look (by any process).
    fn refresh_index(&mut self) -> Result<(), SessionError> {
        self.listings += 1;
        let from = self.index.upto();
        let mut top = from;
        for name in self.file_names()? {
            let Some(seq) = seq_of_name(&name).filter(|&n| n > from) else {
                continue;
            };
            top = top.max(seq);
            let path = self.dir.join(&name);
            if not_a_dump_file(&path).is_some() {
                continue;
            }
            if let Some(meta) = read_meta(&path) {
                let key = meta_key(&meta);
                self.index.insert(key, seq, path);
            }
        }
        self.index.set_upto(top);
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one dump atomically and returns where it is. Only after this returns may the dump
    /// be shown, exported or followed by a reset.
    ///
    /// Writers of one session take turns on the folder's lock (`flock`, released by the kernel
    /// whatever ends the process) while they number and link a dump: the number comes from
    /// [`NEXT_SEQ_FILE`], rewritten before the link, so an append never lists the folder.
    ///
    /// The file is written under a temporary name (with this process's id, so two writers of one
    /// session never share it), fsynced, then hard-linked to its final name, which fails rather
    /// than replaces when a writer that does not take the lock took that name meanwhile: the
    /// sequence is then re-read from the folder and the write retried. Where the folder cannot
    /// be locked, every append looks at the folder for a taken number first (as covtop did before
    /// the lock). Where the file system has no hard links, a rename is used instead.
    pub fn persist(&mut self, meta: &DumpMeta, payload: &[u8]) -> Result<PathBuf, SessionError> {
        let lock = self.lock_folder();
        let path = self.persist_locked(meta, payload, lock.is_some())?;
        drop(lock);
        Ok(path)
    }

    /// The session folder's lock (exclusive, held until the file is dropped); `None` where the
    /// folder cannot be opened or locked.
    fn lock_folder(&self) -> Option<fs::File> {
        fs::File::open(&self.dir).ok().filter(|f| f.lock().is_ok())
    }

    /// The number [`NEXT_SEQ_FILE`] holds, when it is readable and in range.
    fn read_next_seq(&self) -> Option<u64> {
        let text =
            crate::bounded_read::read_regular_text(&self.dir.join(NEXT_SEQ_FILE), 64).ok()?;
        text.strip_suffix('\n')?
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_SEQ).contains(n))
    }

    /// Records (durably) that numbers below `next` are taken.
    fn write_next_seq(&self, next: u64) -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.dir.join(NEXT_SEQ_FILE))?;
        // Killed between the truncation and the write, the file is empty: recovered by a
        // listing, like a missing one.
        f.write_all(format!("{next}\n").as_bytes())?;
        f.sync_data()
    }

    /// Takes the next sequence number; only with the folder's lock held. The file's number is
    /// used unless it is missing, unreadable or behind what this store has seen (then the
    /// folder is listed once); `recover` forces the listing (a writer without the lock took a
    /// name). The following number is recorded before the caller links the dump.
    fn claim_seq(&mut self, recover: bool) -> Result<u64, SessionError> {
        let seq = match self.read_next_seq() {
            Some(n) if !recover && n >= self.next_seq => n,
            _ => (self.max_seq()? + 1).max(self.next_seq),
        };
        self.write_next_seq(seq + 1)
            .map_err(|source| SessionError::Write {
                path: self.dir.join(NEXT_SEQ_FILE),
                source,
            })?;
        Ok(seq)
    }

    /// [`SessionStore::persist`] with the folder's lock already held by the caller (`locked`)
    /// or not to be had.
    fn persist_locked(
        &mut self,
        meta: &DumpMeta,
        payload: &[u8],
        locked: bool,
    ) -> Result<PathBuf, SessionError> {
        let mut meta = meta.clone();
        meta.len = payload.len() as u64;
        meta.crc32 = crc32fast::hash(payload);
        // The payload first (durable before any dump names it), kept once in the store.
        meta.blob = match (payload.is_empty(), self.blobs_dir()) {
            (false, Some(blobs)) => Some(write_blob(&blobs, payload)?),
            _ => None,
        };
        let inline: &[u8] = if meta.blob.is_some() { &[] } else { payload };
        let magic = if meta.blob.is_some() {
            MAGIC_BLOB
        } else {
            MAGIC
        };
        let mut recover = false;
        for _ in 0..64 {
            meta.seq = if locked {
                self.claim_seq(recover)?
            } else {
                self.next_seq
            };
            let name = format!(
                "{:08}-{}-{}{}",
                meta.seq,
                sanitize(&meta.target),
                sanitize(&meta.replica),
                SUFFIX
            );
            let path = self.dir.join(&name);
            // This process's id and a number of its own: two writers of one session, in two
            // processes or in one, never share a temporary file.
            let tmp = self.dir.join(format!(
                ".{name}.{}-{}{TMP_SUFFIX}",
                std::process::id(),
                TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let werr = |source| SessionError::Write {
                path: path.clone(),
                source,
            };
            if !locked && self.seq_taken(meta.seq)? {
                self.next_seq = self.max_seq()? + 1;
                continue;
            }
            let mut header =
                serde_json::to_vec(&meta).map_err(|e| werr(std::io::Error::other(e)))?;
            header.push(b'\n');
            {
                let mut f = fs::File::create(&tmp).map_err(werr)?;
                f.write_all(magic).map_err(werr)?;
                f.write_all(&header).map_err(werr)?;
                f.write_all(inline).map_err(werr)?;
                f.sync_all().map_err(werr)?;
            }
            match fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = fs::remove_file(&tmp);
                    self.next_seq = self.max_seq()? + 1;
                    recover = true;
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
            if locked {
                self.note_appended(&name);
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
    ///
    /// The checkpoint's last dump counts too: once the raw dumps it folds are dropped, the next
    /// dump must still be numbered after it (else a restore, which reads only the dumps after
    /// the checkpoint, would never see it).
    fn max_seq(&self) -> Result<u64, SessionError> {
        let folded = self.checkpoint_upto().min(MAX_SEQ);
        Ok(self
            .file_names()?
            .iter()
            .filter_map(|n| seq_of_name(n))
            .max()
            .unwrap_or(0)
            .max(folded))
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
        self.load_from(0)
    }

    /// The readable dumps numbered above `after` in order, and the files that could not be used
    /// among them (unfinished writes only when `after` is 0: they have no number yet).
    pub(crate) fn load_from(
        &self,
        after: u64,
    ) -> Result<(Vec<StoredDump>, Vec<SessionProblem>), SessionError> {
        let mut dumps = Vec::new();
        let mut problems = Vec::new();
        for item in self.stream_from(after)? {
            match item {
                Ok(d) => dumps.push(d),
                Err(p) => problems.push(p),
            }
        }
        dumps.sort_by(|a, b| a.meta.seq.cmp(&b.meta.seq).then(a.path.cmp(&b.path)));
        Ok((dumps, problems))
    }

    /// The metadata of every dump of the session, and the files that cannot be used (as a load
    /// reports them), without reading any payload: each dump file's metadata line is checked
    /// against the sizes of the file and of its blob. For `session list`.
    pub(crate) fn heads(&self) -> Result<(Vec<DumpMeta>, Vec<SessionProblem>), SessionError> {
        let blobs = self.blobs_dir();
        let mut metas = Vec::new();
        let mut problems = Vec::new();
        for name in self.file_names()? {
            let path = self.dir.join(&name);
            match head_by_size(&path, blobs.as_deref()) {
                Ok(meta) => metas.push(meta),
                Err(problem) => problems.push(SessionProblem {
                    path,
                    problem,
                    kind: ProblemKind::BadDump,
                }),
            }
        }
        problems.extend(self.unfinished_writes().into_iter().map(unfinished_write));
        Ok((metas, problems))
    }

    /// Like [`SessionStore::load_from`], but each dump is read only when the iterator reaches
    /// it (in the order of the numbers in the file names), so a session's dumps are never all
    /// in memory at once. The files that cannot be used come as errors, in place.
    pub(crate) fn stream_from(&self, after: u64) -> Result<store::DumpStream, SessionError> {
        let mut names: Vec<(u64, String)> = self
            .file_names()?
            .into_iter()
            .filter_map(|name| {
                let seq = seq_of_name(&name);
                if after > 0 && seq.is_none_or(|n| n <= after) {
                    return None;
                }
                Some((seq.unwrap_or(u64::MAX), name))
            })
            .collect();
        names.sort();
        let dir = self.dir.clone();
        let blobs = self.blobs_dir();
        let unfinished: Vec<PathBuf> = if after == 0 {
            self.unfinished_writes()
        } else {
            Vec::new()
        };
        let dumps = names.into_iter().map(move |(_, name)| {
            let path = dir.join(&name);
            readable(read_whole(&path, blobs.as_deref()), path)
        });
        let unfinished = unfinished
            .into_iter()
            .map(|path| Err(unfinished_write(path)));
        Ok(Box::new(dumps.chain(unfinished)))
    }
}

/// The temporary file `path` of a write that never finished, as a problem of the session.
fn unfinished_write(path: PathBuf) -> SessionProblem {
    SessionProblem {
        path,
        problem: "unfinished write of an interrupted covtop (never acknowledged, ignored; \
                  removed automatically after a minute)"
            .to_string(),
        kind: ProblemKind::UnfinishedWrite,
    }
}

/// A dump read back at `path` (its metadata and payload), or why it cannot be used.
pub(crate) fn readable(
    read: Result<(DumpMeta, Vec<u8>), String>,
    path: PathBuf,
) -> Result<StoredDump, SessionProblem> {
    match read {
        Ok((meta, payload)) => Ok(StoredDump {
            path,
            meta,
            payload,
        }),
        Err(problem) => Err(SessionProblem {
            path,
            problem,
            kind: ProblemKind::BadDump,
        }),
    }
}

/// Reads one dump file of a store folder (its payload from the store's blobs when kept there).
pub fn read_dump_file(path: &Path) -> Result<StoredDump, String> {
    let blobs = path
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .map(|root| root.join(BLOBS_DIR));
    let (meta, payload) = read_whole(path, blobs.as_deref())?;
    Ok(StoredDump {
        path: path.to_path_buf(),
        meta,
        payload,
    })
}

/// Reads and decodes the dump file `path`. Only a regular file of a sane size whose magic and
/// metadata lines read well and whose size (and its blob's) is what they say is read whole: a
/// FIFO would block the read for ever, a device or a stray file of garbage would fill memory.
fn read_whole(path: &Path, blobs: Option<&Path>) -> Result<(DumpMeta, Vec<u8>), String> {
    head_by_size(path, blobs)?;
    // Checked again on the open file: it may have been replaced since.
    let bytes = crate::bounded_read::read_regular(path, MAX_DUMP_FILE_BYTES)
        .map_err(|e| format!("cannot read: {e}"))?;
    decode(&bytes, blobs)
}

/// The sequence number a dump file's name starts with, when in any real range (a stray
/// `18446744073709551615-x.dump` must never number the next dump: the sequence would wrap).
fn seq_of_name(name: &str) -> Option<u64> {
    name.split('-')
        .next()?
        .parse::<u64>()
        .ok()
        .filter(|&n| n <= MAX_SEQ)
}

/// The metadata line of a dump file, without reading its payload.
fn read_meta(path: &Path) -> Option<DumpMeta> {
    read_head(path).ok().map(|h| h.meta)
}

/// The start of a dump file: its metadata, how many bytes come before the payload and whether
/// the payload is a blob.
struct Head {
    meta: DumpMeta,
    len: u64,
    in_blob: bool,
}

/// Reads the magic and metadata lines of the dump file `path` (at most 1 MiB), not its payload.
fn read_head(path: &Path) -> Result<Head, String> {
    use std::io::{BufRead, Read};
    let (f, _) =
        crate::bounded_read::open_regular(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut r = std::io::BufReader::with_capacity(8192, f.take(1 << 20));
    let mut magic = Vec::new();
    r.read_until(b'\n', &mut magic)
        .map_err(|e| format!("cannot read: {e}"))?;
    let in_blob = magic == MAGIC_BLOB;
    if magic != MAGIC && !in_blob {
        return Err(
            "not a covtop dump (bad magic line); move foreign files out of the session folder"
                .into(),
        );
    }
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read: {e}"))?;
    let json = line
        .strip_suffix(b"\n")
        .ok_or("truncated: the metadata line has no end")?;
    let meta = serde_json::from_slice(json).map_err(|e| format!("corrupt metadata line: {e}"))?;
    Ok(Head {
        meta,
        len: (magic.len() + line.len()) as u64,
        in_blob,
    })
}

/// The metadata of dump file `path`, checked against the sizes of the file and of its blob
/// without reading the payload (a payload damaged in place, same size, is found by a load).
fn head_by_size(path: &Path, blobs: Option<&Path>) -> Result<DumpMeta, String> {
    if let Some(problem) = not_a_dump_file(path) {
        return Err(problem);
    }
    let file_len = fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    let head = read_head(path)?;
    let payload_len = if head.in_blob {
        if file_len != head.len {
            return Err("corrupt: bytes after the metadata line of a dump kept in blobs".into());
        }
        let blob = head
            .meta
            .blob
            .as_deref()
            .zip(blobs)
            .and_then(|(hex, blobs)| blob_path(blobs, hex))
            .ok_or("corrupt metadata line: no valid blob digest")?;
        if let Some(problem) = not_a_dump_file(&blob) {
            return Err(format!("its payload {}: {problem}", blob.display()));
        }
        fs::metadata(&blob)
            .map_err(|e| format!("its payload {}: {e}", blob.display()))?
            .len()
    } else {
        file_len.saturating_sub(head.len)
    };
    if payload_len != head.meta.len {
        return Err(format!(
            "truncated or padded: payload is {payload_len} bytes, metadata says {}",
            head.meta.len
        ));
    }
    Ok(head.meta)
}

/// The index key of a dump: the SHA-256 of its metadata without the sequence number (with the
/// payload's length and CRC-32, which stand for the payload until the bytes are compared).
fn meta_key(meta: &DumpMeta) -> [u8; 32] {
    store::digest(&serde_json::to_vec(&meta.identity_form()).unwrap_or_default())
}

/// Where the blob with SHA-256 `hex` is kept (`None` for anything but 64 hex digits).
fn blob_path(blobs: &Path, hex: &str) -> Option<PathBuf> {
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| blobs.join(&hex[..2]).join(hex))
}

/// Removes the blobs of store folder `root` that no dump of any session names any more and
/// that are older than `min_age` (a younger one may belong to a dump being written). Returns
/// how many were removed.
pub(crate) fn remove_unused_blobs(root: &Path, min_age: std::time::Duration) -> usize {
    let mut used = std::collections::HashSet::new();
    let Ok(sessions) = fs::read_dir(root.join(SESSIONS_DIR)) else {
        return 0;
    };
    for session in sessions.filter_map(|e| e.ok()) {
        let Ok(files) = fs::read_dir(session.path()) else {
            // A session that cannot be read may use any blob: remove none.
            return 0;
        };
        for f in files.filter_map(|e| e.ok()) {
            if f.file_name().to_str().is_some_and(|n| n.ends_with(SUFFIX))
                && let Some(hex) = read_meta(&f.path()).and_then(|m| m.blob)
            {
                used.insert(hex);
            }
        }
    }
    let mut removed = 0;
    let Ok(shards) = fs::read_dir(root.join(BLOBS_DIR)) else {
        return 0;
    };
    for shard in shards.filter_map(|e| e.ok()) {
        let Ok(blobs) = fs::read_dir(shard.path()) else {
            continue;
        };
        for b in blobs.filter_map(|e| e.ok()) {
            let name = b.file_name();
            let Some(name) = name.to_str() else { continue };
            let old = b
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old
                && !used.contains(name.trim_start_matches('.').split('.').next().unwrap_or(""))
                && fs::remove_file(b.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Stores `payload` under its SHA-256 (unless the store has it) and returns the hex digest: a
/// temporary file, fsynced, linked to its name (never replacing), the folder fsynced.
fn write_blob(blobs: &Path, payload: &[u8]) -> Result<String, SessionError> {
    let hex = store::hex(&store::digest(payload));
    let path = blob_path(blobs, &hex).expect("a SHA-256 is 64 hex digits");
    let werr = |source| SessionError::Write {
        path: path.clone(),
        source,
    };
    // Kept already: checked byte by byte (a damaged copy is replaced, never named again).
    if fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == payload.len() as u64)
        && fs::read(&path).is_ok_and(|held| held == payload)
    {
        return Ok(hex);
    }
    let dir = path.parent().expect("blob paths have a folder");
    fs::create_dir_all(dir).map_err(werr)?;
    let tmp = dir.join(format!(
        ".{hex}.{}-{}{TMP_SUFFIX}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(payload)?;
        f.sync_all()?;
        // Replacing is safe: whatever is there has this name, so this content (or is damaged).
        fs::rename(&tmp, &path)
    })();
    let _ = fs::remove_file(&tmp);
    written.map_err(werr)?;
    for d in [dir, blobs] {
        if let Ok(d) = fs::File::open(d) {
            let _ = d.sync_all();
        }
    }
    Ok(hex)
}

fn decode(bytes: &[u8], blobs: Option<&Path>) -> Result<(DumpMeta, Vec<u8>), String> {
    let (rest, in_blob) = match bytes.strip_prefix(MAGIC) {
        Some(rest) => (rest, false),
        None => (
            bytes.strip_prefix(MAGIC_BLOB).ok_or(
                "not a covtop dump (bad magic line); move foreign files out of the session folder",
            )?,
            true,
        ),
    };
    let nl = memchr::memchr(b'\n', rest).ok_or("truncated: the metadata line has no end")?;
    let meta: DumpMeta =
        serde_json::from_slice(&rest[..nl]).map_err(|e| format!("corrupt metadata line: {e}"))?;
    let blob;
    let payload: &[u8] = if in_blob {
        let path = meta
            .blob
            .as_deref()
            .zip(blobs)
            .and_then(|(hex, blobs)| blob_path(blobs, hex))
            .ok_or("corrupt metadata line: no valid blob digest")?;
        if let Some(problem) = not_a_dump_file(&path) {
            return Err(format!("its payload {}: {problem}", path.display()));
        }
        blob = crate::bounded_read::read_regular(&path, MAX_DUMP_FILE_BYTES)
            .map_err(|e| format!("its payload {}: {e}", path.display()))?;
        if nl + 1 != rest.len() {
            return Err("corrupt: bytes after the metadata line of a dump kept in blobs".into());
        }
        &blob
    } else {
        &rest[nl + 1..]
    };
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
        // A dump of the older format (payload in the file) whose payload was damaged.
        let mut old = MAGIC.to_vec();
        let mut m = meta();
        m.len = 3;
        m.crc32 = crc32fast::hash(b"abc");
        old.extend(serde_json::to_vec(&m).unwrap());
        old.extend(b"\nabd");
        fs::write(s.dir().join("00000101-b.dump"), old).unwrap();
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
    fn dumps_of_the_older_format_still_load() {
        let tmp = tempfile::tempdir().unwrap();
        let s = SessionStore::open(tmp.path(), "x").unwrap();
        let mut old = MAGIC.to_vec();
        let mut m = meta();
        m.seq = 1;
        m.len = 10;
        m.crc32 = crc32fast::hash(b"mode: set\n");
        old.extend(serde_json::to_vec(&m).unwrap());
        old.extend(b"\nmode: set\n");
        fs::write(s.dir().join("00000001-shop-a.dump"), old).unwrap();
        let (dumps, problems) = s.load_all().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(dumps[0].payload, b"mode: set\n");
    }

    #[test]
    fn identical_payloads_are_kept_once_across_replicas_and_sessions() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = || {
            fs::read_dir(tmp.path().join(BLOBS_DIR))
                .map(|shards| {
                    shards
                        .filter_map(|e| fs::read_dir(e.ok()?.path()).ok())
                        .map(|d| d.count())
                        .sum::<usize>()
                })
                .unwrap_or(0)
        };
        let big = vec![b'x'; 100_000];
        let mut a = SessionStore::open(tmp.path(), "a").unwrap();
        let mut b = SessionStore::open(tmp.path(), "b").unwrap();
        let mut other = meta();
        other.replica = "http://127.0.0.1:7779".into();
        let pa = a.persist(&meta(), &big).unwrap();
        a.persist(&other, &big).unwrap();
        b.persist(&meta(), &big).unwrap();
        b.persist(&meta(), b"mode: set\n").unwrap();
        assert_eq!(blobs(), 2, "one blob per distinct payload");
        // Each dump file holds its metadata only; the payload is read back from the blob.
        assert!(fs::metadata(&pa).unwrap().len() < 1000);
        assert_eq!(read_dump_file(&pa).unwrap().payload, big);
        let (dumps, problems) = b.load_all().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(dumps[0].payload, big);

        // Removing a session removes the payloads only it used.
        let catalog = SessionCatalog::new(tmp.path());
        catalog.remove("b", "a", false).unwrap();
        assert_eq!(
            remove_unused_blobs(tmp.path(), std::time::Duration::ZERO),
            1
        );
        assert_eq!(blobs(), 1);
        assert_eq!(a.load_all().unwrap().0[1].payload, big);
        catalog.remove("a", "x", false).unwrap();
        remove_unused_blobs(tmp.path(), std::time::Duration::ZERO);
        assert_eq!(blobs(), 0);
    }

    #[test]
    fn a_damaged_blob_is_reported_and_replaced_by_the_next_write_of_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let first = s.persist(&meta(), b"mode: set\nabc").unwrap();
        let hex = read_meta(&first).unwrap().blob.unwrap();
        let blob = blob_path(&tmp.path().join(BLOBS_DIR), &hex).unwrap();
        fs::write(&blob, b"mode: set\nabd").unwrap();
        let (dumps, problems) = s.load_all().unwrap();
        assert!(dumps.is_empty());
        assert!(problems[0].problem.contains("checksum"), "{problems:?}");
        let mut later = meta();
        later.fetched_at_ms = 2;
        s.persist(&later, b"mode: set\nabc").unwrap();
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!((dumps.len(), problems.len()), (2, 0), "{problems:?}");
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

    fn seq_of(path: &Path) -> u64 {
        seq_of_name(&path.file_name().unwrap().to_string_lossy()).unwrap()
    }

    #[test]
    fn appends_number_from_the_next_seq_file_without_listing_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        assert_eq!(seq_of(&s.persist(&meta(), b"mode: set\n").unwrap()), 1);
        assert_eq!(s.read_next_seq(), Some(2));
        // A dump file the numbering does not know of (never written by covtop, which keeps the
        // file): an append that listed the folder would number after it, one that trusts the
        // file does not; the link is no-clobber, so its name (other replica) never collides.
        fs::copy(
            s.dir().join(
                fs::read_dir(s.dir())
                    .unwrap()
                    .find_map(|e| {
                        let n = e.unwrap().file_name().into_string().unwrap();
                        n.ends_with(SUFFIX).then_some(n)
                    })
                    .unwrap(),
            ),
            s.dir().join("00000009-other-r.dump"),
        )
        .unwrap();
        let second = s.append(&meta(), b"mode: count\n").unwrap();
        assert_eq!(second.seq, 2, "numbered from the file, not from a listing");
        assert_eq!(s.read_next_seq(), Some(3));
    }

    #[test]
    fn a_missing_garbled_or_stale_next_seq_file_is_recovered_from_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        for _ in 0..3 {
            s.persist(&meta(), b"mode: set\n").unwrap();
        }
        let file = s.dir().join(NEXT_SEQ_FILE);
        for (expect, content) in (4..).zip([
            None,
            Some(""),
            Some("garbage\n"),
            Some("18446744073709551615\n"),
            Some("1000000000000\n"),
            // Behind the dumps of the folder (a restored backup): never a number twice.
            Some("2\n"),
        ]) {
            match content {
                None => fs::remove_file(&file).unwrap(),
                Some(c) => fs::write(&file, c).unwrap(),
            }
            // Reopened (a restart) and written again: numbered after the folder's dumps.
            let mut s = SessionStore::open(tmp.path(), "x").unwrap();
            let p = s.persist(&meta(), b"mode: count\n").unwrap();
            assert_eq!(seq_of(&p), expect, "{content:?}");
            assert_eq!(s.read_next_seq(), Some(expect + 1), "{content:?}");
        }
        let (dumps, problems) = s.load_all().unwrap();
        assert_eq!((dumps.len(), problems.len()), (9, 0), "{problems:?}");
    }

    #[test]
    fn without_its_dumps_and_number_file_a_session_numbers_after_its_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        for _ in 0..3 {
            s.persist(&meta(), b"mode: set\n").unwrap();
        }
        s.write_checkpoint("abc", 3, b"folded").unwrap();
        // Every raw dump dropped (compaction) and the number file lost.
        for e in fs::read_dir(s.dir()).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(SUFFIX) {
                fs::remove_file(p).unwrap();
            }
        }
        fs::remove_file(s.dir().join(NEXT_SEQ_FILE)).unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        assert_eq!(seq_of(&s.persist(&meta(), b"mode: count\n").unwrap()), 4);
    }

    #[test]
    fn a_name_taken_by_a_writer_without_the_lock_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let first = s.persist(&meta(), b"mode: set\n").unwrap();
        // Another writer linked number 2 under this store's very name without the lock.
        let taken = s.dir().join(
            first
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replacen("00000001", "00000002", 1),
        );
        fs::copy(&first, &taken).unwrap();
        let second = s.persist(&meta(), b"mode: count\n").unwrap();
        assert_eq!(seq_of(&second), 3);
        assert_eq!(fs::read(&taken).unwrap(), fs::read(&first).unwrap());
        assert_eq!(s.read_next_seq(), Some(4));
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
        // Below the size limit, garbage is refused by its first line (never read whole).
        let stray = s.dir().join("00000007-a-stray.dump");
        fs::File::create(&stray)
            .unwrap()
            .set_len(MAX_DUMP_FILE_BYTES - 1)
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
        assert!(
            why("00000007-a-stray.dump").contains("bad magic line"),
            "{problems:?}"
        );
    }

    /// An append compares a dump with the equal one the store holds; that file, swapped for a
    /// FIFO since it was indexed, is refused unopened (a read would wait for a writer for ever)
    /// and the dump is written anew.
    #[cfg(unix)]
    #[test]
    fn an_indexed_dump_swapped_for_a_fifo_does_not_block_an_append() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "x").unwrap();
        let first = s.append(&meta(), b"mode: set\n").unwrap();
        fs::remove_file(&first.location).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&first.location)
            .status();
        assert!(made.is_ok_and(|st| st.success()));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let again = s.append(&meta(), b"mode: set\n").map(|p| (p.seq, p.new));
            let _ = done.send(again);
        });
        // A safety net for the test (a blocked append would hang it), not what it asserts.
        let again = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the append returned")
            .unwrap();
        assert_eq!(again, (first.seq + 1, true));
    }

    /// `session list` reads the checkpoint's header line: a FIFO named `checkpoint` is passed
    /// over without waiting for a writer.
    #[cfg(unix)]
    #[test]
    fn a_fifo_as_the_checkpoint_is_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let s = SessionStore::open(tmp.path(), "x").unwrap();
        let fifo = s.dir().join(checkpoints::CHECKPOINT_FILE);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|st| st.success()));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let header = s.checkpoint_header();
            let stored = s.read_checkpoint("abc").map(|c| c.map(|c| c.upto));
            let _ = done.send((header, stored.ok()));
        });
        // A safety net for the test (a blocked read would hang it), not what it asserts.
        let (header, stored) = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the reads returned");
        assert_eq!(header, None);
        assert_eq!(
            stored,
            Some(Some(0)),
            "read as unusable: set aside by the engine"
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

    /// Two writers taking turns on one folder session learn of each other's dumps from the
    /// notes in `.appended`, not by listing the folder at every append; a dump one wrote is
    /// not written again by the other; and notes that do not account for every number (a
    /// writer that notes nothing, a damaged file) fall back to a listing, still right.
    #[test]
    fn writers_taking_turns_read_each_others_notes_instead_of_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = SessionStore::open(tmp.path(), "x").unwrap();
        let mut b = SessionStore::open(tmp.path(), "x").unwrap();
        let body = |n: u64| format!("mode: set\na.go:{n}.1,{n}.9 1 1\n").into_bytes();
        for n in 0..20u64 {
            let w = if n % 2 == 0 { &mut a } else { &mut b };
            assert!(w.append_idempotent(&meta(), &body(n)).unwrap().new);
        }
        // Only the first append (an empty folder, no number yet) listed; every other look at
        // the folder read the other's notes, from the start for a store just opened.
        assert_eq!((a.listings, b.listings), (1, 0));
        // What one wrote, the other finds (not written again).
        let again = b.append_idempotent(&meta(), &body(18)).unwrap();
        assert!(!again.new);
        assert_eq!(again.seq, 19);
        // A writer that notes nothing (an older covtop): the numbers do not add up, so the
        // other lists the folder and still finds its dump.
        let mut old = SessionStore::open(tmp.path(), "x").unwrap();
        let lock = old.lock_folder();
        let path = old.persist_locked(&meta(), &body(100), true).unwrap();
        drop(lock);
        let lines = fs::read_to_string(old.dir().join(APPENDED_FILE)).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        fs::write(
            old.dir().join(APPENDED_FILE),
            lines.replace(&format!("{name}\n"), ""),
        )
        .unwrap();
        let listed = a.listings;
        assert!(!a.append_idempotent(&meta(), &body(100)).unwrap().new);
        assert_eq!(a.listings, listed + 1);
        // Damaged notes: a listing, and the right answer.
        fs::write(old.dir().join(APPENDED_FILE), "garbage").unwrap();
        assert!(b.append_idempotent(&meta(), &body(101)).unwrap().new);
        assert!(!a.append_idempotent(&meta(), &body(101)).unwrap().new);
        let (dumps, problems) = a.load_all().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(dumps.len(), 22);
    }
}
