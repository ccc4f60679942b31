//! The one store interface beneath the engine: [`DumpStore`]. The file store
//! ([`SessionStore`], the embedded default) and the PostgreSQL store
//! ([`super::postgres::PgStore`], shared by a team) both implement it, and one conformance suite
//! (`tests/store_conformance.rs`) runs against both.
//!
//! Every dump has an identity: the SHA-256 of its metadata (without the sequence number the
//! store assigns) and of its payload. Appending a dump whose identity the session already holds
//! stores nothing and returns the stored dump's sequence number, so a writer that retries after
//! a crash, or several collectors on one session, never store one dump twice nor conflict.

use super::{DumpMeta, PayloadKind, SessionError, SessionProblem, SessionStore, StoredDump};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A dump the store acknowledged: it is durable, and may now be shown, exported or followed by a
/// reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persisted {
    /// Its place in the session's order (assigned by the store, increasing); 0 while it waits in
    /// a local spool for the shared store (see [`DumpStore::take_uploaded`]).
    pub seq: u64,
    /// Where it is, for messages: a file, or the store's (password-free) address and the
    /// sequence number.
    pub location: PathBuf,
    /// False when the session already held this very dump (same identity): nothing was written.
    pub new: bool,
}

/// A session's dumps as the store holds them.
pub type Loaded = (Vec<StoredDump>, Vec<SessionProblem>);

/// A session's dumps read one at a time as the iterator advances, in order; a file that cannot
/// be used comes as an error in its place.
pub type DumpStream = Box<dyn Iterator<Item = Result<StoredDump, SessionProblem>> + Send>;

/// New dumps of a session, as they are acknowledged by any writer (this process or another):
/// each message is the sequence number of a new dump (read it with [`DumpStore::load_after`]).
/// Several dumps may be announced by one message (the highest sequence number); the stream ends
/// when the store can no longer follow the session.
pub type DumpFeed = tokio::sync::mpsc::UnboundedReceiver<u64>;

/// Where the dumps of one session are kept. Implementations: [`SessionStore`] (files),
/// [`super::postgres::PgStore`] (PostgreSQL).
pub trait DumpStore: Send + std::fmt::Debug {
    /// Where the session is, for messages (never with a password).
    fn location(&self) -> String;

    /// A local folder for what the session keeps beside its dumps (saved build lines).
    fn local_dir(&self) -> &Path;

    /// Stores one dump durably and returns it acknowledged. Idempotent by identity: a dump the
    /// session holds already (same metadata but the sequence number, same payload) is not
    /// stored again; its sequence number is returned with `new: false`.
    fn append(&mut self, meta: &DumpMeta, payload: &[u8]) -> Result<Persisted, SessionError>;

    /// Records that (target, replica) was reset after its most recent stored dump: an empty dump
    /// with `reset_after` set (stored dumps are never rewritten).
    fn append_reset(
        &mut self,
        target: &str,
        replica: &str,
        revision: &str,
        kind: PayloadKind,
        at_ms: u64,
    ) -> Result<Persisted, SessionError> {
        self.append(
            &DumpMeta::reset_marker(target, replica, revision, kind, at_ms),
            &[],
        )
    }

    /// Session sequence numbers of dumps this store acknowledged earlier with sequence number 0
    /// (kept in a local spool while the store was unreachable) and has uploaded since the last
    /// call: they are this writer's own.
    fn take_uploaded(&mut self) -> Vec<u64> {
        Vec::new()
    }

    /// What is wrong with the store while it works around it (unreachable, dumps spooled), for
    /// the screen and the headless commands; `None` when all is well.
    fn health(&self) -> Option<String> {
        None
    }

    /// Whether several covtops share this store (the screen's header then shows its state).
    fn shared(&self) -> bool {
        false
    }

    /// Every readable dump of the session in order, and what could not be used.
    fn load(&self) -> Result<Loaded, SessionError> {
        self.load_after(0)
    }

    /// The dumps with a sequence number above `after`, in order, and what could not be used
    /// among them.
    fn load_after(&self, after: u64) -> Result<Loaded, SessionError>;

    /// Like [`DumpStore::load_after`], but each dump is read when the stream reaches it, so
    /// that a replay never holds every dump of a session at once (stores that cannot read one
    /// at a time read all and hand them out).
    fn stream_after(&self, after: u64) -> Result<DumpStream, SessionError> {
        let (dumps, problems) = self.load_after(after)?;
        Ok(Box::new(
            dumps
                .into_iter()
                .map(Ok)
                .chain(problems.into_iter().map(Err)),
        ))
    }

    /// The metadata of every dump of the session, in order, without reading payloads.
    fn catalog(&self) -> Result<Vec<DumpMeta>, SessionError>;

    /// The names of the sessions this store holds, sorted.
    fn sessions(&self) -> Result<Vec<String>, SessionError>;

    /// Follows the session: announces every dump acknowledged from now on, by any writer. The
    /// feed lasts as long as the store that gave it.
    fn subscribe(&self) -> Result<DumpFeed, SessionError>;

    /// Sets a stored dump that cannot be used aside, so that later loads skip it; returns
    /// where it went. A store that cannot set dumps aside says so (the dump is then skipped
    /// again, with its diagnostic, each time the session is read).
    fn quarantine(&self, dump: &Path, _reason: &str) -> Result<PathBuf, SessionError> {
        Err(SessionError::Database {
            store: self.location(),
            message: format!(
                "{} cannot be set aside in this store; it is skipped each time the session is read",
                dump.display()
            ),
        })
    }

    /// The dumps set aside earlier.
    fn quarantined(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Replaces the session's checkpoint for configured revision `revision` (what every dump
    /// up to `upto` adds up to, folded for that revision, in the engine's format) atomically: a
    /// reader, or a writer killed meanwhile, leaves the old one or the new one whole, never a
    /// part. Checkpoints of other revisions and dumps are never touched.
    fn write_checkpoint(
        &mut self,
        _revision: &str,
        _upto: u64,
        _bytes: &[u8],
    ) -> Result<(), SessionError> {
        Err(SessionError::Database {
            store: self.location(),
            message: "this store keeps no checkpoints; the session is replayed whole".into(),
        })
    }

    /// The session's checkpoint for `revision` if it has one that was not set aside, else its
    /// newest checkpoint of another revision (which the engine names and does not use).
    fn read_checkpoint(&self, _revision: &str) -> Result<Option<StoredCheckpoint>, SessionError> {
        Ok(None)
    }

    /// Sets checkpoint `slot` ([`StoredCheckpoint::slot`]) aside (it cannot be read): later
    /// opens replay the dumps instead, and the next checkpoint written for its revision
    /// replaces it. Returns where it went, for the diagnostic.
    fn set_checkpoint_aside(&self, _slot: &str, _reason: &str) -> Result<String, SessionError> {
        Ok(self.location())
    }

    /// Drops the raw dumps numbered up to `upto` (a checkpoint holds them) that were fetched
    /// before `before_ms`, and the payloads no dump names any more. Never a dump after `upto`.
    fn drop_raw(&mut self, _upto: u64, _before_ms: u64) -> Result<Dropped, SessionError> {
        Ok(Dropped::default())
    }

    /// Where the dumps set aside are (every path [`DumpStore::quarantined`] gives starts with
    /// it) and where each one's reason is kept, for the diagnostics that name them.
    fn quarantine_place(&self) -> (String, &'static str) {
        (
            self.local_dir()
                .join(super::QUARANTINE_DIR)
                .display()
                .to_string(),
            "beside it (.reason.txt)",
        )
    }
}

/// A checkpoint as a store keeps it: the engine's bytes and the last dump they fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Every dump numbered up to this one is folded in.
    pub upto: u64,
    /// When it was written (ms since the Unix epoch).
    pub made_at_ms: u64,
    pub bytes: Vec<u8>,
    /// Where it is, for messages.
    pub location: String,
    /// Which of the session's checkpoints it is (the store's name for the revision it was
    /// written for), for [`DumpStore::set_checkpoint_aside`].
    pub slot: String,
}

/// What [`DumpStore::drop_raw`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Dump files or rows (reset markers included).
    pub dumps: usize,
    /// Payloads no dump named any more.
    pub blobs: usize,
}

/// The identity of a dump: SHA-256 over its metadata without the sequence number (its payload's
/// length and CRC-32 included) and over its payload.
pub fn identity(meta: &DumpMeta, payload: &[u8]) -> [u8; 32] {
    let mut m = meta.identity_form();
    m.len = payload.len() as u64;
    m.crc32 = crc32fast::hash(payload);
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&m).unwrap_or_default());
    h.update([0u8]);
    h.update(Sha256::digest(payload));
    h.finalize().into()
}

/// The SHA-256 of some bytes (a payload's is its content address).
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The identities of the dumps of a file session known to this process, refreshed from the
/// folder before each append (other processes write too).
#[derive(Debug, Default)]
pub(crate) struct IdentityIndex {
    by_identity: HashMap<[u8; 32], (u64, PathBuf)>,
    /// Every dump file with a sequence number up to this one has been indexed.
    upto: u64,
}

impl IdentityIndex {
    pub(crate) fn insert(&mut self, id: [u8; 32], seq: u64, path: PathBuf) {
        self.by_identity.entry(id).or_insert((seq, path));
        self.upto = self.upto.max(seq);
    }

    pub(crate) fn get(&self, id: &[u8; 32]) -> Option<&(u64, PathBuf)> {
        self.by_identity.get(id)
    }

    pub(crate) fn upto(&self) -> u64 {
        self.upto
    }

    pub(crate) fn set_upto(&mut self, seq: u64) {
        self.upto = self.upto.max(seq);
    }
}

impl DumpStore for SessionStore {
    fn location(&self) -> String {
        self.dir().display().to_string()
    }

    fn local_dir(&self) -> &Path {
        self.dir()
    }

    fn append(&mut self, meta: &DumpMeta, payload: &[u8]) -> Result<Persisted, SessionError> {
        self.append_idempotent(meta, payload)
    }

    fn load_after(&self, after: u64) -> Result<Loaded, SessionError> {
        self.load_from(after)
    }

    fn stream_after(&self, after: u64) -> Result<DumpStream, SessionError> {
        self.stream_from(after)
    }

    fn catalog(&self) -> Result<Vec<DumpMeta>, SessionError> {
        Ok(self.load_all()?.0.into_iter().map(|d| d.meta).collect())
    }

    fn sessions(&self) -> Result<Vec<String>, SessionError> {
        let root = self
            .dir()
            .parent()
            .and_then(|p| p.parent())
            .unwrap_or(Path::new("."));
        super::SessionCatalog::new(root)
            .names()
            .map_err(|e| SessionError::List {
                path: root.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })
    }

    /// The folder is looked at every 50 ms (by a thread that ends when the feed is dropped):
    /// any process's new dump file is announced.
    fn quarantine(&self, dump: &Path, reason: &str) -> Result<PathBuf, SessionError> {
        SessionStore::quarantine(self, dump, reason)
    }

    fn quarantined(&self) -> Vec<PathBuf> {
        SessionStore::quarantined(self)
    }

    fn write_checkpoint(
        &mut self,
        revision: &str,
        upto: u64,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        SessionStore::write_checkpoint(self, revision, upto, bytes)
    }

    fn read_checkpoint(&self, revision: &str) -> Result<Option<StoredCheckpoint>, SessionError> {
        SessionStore::read_checkpoint(self, revision)
    }

    fn set_checkpoint_aside(&self, slot: &str, reason: &str) -> Result<String, SessionError> {
        SessionStore::set_checkpoint_aside(self, slot, reason)
    }

    fn drop_raw(&mut self, upto: u64, before_ms: u64) -> Result<Dropped, SessionError> {
        SessionStore::drop_raw(self, upto, before_ms)
    }

    fn subscribe(&self) -> Result<DumpFeed, SessionError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = SessionStore::open_dir(self.dir())?;
        let mut seen = watcher.highest_seq()?;
        std::thread::Builder::new()
            .name("covtop-session-follow".into())
            .spawn(move || {
                while !tx.is_closed() {
                    std::thread::sleep(Duration::from_millis(50));
                    match watcher.highest_seq() {
                        Ok(n) if n > seen => {
                            seen = n;
                            if tx.send(n).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        // The folder went away (the session was removed): the feed ends.
                        Err(_) => return,
                    }
                }
            })
            .map_err(|source| SessionError::List {
                path: self.dir().to_path_buf(),
                source,
            })?;
        Ok(rx)
    }
}
