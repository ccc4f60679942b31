//! Restoring a session of 1,000 stored dumps and building the first View (what a restarted
//! covtop does before its first screen): `Engine::open` (repository, changed lines, replay of
//! every dump) + `Engine::view`.
//!
//! - `sample`: the Go sample service (tests/fixtures/gosample) with its real `go test
//!   -covermode=count` profile, 2 targets × 4 replicas, counts growing dump after dump, a
//!   restart (new instance) every 50 dumps and a reset marker every 100.
//! - `service`: the same shape on a generated module of 100 files × 15 blocks (1,500 blocks per
//!   dump, 80 KB), closer to a real service.
//!
//! Run: `cargo bench --bench session_restore -- --warm-up-time 1 --measurement-time 3`

use covtop::config;
use covtop::engine::Engine;
use covtop::session::{DumpMeta, DumpStore, PayloadKind, SessionStore};
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/service.rs"]
mod service;
use service::{commit_with_feature, copy_dir, service_repo};

const DUMPS: u64 = 1000;

/// The sample's real profile from `go test -covermode=count`.
fn sample_profile(repo: &Path, work: &Path) -> String {
    let out = work.join("unit.cov");
    let ok = Command::new("go")
        .args(["test", "-covermode=count"])
        .arg(format!("-coverprofile={}", out.display()))
        .arg("./...")
        .current_dir(repo)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", work.join("gopath"))
        .env("GOCACHE", work.join("gocache"))
        .env("GOTOOLCHAIN", "local")
        .status()
        .expect("go runs (the bench uses the sample's real profile)")
        .success();
    assert!(ok, "go test failed");
    std::fs::read_to_string(out).unwrap()
}

/// `profile` with every count set from (dump, block): counts grow within an epoch.
fn with_counts(profile: &str, dump: u64) -> Vec<u8> {
    let mut out = String::with_capacity(profile.len() + 1024);
    for (i, line) in profile.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else if let Some((block, _)) = line.rsplit_once(' ') {
            let epoch_dump = dump % 50;
            let count = if (i as u64 + dump).is_multiple_of(3) {
                0
            } else {
                epoch_dump + i as u64 % 7
            };
            write!(out, "{block} {count}").unwrap();
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Writes a configuration and 1,000 dumps; returns the configuration file.
fn fill_session(work: &Path, repo: &Path, profile: &str) -> PathBuf {
    let store_dir = work.join("store");
    let cfg = work.join("covtop.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"api\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n\
             [[target]]\nname = \"worker\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n",
            repo.display(),
            store_dir.display()
        ),
    )
    .unwrap();
    let revision = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut store = SessionStore::open(&store_dir, "default").unwrap();
    for n in 0..DUMPS {
        let target = if n % 2 == 0 { "api" } else { "worker" };
        let replica = format!("http://10.0.0.{}:7777", n % 4);
        let meta = DumpMeta::new(
            target,
            &replica,
            Some(format!("instance-{}", n / 50)),
            1_700_000_000_000 + n * 60_000,
            revision.trim(),
            PayloadKind::GoProfile,
        );
        store.persist(&meta, &with_counts(profile, n)).unwrap();
        if n % 100 == 99 {
            store
                .append_reset(
                    target,
                    &replica,
                    revision.trim(),
                    PayloadKind::GoProfile,
                    1_700_000_000_000 + n * 60_000 + 1,
                )
                .unwrap();
        }
    }
    cfg
}

fn restore(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("session_restore");
    g.sample_size(10);

    let sample = tmp.path().join("sample");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gosample");
    copy_dir(&src, &sample.join("repo"));
    let repo = sample.join("repo");
    commit_with_feature(&repo, |r| {
        let p = r.join("cart/cart.go");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, text.replacen("\treturn", "\t// feature\n\treturn", 2)).unwrap();
    });
    let profile = sample_profile(&repo, &sample);
    let cfg = fill_session(&sample, &repo, &profile);
    g.bench_function("sample_1000_dumps_open_and_first_view", |b| {
        b.iter(|| {
            let mut engine = Engine::open(config::load(&cfg).unwrap()).unwrap();
            let view = engine.view();
            assert!(view.totals.whole.coverable() > 0);
            view
        })
    });

    let service = tmp.path().join("service");
    let repo = service.join("repo");
    let profile = service_repo(&repo, 100);
    commit_with_feature(&repo, |r| {
        let p = r.join("pkg3/file3.go");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, text.replace("return x * 2", "return x * 3")).unwrap();
    });
    let cfg = fill_session(&service, &repo, &profile);
    g.bench_function(
        "service_1000_dumps_of_1500_blocks_open_and_first_view",
        |b| {
            b.iter(|| {
                let mut engine = Engine::open(config::load(&cfg).unwrap()).unwrap();
                let view = engine.view();
                assert!(view.totals.changed.coverable() > 0);
                view
            })
        },
    );
    g.finish();
}

criterion_group!(benches, restore);
criterion_main!(benches);
