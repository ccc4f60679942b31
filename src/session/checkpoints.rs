//! The folder store's checkpoint and compaction: `<session>/checkpoint` holds what every dump up
//! to some sequence number adds up to (the engine's bytes behind one header line), replaced
//! atomically; `drop_raw` removes dump files a checkpoint holds and the blobs no dump names.

use super::store::{Dropped, StoredCheckpoint};
use super::{QUARANTINE_DIR, SessionError, SessionStore, read_meta, seq_of_name};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The checkpoint's file in the session folder (not a `.dump`: loads never read it).
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";
/// The header line: `COVTOP-CHECKPOINT-FILE <upto> <made_at_ms>`.
const HEADER: &str = "COVTOP-CHECKPOINT-FILE";
/// The largest checkpoint file read (a session's folded state is far smaller).
const MAX_CHECKPOINT_BYTES: u64 = 2 << 30;
/// A blob younger than this may belong to a dump another process is writing: kept.
const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

impl SessionStore {
    fn checkpoint_path(&self) -> PathBuf {
        self.dir().join(CHECKPOINT_FILE)
    }

    /// [`super::DumpStore::write_checkpoint`]: a temporary file, fsynced, renamed over the old
    /// checkpoint, the folder fsynced (`atomic_file`).
    pub fn write_checkpoint(&self, upto: u64, bytes: &[u8]) -> Result<(), SessionError> {
        let path = self.checkpoint_path();
        let made = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut out = format!("{HEADER} {upto} {made}\n").into_bytes();
        out.extend_from_slice(bytes);
        crate::atomic_file::write(&path, &out)
            .map_err(|source| SessionError::Write { path, source })
    }

    /// [`super::DumpStore::read_checkpoint`]. A file whose header line cannot be read is
    /// returned with `upto` 0 and its bytes, so that the engine names it and sets it aside.
    pub fn read_checkpoint(&self) -> Result<Option<StoredCheckpoint>, SessionError> {
        let path = self.checkpoint_path();
        let location = path.display().to_string();
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
            },
            None => StoredCheckpoint {
                upto: 0,
                made_at_ms: 0,
                bytes,
                location,
            },
        }))
    }

    /// The checkpoint's header, without reading the rest: (every dump up to, written at ms).
    pub fn checkpoint_header(&self) -> Option<(u64, u64)> {
        let mut head = Vec::new();
        // Never waits on a FIFO lying there.
        crate::bounded_read::open_regular(&self.checkpoint_path())
            .ok()?
            .0
            .take(128)
            .read_to_end(&mut head)
            .ok()?;
        parse_header(&head).map(|(_, upto, made)| (upto, made))
    }

    /// [`super::DumpStore::set_checkpoint_aside`]: moved into `quarantine/` with its reason.
    pub fn set_checkpoint_aside(&self, reason: &str) -> Result<String, SessionError> {
        self.quarantine(&self.checkpoint_path(), reason)
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
