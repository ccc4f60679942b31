//! Checkpoints: what a session's dumps add up to, folded, so that a restart restores the
//! checkpoint and replays only the dumps after it.
//!
//! A checkpoint is exactly the state a replay leaves: the session core (every build, target,
//! replica and epoch: a Go replica's finished epochs, the last dump of the newest finished one
//! and its current dump — carried lifetimes and last raw counters —, JaCoCo probes per class id,
//! where layouts that fit no build went), each replica's last stored dump (so an unchanged dump
//! is still not stored again after a restart), the revisions of each target's newest dumps,
//! and the stored files that could not be read. It is folded for one configured revision: a
//! covtop opened at another revision replays the dumps instead.
//!
//! The fold is the replay's own code (`Folded::fold`, also behind [`super::Engine`]'s
//! replay), so restore and full replay cannot drift apart. A [`Checkpointer`] folds in the
//! background, on a thread of its own with its own store handle and repository (never on the
//! screen's thread nor the engine task); `covtop session compact` folds at once.
//!
//! The format ([`FORMAT`]) is versioned: a magic line, the format number, a CRC-32 and a
//! deflated body (a JSON index, then the accumulated data: Go profiles as text, JaCoCo data in
//! a compact binary form). A checkpoint that cannot be read, or of a newer format, is set aside
//! with a diagnostic and the session is replayed whole — never fatal.

use super::accumulate::{Cumulative, ReplicaEpochs, TargetAccumulator};
use super::core::{Build, BuildTarget, Judge, Placement, SessionCore};
use super::{Judgements, LastStored, RepoJudge, quarantine};
use crate::go::modules::ModuleMap;
use crate::go::profile::{self, Profile};
use crate::java::exec::{ClassProbes, ExecData, SessionInfo};
use crate::java::probes::Probes;
use crate::model::{Diagnostic, DiagnosticKind};
use crate::session::{DumpStore, ProblemKind, SessionProblem, StoredCheckpoint, StoredDump};
use crate::vcs::{Repo, Revision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The checkpoint format this covtop writes and reads.
pub const FORMAT: u32 = 1;
const MAGIC: &[u8] = b"COVTOP-CHECKPOINT\n";
/// The largest body a checkpoint may inflate to (a session's folded state is far smaller).
const MAX_BODY: u64 = 1 << 30;

/// Fold in the background once this many dumps arrived since the last checkpoint...
pub const EVERY_DUMPS: u64 = 500;
/// ... or once this long passed with at least one new dump.
pub const EVERY: Duration = Duration::from_secs(300);
/// How often the background checkpointer looks at the session.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Why a checkpoint was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {origin} is not a covtop checkpoint (no `COVTOP-CHECKPOINT` line)")]
    NotACheckpoint { origin: String },
    #[error(
        "checkpoint {origin} has format {found}, newer than this covtop reads ({FORMAT}); \
         a newer covtop wrote it"
    )]
    Newer { origin: String, found: u32 },
    #[error("checkpoint {origin} is damaged: {detail}")]
    Damaged { origin: String, detail: String },
    #[error("checkpoint {origin}: {detail}")]
    Write { origin: String, detail: String },
}

/// The revisions of a target's dumps fetched within a second of its newest one (did its last
/// poll see only other builds?): (newest fetch time, [(fetched at, revision)]).
pub(super) type Recent = BTreeMap<String, (u64, Vec<(u64, String)>)>;

/// What a session's dumps up to `upto` add up to: the state a replay leaves.
#[derive(Debug, Clone)]
pub struct Folded {
    pub core: SessionCore,
    /// Per (target, replica): its last stored dump (none after a reset marker).
    pub(super) last: BTreeMap<(String, String), LastStored>,
    pub recent: Recent,
    /// Stored files that could not be read.
    pub problems: Vec<SessionProblem>,
    /// Dumps set aside while folding (not kept in a checkpoint: the quarantine is).
    pub undecodable: Vec<Diagnostic>,
    /// Every dump numbered up to this one is folded in.
    pub upto: u64,
    /// The lowest sequence number read by [`Folded::fold`] (dumps before it were dropped, or
    /// are in the checkpoint).
    pub first_read: Option<u64>,
}

/// What applying one stored dump changed beside the core.
pub(super) struct Step {
    pub target: String,
    pub replica: String,
    /// The replica's last stored dump now; `None` after a reset marker (its next dump is
    /// always stored).
    pub last: Option<LastStored>,
    pub other_build: bool,
    pub undecodable: Option<Diagnostic>,
}

/// Applies one stored dump to `core` as a replay does: a reset marker opens an epoch, every
/// other dump goes to its build; one that cannot be decoded (or makes covtop fail:
/// [`SessionCore::apply_guarded`]) is set aside in the store's quarantine.
pub(super) fn apply_stored_dump(
    core: &mut SessionCore,
    judge: &mut dyn Judge,
    store: &dyn DumpStore,
    d: StoredDump,
) -> Step {
    let origin = format!("stored dump {}", d.path.display());
    let applied = core.apply_guarded(&d.meta, &d.payload, &origin, judge);
    let mut path = d.path;
    let (other_build, set_aside, undecodable) = match applied {
        Ok(applied) => (applied.is_other_build(), None, None),
        // Set aside: no later command reads it again.
        Err(super::core::Undecodable(e)) => {
            let (diagnostic, moved) = quarantine::set_aside(store, &path, &e);
            path = moved.unwrap_or(path);
            (false, Some(e), Some(diagnostic))
        }
    };
    // Only the newest dump per replica is kept, its payload moved, not copied.
    let last = (!d.meta.reset_after).then_some(LastStored {
        revision: d.meta.revision,
        instance: d.meta.instance,
        payload: d.payload,
        path,
        set_aside,
    });
    Step {
        target: d.meta.target,
        replica: d.meta.replica,
        last,
        other_build,
        undecodable,
    }
}

impl Folded {
    /// Nothing folded yet, for the configured revision `revision`.
    pub fn new(revision: &str) -> Self {
        Folded {
            core: SessionCore::new(revision),
            last: BTreeMap::new(),
            recent: Recent::new(),
            problems: Vec::new(),
            undecodable: Vec::new(),
            upto: 0,
            first_read: None,
        }
    }

    /// Folds the dumps of `stream` (read one at a time) in; returns how many were read.
    pub fn fold(
        &mut self,
        stream: crate::session::store::DumpStream,
        judge: &mut dyn Judge,
        store: &dyn DumpStore,
    ) -> usize {
        let mut read = 0;
        for item in stream {
            let d = match item {
                Ok(d) => d,
                Err(p) => {
                    self.problems.push(p);
                    continue;
                }
            };
            read += 1;
            self.upto = self.upto.max(d.meta.seq);
            self.first_read.get_or_insert(d.meta.seq);
            if !d.meta.reset_after {
                let (newest, revisions) = self.recent.entry(d.meta.target.clone()).or_default();
                *newest = (*newest).max(d.meta.fetched_at_ms);
                let at = *newest;
                revisions.retain(|(t, _)| t + 1000 >= at);
                revisions.push((d.meta.fetched_at_ms, d.meta.revision.clone()));
            }
            let step = apply_stored_dump(&mut self.core, judge, store, d);
            let key = (step.target, step.replica);
            match step.last {
                Some(last) => {
                    self.last.insert(key, last);
                }
                None => {
                    self.last.remove(&key);
                }
            }
            self.undecodable.extend(step.undecodable);
        }
        read
    }

    /// The checkpoint's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut data = Vec::new();
        let header = Header {
            revision: self.core.current.clone(),
            upto: self.upto,
            builds: self
                .core
                .builds
                .iter()
                .map(|b| BuildH::of(b, &mut data))
                .collect::<Result<_, _>>()?,
            placements: self
                .core
                .placements
                .iter()
                .map(|((t, r), p)| (t.clone(), r.clone(), p.clone()))
                .collect(),
            with_data: self.core.with_data.iter().cloned().collect(),
            last: self
                .last
                .iter()
                .map(|((target, replica), l)| LastH {
                    target: target.clone(),
                    replica: replica.clone(),
                    revision: l.revision.clone(),
                    instance: l.instance.clone(),
                    payload: put(&mut data, &l.payload),
                    path: l.path.clone(),
                    set_aside: l.set_aside.clone(),
                })
                .collect(),
            recent: self
                .recent
                .iter()
                .map(|(t, (at, revs))| (t.clone(), *at, revs.clone()))
                .collect(),
            problems: self
                .problems
                .iter()
                .filter(|p| p.kind == ProblemKind::BadDump)
                .map(|p| (p.path.clone(), p.problem.clone()))
                .collect(),
        };
        let index = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let body = (|| {
            z.write_all(&(index.len() as u64).to_le_bytes())?;
            z.write_all(&index)?;
            z.write_all(&data)?;
            z.finish()
        })()
        .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(body.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a checkpoint (`origin` names it in errors).
    pub fn decode(bytes: &[u8], origin: &str) -> Result<Folded, CheckpointError> {
        let damaged = |detail: String| CheckpointError::Damaged {
            origin: origin.to_string(),
            detail,
        };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| CheckpointError::NotACheckpoint {
                origin: origin.to_string(),
            })?;
        if rest.len() < 8 {
            return Err(damaged(format!(
                "{} bytes after the magic line, fewer than its 8-byte header",
                rest.len()
            )));
        }
        let found = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        if found > FORMAT {
            return Err(CheckpointError::Newer {
                origin: origin.to_string(),
                found,
            });
        }
        if found != FORMAT {
            return Err(damaged(format!("unknown format {found}")));
        }
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let body = &rest[8..];
        if crc32fast::hash(body) != crc {
            return Err(damaged("CRC-32 mismatch (torn or altered)".into()));
        }
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(MAX_BODY)
            .read_to_end(&mut plain)
            .map_err(|e| damaged(format!("cannot inflate: {e}")))?;
        if plain.len() < 8 {
            return Err(damaged("body shorter than its index length".into()));
        }
        let len = u64::from_le_bytes(plain[..8].try_into().expect("8 bytes"));
        let index_end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(8))
            .filter(|&e| e <= plain.len())
            .ok_or_else(|| damaged(format!("index length {len} past the body's end")))?;
        let header: Header = serde_json::from_slice(&plain[8..index_end])
            .map_err(|e| damaged(format!("index: {e}")))?;
        let data = &plain[index_end..];
        header.into_folded(data).map_err(damaged)
    }
}

/// Appends `bytes` to the data section; returns where they are.
fn put(data: &mut Vec<u8>, bytes: &[u8]) -> Part {
    let at = data.len() as u64;
    data.extend_from_slice(bytes);
    (at, bytes.len() as u64)
}

/// The bytes of a part, checked against the data section's bounds.
fn get(data: &[u8], (at, len): Part) -> Result<&[u8], String> {
    usize::try_from(at)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(a, l)| Some(a..a.checked_add(l)?))
        .and_then(|r| data.get(r))
        .ok_or_else(|| format!("data part {at}+{len} past the end ({} bytes)", data.len()))
}

/// (offset, length) in the data section.
type Part = (u64, u64);

/// A target's entry of [`Recent`]: (target, newest fetch time, [(fetched at, revision)]).
type RecentH = (String, u64, Vec<(u64, String)>);

#[derive(Serialize, Deserialize)]
struct Header {
    /// The configured revision the dumps were folded for.
    revision: String,
    upto: u64,
    builds: Vec<BuildH>,
    placements: Vec<(String, String, Placement)>,
    with_data: Vec<String>,
    last: Vec<LastH>,
    recent: Vec<RecentH>,
    problems: Vec<(PathBuf, String)>,
}

#[derive(Serialize, Deserialize)]
struct BuildH {
    revision: String,
    first_seq: u64,
    dumps: usize,
    targets: Vec<(String, TargetH)>,
}

#[derive(Serialize, Deserialize)]
struct TargetH {
    go: Vec<(String, EpochsH)>,
    java: Vec<(String, EpochsH)>,
    go_aside: Vec<(String, EpochsH)>,
}

#[derive(Serialize, Deserialize)]
struct EpochsH {
    closed: Option<Part>,
    closed_last: Option<Part>,
    current: Option<Part>,
    current_requested_at: Option<u64>,
    instance: Option<String>,
    epoch: u32,
    reset_pending: bool,
}

#[derive(Serialize, Deserialize)]
struct LastH {
    target: String,
    replica: String,
    revision: String,
    instance: Option<String>,
    payload: Part,
    path: PathBuf,
    set_aside: Option<String>,
}

impl BuildH {
    fn of(b: &Build, data: &mut Vec<u8>) -> Result<BuildH, String> {
        let targets = b
            .targets
            .iter()
            .map(|(name, t)| {
                Ok((
                    name.clone(),
                    TargetH {
                        go: accumulator(&t.go, data)?,
                        java: accumulator(&t.java, data)?,
                        go_aside: accumulator(&t.go_aside, data)?,
                    },
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(BuildH {
            revision: b.revision.clone(),
            first_seq: b.first_seq,
            dumps: b.dumps,
            targets,
        })
    }

    fn build(self, data: &[u8]) -> Result<Build, String> {
        let mut targets = BTreeMap::new();
        for (name, t) in self.targets {
            targets.insert(
                name,
                BuildTarget {
                    go: restore_accumulator(t.go, data)?,
                    java: restore_accumulator(t.java, data)?,
                    go_aside: restore_accumulator(t.go_aside, data)?,
                },
            );
        }
        Ok(Build {
            revision: self.revision,
            targets,
            first_seq: self.first_seq,
            dumps: self.dumps,
        })
    }
}

impl Header {
    fn into_folded(self, data: &[u8]) -> Result<Folded, String> {
        let mut core = SessionCore::new(&self.revision);
        core.builds = self
            .builds
            .into_iter()
            .map(|b| b.build(data))
            .collect::<Result<_, _>>()?;
        core.placements = self
            .placements
            .into_iter()
            .map(|(t, r, p)| ((t, r), p))
            .collect();
        core.with_data = self.with_data.into_iter().collect();
        let mut last = BTreeMap::new();
        for l in self.last {
            last.insert(
                (l.target, l.replica),
                LastStored {
                    revision: l.revision,
                    instance: l.instance,
                    payload: get(data, l.payload)?.to_vec(),
                    path: l.path,
                    set_aside: l.set_aside,
                },
            );
        }
        Ok(Folded {
            core,
            last,
            recent: self
                .recent
                .into_iter()
                .map(|(t, at, revs)| (t, (at, revs)))
                .collect(),
            problems: self
                .problems
                .into_iter()
                .map(|(path, problem)| SessionProblem {
                    path,
                    problem,
                    kind: ProblemKind::BadDump,
                })
                .collect(),
            undecodable: Vec::new(),
            upto: self.upto,
            first_read: None,
        })
    }
}

/// Accumulated data as bytes of the checkpoint.
trait Piece: Cumulative + Sized {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String>;
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl Piece for Profile {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        self.write(out).map_err(|e| e.to_string())
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        profile::parse(bytes, "checkpoint").map_err(|e| e.to_string())
    }
}

/// JaCoCo data: every session block and every class (those without a hit too, unlike an exec
/// file), lengths first.
impl Piece for ExecData {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&(self.sessions.len() as u64).to_le_bytes());
        for s in &self.sessions {
            put_str(out, &s.id);
            out.extend_from_slice(&s.start.to_le_bytes());
            out.extend_from_slice(&s.dump.to_le_bytes());
        }
        out.extend_from_slice(&(self.classes.len() as u64).to_le_bytes());
        for (id, c) in &self.classes {
            out.extend_from_slice(&id.to_le_bytes());
            put_str(out, &c.name);
            out.extend_from_slice(&(c.probes.len() as u64).to_le_bytes());
            out.extend(c.probes.packed());
        }
        Ok(())
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        let mut e = ExecData::default();
        // Every session and class takes more than 8 bytes: a count past what the bytes can
        // hold is refused before anything is allocated for it.
        for _ in 0..r.count()? {
            let id = r.str()?;
            e.sessions.push(SessionInfo {
                id,
                start: r.u64()? as i64,
                dump: r.u64()? as i64,
            });
        }
        for _ in 0..r.count()? {
            let id = r.u64()?;
            let name = r.str()?;
            let len = usize::try_from(r.u64()?).map_err(|_| "probe count too large")?;
            let packed = r.take(len.div_ceil(8))?;
            e.classes.insert(
                id,
                ClassProbes {
                    name,
                    probes: Probes::from_packed(packed, len),
                },
            );
        }
        Ok(e)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads the JaCoCo part, never past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!(
                "JaCoCo data: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn count(&mut self) -> Result<u64, String> {
        let n = self.u64()?;
        if n > self.0.len() as u64 / 8 {
            return Err(format!(
                "JaCoCo data: {n} entries in {} bytes",
                self.0.len()
            ));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "name too long")?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|e| format!("JaCoCo data: {e}"))
    }
}

fn accumulator<T: Piece>(
    acc: &TargetAccumulator<T>,
    data: &mut Vec<u8>,
) -> Result<Vec<(String, EpochsH)>, String> {
    let mut part = |p: &Option<T>| -> Result<Option<Part>, String> {
        let Some(p) = p else { return Ok(None) };
        let at = data.len() as u64;
        p.encode(data)?;
        Ok(Some((at, data.len() as u64 - at)))
    };
    acc.replicas
        .iter()
        .map(|(name, r)| {
            Ok((
                name.clone(),
                EpochsH {
                    closed: part(&r.closed)?,
                    closed_last: part(&r.closed_last)?,
                    current: part(&r.current)?,
                    current_requested_at: r.current_requested_at,
                    instance: r.instance.clone(),
                    epoch: r.epoch,
                    reset_pending: r.reset_pending,
                },
            ))
        })
        .collect()
}

fn restore_accumulator<T: Piece>(
    replicas: Vec<(String, EpochsH)>,
    data: &[u8],
) -> Result<TargetAccumulator<T>, String> {
    let part = |p: Option<Part>| -> Result<Option<T>, String> {
        p.map(|p| T::decode(get(data, p)?)).transpose()
    };
    let mut acc = TargetAccumulator::default();
    for (name, h) in replicas {
        acc.replicas.insert(
            name,
            ReplicaEpochs {
                closed: part(h.closed)?,
                closed_last: part(h.closed_last)?,
                current: part(h.current)?,
                current_requested_at: h.current_requested_at,
                instance: h.instance,
                epoch: h.epoch,
                reset_pending: h.reset_pending,
            },
        );
    }
    Ok(acc)
}

/// A checkpoint folded at another configured revision, not used: the session is replayed from
/// its raw dumps, and those the checkpoint holds may have been dropped (see [`OtherRevision::missing`]).
#[derive(Debug, Clone)]
pub(super) struct OtherRevision {
    pub revision: String,
    pub upto: u64,
}

impl OtherRevision {
    /// The diagnostic when the replay found dumps missing before `first_read` (dropped by
    /// `session compact --keep-raw` once the checkpoint held them).
    pub fn missing(
        &self,
        first_read: Option<u64>,
        location: &str,
        now: &str,
    ) -> Option<Diagnostic> {
        let first = first_read
            .unwrap_or(u64::MAX)
            .min(self.upto.saturating_add(1));
        (first > 1).then(|| Diagnostic {
            kind: DiagnosticKind::Mismatch,
            subject: location.to_string(),
            message: format!(
                "dumps #1..#{} were compacted into a checkpoint folded at revision {}; opened at \
                 {now}, they are not shown",
                first - 1,
                crate::escape::field(&self.revision)
            ),
            fix: format!(
                "open the session at the revision it was compacted at ([repo] revision = \"{}\") \
                 to see them, or keep raw dumps longer (`session compact --keep-raw`)",
                crate::escape::field(&self.revision)
            ),
        })
    }
}

/// The session's checkpoint folded for `revision`, or nothing folded: one that cannot be read
/// is set aside (the diagnostic says where); one folded for another revision is not used (and
/// named, for [`OtherRevision::missing`]).
pub(super) fn restore(
    store: &dyn DumpStore,
    revision: &str,
) -> (Folded, Vec<Diagnostic>, Option<OtherRevision>) {
    let fresh = || Folded::new(revision);
    let stored = match store.read_checkpoint(revision) {
        Ok(Some(c)) => c,
        Ok(None) => return (fresh(), Vec::new(), None),
        Err(e) => {
            let d =
                checkpoint_diagnostic(store.location(), format!("cannot read the checkpoint: {e}"));
            return (fresh(), vec![d], None);
        }
    };
    match Folded::decode(&stored.bytes, &stored.location) {
        Ok(f) if f.core.current == revision && f.upto == stored.upto => {
            let mut f = f;
            // A file named by the checkpoint that was removed since is no longer a problem.
            f.problems
                .retain(|p| !p.path.is_absolute() || p.path.exists());
            (f, Vec::new(), None)
        }
        // Folded at another revision: the dumps are replayed for this one.
        Ok(f) if f.core.current != revision => {
            let other = OtherRevision {
                revision: f.core.current,
                upto: f.upto,
            };
            (fresh(), Vec::new(), Some(other))
        }
        Ok(f) => {
            let e = format!(
                "its header says dump {} and its content dump {}",
                stored.upto, f.upto
            );
            (fresh(), vec![set_aside(store, &stored, &e)], None)
        }
        Err(e) => (
            fresh(),
            vec![set_aside(store, &stored, &e.to_string())],
            None,
        ),
    }
}

fn set_aside(store: &dyn DumpStore, stored: &StoredCheckpoint, reason: &str) -> Diagnostic {
    let moved = match store.set_checkpoint_aside(&stored.slot, reason) {
        Ok(to) => format!("set aside ({to})"),
        Err(e) => format!("could not be set aside ({e})"),
    };
    checkpoint_diagnostic(
        stored.location.clone(),
        format!("checkpoint not used: {reason}; {moved}; the session's dumps were replayed"),
    )
}

fn checkpoint_diagnostic(subject: String, message: String) -> Diagnostic {
    Diagnostic {
        kind: DiagnosticKind::Mismatch,
        subject,
        message,
        fix: "nothing is lost while the dumps are kept; the next checkpoint (written in the \
              background, or by `covtop session compact`) replaces it"
            .into(),
    }
}

/// Folds a session into checkpoints, away from the engine: its own store handle, its own
/// repository (the judge of revisions and Go layouts) and its own fold, kept between rounds so
/// each round reads only the new dumps.
pub struct Checkpointer {
    store: Box<dyn DumpStore>,
    repo: Repo,
    revision: Revision,
    modules: ModuleMap,
    memo: Judgements,
    folded: Option<Folded>,
    /// The `upto` of the checkpoint the store holds (0: none).
    written: u64,
    /// The store holds a checkpoint of another revision only: this revision's is written only
    /// when no dump that one holds was dropped (else a restore from it would not say that they
    /// are missing here).
    other: Option<OtherRevision>,
    written_at: Instant,
}

/// What one fold did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpointed {
    /// The checkpoint holds every dump up to this one.
    pub upto: u64,
    /// Dumps read for this fold (the ones after the previous checkpoint).
    pub read: usize,
    /// Bytes of the checkpoint written (0: nothing new, nothing written).
    pub bytes: usize,
    /// Diagnostics met (a checkpoint set aside, dumps set aside).
    pub notes: Vec<Diagnostic>,
}

impl Checkpointer {
    /// Opens the configured repository and session store again, for this checkpointer alone.
    pub fn open(config: &crate::config::Config) -> Result<Checkpointer, super::EngineError> {
        let repo = Repo::open(&config.repo.path)?;
        let revision = repo.resolve(&config.repo.revision)?;
        let modules = super::go_modules(&repo, &revision)?;
        let mut root = super::store_root(config, &repo);
        if config.session.store.is_some() {
            // A shared store keeps a local spool of the dumps it could not take, uploaded by
            // whoever opens it there: the engine's. This handle only reads and writes
            // checkpoints, so its local folder is its own (its spool stays empty).
            root.push("checkpointer");
        }
        let store = crate::session::open_store(&config.session, &root)?;
        Ok(Checkpointer {
            store,
            repo,
            revision,
            modules,
            memo: Judgements::default(),
            folded: None,
            written: 0,
            written_at: Instant::now(),
            other: None,
        })
    }

    /// Folds the dumps stored since the last checkpoint in and, when `force` or when enough
    /// arrived ([`EVERY_DUMPS`], or any after [`EVERY`]), writes a new checkpoint.
    pub fn fold(&mut self, force: bool) -> Result<Checkpointed, super::EngineError> {
        let mut notes = Vec::new();
        let mut folded = match self.folded.take() {
            Some(f) => f,
            None => {
                let (f, n, other) = restore(self.store.as_ref(), &self.revision.oid);
                notes.extend(n);
                self.other = other;
                self.written = f.upto;
                f
            }
        };
        let stream = self.store.stream_after(folded.upto);
        let read = match stream {
            Ok(stream) => {
                let mut judge = RepoJudge {
                    repo: &self.repo,
                    revision: &self.revision,
                    modules: &self.modules,
                    memo: &mut self.memo,
                    // The checkpointer analyses no classes: probe counts are checked when a
                    // View projects the data.
                    classes: None,
                };
                folded.fold(stream, &mut judge, self.store.as_ref())
            }
            Err(e) => {
                self.folded = Some(folded);
                return Err(e.into());
            }
        };
        notes.append(&mut folded.undecodable);
        let location = self.store.location();
        if let Some(missing) = self
            .other
            .as_ref()
            .and_then(|o| o.missing(folded.first_read, &location, &self.revision.short))
        {
            // Written, it would hide that those dumps are missing at this revision.
            self.folded = Some(folded);
            return Err(super::EngineError::Checkpoint(CheckpointError::Write {
                origin: location,
                detail: format!("not written: {}", missing.message),
            }));
        }
        let new = folded.upto.saturating_sub(self.written);
        let due = new > 0 && (force || new >= EVERY_DUMPS || self.written_at.elapsed() >= EVERY);
        let mut bytes = 0;
        if due {
            let result = folded.encode().and_then(|b| {
                self.store
                    .write_checkpoint(&self.revision.oid, folded.upto, &b)
                    .map(|()| b.len())
                    .map_err(|e| e.to_string())
            });
            match result {
                Ok(n) => {
                    bytes = n;
                    self.written = folded.upto;
                    self.written_at = Instant::now();
                }
                Err(detail) => {
                    let origin = self.store.location();
                    self.folded = Some(folded);
                    return Err(super::EngineError::Checkpoint(CheckpointError::Write {
                        origin,
                        detail,
                    }));
                }
            }
        }
        let upto = self.written;
        self.folded = Some(folded);
        Ok(Checkpointed {
            upto,
            read,
            bytes,
            notes,
        })
    }

    /// Drops the raw dumps the checkpoint holds that were fetched before `before_ms` (and the
    /// payloads no dump names any more). Never a dump after the checkpoint.
    pub fn drop_raw(
        &mut self,
        before_ms: u64,
    ) -> Result<crate::session::Dropped, super::EngineError> {
        Ok(self.store.drop_raw(self.written, before_ms)?)
    }

    /// Folds in the background until the returned handle is dropped or stopped: a thread that
    /// opens its own checkpointer for `config` (repository and store, off the caller's thread),
    /// then looks at the session every few seconds and writes a checkpoint when one is due.
    /// After each look, `report` gets what went wrong in it (nothing: all is well again); the
    /// engine shows it in its Views.
    pub fn start(
        config: crate::config::Config,
        report: impl Fn(Vec<Diagnostic>) + Send + 'static,
    ) -> std::io::Result<Background> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("covtop-checkpoint".into())
            .spawn(move || {
                let mut checkpointer = match Checkpointer::open(&config) {
                    Ok(c) => c,
                    Err(e) => {
                        report(vec![checkpoint_diagnostic(
                            config.session.name.clone(),
                            format!("no checkpoints: {e}"),
                        )]);
                        return;
                    }
                };
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(LOOK_EVERY)
                {
                    let problems = match checkpointer.fold(false) {
                        Ok(done) => done.notes,
                        Err(e) => vec![checkpoint_diagnostic(
                            checkpointer.store.location(),
                            format!("background checkpoint: {e}"),
                        )],
                    };
                    report(problems);
                }
            })?;
        Ok(Background {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The background checkpointer: told to stop when dropped (see [`Background::stop`] to wait).
pub struct Background {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Stops it and waits for the fold under way (if any) to end.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    /// Tells the thread to stop after the fold under way, without waiting for it: a process
    /// that exits meanwhile leaves the old checkpoint or the new one whole.
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::core::Trusting;
    use crate::session::{DumpMeta, PayloadKind, SessionStore};

    /// A fold of Go and JaCoCo dumps with a restart, a reset and a class without hits.
    fn folded() -> (Folded, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = SessionStore::open(tmp.path(), "s").unwrap();
        let go = |n: u64| format!("mode: count\nm/a.go:1.1,2.2 1 {n}\nm/a.go:3.1,4.2 2 0\n");
        let mut exec = ExecData::default();
        exec.sessions.push(SessionInfo {
            id: "pod".into(),
            start: 1,
            dump: 2,
        });
        exec.classes.insert(
            7,
            ClassProbes {
                name: "a/B".into(),
                probes: [true, false, true].into_iter().collect(),
            },
        );
        for (n, instance, count) in [(1, "p1", 5), (2, "p1", 9), (3, "p2", 1)] {
            let m = DumpMeta::new(
                "svc",
                "r",
                Some(instance.into()),
                n,
                "rev",
                PayloadKind::GoProfile,
            );
            store.append(&m, go(count).as_bytes()).unwrap();
        }
        store
            .append_reset("svc", "r", "rev", PayloadKind::GoProfile, 4)
            .unwrap();
        let m = DumpMeta::new("jvm", "j", None, 5, "rev", PayloadKind::JacocoExec);
        store.append(&m, &exec.to_bytes().unwrap()).unwrap();
        let mut f = Folded::new("rev");
        f.fold(store.stream_after(0).unwrap(), &mut Trusting, &store);
        // A class the agent would not send (no hit) is kept too.
        let b = &mut f.core.builds[0];
        let mut with_empty = exec.clone();
        with_empty.classes.insert(
            9,
            ClassProbes {
                name: "a/C".into(),
                probes: Probes::new(4),
            },
        );
        b.targets
            .get_mut("jvm")
            .unwrap()
            .java
            .apply("j", with_empty, None);
        (f, tmp)
    }

    /// A judge that fails (panics, as a bug on one input would) on Go data naming `m/boom.go`.
    struct Failing;

    impl Judge for Failing {
        fn is_current(&mut self, _revision: &str) -> bool {
            true
        }
        fn place_go(&mut self, profile: &Profile) -> crate::engine::core::GoFit {
            if profile.file("m/boom.go").is_some() {
                let index: Vec<u8> = Vec::new();
                // A real panic (an index out of range), not a hand-made error.
                let _ = index[profile.file_count()];
            }
            crate::engine::core::GoFit::Fits
        }
    }

    #[test]
    fn a_dump_that_makes_covtop_panic_is_set_aside_and_the_next_dumps_are_used() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = SessionStore::open(tmp.path(), "s").unwrap();
        // Three replicas: each dump counts on its own.
        for (n, file) in [(1, "m/a.go"), (2, "m/boom.go"), (3, "m/c.go")] {
            let replica = format!("r{n}");
            let m = DumpMeta::new("svc", &replica, None, n, "rev", PayloadKind::GoProfile);
            let profile = format!("mode: count\n{file}:1.1,2.2 1 {n}\n");
            store.append(&m, profile.as_bytes()).unwrap();
        }
        let mut f = Folded::new("rev");
        assert_eq!(
            f.fold(store.stream_after(0).unwrap(), &mut Failing, &store),
            3
        );
        // The dump is named with the panic's message and moved aside.
        assert_eq!(f.undecodable.len(), 1, "{:?}", f.undecodable);
        let d = &f.undecodable[0];
        assert!(d.subject.ends_with("00000002-svc-r2.dump"), "{d:?}");
        assert!(
            d.message.contains("covtop failed on it")
                && d.message.contains("index out of bounds")
                && d.message.contains("moved to"),
            "{d:?}"
        );
        let aside = store.quarantined();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert!(
            aside[0].starts_with(tmp.path().join("sessions/s/quarantine")),
            "{aside:?}"
        );
        // The dumps before and after it are used.
        let total = f.core.builds[0].go_total().unwrap();
        assert!(total.file("m/a.go").is_some() && total.file("m/c.go").is_some());
        assert!(total.file("m/boom.go").is_none());
        // A later command never reads it again.
        let mut again = Folded::new("rev");
        assert_eq!(
            again.fold(store.stream_after(0).unwrap(), &mut Failing, &store),
            2
        );
        assert!(again.undecodable.is_empty());
    }

    #[test]
    fn a_checkpoint_reads_back_to_the_same_state() {
        let (f, _tmp) = folded();
        let bytes = f.encode().unwrap();
        let back = Folded::decode(&bytes, "test").unwrap();
        assert_eq!(back.encode().unwrap(), bytes, "nothing lost nor changed");
        assert_eq!(back.upto, f.upto);
        let (a, b) = (f.core.builds[0].clone(), back.core.builds[0].clone());
        assert_eq!(a.go_total(), b.go_total());
        assert_eq!(a.java_totals(), b.java_totals());
        assert!(b.java_totals()[0].1.classes.contains_key(&9));
        let r = &b.targets["svc"].go.replicas["r"];
        assert_eq!(
            (r.epoch, r.reset_pending),
            (2, true),
            "restart and reset kept"
        );
        assert_eq!(back.last.len(), 1, "the reset forgot svc/r's last dump");
    }

    #[test]
    fn damaged_truncated_and_foreign_bytes_are_errors_never_panics() {
        let (f, _tmp) = folded();
        let bytes = f.encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(Folded::decode(&bytes[..cut], "t").is_err(), "cut at {cut}");
        }
        for i in (MAGIC.len()..bytes.len()).step_by(3) {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(Folded::decode(&b, "t").is_err(), "flip at {i}");
        }
        assert!(matches!(
            Folded::decode(b"COVTOP-DUMP 1\n", "t"),
            Err(CheckpointError::NotACheckpoint { .. })
        ));
        // A body that passes its CRC but says hostile lengths: refused, nothing allocated for them.
        let mut plain = Vec::new();
        plain.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&plain).unwrap();
        let body = z.finish().unwrap();
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&FORMAT.to_le_bytes());
        forged.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        forged.extend_from_slice(&body);
        let e = Folded::decode(&forged, "t").unwrap_err().to_string();
        assert!(e.contains("index length"), "{e}");
        let mut r = Reader(&[0xff; 16]);
        assert!(r.count().is_err(), "a count past the bytes is refused");
    }
}
