//! `covtop demo` end to end: the repository it creates, the replay servers as covtop's goc
//! clients see them, the engine's changed-line coverage over the replay (checked against a
//! computation made here from the recording itself), and that the recording really comes from
//! `go tool cover` instrumenting the demo's feature sources.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use covtop::agent::Payload;
use covtop::agent::goc_v1::GocV1Target;
use covtop::config::TargetKind;
use covtop::demo::Demo;
use covtop::engine::Engine;
use covtop::model::Counts;
use covtop::vcs::{DiffSpec, Repo};
use serde_json::Value;

const RECORDING: &str = "assets/demo/recording/session.json";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The recording as plain JSON, read from the repository (not through covtop's reader).
fn recording() -> Value {
    let text = std::fs::read_to_string(manifest().join(RECORDING)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn center_url(demo: &Demo) -> String {
    demo.config()
        .targets
        .iter()
        .find_map(|t| match &t.kind {
            TargetKind::GocV1 { url, .. } => Some(url.clone()),
            _ => None,
        })
        .expect("the demo has a goc v1 target")
}

/// Blocks with a count above zero, over every dump of a poll.
fn blocks_hit(poll: &covtop::agent::PollResult) -> usize {
    poll.dumps
        .iter()
        .map(|d| match &d.payload {
            Payload::GoProfile(b) => String::from_utf8_lossy(b)
                .lines()
                .skip(1)
                .filter(|l| !l.ends_with(" 0"))
                .count(),
            other => panic!("expected a Go profile, got {other:?}"),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_repository_config_and_v1_replicas() {
    let demo = Demo::start(50.0).await.unwrap();
    let config = demo.config();
    assert_eq!(config.repo.base, "main");
    assert_eq!(config.repo.path, demo.repo_path());
    assert!(config.poll.interval <= Duration::from_secs(2));
    assert!(
        config.source.as_ref().is_some_and(|p| p.exists()),
        "the configuration was written and loaded: {:?}",
        config.source
    );
    let temp_root = demo.repo_path().parent().unwrap();
    assert!(config.session.dir.starts_with(temp_root), "{config:?}");
    let kinds: BTreeSet<_> = config.targets.iter().map(|t| t.kind.name()).collect();
    assert!(kinds.contains("goc"), "{kinds:?}");

    // Two commits: base on main, feature on the checked-out branch `feature`.
    let git = git2::Repository::open(demo.repo_path()).unwrap();
    let head = git.head().unwrap();
    assert_eq!(head.name().unwrap(), "refs/heads/feature");
    let feature = head.peel_to_commit().unwrap();
    assert_eq!(feature.parent_count(), 1);
    let base = feature.parent(0).unwrap();
    assert_eq!(base.parent_count(), 0);
    let main = git.revparse_single("main").unwrap();
    assert_eq!(main.id(), base.id());

    let repo = Repo::open(demo.repo_path()).unwrap();
    let changed = repo.changed_lines(&DiffSpec::new("main", "HEAD")).unwrap();
    // The Java inventory service's changes are checked in tests/demo_java.rs.
    let files: Vec<_> = changed
        .files
        .keys()
        .filter(|f| f.ends_with(".go"))
        .cloned()
        .collect();
    assert_eq!(files, ["main.go", "orders/orders.go"]);
    assert_eq!(changed.file("main.go").unwrap().lines, [28]);
    let mut orders = vec![6, 17, 18, 19, 25, 28, 29];
    orders.extend(37..=63);
    assert_eq!(changed.file("orders/orders.go").unwrap().lines, orders);

    // The center lists the two v1 replicas of the service, and their coverage grows.
    let target = GocV1Target::new(
        &center_url(&demo),
        vec!["bookstore".into()],
        vec![],
        Duration::from_secs(3),
    )
    .unwrap();
    let list = target.list().await.unwrap();
    assert_eq!(list.get("bookstore").map(Vec::len), Some(2), "{list:?}");
    let first = target.poll().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.dumps.len(), 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = target.poll().await;
    assert!(second.failures.is_empty(), "{:?}", second.failures);
    assert!(
        blocks_hit(&second) > blocks_hit(&first),
        "coverage grows: {} -> {} blocks hit",
        blocks_hit(&first),
        blocks_hit(&second)
    );
}

/// Lines of `source` that hold code (not blank, not only a `//` comment).
fn code_lines(source: &str) -> Vec<bool> {
    source
        .lines()
        .map(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
        .collect()
}

/// Changed-line counts at the end of the recording, computed from the recording's last
/// capture of every replica (their counts summed; all of them, or all but `leave_out`) and the
/// feature sources: a line is covered when every block on it ran, missed when none did,
/// partial otherwise.
fn expected_final_counts(changed: &covtop::model::ChangedLines, leave_out: Option<&str>) -> Counts {
    let rec = recording();
    let module = rec["module"].as_str().unwrap();
    let captures = rec["captures"].as_array().unwrap();
    let replicas: Vec<&str> = rec["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .filter(|r| Some(*r) != leave_out)
        .collect();
    let mut total: Vec<u64> = Vec::new();
    for name in replicas {
        let last = captures
            .iter()
            .rev()
            .find(|c| c["replica"] == name)
            .unwrap();
        let counts: Vec<u64> = last["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        total.resize(counts.len(), 0);
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
    }
    // (file, line) -> (some block ran, some block did not)
    let mut lines: BTreeMap<(String, u32), (bool, bool)> = BTreeMap::new();
    let mut i = 0;
    for file in rec["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        let path = name
            .strip_prefix(&format!("{module}/"))
            .unwrap()
            .to_string();
        let source =
            std::fs::read_to_string(manifest().join("assets/demo/feature").join(&path)).unwrap();
        let code = code_lines(&source);
        for b in file["blocks"].as_array().unwrap() {
            let n: Vec<u32> = b
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let (start, end, end_col) = (n[0], n[2], n[3]);
            let last = if end_col <= 1 { end - 1 } else { end };
            for line in start..=last {
                if !code[line as usize - 1] {
                    continue;
                }
                let e = lines.entry((path.clone(), line)).or_default();
                if total[i] > 0 {
                    e.0 = true;
                } else {
                    e.1 = true;
                }
            }
            i += 1;
        }
    }
    let mut counts = Counts::default();
    for ((path, line), (ran, missed)) in lines {
        if !changed.contains(&path, line) {
            continue;
        }
        match (ran, missed) {
            (true, false) => counts.covered += 1,
            (false, true) => counts.missed += 1,
            _ => counts.partial += 1,
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_changed_coverage_grows_to_the_recorded_final_value() {
    // 20x: the 60 s session takes 3 s, slow enough for several polls on a loaded machine.
    let demo = Demo::start(20.0).await.unwrap();
    let mut engine = Engine::open(demo.config().clone()).unwrap();
    let expected = expected_final_counts(engine.changed(), None);
    assert!(expected.coverable() > 10, "{expected:?}");
    assert!(
        expected.missed > 0,
        "the tester never tries STAFF: {expected:?}"
    );
    // The canary, replayed through goc v2, covers lines no v1 replica does: the final value
    // below holds only if both kinds of target are polled and merged.
    let without_canary = expected_final_counts(engine.changed(), Some("canary"));
    assert!(
        without_canary.covered < expected.covered,
        "{without_canary:?}"
    );

    assert!(demo.progress() < 1.0);
    let mut seen: Vec<Counts> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = demo.finished();
        let polls = engine.poll(&[]).await.unwrap();
        for p in &polls {
            assert!(p.failures.is_empty(), "{}: {:?}", p.target, p.failures);
        }
        seen.push(go_changed(&engine.view()));
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let covered: Vec<u64> = seen.iter().map(|c| c.covered).collect();
    assert!(
        covered.windows(2).all(|w| w[0] <= w[1]),
        "changed-line coverage never goes down: {covered:?}"
    );
    let first = seen.first().unwrap();
    let last = seen.last().unwrap();
    eprintln!("changed lines covered per poll: {covered:?}; final {last:?}");
    assert!(
        first.percent(false) < last.percent(false),
        "coverage grew over the replay: {covered:?}"
    );
    assert!(
        covered.iter().collect::<BTreeSet<_>>().len() >= 3,
        "it grows in several steps: {covered:?}"
    );
    assert_eq!(*last, expected);
    assert_eq!(last.percent(false), expected.percent(false));

    assert_eq!(demo.progress(), 1.0);

    // Afterwards the coverage stays at its final state.
    tokio::time::sleep(Duration::from_millis(200)).await;
    engine.poll(&[]).await.unwrap();
    let view = engine.view();
    assert_eq!(go_changed(&view), expected);

    // Every file names the targets whose data holds it (what the screen's target filter
    // uses): Go files only goc targets, Java files only the JaCoCo one, files without data none.
    let kinds: Vec<&str> = view.targets.iter().map(|t| t.kind.as_str()).collect();
    let mut reporting = BTreeSet::new();
    let mut shared = 0;
    for f in &view.files {
        match &f.coverage {
            None => assert!(f.targets.is_empty(), "{}: {:?}", f.path, f.targets),
            Some(_) => {
                assert!(
                    !f.targets.is_empty(),
                    "{} has data from some target",
                    f.path
                );
                assert!(f.targets.is_sorted(), "{:?}", f.targets);
                for &t in f.targets.iter() {
                    let kind = kinds[t as usize];
                    let go = f.path.ends_with(".go");
                    assert_eq!(
                        kind.starts_with("goc"),
                        go,
                        "{} from a {kind} target",
                        f.path
                    );
                    reporting.insert(t);
                }
                shared += usize::from(f.targets.len() > 1);
            }
        }
    }
    let goc: BTreeSet<u16> = (0..kinds.len() as u16)
        .filter(|&i| kinds[i as usize].starts_with("goc"))
        .collect();
    assert!(goc.len() >= 2, "v1 replicas and the v2 canary: {kinds:?}");
    assert!(goc.is_subset(&reporting), "{reporting:?} of {kinds:?}");
    assert!(
        shared > 0,
        "the canary and the v1 replicas run the same files"
    );
}

/// Changed-line counts over the Go files (the Java service is checked in tests/demo_java.rs).
fn go_changed(view: &covtop::model::View) -> Counts {
    let mut c = Counts::default();
    for f in view.files.iter().filter(|f| f.path.ends_with(".go")) {
        c.covered += f.changed_counts.covered;
        c.missed += f.changed_counts.missed;
        c.partial += f.changed_counts.partial;
    }
    c
}

/// (file name, blocks as [start line, start col, end line, end col, statements]) in counter
/// order, read from what `go tool cover -mode=count` writes into an instrumented file.
fn instrumented_blocks(generated: &str, var: &str) -> Vec<[u64; 5]> {
    let decl = generated
        .split_once(&format!("var {var} = struct"))
        .map(|(_, d)| d)
        .expect("the cover variable's declaration");
    let section = |name: &str| -> Vec<Vec<u64>> {
        let body = decl.split_once(&format!("{name}: [")).unwrap().1;
        let body = body.split_once('{').unwrap().1;
        let body = body.split_once("},").unwrap().0;
        body.lines()
            .map(|l| l.split("//").next().unwrap().trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| match v.strip_prefix("0x") {
                        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
                        None => v.parse().unwrap(),
                    })
                    .collect()
            })
            .collect()
    };
    let pos = section("Pos");
    let stmts = section("NumStmt");
    assert_eq!(pos.len(), stmts.len());
    pos.iter()
        .zip(&stmts)
        .map(|(p, n)| [p[0], p[2] & 0xffff, p[1], p[2] >> 16, n[0]])
        .collect()
}

#[test]
fn recording_layout_is_what_go_tool_cover_instruments() {
    let rec = recording();
    assert_eq!(rec["mode"], "count");
    let module = rec["module"].as_str().unwrap();
    let recorded: Vec<(String, Vec<[u64; 5]>)> = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let blocks = f["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let v: Vec<u64> = b
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .collect();
                    [v[0], v[1], v[2], v[3], v[4]]
                })
                .collect();
            (f["name"].as_str().unwrap().to_string(), blocks)
        })
        .collect();
    // Every feature source is in the recording, and nothing else.
    let feature = manifest().join("assets/demo/feature");
    let mut sources = Vec::new();
    for dir in ["", "catalog", "orders"] {
        for e in std::fs::read_dir(feature.join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".go") && !name.ends_with("_test.go") {
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                sources.push(rel);
            }
        }
    }
    sources.sort();
    let mut names: Vec<String> = recorded
        .iter()
        .map(|(n, _)| n.strip_prefix(&format!("{module}/")).unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, sources);

    if !common::have_tool("go", "version") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    for (name, blocks) in &recorded {
        let rel = name.strip_prefix(&format!("{module}/")).unwrap();
        let out = scratch.path().join("instrumented.go");
        let status = Command::new("go")
            .args(["tool", "cover", "-mode=count", "-var", "GoCover_demo", "-o"])
            .arg(&out)
            .arg(feature.join(rel))
            .env("GOCACHE", scratch.path().join("gocache"))
            .env("GOPATH", scratch.path().join("gopath"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .status()
            .unwrap();
        assert!(status.success(), "go tool cover on {rel}");
        let generated = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            &instrumented_blocks(&generated, "GoCover_demo"),
            blocks,
            "blocks of {name} in counter order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_demo_stops_its_servers_and_removes_its_directory() {
    let demo = Demo::start(1.0).await.unwrap();
    let mut addresses: Vec<String> = demo
        .config()
        .targets
        .iter()
        .map(|t| match &t.kind {
            TargetKind::GocV1 { url, .. } | TargetKind::GocV2 { url, .. } => url.clone(),
            TargetKind::Jacoco { addresses, .. } => addresses.join(","),
        })
        .collect();
    assert_eq!(
        addresses.len(),
        3,
        "a goc v1 center, a goc v2 server and a JaCoCo agent"
    );
    let target =
        GocV1Target::new(&center_url(&demo), vec![], vec![], Duration::from_secs(3)).unwrap();
    addresses.extend(target.list().await.unwrap().into_values().flatten());
    assert_eq!(addresses.len(), 5);
    let root = demo.repo_path().parent().unwrap().to_path_buf();
    assert!(root.exists());
    assert!(!demo.finished(), "at real time the replay lasts a minute");

    drop(demo);
    assert!(!root.exists(), "{} removed", root.display());
    for url in addresses {
        let hostport = url.trim_start_matches("http://").trim_end_matches('/');
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(hostport).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{url} still listens after the demo was dropped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
