//! One poll of one target in a session of 10 targets over 10,000 files: what the engine does
//! between a target's answer and the next View the screen draws — persist the dump
//! (`Engine::apply_poll`: write, fsync, decode, accumulate) and build the View
//! (`Engine::view`: projection, changed lines, totals). The frame itself is measured by the
//! `tui_frame` bench (a new View of 10,000 files → frame).
//!
//! Setup: a generated Go module of 10,000 files (3 functions each) in a real git repository
//! whose feature branch edits 100 of them; 10 goc targets, each covering 1,000 files; every
//! target has one stored dump before timing starts. Each iteration feeds the next target a new
//! dump (counts grown) and builds the View, like the live engine does.
//!
//! Run: `cargo bench --bench poll_redraw` (prints p50/p99 of 200 polls after criterion's mean).

#[path = "support/cpu.rs"]
mod cpu;
use cpu::thread_cpu;
#[path = "support/service.rs"]
mod service;
use service::git;

use covtop::agent::{Payload, PollResult, ReplicaDump};
use covtop::config;
use covtop::engine::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const FILES: usize = 10_000;
const TARGETS: usize = 10;

fn source(f: usize, edited: bool) -> String {
    let mut src = format!("package pkg{}\n\n", f % 100);
    for b in 0..3 {
        let extra = if edited && b == 1 { "\tx--\n" } else { "" };
        writeln!(
            src,
            "func F{f}_{b}(x int) int {{\n\tx += {b}\n{extra}\treturn x * 2\n}}\n"
        )
        .unwrap();
    }
    src
}

/// The profile of the files of `target`, with counts that grow with `round`.
fn profile(repo: &Path, target: usize, round: u64) -> Vec<u8> {
    let mut out = String::from("mode: count\n");
    for f in (target * FILES / TARGETS)..((target + 1) * FILES / TARGETS) {
        let text = std::fs::read_to_string(repo.join(format!("pkg{}/file{f}.go", f % 100)))
            .expect("generated file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("func ") {
                // From the body's `{` to the end of its `return` line.
                let ret = (i + 1..lines.len())
                    .find(|&j| lines[j].starts_with("\treturn"))
                    .unwrap();
                let stmts = ret - i;
                let count = if (f + i) % 3 == 0 { 0 } else { round + 1 };
                writeln!(
                    out,
                    "example.com/svc/pkg{}/file{f}.go:{}.{},{}.{} {stmts} {count}",
                    f % 100,
                    i + 1,
                    l.len(),
                    ret + 1,
                    lines[ret].len() + 1
                )
                .unwrap();
            }
        }
    }
    out.into_bytes()
}

fn poll(repo: &Path, target: usize, round: u64) -> PollResult {
    PollResult {
        dumps: vec![ReplicaDump {
            replica: format!("http://10.0.{target}.1:7777"),
            instance: None,
            extra: None,
            fetched_at: SystemTime::now(),
            elapsed: Duration::from_millis(2),
            payload: Payload::GoProfile(profile(repo, target, round)),
        }],
        failures: Vec::new(),
    }
}

fn poll_redraw(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("go.mod"), "module example.com/svc\n\ngo 1.19\n").unwrap();
    for f in 0..FILES {
        let dir = repo.join(format!("pkg{}", f % 100));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("file{f}.go")), source(f, false)).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    git(&repo, &["checkout", "-qb", "feature"]);
    for f in (0..FILES).step_by(FILES / 100) {
        let p = repo.join(format!("pkg{}/file{f}.go", f % 100));
        std::fs::write(p, source(f, true)).unwrap();
    }
    git(&repo, &["commit", "-qam", "feature"]);

    let mut cfg = format!(
        "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n",
        repo.display(),
        tmp.path().join("store").display()
    );
    for t in 0..TARGETS {
        write!(
            cfg,
            "[[target]]\nname = \"svc{t}\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n"
        )
        .unwrap();
    }
    let cfg_path = tmp.path().join("covtop.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut engine = Engine::open(config::load(&cfg_path).unwrap()).unwrap();
    for t in 0..TARGETS {
        engine.apply_poll(t, poll(&repo, t, 0)).unwrap();
    }
    let first = engine.view();
    assert_eq!(first.files.len(), FILES, "every file has coverage");
    assert!(first.totals.changed.coverable() > 0);
    assert!(
        first.diagnostics.is_empty(),
        "the generated builds fit their sources: {:?}",
        first.diagnostics.first()
    );

    // Payloads are generated outside the timing.
    let mut round = 1u64;
    let next = |round: u64| poll(&repo, (round as usize) % TARGETS, round);
    let mut samples = Vec::new();
    let mut applies = Vec::new();
    let mut on_cpu = Vec::new();
    let mut apply_cpu = Vec::new();
    for _ in 0..200 {
        let p = next(round);
        let t = (round as usize) % TARGETS;
        let started = Instant::now();
        let cpu = thread_cpu();
        engine.apply_poll(t, p).unwrap();
        applies.push(started.elapsed());
        apply_cpu.push(thread_cpu() - cpu);
        let v = engine.view();
        samples.push(started.elapsed());
        on_cpu.push(thread_cpu() - cpu);
        assert!(v.totals.whole.coverable() > 0);
        round += 1;
    }
    samples.sort();
    applies.sort();
    on_cpu.sort();
    apply_cpu.sort();
    let apply_cpu_at = |q: f64| apply_cpu[((apply_cpu.len() - 1) as f64 * q).round() as usize];
    let cpu_at = |q: f64| on_cpu[((on_cpu.len() - 1) as f64 * q).round() as usize];
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let apply_at = |q: f64| applies[((applies.len() - 1) as f64 * q).round() as usize];
    println!(
        "poll_redraw: one target's poll → View, {TARGETS} targets × {} files: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        FILES / TARGETS,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "poll_redraw: of which persist + decode + accumulate (apply_poll): p50 {:.1} ms, p99 {:.1} ms",
        apply_at(0.5).as_secs_f64() * 1e3,
        apply_at(0.99).as_secs_f64() * 1e3,
    );
    println!(
        "poll_redraw: on-CPU (this thread, not counting waits for the disk or other processes): p50 {:.1} ms, p99 {:.1} ms",
        cpu_at(0.5).as_secs_f64() * 1e3,
        cpu_at(0.99).as_secs_f64() * 1e3,
    );
    println!(
        "poll_redraw: on-CPU of apply_poll alone: p50 {:.1} ms, p99 {:.1} ms",
        apply_cpu_at(0.5).as_secs_f64() * 1e3,
        apply_cpu_at(0.99).as_secs_f64() * 1e3,
    );

    let mut g = c.benchmark_group("poll_redraw");
    g.sample_size(20);
    g.bench_function("one_target_poll_then_view_10_targets_10000_files", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = next(round);
                let t = (round as usize) % TARGETS;
                let started = Instant::now();
                engine.apply_poll(t, p).unwrap();
                let _ = engine.view();
                total += started.elapsed();
                round += 1;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, poll_redraw);
criterion_main!(benches);
