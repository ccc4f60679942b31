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

const DUMPS: u64 = 1000;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git {args:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Commits everything on `main`, then `edit` on branch `feature`.
fn commit_with_feature(repo: &Path, edit: impl FnOnce(&Path)) {
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    git(repo, &["checkout", "-qb", "feature"]);
    edit(repo);
    git(repo, &["commit", "-qam", "feature"]);
}

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

/// A generated module: `files` files of 15 functions of 4 lines, and its profile.
fn service_repo(repo: &Path, files: usize) -> String {
    std::fs::create_dir_all(repo).unwrap();
    std::fs::write(repo.join("go.mod"), "module example.com/svc\n\ngo 1.19\n").unwrap();
    let mut profile = String::from("mode: count\n");
    for f in 0..files {
        let dir = repo.join(format!("pkg{}", f % 10));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = format!("package pkg{}\n\n", f % 10);
        for b in 0..15 {
            let start = 3 + b * 5;
            let head = format!("func F{f}_{b}(x int) int {{");
            writeln!(src, "{head}\n\tx += {b}\n\treturn x * 2\n}}\n").unwrap();
            // The body's block starts at its `{` and ends after `return x * 2`, as `go tool
            // cover` cuts it (so the layout fits the source).
            writeln!(
                profile,
                "example.com/svc/pkg{}/file{f}.go:{start}.{},{}.14 2 1",
                f % 10,
                head.len(),
                start + 2
            )
            .unwrap();
        }
        std::fs::write(dir.join(format!("file{f}.go")), src).unwrap();
    }
    profile
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
