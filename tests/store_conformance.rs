//! One conformance suite for every session store (`covtop::session::DumpStore`): the file store
//! and the PostgreSQL store pass the same cases — persist and order, restore, catalog, dedupe by
//! identity, sessions, concurrent writers (threads, and two processes), crash (`kill -9` of a
//! writer process loses no acknowledged dump) and following a session (subscribe), checkpoints
//! (replace, read back, set aside, raw dumps dropped only up to the checkpoint and only before the
//! window, `kill -9` of a process writing checkpoints leaves the old one or the new one whole).
//!
//! PostgreSQL is real: a throwaway cluster this test starts and removes (`pg_support`). Writer
//! processes are this test binary re-run with `STORE_WRITER` set (see [`store_writer_child`]).

mod pg_support;

use covtop::session::postgres::{PgStore, PgTarget};
use covtop::session::{DumpMeta, DumpStore, PayloadKind, ProblemKind, SessionStore};
use pg_support::PgCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the suite's sessions live.
#[derive(Clone)]
enum Backend {
    File { root: PathBuf },
    Pg { url: String, password_file: PathBuf },
}

impl Backend {
    fn open(&self, session: &str) -> Box<dyn DumpStore> {
        match self {
            Backend::File { root } => Box::new(SessionStore::open(root, session).unwrap()),
            Backend::Pg { url, password_file } => {
                let target = PgTarget::new(url, Some(password_file)).unwrap();
                // Saved build lines would go here; beside the password file, in the test's folder.
                let local = password_file.with_file_name("local");
                Box::new(PgStore::open(target, session, &local).unwrap())
            }
        }
    }

    /// What a writer child needs to open the same store.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::File { root } => vec![("STORE_ROOT", root.display().to_string())],
            Backend::Pg { url, password_file } => vec![
                ("STORE_URL", url.clone()),
                ("STORE_PWFILE", password_file.display().to_string()),
            ],
        }
    }

    fn from_env() -> Backend {
        match std::env::var("STORE_URL") {
            Ok(url) => Backend::Pg {
                url,
                password_file: std::env::var("STORE_PWFILE").unwrap().into(),
            },
            Err(_) => Backend::File {
                root: std::env::var("STORE_ROOT").unwrap().into(),
            },
        }
    }
}

fn meta(replica: &str, instance: &str, at: u64) -> DumpMeta {
    DumpMeta::new(
        "shop",
        replica,
        Some(instance.to_string()),
        at,
        "abc123",
        PayloadKind::GoProfile,
    )
}

/// Dump `n` of writer `tag`: names itself, then a filler whose length and bytes depend on both,
/// so a mix-up or a torn write is seen.
fn payload(tag: &str, n: u64) -> Vec<u8> {
    let mut p = format!("mode: count\n# {tag} dump {n}\n").into_bytes();
    let seed = tag
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let len = ((n * 7919 + seed) % (64 << 10)) as usize;
    p.extend((0..len).map(|i| b'a' + ((i as u64 + n + seed) % 26) as u8));
    p
}

/// The writer child: appends dumps to `STORE_SESSION` and prints `ack TAG N SEQ` after each
/// append returns (`STORE_COUNT` of them, or until killed). Not a test of its own.
#[test]
fn store_writer_child() {
    let Ok(tag) = std::env::var("STORE_WRITER") else {
        return;
    };
    let session = std::env::var("STORE_SESSION").unwrap();
    let count: u64 = std::env::var("STORE_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(u64::MAX);
    let mut store = Backend::from_env().open(&session);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for n in 0..count {
        let p = store
            .append(&meta(&format!("r-{}", n % 3), &tag, n), &payload(&tag, n))
            .unwrap();
        writeln!(out, "ack {tag} {n} {}", p.seq).unwrap();
        out.flush().unwrap();
    }
}

/// The bytes of checkpoint `n` (several MiB, so a kill lands in the middle of writing one):
/// each byte depends on `n` and its position, so a torn or mixed checkpoint is seen.
fn checkpoint_bytes(n: u64) -> Vec<u8> {
    (0..(4u64 << 20) + n * 977)
        .map(|i| (i.wrapping_mul(31) ^ n.wrapping_mul(0x9e37)) as u8)
        .collect()
}

/// Writes checkpoints 1, 2, … of session `STORE_SESSION` for ever, printing `ckpt N` once
/// each is acknowledged (run by [`case_checkpoint_crash`], which kills it).
#[test]
fn store_checkpointer_child() {
    if std::env::var("STORE_CHECKPOINTER").is_err() {
        return;
    }
    let session = std::env::var("STORE_SESSION").unwrap();
    let mut store = Backend::from_env().open(&session);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for n in 1.. {
        store
            .write_checkpoint(REV, n, &checkpoint_bytes(n))
            .unwrap();
        writeln!(out, "ckpt {n}").unwrap();
        out.flush().unwrap();
    }
}

fn writer(b: &Backend, session: &str, tag: &str, count: Option<u64>) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "store_writer_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("STORE_WRITER", tag)
    .env("STORE_SESSION", session)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(n) = count {
        c.env("STORE_COUNT", n.to_string());
    }
    for (k, v) in b.env() {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// (tag, n) → seq of every acknowledgement a writer printed.
fn acks(out: impl std::io::Read) -> BTreeMap<(String, u64), u64> {
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            // The test harness's "test store_writer_child ... " may start the first line.
            let mut w = l[l.find("ack ")? + 4..].split(' ');
            let tag = w.next()?.to_string();
            let n = w.next()?.parse().ok()?;
            let seq = w.next()?.parse().ok()?;
            Some(((tag, n), seq))
        })
        .collect()
}

/// Every dump of the session is whole and is the dump its metadata names; returns them by
/// (writer, n) with their sequence numbers, checking those are unique and increasing.
fn check_whole(store: &dyn DumpStore) -> BTreeMap<(String, u64), u64> {
    let (dumps, problems) = store.load().unwrap();
    // A killed writer may leave an unfinished write (never acknowledged, never a dump): never a
    // bad dump.
    assert!(
        problems
            .iter()
            .all(|p| p.kind == ProblemKind::UnfinishedWrite),
        "{problems:?}"
    );
    let mut out = BTreeMap::new();
    let mut last = 0;
    for d in dumps {
        assert!(
            d.meta.seq > last,
            "sequence numbers increase: {} after {last}",
            d.meta.seq
        );
        last = d.meta.seq;
        let tag = d.meta.instance.clone().unwrap();
        let n = d.meta.fetched_at_ms;
        assert_eq!(
            d.payload,
            payload(&tag, n),
            "dump {tag}/{n} is whole and its own"
        );
        assert!(out.insert((tag, n), d.meta.seq).is_none(), "stored once");
    }
    out
}

fn case_persist_order_restore(b: &Backend) {
    let session = "order";
    let mut s = b.open(session);
    let mut seqs = Vec::new();
    for n in 0..5 {
        let p = s
            .append(&meta(&format!("r-{}", n % 2), "w", n), &payload("w", n))
            .unwrap();
        assert!(p.new);
        seqs.push(p.seq);
    }
    let reset = s
        .append_reset("shop", "r-0", "abc123", PayloadKind::GoProfile, 99)
        .unwrap();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && reset.seq > seqs[4]);
    drop(s);

    // Restore: a new handle reads back exactly what was acknowledged, in order.
    let s = b.open(session);
    let (dumps, problems) = s.load().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(dumps.len(), 6);
    for (i, d) in dumps.iter().take(5).enumerate() {
        let n = i as u64;
        assert_eq!(d.meta.seq, seqs[i]);
        assert_eq!(d.meta.replica, format!("r-{}", n % 2));
        assert_eq!(d.meta.instance.as_deref(), Some("w"));
        assert_eq!(d.meta.fetched_at_ms, n);
        assert_eq!(d.meta.revision, "abc123");
        assert_eq!(d.meta.kind, PayloadKind::GoProfile);
        assert!(!d.meta.reset_after);
        assert_eq!(d.payload, payload("w", n));
    }
    let marker = &dumps[5];
    assert!(marker.meta.reset_after && marker.payload.is_empty());
    assert_eq!(
        (marker.meta.replica.as_str(), marker.meta.seq),
        ("r-0", reset.seq)
    );

    // Catalog: the same metadata without payloads; load_after: the tail.
    let catalog = s.catalog().unwrap();
    assert_eq!(
        catalog,
        dumps.iter().map(|d| d.meta.clone()).collect::<Vec<_>>()
    );
    let (tail, _) = s.load_after(seqs[2]).unwrap();
    let tail: Vec<u64> = tail.iter().map(|d| d.meta.seq).collect();
    assert_eq!(tail, vec![seqs[3], seqs[4], reset.seq]);
    assert!(s.load_after(reset.seq).unwrap().0.is_empty());
}

fn case_dedupe(b: &Backend) {
    let mut s = b.open("dedupe");
    let first = s.append(&meta("r-0", "w", 1), &payload("w", 1)).unwrap();
    // The very same dump again (a writer retrying after a crash, or a second collector).
    let again = s.append(&meta("r-0", "w", 1), &payload("w", 1)).unwrap();
    assert!(first.new && !again.new);
    assert_eq!(again.seq, first.seq);
    // The same payload from another replica, or fetched at another time, is another dump.
    let other = s.append(&meta("r-1", "w", 1), &payload("w", 1)).unwrap();
    let later = s.append(&meta("r-0", "w", 2), &payload("w", 1)).unwrap();
    assert!(other.new && later.new && other.seq != later.seq);
    // Same metadata, another payload: another dump too.
    let changed = s.append(&meta("r-0", "w", 1), &payload("w", 7)).unwrap();
    assert!(changed.new);
    let (dumps, _) = s.load().unwrap();
    assert_eq!(dumps.len(), 4);
    // A fresh handle (a restarted writer) knows the stored dumps too.
    let mut s = b.open("dedupe");
    let retry = s.append(&meta("r-1", "w", 1), &payload("w", 1)).unwrap();
    assert!(!retry.new);
    assert_eq!(retry.seq, other.seq);
    assert_eq!(s.load().unwrap().0.len(), 4);
}

fn case_sessions(b: &Backend) {
    let mut a = b.open("list-a");
    a.append(&meta("r-0", "w", 1), b"mode: set\n").unwrap();
    let names = b.open("list-b").sessions().unwrap();
    assert!(
        names.contains(&"list-a".to_string()) && names.contains(&"list-b".to_string()),
        "{names:?}"
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Sessions are apart: one's dumps are not another's.
    assert!(b.open("list-b").load().unwrap().0.is_empty());
}

fn case_concurrent_tasks(b: &Backend) {
    let session = "tasks";
    let handles: Vec<_> = ["t1", "t2"]
        .into_iter()
        .map(|tag| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut s = b.open(session);
                for n in 0..40 {
                    s.append(&meta(&format!("r-{}", n % 3), tag, n), &payload(tag, n))
                        .unwrap();
                }
                // Both collectors store one identical dump: it is kept once.
                s.append(&meta("r-x", "both", 5), &payload("both", 5))
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let shared: BTreeSet<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        shared.len(),
        1,
        "both writers got the one stored dump's number"
    );
    let got = check_whole(&*b.open(session));
    assert_eq!(got.len(), 81);
}

fn case_concurrent_processes(b: &Backend) {
    let session = "processes";
    let children: Vec<_> = ["p1", "p2"]
        .into_iter()
        .map(|tag| writer(b, session, tag, Some(30)))
        .collect();
    let mut acked = BTreeMap::new();
    for mut c in children {
        acked.extend(acks(c.stdout.take().unwrap()));
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    assert_eq!(acked.len(), 60);
    let got = check_whole(&*b.open(session));
    assert_eq!(
        got, acked,
        "every acknowledged dump, under the number it was acknowledged with"
    );
}

fn case_crash(b: &Backend, rounds: u64) {
    let session = "crash";
    let mut acked = BTreeMap::new();
    for round in 0..rounds {
        let tag = format!("k{round}");
        let mut child = writer(b, session, &tag, None);
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || acks(out));
        // Kill at a different moment each round, somewhere in the middle of writing.
        std::thread::sleep(Duration::from_millis(150 + (round * 137) % 400));
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        acked.extend(reader.join().unwrap());
        let got = check_whole(&*b.open(session));
        for (k, seq) in &acked {
            assert_eq!(got.get(k), Some(seq), "acknowledged dump {k:?} is kept");
        }
    }
    assert!(
        !acked.is_empty(),
        "the writers acknowledged dumps before being killed"
    );
    // The session goes on after the crashes.
    let p = b
        .open(session)
        .append(&meta("r-0", "after", 0), &payload("after", 0))
        .unwrap();
    assert!(p.new);
    check_whole(&*b.open(session));
}

/// Waits (30 s at most) until `feed` announced `seq` or a later dump.
fn wait_announced(feed: &mut covtop::session::DumpFeed, seq: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut announced = 0;
    while announced < seq {
        assert!(Instant::now() < deadline, "{what} was never announced");
        match feed.try_recv() {
            Ok(n) => announced = announced.max(n),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("the feed ended: {e}"),
        }
    }
}

fn case_subscribe(b: &Backend) {
    let session = "follow";
    let mut writer = b.open(session);
    writer
        .append(&meta("r-0", "w", 0), &payload("w", 0))
        .unwrap();
    let follower = b.open(session);
    let mut feed = follower.subscribe().unwrap();
    let (before, _) = follower.load().unwrap();
    let known = before.last().unwrap().meta.seq;
    let p = writer
        .append(&meta("r-0", "w", 1), &payload("w", 1))
        .unwrap();
    wait_announced(&mut feed, p.seq, "the new dump");
    let (new, _) = follower.load_after(known).unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].payload, payload("w", 1));
}

/// The configured revision the checkpoints of these cases are folded for.
const REV: &str = "4f1c2a9e0b7d";

fn case_checkpoint(b: &Backend) {
    let session = "fold";
    let mut s = b.open(session);
    assert_eq!(s.read_checkpoint(REV).unwrap(), None, "none yet");
    let mut seqs = Vec::new();
    for n in 0..10u64 {
        // Dumps 0..5 fetched at 0..5, 5..10 much later; dumps 3 and 8 share their payload.
        let at = if n < 5 { n } else { 1_000_000 + n };
        let body = payload("f", if n == 8 { 3 } else { n });
        seqs.push(s.append(&meta("r-0", "f", at), &body).unwrap().seq);
    }
    s.write_checkpoint(REV, seqs[2], b"first").unwrap();
    s.write_checkpoint(REV, seqs[7], b"second").unwrap();
    let c = b.open(session).read_checkpoint(REV).unwrap().unwrap();
    assert_eq!(
        (c.upto, c.bytes.as_slice()),
        (seqs[7], b"second".as_slice())
    );
    assert!(c.made_at_ms > 0);
    // Raw dumps go only up to the checkpoint and only before the window: 0..5 (fetched before
    // 1,000,000) up to seq[7]; 5..10 are after the window or the checkpoint.
    let dropped = s.drop_raw(c.upto, 1_000_000).unwrap();
    assert_eq!(dropped.dumps, 5, "{dropped:?}");
    let (kept, problems) = b.open(session).load().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let kept: Vec<u64> = kept.iter().map(|d| d.meta.seq).collect();
    assert_eq!(kept, seqs[5..].to_vec());
    // Dump 8 names the payload dump 3 had: still there.
    let (all, _) = b.open(session).load().unwrap();
    assert_eq!(all[3].payload, payload("f", 3));
    // Set aside: not read again until the next checkpoint replaces it.
    let aside = s.set_checkpoint_aside(&c.slot, "damaged (test)").unwrap();
    assert!(!aside.is_empty());
    assert_eq!(b.open(session).read_checkpoint(REV).unwrap(), None);
    s.write_checkpoint(REV, seqs[9], b"third").unwrap();
    let c = b.open(session).read_checkpoint(REV).unwrap().unwrap();
    assert_eq!((c.upto, c.bytes.as_slice()), (seqs[9], b"third".as_slice()));
    // Every dump dropped: the next one is still numbered after the checkpoint (a restore
    // reads only the dumps after it).
    s.drop_raw(seqs[9], u64::MAX).unwrap();
    assert!(b.open(session).load().unwrap().0.is_empty());
    let next = b
        .open(session)
        .append(&meta("r-0", "f", 99), &payload("f", 99))
        .unwrap();
    assert!(next.seq > seqs[9], "{} after {}", next.seq, seqs[9]);
    // Checkpoints are per session.
    assert_eq!(b.open("fold-other").read_checkpoint(REV).unwrap(), None);
    // And per configured revision: covtops at two revisions on one session keep one each, and
    // neither replaces the other's (any revision string: a branch name with a slash and a
    // space is kept apart too).
    let other = "feature/new pricing";
    s.write_checkpoint(other, seqs[4], b"other revision")
        .unwrap();
    let mine = b.open(session).read_checkpoint(REV).unwrap().unwrap();
    assert_eq!(
        (mine.upto, mine.bytes.as_slice()),
        (seqs[9], b"third".as_slice())
    );
    let theirs = b.open(session).read_checkpoint(other).unwrap().unwrap();
    assert_eq!(
        (theirs.upto, theirs.bytes.as_slice()),
        (seqs[4], b"other revision".as_slice())
    );
    assert_ne!(mine.slot, theirs.slot);
    // Written later (times are in milliseconds): the newest of the session.
    std::thread::sleep(Duration::from_millis(5));
    s.write_checkpoint(REV, seqs[9], b"fourth").unwrap();
    let theirs = b.open(session).read_checkpoint(other).unwrap().unwrap();
    assert_eq!(theirs.bytes, b"other revision");
    // A revision without a checkpoint is given the newest other one (the engine names it and
    // replays the dumps instead): never nothing while the session holds one.
    let newest = b
        .open(session)
        .read_checkpoint("0000aaaa")
        .unwrap()
        .unwrap();
    assert_eq!(newest.bytes, b"fourth");
    // Setting one aside leaves the other.
    s.set_checkpoint_aside(&theirs.slot, "damaged (test)")
        .unwrap();
    let c = b.open(session).read_checkpoint(REV).unwrap().unwrap();
    assert_eq!(c.bytes, b"fourth");
    let fallback = b.open(session).read_checkpoint(other).unwrap().unwrap();
    assert_eq!(fallback.bytes, b"fourth", "its own was set aside");
}

/// `kill -9` of a process writing checkpoints, at different moments: the checkpoint read back
/// is always a whole one (the last acknowledged or the one being written), and the dumps are
/// untouched.
fn case_checkpoint_crash(b: &Backend, rounds: u64) {
    let session = "fold-crash";
    let mut s = b.open(session);
    s.append(&meta("r-0", "c", 0), &payload("c", 0)).unwrap();
    let mut acked = 0;
    for round in 0..rounds {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "store_checkpointer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STORE_CHECKPOINTER", "1")
        .env("STORE_SESSION", session)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        for (k, v) in b.env() {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l[l.find("ckpt ")? + 5..].trim().parse::<u64>().ok())
                .inspect(|n| {
                    let _ = tx.send(*n);
                })
                .max()
                .unwrap_or(0)
        });
        // Killed once it has written one, at a different moment of the next ones each round.
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledges a checkpoint");
        std::thread::sleep(Duration::from_millis((round * 173) % 400));
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let round_acked = reader.join().unwrap();
        if let Some(c) = b.open(session).read_checkpoint(REV).unwrap() {
            assert_eq!(
                c.bytes,
                checkpoint_bytes(c.upto),
                "checkpoint {} is whole",
                c.upto
            );
            // Each round starts again from 1: what it acknowledged is there, or one it wrote
            // after that.
            assert!(
                c.upto >= round_acked,
                "{} < acknowledged {round_acked}",
                c.upto
            );
        }
        acked = acked.max(round_acked);
    }
    assert!(
        acked > 0,
        "the writer acknowledged checkpoints before being killed"
    );
    let (dumps, _) = b.open(session).load().unwrap();
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].payload, payload("c", 0));
}

/// A stored dump that cannot be used is set aside: no later load, stream, catalog or follower
/// of the session reads it again, the store lists it, and the session stays readable.
fn case_quarantine(b: &Backend) {
    let session = "aside";
    let mut s = b.open(session);
    let stored: Vec<_> = (0..3)
        .map(|n| s.append(&meta("r-0", "w", n), &payload("w", n)).unwrap())
        .collect();
    assert!(s.quarantined().is_empty());
    let bad = &stored[1].location;
    let aside = s
        .quarantine(bad, "cannot decode (from http://admin:TOKEN@agent:7777)")
        .unwrap();
    drop(s);
    // Another handle (a later command) does not read it, and lists it.
    let s = b.open(session);
    assert_eq!(s.quarantined(), vec![aside.clone()]);
    let (place, _) = s.quarantine_place();
    assert!(
        aside.display().to_string().starts_with(&place),
        "{} is under {place}",
        aside.display()
    );
    let kept = [stored[0].seq, stored[2].seq];
    let (dumps, problems) = s.load().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(dumps.iter().map(|d| d.meta.seq).collect::<Vec<_>>(), kept);
    let streamed: Vec<u64> = s
        .stream_after(0)
        .unwrap()
        .map(|d| d.unwrap().meta.seq)
        .collect();
    assert_eq!(streamed, kept);
    let catalog: Vec<u64> = s.catalog().unwrap().iter().map(|m| m.seq).collect();
    assert_eq!(catalog, kept);
    assert_eq!(s.load_after(stored[0].seq).unwrap().0.len(), 1);
    // New dumps still go in after it.
    let mut s = s;
    let next = s.append(&meta("r-0", "w", 3), &payload("w", 3)).unwrap();
    assert!(next.new && next.seq > stored[2].seq);
    assert_eq!(b.open(session).load().unwrap().0.len(), 3);
}

fn suite(b: &Backend) {
    case_checkpoint(b);
    case_checkpoint_crash(b, 4);
    case_persist_order_restore(b);
    case_dedupe(b);
    case_sessions(b);
    case_concurrent_tasks(b);
    case_concurrent_processes(b);
    case_crash(b, 4);
    case_subscribe(b);
    case_quarantine(b);
}

#[test]
fn file_store_conforms() {
    let tmp = tempfile::tempdir().unwrap();
    suite(&Backend::File {
        root: tmp.path().to_path_buf(),
    });
}

fn pg_backend(cluster: &PgCluster, db: &str, dir: &Path) -> Backend {
    cluster.create_db(db);
    let password_file = dir.join("pgpassword");
    std::fs::write(&password_file, format!("{}\n", pg_support::PASSWORD)).unwrap();
    Backend::Pg {
        url: cluster.url(db),
        password_file,
    }
}

#[test]
fn postgres_store_conforms() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let b = pg_backend(&cluster, "conformance", tmp.path());
    suite(&b);
    // Content-addressed: one payload stored by several sessions and replicas is kept once.
    let Backend::Pg { url, password_file } = &b else {
        unreachable!()
    };
    let open = |name: &str| {
        PgStore::open(
            PgTarget::new(url, Some(password_file)).unwrap(),
            name,
            tmp.path(),
        )
        .unwrap()
    };
    let mut x = open("blobs-x");
    let before = x.blob_count().unwrap();
    let shared = payload("shared", 1);
    x.append(&meta("r-0", "x", 1), &shared).unwrap();
    x.append(&meta("r-1", "x", 1), &shared).unwrap();
    open("blobs-y")
        .append(&meta("r-0", "y", 1), &shared)
        .unwrap();
    assert_eq!(x.blob_count().unwrap(), before + 1);
    assert!(!cluster.log().contains(pg_support::PASSWORD));

    // The same session through the server's unix socket.
    let socket_url = format!(
        "postgres:///conformance?user={}&host={}&port={}",
        pg_support::USER,
        cluster.socket_dir().display(),
        cluster.port
    );
    let via_socket = PgStore::open(
        PgTarget::new(&socket_url, Some(password_file)).unwrap(),
        "blobs-x",
        tmp.path(),
    )
    .unwrap();
    assert_eq!(via_socket.load().unwrap().0.len(), 2);
}

/// PostgreSQL goes away: dumps are acknowledged from the local spool (durable, numbered 0),
/// uploaded in the order they were taken when it returns, and only an append neither can take
/// fails (so no reset follows it).
#[test]
fn postgres_unreachable_spools_and_uploads_in_order() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let Backend::Pg { url, password_file } = pg_backend(&cluster, "spool", tmp.path()) else {
        unreachable!()
    };
    let local = tmp.path().join("store/sessions/spooled");
    let open = || {
        PgStore::open(
            PgTarget::new(&url, Some(&password_file)).unwrap(),
            "spooled",
            &local,
        )
        .unwrap()
    };
    let mut s = open();
    for n in 0..2 {
        assert!(
            s.append(&meta("r-0", "w", n), &payload("w", n))
                .unwrap()
                .seq
                > 0
        );
    }
    assert!(s.health().is_none());
    // A follower of the session keeps following across the database's restart.
    let follower = open();
    let mut feed = follower.subscribe().unwrap();
    cluster.stop();
    for n in 2..5 {
        let p = s.append(&meta("r-0", "w", n), &payload("w", n)).unwrap();
        assert_eq!(p.seq, 0, "spooled, not numbered yet");
        assert!(p.location.starts_with(&local), "{}", p.location.display());
    }
    let health = s.health().expect("the store says it is unreachable");
    assert!(health.contains("spool"), "{health}");
    cluster.restart();
    // The next append uploads the spool first, in order.
    let last = s.append(&meta("r-0", "w", 5), &payload("w", 5)).unwrap();
    let uploaded = s.take_uploaded();
    assert_eq!(uploaded.len(), 3);
    assert!(uploaded.windows(2).all(|w| w[0] < w[1]) && last.seq > uploaded[2]);
    assert!(s.health().is_none());
    wait_announced(&mut feed, last.seq, "the follower, back after the restart,");
    let got = check_whole(&open());
    let order: Vec<u64> = got.keys().map(|(_, n)| *n).collect();
    assert_eq!(order, (0..6).collect::<Vec<_>>());
    let by_seq: Vec<u64> = {
        let mut v: Vec<(u64, u64)> = got.iter().map(|((_, n), seq)| (*seq, *n)).collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    };
    assert_eq!(
        by_seq,
        (0..6).collect::<Vec<_>>(),
        "uploaded in the order taken"
    );
    let spooled = std::fs::read_dir(local.join("spool/sessions/spooled"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".dump"))
        })
        .count();
    assert_eq!(spooled, 0, "the spool is empty once uploaded");

    // A spool left by a run that ended while the database was away is uploaded on open.
    cluster.stop();
    s.append(&meta("r-0", "w", 6), &payload("w", 6)).unwrap();
    drop(s);
    cluster.restart();
    let reopened = open();
    assert_eq!(check_whole(&reopened).len(), 7);

    // Neither the database nor the spool: the append fails (nothing is acknowledged).
    let mut s = reopened;
    cluster.stop();
    std::fs::remove_dir_all(&local).unwrap();
    std::fs::write(&local, b"not a folder").unwrap();
    let e = s
        .append(&meta("r-0", "w", 7), &payload("w", 7))
        .unwrap_err()
        .to_string();
    assert!(e.contains("spool") && e.contains("failed too"), "{e}");
    assert!(!e.contains(pg_support::PASSWORD));
}
