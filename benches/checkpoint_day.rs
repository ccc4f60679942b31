//! Checkpoints over long sessions (issue #11): what a session costs on disk and to restore.
//!
//! - `day`: a simulated 8-hour day at a 2 s interval of 4 replicas of a 1,500-block Go service
//!   (80 KB a profile), polled through the engine as the live screen does (an unchanged dump is
//!   not stored). Coverage grows in bursts: every 10 minutes each replica runs a feature for
//!   30 s (15 polls), 40 blocks a poll, some for the first time; all replicas are reset every
//!   hour. The background checkpointer looks every 3 polls (as its thread does every 5 s) and
//!   `session compact --keep-raw 1h` runs every hour. Prints the store's size against "a full
//!   dump every poll", and the time to restore and build the first View (end of the day, and
//!   with the longest tail a checkpointer leaves: `EVERY_DUMPS - 1` dumps after it).
//! - `long`: a session of 100,000 dumps (8 replicas of a 150-block service, counts growing,
//!   restarts and resets), folded into a checkpoint every 5,000 dumps (the folded raw dumps
//!   dropped), then 200 more: restore (checkpoint + tail) and first View. `TMPDIR=/dev/shm`
//!   saves the fsyncs of writing the session (the restore reads from the page cache either way).
//!
//! Wall times and the on-CPU time of the restoring thread (the machine is shared) are printed;
//! nothing is asserted about time.
//!
//! Run: `TMPDIR=/dev/shm cargo bench --bench checkpoint_day` (`PART=day|long`, `HOURS=8`,
//! `DUMPS=100000`; `FULL=1` keeps the raw dumps and times a full replay too, for a smaller
//! `DUMPS`).

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/service.rs"]
mod service;

use covtop::agent::{Payload, PollResult, ReplicaDump, ResetOutcome};
use covtop::engine::Engine;
use covtop::engine::checkpoint::{Checkpointer, EVERY_DUMPS};
use covtop::session::{DumpMeta, DumpStore, PayloadKind, SessionStore};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A generated service of `files` × 15 blocks in a repository with a feature branch, and a
/// configuration with one goc target; returns (configuration, store, profile's block lines).
fn service_session(dir: &Path, files: usize) -> (PathBuf, PathBuf, Vec<String>) {
    let repo = dir.join("repo");
    let profile = service::service_repo(&repo, files);
    service::commit_with_feature(&repo, |r| {
        let p = r.join("pkg3/file3.go");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, text.replace("return x * 2", "return x * 3")).unwrap();
    });
    let store = dir.join("store");
    let cfg = dir.join("covtop.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"svc\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n",
            repo.display(),
            store.display()
        ),
    )
    .unwrap();
    let blocks = profile
        .lines()
        .skip(1)
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect();
    (cfg, store, blocks)
}

fn profile_of(blocks: &[String], counts: &[u64]) -> Vec<u8> {
    let mut out = String::with_capacity(blocks.len() * 64);
    out.push_str("mode: count\n");
    for (b, c) in blocks.iter().zip(counts) {
        writeln!(out, "{b} {c}").unwrap();
    }
    out.into_bytes()
}

/// Opens the session and builds the first View `runs` times: (median wall, median on-CPU).
fn restore(cfg: &Path, runs: usize) -> (Duration, Duration) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu::thread_cpu());
        let mut engine = Engine::open(covtop::config::load(cfg).unwrap()).unwrap();
        let view = engine.view();
        assert!(view.totals.whole.coverable() > 0);
        wall.push(t.elapsed());
        cpu.push(cpu::thread_cpu() - c);
    }
    wall.sort();
    cpu.sort();
    (wall[runs / 2], cpu[runs / 2])
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Dumps after the checkpoint.
fn tail(store: &Path) -> usize {
    let s = SessionStore::open(store, "default").unwrap();
    let upto = s.checkpoint_upto();
    s.load_after(upto).unwrap().0.len()
}

fn day() {
    let hours = env("HOURS", 8);
    let tmp = tempfile::tempdir().unwrap();
    let (cfg_path, store, blocks) = service_session(tmp.path(), 100);
    let cfg = covtop::config::load(&cfg_path).unwrap();
    let mut engine = Engine::open(cfg.clone()).unwrap();
    let target = engine.target_index_of("svc").unwrap();
    let mut checkpointer = Checkpointer::open(&cfg).unwrap();
    const REPLICAS: usize = 4;
    let replicas: Vec<String> = (0..REPLICAS)
        .map(|r| format!("http://10.0.0.{r}:7777"))
        .collect();
    let mut counts = vec![vec![0u64; blocks.len()]; REPLICAS];
    let mut payloads: Vec<Vec<u8>> = counts.iter().map(|c| profile_of(&blocks, c)).collect();
    let polls = hours * 1800;
    let start = now_ms() - hours * 3_600_000;
    let (mut full, mut stored, mut stored_bytes) = (0u64, 0usize, 0u64);
    let (mut fold_cpu, mut poll_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let began = Instant::now();
    for p in 0..polls {
        let at = start + p * 2_000;
        for r in 0..REPLICAS {
            let phase = (p + r as u64 * 70) % 300;
            if phase < 15 {
                let feature = ((p + r as u64 * 70) / 300) as usize;
                for k in 0..40 {
                    let b = (feature * 37 + k * 7 + (rand() % 5) as usize) % blocks.len();
                    counts[r][b] += 1 + rand() % 3;
                }
                payloads[r] = profile_of(&blocks, &counts[r]);
            }
        }
        let dumps = (0..REPLICAS)
            .map(|r| ReplicaDump {
                replica: replicas[r].clone(),
                instance: Some(format!("pod-{r}")),
                extra: None,
                fetched_at: UNIX_EPOCH + Duration::from_millis(at),
                elapsed: Duration::from_millis(3),
                payload: Payload::GoProfile(payloads[r].clone()),
            })
            .collect();
        full += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        let c = cpu::thread_cpu();
        let polled = engine
            .apply_poll(
                target,
                PollResult {
                    dumps,
                    failures: Vec::new(),
                },
            )
            .unwrap();
        poll_cpu += cpu::thread_cpu() - c;
        let new = polled.stored.len() - polled.unchanged;
        stored += new;
        stored_bytes += new as u64 * payloads[0].len() as u64;
        if p % 1800 == 1799 {
            let outcomes: Vec<ResetOutcome> = replicas
                .iter()
                .map(|r| ResetOutcome {
                    replica: r.clone(),
                    result: Ok(()),
                })
                .collect();
            engine.record_resets(target, &outcomes).unwrap();
            for (r, c) in counts.iter_mut().enumerate() {
                c.fill(0);
                payloads[r] = profile_of(&blocks, c);
            }
        }
        let c = cpu::thread_cpu();
        if p % 3 == 0 {
            checkpointer.fold(false).unwrap();
        }
        if p % 1800 == 1799 {
            checkpointer.fold(true).unwrap();
            checkpointer.drop_raw(at.saturating_sub(3_600_000)).unwrap();
        }
        fold_cpu += cpu::thread_cpu() - c;
    }
    drop(engine);
    let session = SessionStore::open(&store, "default").unwrap();
    let size = session.size_with_blobs();
    println!(
        "day: {hours} h × 1,800 polls × {REPLICAS} replicas of {} blocks ({} KB a dump), simulated in {:.0?}",
        blocks.len(),
        payloads[0].len() / 1000,
        began.elapsed()
    );
    println!(
        "day: a full dump every poll = {}; dumps stored (unchanged ones not) = {stored} ({}, {:.2}%)",
        mib(full),
        mib(stored_bytes),
        stored_bytes as f64 * 100.0 / full as f64
    );
    let checkpoint_kib = session
        .read_checkpoint(&engine_revision(&cfg_path))
        .unwrap()
        .map_or(0, |c| c.bytes.len())
        / 1024;
    println!(
        "day: store after checkpoints + hourly `compact --keep-raw 1h` = {} ({:.3}% of a full dump every poll; checkpoint {checkpoint_kib} KiB)",
        mib(size),
        size as f64 * 100.0 / full as f64,
    );
    println!(
        "day: on-CPU: polls (persist, dedupe, apply) {poll_cpu:.1?}, checkpointer (fold + write + compact) {fold_cpu:.1?}"
    );
    let (wall, cpu) = restore(&cfg_path, 5);
    println!(
        "day: restore → first View at the end of the day ({} dumps after the checkpoint): wall {wall:.1?}, on-CPU {cpu:.1?}",
        tail(&store)
    );
    // The longest tail the background checkpointer leaves: one dump short of a fold.
    let mut session = SessionStore::open(&store, "default").unwrap();
    let upto = session.checkpoint_upto();
    let have = session.load_after(upto).unwrap().0.len() as u64;
    let end = start + polls * 2_000;
    for n in have..EVERY_DUMPS - 1 {
        let r = (n % REPLICAS as u64) as usize;
        counts[r][(n as usize * 13) % blocks.len()] += 1;
        let meta = DumpMeta::new(
            "svc",
            &replicas[r],
            Some(format!("pod-{r}")),
            end + n * 500,
            &engine_revision(&cfg_path),
            PayloadKind::GoProfile,
        );
        session
            .append(&meta, &profile_of(&blocks, &counts[r]))
            .unwrap();
    }
    let (wall, cpu) = restore(&cfg_path, 5);
    println!(
        "day: restore → first View with {} dumps after the checkpoint: wall {wall:.1?}, on-CPU {cpu:.1?}",
        tail(&store)
    );
}

fn engine_revision(cfg: &Path) -> String {
    let cfg = covtop::config::load(cfg).unwrap();
    let repo = covtop::vcs::Repo::open(&cfg.repo.path).unwrap();
    repo.resolve(&cfg.repo.revision).unwrap().oid
}

fn long() {
    let dumps = env("DUMPS", 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let (cfg_path, store, blocks) = service_session(tmp.path(), 10);
    let revision = engine_revision(&cfg_path);
    let mut session = SessionStore::open(&store, "default").unwrap();
    const REPLICAS: u64 = 8;
    let mut counts = vec![vec![0u64; blocks.len()]; REPLICAS as usize];
    let start = now_ms() - dumps * 1_000;
    let began = Instant::now();
    let write = |session: &mut SessionStore, counts: &mut Vec<Vec<u64>>, n: u64| {
        let r = (n % REPLICAS) as usize;
        let round = n / REPLICAS;
        counts[r][(round as usize * 7 + r) % blocks.len()] += 1 + round % 3;
        // Restarts (a new instance, counters from zero) and resets now and then.
        let restart = round / 997;
        if round.is_multiple_of(997) {
            counts[r].fill(0);
            counts[r][r] = 1;
        }
        let meta = DumpMeta::new(
            "svc",
            &format!("http://10.0.0.{r}:7777"),
            Some(format!("pod-{r}-{restart}")),
            start + n * 1_000,
            &revision,
            PayloadKind::GoProfile,
        );
        session
            .append(&meta, &profile_of(&blocks, &counts[r]))
            .unwrap();
        if round % 1_499 == 1_498 {
            session
                .append_reset(
                    "svc",
                    &meta.replica,
                    &revision,
                    PayloadKind::GoProfile,
                    start + n * 1_000 + 1,
                )
                .unwrap();
            counts[r].fill(0);
        }
    };
    // The session is folded every 5,000 dumps and the raw dumps folded are dropped (what the
    // background checkpointer and `session compact --keep-raw` do over a long session); the
    // cost of appends to a folder that keeps them all is `benches/folder_append.rs`.
    // FULL=1 keeps every raw dump, for the comparison with a full replay (a smaller DUMPS then).
    let full = env("FULL", 0) == 1;
    let cfg = covtop::config::load(&cfg_path).unwrap();
    let mut checkpointer = Checkpointer::open(&cfg).unwrap();
    let (mut fold_wall, mut fold_cpu, mut folded, mut bytes) =
        (Duration::ZERO, Duration::ZERO, 0, 0);
    for n in 0..dumps {
        write(&mut session, &mut counts, n);
        if n % 5_000 == 4_999 || n + 1 == dumps {
            let (t, c) = (Instant::now(), cpu::thread_cpu());
            let done = checkpointer.fold(true).unwrap();
            if !full {
                checkpointer.drop_raw(u64::MAX).unwrap();
            }
            fold_wall += t.elapsed();
            fold_cpu += cpu::thread_cpu() - c;
            folded += done.read;
            bytes = done.bytes;
        }
    }
    println!(
        "long: {dumps} dumps of {} blocks ({} B each) written in {:.0?}",
        blocks.len(),
        profile_of(&blocks, &counts[0]).len(),
        began.elapsed()
    );
    println!(
        "long: folded {folded} stored dumps (reset markers included) into a checkpoint of {} KiB: \
         wall {fold_wall:.1?}, on-CPU {fold_cpu:.1?} in all (the background thread's work)",
        bytes / 1024
    );
    for n in dumps..dumps + 200 {
        write(&mut session, &mut counts, n);
    }
    let (wall, cpu) = restore(&cfg_path, 5);
    println!(
        "long: restore → first View (checkpoint + {} dumps after it): wall {wall:.1?}, on-CPU {cpu:.1?}",
        tail(&store)
    );
    if full {
        std::fs::remove_file(store.join("sessions/default/checkpoint")).unwrap();
        let (wall, cpu) = restore(&cfg_path, 1);
        println!(
            "long: the same by a full replay of every dump: wall {wall:.1?}, on-CPU {cpu:.1?}"
        );
    }
}

fn main() {
    let part = std::env::var("PART").unwrap_or_default();
    if part.is_empty() || part == "day" {
        day();
    }
    if part.is_empty() || part == "long" {
        long();
    }
}
