//! Hostile inputs against the real `covtop` binary, with its peak memory measured: a small
//! hostile dump stored in a session, or a hostile jar configured, must leave covtop under
//! 256 MiB above what the same command takes on benign input, and the session must stay
//! readable. Peak memory is the child's `ru_maxrss` from `wait4` (memory, not timing: asserted).

mod common;

use covtop::session::{DumpMeta, PayloadKind, SessionStore};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the budget allows above the benign run.
const BUDGET_KIB: i64 = 256 * 1024;

struct Measured {
    code: Option<i32>,
    out: String,
    peak_kib: i64,
}

/// Runs covtop in `dir` and waits for it with `wait4`, which gives this child's own peak RSS
/// (other tests' children, running in parallel, do not count).
fn run_measured(dir: &Path, args: &[&str]) -> Measured {
    let logs = tempfile::tempdir().unwrap();
    let (o, e) = (logs.path().join("out"), logs.path().join("err"));
    let child = Command::new(env!("CARGO_BIN_EXE_covtop"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("covtop runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 only writes into the two locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet waited for (Child::wait is never called).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted,
            "wait4 failed"
        );
    }
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let out = format!(
        "{}{}",
        std::fs::read_to_string(&o).unwrap_or_default(),
        std::fs::read_to_string(&e).unwrap_or_default()
    );
    Measured {
        code,
        out,
        peak_kib: usage.ru_maxrss,
    }
}

/// A sample repository with a goc target (never polled: every command here is offline) and
/// its session store.
struct Setup {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    store: PathBuf,
    head: String,
}

fn setup() -> Option<Setup> {
    if !common::have_tool("git", "--version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let store = tmp.path().join("store");
    common::write_goc_config_in_repo(&repo, &store, "http://127.0.0.1:1");
    let head = common::rev_parse(&repo, "HEAD");
    Some(Setup {
        _tmp: tmp,
        repo,
        store,
        head,
    })
}

impl Setup {
    fn store_dump(&self, kind: PayloadKind, payload: &[u8]) -> PathBuf {
        let mut s = SessionStore::open(&self.store, "default").unwrap();
        let meta = DumpMeta::new("shop", "http://127.0.0.1:1", None, 1, &self.head, kind);
        s.persist(&meta, payload).unwrap()
    }
}

const BENIGN: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 3\n\
example.com/shop/cart/cart.go:25.19,27.2 1 2\n";

/// The peak of `report --offline` on a session holding one benign dump.
fn benign_peak() -> i64 {
    let s = setup().unwrap();
    s.store_dump(PayloadKind::GoProfile, BENIGN.as_bytes());
    let m = run_measured(&s.repo, &["report", "--offline", "--format", "json"]);
    assert_eq!(m.code, Some(0), "{}", m.out);
    m.peak_kib
}

fn assert_within_budget(hostile: &Measured, benign: i64, what: &str) {
    let above = hostile.peak_kib - benign;
    eprintln!(
        "{what}: peak {} KiB, benign {benign} KiB, {above} KiB above",
        hostile.peak_kib
    );
    assert!(
        above < BUDGET_KIB,
        "{what}: {} KiB peak is {above} KiB above the benign {benign} KiB",
        hostile.peak_kib
    );
}

/// The goc profile of the issue: 93 KB of blocks in files outside the repository, each block
/// claiming lines 1 to 4 billion. Projection pushed one column span per line per block: `dump`
/// aborted allocating 5 GB, and every later `report --offline` aborted the same way.
#[test]
fn a_goc_profile_of_huge_blocks_is_projected_within_the_budget() {
    let Some(s) = setup() else { return };
    let mut profile = String::from("mode: count\n");
    let mut i = 0;
    while profile.len() < 93_000 {
        profile.push_str(&format!(
            "example.com/shop/gen/g{}.go:1.{},4000000000.2 1 {}\n",
            i % 40,
            1 + i / 40,
            i % 3
        ));
        i += 1;
    }
    s.store_dump(PayloadKind::GoProfile, profile.as_bytes());
    let benign = benign_peak();
    for round in 0..2 {
        let m = run_measured(&s.repo, &["report", "--offline", "--format", "json"]);
        assert_eq!(m.code, Some(0), "round {round}: {}", m.out);
        assert_within_budget(&m, benign, "goc profile of huge blocks");
    }
}
