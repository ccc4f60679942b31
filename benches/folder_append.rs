//! Appends to a long folder session (issue #11): how many dumps a second the folder store takes
//! when the session already holds 1,000 / 10,000 / 100,000 raw dumps.
//!
//! Each size: a session folder is filled with that many dump files (one real dump, hard-linked
//! under the following numbers: fast, and the same folder an append sees after a long day
//! without compaction), the store is reopened (as a restart does) and takes one append (the
//! first one may look at the folder once), then `APPENDS` appends of distinct payloads through
//! [`DumpStore::append`] (what the engine calls for every poll) are timed: wall and on-CPU time
//! of the appending thread (the machine is shared), as appends a second; then the same with two
//! writers (two stores, as two processes would be) taking turns. Then `session list`
//! (metadata lines and file sizes) is timed against reading every dump (what it did before).
//! Nothing is asserted about time.
//!
//! Run: `TMPDIR=/dev/shm cargo bench --bench folder_append` (`SIZES=1000,10000,100000`,
//! `APPENDS=500`, `BLOCKS=150` blocks a profile: 1500 for the size of a real service's dump). On tmpfs the fsyncs cost nothing, so what is left is the store's own work.

#[path = "support/cpu.rs"]
mod cpu;

use covtop::session::{DumpMeta, DumpStore, PayloadKind, SessionCatalog, SessionStore};
use std::time::Instant;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn meta(n: u64) -> DumpMeta {
    DumpMeta::new(
        "svc",
        &format!("http://10.0.0.{}:7777", n % 8),
        Some(format!("pod-{}", n % 8)),
        1_700_000_000_000 + n * 1_000,
        "0123456789abcdef0123456789abcdef01234567",
        PayloadKind::GoProfile,
    )
}

fn payload(n: u64, blocks: u64) -> Vec<u8> {
    let mut p = b"mode: count\n".to_vec();
    for b in 0..blocks {
        p.extend_from_slice(format!("svc/f.go:{b}.1,{b}.9 1 {}\n", (n + b) % 97).as_bytes());
    }
    p
}

fn main() {
    let sizes: Vec<u64> = env("SIZES", "1000,10000,100000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let appends: u64 = env("APPENDS", "500").parse().unwrap_or(500);
    let blocks: u64 = env("BLOCKS", "150").parse().unwrap_or(150);
    for size in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SessionStore::open(tmp.path(), "default").unwrap();
        let seed = s.append(&meta(0), &payload(0, blocks)).unwrap().location;
        for n in 2..=size {
            std::fs::hard_link(&seed, s.dir().join(format!("{n:08}-svc-fill.dump"))).unwrap();
        }
        drop(s);
        let mut s = SessionStore::open(tmp.path(), "default").unwrap();
        s.append(&meta(size + 1), &payload(size + 1, blocks))
            .unwrap();
        let (wall, cpu) = (Instant::now(), cpu::thread_cpu());
        for n in 0..appends {
            let k = size + 2 + n;
            assert!(s.append(&meta(k), &payload(k, blocks)).unwrap().new);
        }
        let what = format!("folder append, session of {size} dumps");
        rate(&what, appends, wall.elapsed(), cpu::thread_cpu() - cpu);
        // Two writers taking turns on the session (two processes: a collector and a screen):
        // each append follows one of the other's.
        let mut other = SessionStore::open(tmp.path(), "default").unwrap();
        let base = size + 2 + appends;
        other.append(&meta(base), &payload(base, blocks)).unwrap();
        let (wall, cpu) = (Instant::now(), cpu::thread_cpu());
        for n in 1..=appends {
            let k = base + n;
            let w = if n % 2 == 0 { &mut other } else { &mut s };
            assert!(w.append(&meta(k), &payload(k, blocks)).unwrap().new);
        }
        let what = "  two writers taking turns";
        rate(what, appends, wall.elapsed(), cpu::thread_cpu() - cpu);
        // `session list` (metadata lines and sizes), against reading every dump (what it did).
        let catalog = SessionCatalog::new(tmp.path());
        let (wall, cpu) = (Instant::now(), cpu::thread_cpu());
        let listed = catalog.list("default").unwrap();
        let (list_wall, list_cpu) = (wall.elapsed(), cpu::thread_cpu() - cpu);
        let (wall, cpu) = (Instant::now(), cpu::thread_cpu());
        let loaded = s.load_all().unwrap().0.len();
        let (load_wall, load_cpu) = (wall.elapsed(), cpu::thread_cpu() - cpu);
        assert_eq!(listed[0].dumps, loaded);
        println!(
            "  session list {list_wall:.1?} wall, {list_cpu:.1?} on-CPU; reading every dump {load_wall:.1?} wall, {load_cpu:.1?} on-CPU"
        );
    }
}

/// Prints `appends` appends in `wall` (and `cpu` on-CPU) as appends a second.
fn rate(what: &str, appends: u64, wall: std::time::Duration, cpu: std::time::Duration) {
    println!(
        "{what}: {:.0} appends/s wall ({:.1?} each), {:.0} appends/s on-CPU ({:.1?} each)",
        appends as f64 / wall.as_secs_f64(),
        wall / appends as u32,
        appends as f64 / cpu.as_secs_f64(),
        cpu / appends as u32,
    );
}
