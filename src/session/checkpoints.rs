//! The folder store's checkpoints and compaction: `<session>/checkpoint.<revision>` holds what
//! every dump up to some sequence number adds up to, folded for that configured revision (the
//! engine's bytes behind one header line), replaced atomically — one per revision, so covtops
//! opened at two revisions on one session never replace each other's (a revision that is not a
//! plain commit id or name is named by its digest; `checkpoint`, without a revision, is the one
//! earlier covtops wrote); `drop_raw` removes dump files a checkpoint holds and the blobs no dump
//! names.

use super::store::{Dropped, StoredCheckpoint};
use super::{QUARANTINE_DIR, SessionError, SessionStore, read_meta, seq_of_name};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The checkpoint's file in the session folder (not a `.dump`: loads never read it), followed
/// by `.` and the slot (the revision it is folded for) since checkpoints are kept per revision.
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";
/// The header line: `COVTOP-CHECKPOINT-FILE <upto> <made_at_ms>`.
const HEADER: &str = "COVTOP-CHECKPOINT-FILE";
/// The largest checkpoint file read (a session's folded state is far smaller).
const MAX_CHECKPOINT_BYTES: u64 = 2 << 30;
/// A blob younger than this may belong to a dump another process is writing: kept.
const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The slot of the checkpoint folded for `revision` in a session folder: the revision itself
/// when it is a plain name (letters, digits, `.`, `_`, `-`; what a commit id is), else its
/// digest, so that a slot is always one safe file name.
pub(crate) fn slot_of(revision: &str) -> String {
    let plain = !revision.is_empty()
        && revision.len() <= 100
        && !revision.starts_with('.')
        && revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if plain {
        revision.to_string()
    } else {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(revision.as_bytes());
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The file of checkpoint slot `slot` ("": the one of earlier covtops, without a revision).
fn slot_file(slot: &str) -> String {
    if slot.is_empty() {
        CHECKPOINT_FILE.to_string()
    } else {
        format!("{CHECKPOINT_FILE}.{slot}")
    }
}

/// The slot of checkpoint file `name`, if it is one.
fn slot_of_file(name: &str) -> Option<&str> {
    match name.strip_prefix(CHECKPOINT_FILE)? {
        "" => Some(""),
        rest => rest.strip_prefix('.').filter(|s| !s.is_empty()),
    }
}

impl SessionStore {
    fn checkpoint_path(&self, slot: &str) -> PathBuf {
        self.dir().join(slot_file(slot))
    }

    /// The slots of the session's checkpoints (a folder listing: only when the slot a caller
    /// wants is not there, or to sum the session up).
    fn checkpoint_slots(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        let mut slots: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| slot_of_file(&n).map(str::to_string))
            .collect();
        slots.sort();
        slots
    }

    /// [`super::DumpStore::write_checkpoint`]: a temporary file, fsynced, renamed over the old
    /// checkpoint of `revision`, the folder fsynced (`atomic_file`).
    pub fn write_checkpoint(
        &self,
        revision: &str,
        upto: u64,
        bytes: &[u8],
    ) -> Result<(), SessionError> {
        let path = self.checkpoint_path(&slot_of(revision));
        let made = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut out = format!("{HEADER} {upto} {made}\n").into_bytes();
        out.extend_from_slice(bytes);
        crate::atomic_file::write(&path, &out)
            .map_err(|source| SessionError::Write { path, source })
    }

    /// [`super::DumpStore::read_checkpoint`]: the checkpoint of `revision`, else the newest
    /// other one. A file whose header line cannot be read is returned with `upto` 0 and its
    /// bytes, so that the engine names it and sets it aside.
    pub fn read_checkpoint(
        &self,
        revision: &str,
    ) -> Result<Option<StoredCheckpoint>, SessionError> {
        let want = slot_of(revision);
        if let Some(c) = self.read_slot(&want)? {
            return Ok(Some(c));
        }
        // Another revision's (for the engine to name it), the newest first.
        let mut others: Vec<(u64, String)> = self
            .checkpoint_slots()
            .into_iter()
            .filter(|s| *s != want)
            .map(|s| (self.slot_header(&s).map_or(0, |(_, made)| made), s))
            .collect();
        others.sort();
        match others.pop() {
            Some((_, slot)) => self.read_slot(&slot),
            None => Ok(None),
        }
    }

    /// The checkpoint in slot `slot`, if there is one.
    fn read_slot(&self, slot: &str) -> Result<Option<StoredCheckpoint>, SessionError> {
        let path = self.checkpoint_path(slot);
        let location = path.display().to_string();
        let slot = slot.to_string();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SessionError::List { path, source }),
        };
        if !meta.is_file() || meta.len() > MAX_CHECKPOINT_BYTES {
            // Not read: the engine finds no header and sets it aside.
            return Ok(Some(StoredCheckpoint {
                upto: 0,
                made_at_ms: 0,
                bytes: Vec::new(),
                location,
                slot,
            }));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        fs::File::open(&path)
            .and_then(|f| f.take(MAX_CHECKPOINT_BYTES).read_to_end(&mut bytes))
            .map_err(|source| SessionError::List {
                path: path.clone(),
                source,
            })?;
        Ok(Some(match parse_header(&bytes) {
            Some((start, upto, made_at_ms)) => StoredCheckpoint {
                upto,
                made_at_ms,
                bytes: bytes.split_off(start),
                location,
                slot,
            },
            None => StoredCheckpoint {
                upto: 0,
                made_at_ms: 0,
                bytes,
                location,
                slot,
            },
        }))
    }

    /// The header of the session's newest checkpoint, of any revision, without reading the
    /// rest: (every dump up to, written at ms).
    pub fn checkpoint_header(&self) -> Option<(u64, u64)> {
        self.checkpoint_slots()
            .iter()
            .filter_map(|s| self.slot_header(s))
            .max_by_key(|&(upto, made)| (made, upto))
    }

    /// The highest dump any of the session's checkpoints holds (0: none).
    pub fn checkpoint_upto(&self) -> u64 {
        self.checkpoint_slots()
            .iter()
            .filter_map(|s| self.slot_header(s))
            .map(|(upto, _)| upto)
            .max()
            .unwrap_or(0)
    }

    /// The header of slot `slot`'s checkpoint: (every dump up to, written at ms).
    fn slot_header(&self, slot: &str) -> Option<(u64, u64)> {
        let mut head = Vec::new();
        // Never waits on a FIFO lying there.
        crate::bounded_read::open_regular(&self.checkpoint_path(slot))
            .ok()?
            .0
            .take(128)
            .read_to_end(&mut head)
            .ok()?;
        parse_header(&head).map(|(_, upto, made)| (upto, made))
    }

    /// [`super::DumpStore::set_checkpoint_aside`]: moved into `quarantine/` with its reason.
    pub fn set_checkpoint_aside(&self, slot: &str, reason: &str) -> Result<String, SessionError> {
        self.quarantine(&self.checkpoint_path(slot), reason)
            .map(|p| p.display().to_string())
    }

    /// [`super::DumpStore::drop_raw`], under the session's lock (appends wait meanwhile).
    pub fn drop_raw(&mut self, upto: u64, before_ms: u64) -> Result<Dropped, SessionError> {
        let lock = fs::File::open(self.dir()).ok().filter(|f| f.lock().is_ok());
        let mut dropped = Dropped::default();
        for name in self.file_names()? {
            if seq_of_name(&name).is_none_or(|n| n > upto) {
                continue;
            }
            let path = self.dir().join(&name);
            let old = read_meta(&path).is_some_and(|m| m.fetched_at_ms < before_ms);
            if old {
                fs::remove_file(&path).map_err(|source| SessionError::Write {
                    path: path.clone(),
                    source,
                })?;
                dropped.dumps += 1;
            }
        }
        if let Ok(d) = fs::File::open(self.dir()) {
            let _ = d.sync_all();
        }
        drop(lock);
        if let Some(root) = self.dir().parent().and_then(|p| p.parent()) {
            dropped.blobs = super::remove_unused_blobs(root, BLOB_GRACE);
        }
        Ok(dropped)
    }

    /// Bytes of the session: its folder (dumps, checkpoint, quarantine) and each blob its dumps
    /// name, once.
    pub fn size_with_blobs(&self) -> u64 {
        let metas: Vec<_> = self
            .file_names()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| read_meta(&self.dir().join(n)))
                    .collect()
            })
            .unwrap_or_default();
        self.size_with(&metas)
    }

    /// [`SessionStore::size_with_blobs`] for the dumps whose metadata the caller has read.
    pub(crate) fn size_with(&self, metas: &[super::DumpMeta]) -> u64 {
        let mut bytes = folder_bytes(self.dir()) + folder_bytes(&self.dir().join(QUARANTINE_DIR));
        let mut seen = std::collections::HashSet::new();
        if let Some(blobs) = self.blobs_dir() {
            for hex in metas.iter().filter_map(|m| m.blob.as_deref()) {
                if let Some(p) = super::blob_path(&blobs, hex)
                    && seen.insert(hex)
                {
                    bytes += fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        bytes
    }
}

/// Bytes of the files directly in `dir`.
pub(crate) fn folder_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The header line of a checkpoint file: (where the engine's bytes start, upto, made at ms).
fn parse_header(bytes: &[u8]) -> Option<(usize, u64, u64)> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut words = line.split(' ');
    (words.next()? == HEADER).then_some(())?;
    let upto = words.next()?.parse().ok()?;
    let made = words.next()?.parse().ok()?;
    Some((end + 1, upto, made))
}
