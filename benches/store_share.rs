//! The shared PostgreSQL store under a team's load: W collectors append dumps to one session
//! while F screens follow it (LISTEN/NOTIFY). Measures how long a dump takes from the start of its
//! append to its announcement at every follower (p50, p99, max), and the appends per second the
//! store sustains. Real PostgreSQL: a throwaway cluster (tests/pg_support), removed at the end.
//!
//! `cargo bench --bench store_share` (WRITERS, FOLLOWERS, DUMPS per writer, PAYLOAD bytes from the
//! environment; defaults 10, 10, 200, 4096).

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use covtop::session::postgres::{PgStore, PgTarget};
use covtop::session::{DumpMeta, DumpStore, PayloadKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs benches with --bench absent: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let writers = env("WRITERS", 10);
    let followers = env("FOLLOWERS", 10);
    let dumps = env("DUMPS", 200);
    let size = env("PAYLOAD", 4096);
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    cluster.create_db("bench");
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, pg_support::PASSWORD).unwrap();
    let url = cluster.url("bench");
    let open = |i: usize| {
        PgStore::open(
            PgTarget::new(&url, Some(&pw)).unwrap(),
            "team",
            &tmp.path().join(format!("local-{i}")),
        )
        .unwrap()
    };

    // When each dump's append started, by its sequence number.
    let started: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    // When each follower heard of each sequence number.
    let heard: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let total = (writers * dumps) as u64;
    let mut follow_threads = Vec::new();
    let follower_stores: Vec<PgStore> = (0..followers).map(|i| open(1000 + i)).collect();
    for store in &follower_stores {
        let mut feed = store.subscribe().unwrap();
        let heard = heard.clone();
        follow_threads.push(std::thread::spawn(move || {
            let mut seen = 0;
            while seen < total {
                match feed.blocking_recv() {
                    Some(seq) => {
                        heard.lock().unwrap().push((seq, Instant::now()));
                        seen += 1;
                    }
                    None => return,
                }
            }
        }));
    }
    let cpu_before = (pg_support::cpu_time("self", false), cluster.server_cpu());
    let wall = Instant::now();
    let write_threads: Vec<_> = (0..writers)
        .map(|w| {
            let mut store = open(w);
            let started = started.clone();
            std::thread::spawn(move || {
                for n in 0..dumps {
                    let meta = DumpMeta::new(
                        "shop",
                        &format!("replica-{w}"),
                        Some(format!("writer-{w}")),
                        n as u64,
                        "abc",
                        PayloadKind::GoProfile,
                    );
                    let mut payload = format!("mode: count\n# {w} {n}\n").into_bytes();
                    payload.resize(size.max(payload.len()), b'x');
                    let at = Instant::now();
                    let p = store.append(&meta, &payload).unwrap();
                    started.lock().unwrap().insert(p.seq, at);
                }
            })
        })
        .collect();
    for t in write_threads {
        t.join().unwrap();
    }
    let writing = wall.elapsed();
    // Followers finish when they heard every dump (or give up after a while).
    let deadline = Instant::now() + Duration::from_secs(60);
    while heard.lock().unwrap().len() < (total as usize) * followers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = started.lock().unwrap();
    let mut latencies: Vec<Duration> = heard
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(seq, at)| Some(at.saturating_duration_since(*started.get(seq)?)))
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "{writers} writers × {dumps} dumps of {size} B, {followers} followers: \
         {:.0} appends/s ({} in {:.2} s); append start → announced at a follower ({} announcements of {}): \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total as f64 / writing.as_secs_f64(),
        total,
        writing.as_secs_f64(),
        latencies.len(),
        total as usize * followers,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    drop(follower_stores);
    // The backends of the closed connections end and are counted by the server.
    std::thread::sleep(Duration::from_millis(500));
    if let (Some(a), (Some(b), Some(c)), Some(d)) = (
        pg_support::cpu_time("self", false),
        cpu_before,
        cluster.server_cpu(),
    ) {
        println!(
            "CPU per append (whatever else runs): covtop {:.0} µs, PostgreSQL {:.0} µs",
            (a - b).as_secs_f64() * 1e6 / total as f64,
            (d - c).as_secs_f64() * 1e6 / total as f64,
        );
    }
}
