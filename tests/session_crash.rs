//! `kill -9` at any moment never leaves a half dump visible and never loses an acknowledged one.
//!
//! The writer is this test binary itself, re-run as a child with `CRASH_WRITER_DIR` set: it
//! persists dumps as fast as it can (sizes up to 256 KiB, so kills land inside writes too) and
//! prints `ack SEQ PATH` after each `persist` returns. The parent kills it with SIGKILL at
//! random moments, 30 times, and after each kill loads the session.

use covtop::session::{DumpMeta, PayloadKind, ProblemKind, SessionStore};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DIR_VAR: &str = "CRASH_WRITER_DIR";

/// The payload of dump number `n` of a writer run: its own number in the first line, then a
/// filler whose length and bytes depend on `n`, so any mix-up or tear is detectable.
fn payload(run: u64, n: u64) -> Vec<u8> {
    let mut p = format!("mode: count\n# run {run} dump {n}\n").into_bytes();
    let len = ((n * 7919 + run * 104_729) % (256 << 10)) as usize;
    p.extend((0..len).map(|i| b'a' + ((i as u64 + n) % 26) as u8));
    p
}

/// The child: not a test of its own (returns at once without the variable).
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let run: u64 = std::env::var("CRASH_WRITER_RUN").unwrap().parse().unwrap();
    let mut store = SessionStore::open(Path::new(&dir), "crash").unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let meta = DumpMeta::new(
            "shop",
            &format!("replica-{}", n % 3),
            Some(format!("run-{run}")),
            n,
            "abc",
            PayloadKind::GoProfile,
        );
        let path = store.persist(&meta, &payload(run, n)).unwrap();
        writeln!(out, "ack {run} {n} {}", path.display()).unwrap();
        out.flush().unwrap();
    }
}

/// A small xorshift generator seeded from the clock: kill times differ between runs.
struct Jitter(u64);
impl Jitter {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn kill_9_never_shows_a_half_dump_nor_loses_an_acknowledged_one() {
    if std::env::var(DIR_VAR).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut jitter = Jitter(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    // (run, n) -> path of every acknowledged dump.
    let mut acked: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    let mut unfinished_seen = 0;
    let rounds = 30;
    for run in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, tmp.path())
            .env("CRASH_WRITER_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest's "test crash_writer_child ... " has no newline: the first ack
                // follows it on the same line.
                let Some(at) = line.find("ack ") else {
                    continue;
                };
                let mut parts = line[at..].splitn(4, ' ');
                if parts.next() != Some("ack") {
                    continue;
                }
                let run: u64 = parts.next().unwrap().parse().unwrap();
                let n: u64 = parts.next().unwrap().parse().unwrap();
                acks.push(((run, n), PathBuf::from(parts.next().unwrap())));
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(20 + jitter.next(150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        acked.extend(acks);

        let store = SessionStore::open(tmp.path(), "crash").unwrap();
        let (dumps, problems) = store.load_all().unwrap();
        for p in &problems {
            assert_eq!(
                p.kind,
                ProblemKind::UnfinishedWrite,
                "round {run}: a visible dump is damaged: {p:?}"
            );
        }
        // Each killed writer leaves at most the one temporary file it was writing.
        assert!(problems.len() <= run as usize + 1, "{problems:?}");
        unfinished_seen += problems.len();
        // Every dump visible is whole (load_all checked length and CRC) and is the dump its
        // metadata says it is.
        let mut by_id = BTreeMap::new();
        // No number is handed out twice, whenever the writers before were killed (holding the
        // session's lock or not), and each file is named by the number it holds.
        let mut seqs = std::collections::BTreeSet::new();
        for d in &dumps {
            let name = d.path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                name.split('-').next().unwrap().parse::<u64>().unwrap(),
                d.meta.seq,
                "round {run}: {name}"
            );
            assert!(
                seqs.insert(d.meta.seq),
                "round {run}: number {} taken twice",
                d.meta.seq
            );
        }
        for d in &dumps {
            let r: u64 = d.meta.instance.as_deref().unwrap()[4..].parse().unwrap();
            let n = d.meta.fetched_at_ms;
            assert_eq!(
                d.payload,
                payload(r, n),
                "round {run}: {} holds another dump's bytes",
                d.path.display()
            );
            assert!(
                by_id.insert((r, n), d.path.clone()).is_none(),
                "round {run}: dump ({r}, {n}) stored twice"
            );
        }
        // Every acknowledged dump is there, at the path persist returned.
        for (id, path) in &acked {
            assert_eq!(
                by_id.get(id),
                Some(path),
                "round {run}: acknowledged {id:?} lost"
            );
        }
        // At most the one dump being acknowledged when the kill came is extra.
        assert!(
            dumps.len() <= acked.len() + run as usize + 1,
            "round {run}: {} dumps but {} acknowledged",
            dumps.len(),
            acked.len()
        );
    }
    assert!(
        acked.len() >= rounds as usize,
        "the writer acknowledged only {} dumps in {rounds} runs: the kills came too early to test anything",
        acked.len()
    );
    // Unfinished writes are cleaned up (at open once a minute old; here at once).
    let store = SessionStore::open(tmp.path(), "crash").unwrap();
    store.remove_unfinished_writes(Duration::ZERO);
    let (dumps, problems) = store.load_all().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(dumps.len() >= acked.len());
    eprintln!(
        "{} dumps acknowledged over {rounds} kills; {unfinished_seen} unfinished writes seen and ignored",
        acked.len()
    );
}
