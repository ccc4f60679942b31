//! End to end: the `covtop` binary against goc test servers serving real Go profiles, on a real
//! git repository with a base branch and a feature branch.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use serde_json::Value;
use std::process::{Command, Output};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Hits, in `profile`, every block of `file` that starts on one of `lines`.
fn hit_blocks(profile: &SharedProfile, file: &str, lines: &[u32]) {
    let mut p = profile.lock();
    let idx: Vec<usize> = p
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.file == file && lines.contains(&b.start_line))
        .map(|(i, _)| i)
        .collect();
    assert!(!idx.is_empty(), "no block of {file} starts on {lines:?}");
    for i in idx {
        p.hit(i, 1);
    }
}

fn line_no(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not found")) as u32
        + 1
}

fn file_row<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in report: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_against_goc_center_with_replicas_on_a_real_repository() {
    if !common::have_tool("go", "version") || !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let profile_text = common::go_test_profile(&repo, tmp.path());

    // Replica A serves the real test profile; replica B is the same build where only the new
    // Cart.Remove ran (not its "missing item" branch); replica C is registered but dead.
    let center = Center::start().await.unwrap();
    let a = Agent::start(
        "shop",
        SharedProfile::new(AgentProfile::from_text(&profile_text).unwrap()),
        0,
        Some(&center.url()),
    )
    .await
    .unwrap();
    let mut zero = AgentProfile::from_text(&profile_text).unwrap();
    zero.clear();
    let b_profile = SharedProfile::new(zero);
    let b = Agent::start("shop", b_profile.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    center.register("shop", &dead_url);

    let cart_src = std::fs::read_to_string(repo.join("cart/cart.go")).unwrap();
    let pricing_src = std::fs::read_to_string(repo.join("pricing/pricing.go")).unwrap();
    let remove_fn = line_no(&cart_src, "func (c *Cart) Remove");
    let return_false = line_no(&cart_src, "return false");
    let delete_line = line_no(&cart_src, "delete(c.lines, item)");
    let cap_if = line_no(&pricing_src, "if percent >= 100");
    let return_zero = cap_if + 1;
    // The function's entry block and the block after the `if` ran; the `return false` did not.
    hit_blocks(
        &b_profile,
        "example.com/shop/cart/cart.go",
        &[remove_fn, delete_line],
    );

    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            repo.display(),
            tmp.path().join("sessions").display(),
            center.url()
        ),
    )
    .unwrap();

    let cfg = config.clone();
    let out =
        tokio::task::spawn_blocking(move || common::covtop(&cfg, &["report", "--format", "json"]))
            .await
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&dead_url),
        "the dead replica is reported: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Only the two edited files changed.
    let paths: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["cart/cart.go", "pricing/pricing.go"]);

    // pricing.go: the `if` line also holds the block before it, which ran (partial); the body
    // and its closing brace never ran (missed).
    let p = file_row(&report, "pricing/pricing.go");
    assert_eq!(p["changed"]["coverable"], 3);
    assert_eq!(p["changed"]["partial"], 1);
    assert_eq!(p["changed"]["missed"], 2);
    assert_eq!(p["partial_lines"], serde_json::json!([cap_if]));
    assert_eq!(
        p["missed_ranges"],
        serde_json::json!([[return_zero, return_zero + 1]])
    );

    // cart.go: Remove ran on replica B, except its "missing item" branch.
    let c = file_row(&report, "cart/cart.go");
    let missed: Vec<(u32, u32)> = serde_json::from_value(c["missed_ranges"].clone()).unwrap();
    assert_eq!(missed, vec![(return_false, return_false + 1)]);
    assert_eq!(c["partial_lines"], serde_json::json!([return_false - 1]));
    // The func line, `delete` and `return true` are covered. The comment, the blank line and
    // the function's closing brace are in no Go block: not coverable.
    assert_eq!(c["changed"]["covered"], 3);
    assert_eq!(c["changed"]["coverable"], 6);

    // Whole-profile statements equal `go tool cover -func` on the merged profile of the
    // replicas: the test profile plus replica B's hits.
    let merged = {
        let a = AgentProfile::from_text(&profile_text).unwrap();
        let mut m = b_profile.lock().clone();
        for (mb, ab) in m.blocks.iter_mut().zip(&a.blocks) {
            mb.count += ab.count;
        }
        m.render()
    };
    let merged_file = tmp.path().join("merged.cov");
    std::fs::write(&merged_file, merged).unwrap();
    let func = Command::new("go")
        .args(["tool", "cover"])
        .arg(format!("-func={}", merged_file.display()))
        .current_dir(&repo)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", tmp.path().join("gopath"))
        .env("GOCACHE", tmp.path().join("gocache"))
        .output()
        .unwrap();
    let func = String::from_utf8_lossy(&func.stdout).to_string();
    let total_line = func.lines().last().unwrap_or_default().to_string();
    let whole = &report["whole_statements"];
    let ours = whole[0].as_f64().unwrap() * 100.0 / whole[1].as_f64().unwrap();
    assert!(
        total_line.ends_with(&format!("{ours:.1}%")),
        "go tool cover -func says {total_line:?}, covtop {ours:.1}%"
    );

    // Text output and the gate.
    let cfg = config.clone();
    let text = tokio::task::spawn_blocking(move || common::covtop(&cfg, &["report", "--offline"]))
        .await
        .unwrap();
    assert!(text.status.success());
    let t = stdout(&text);
    assert!(
        t.contains("pricing/pricing.go") && t.contains("TOTAL"),
        "{t}"
    );
    let cfg = config.clone();
    let gate = tokio::task::spawn_blocking(move || {
        common::covtop(&cfg, &["check", "--fail-under", "90", "--offline"])
    })
    .await
    .unwrap();
    assert_eq!(gate.status.code(), Some(1), "{}", stdout(&gate));
    assert!(stdout(&gate).contains("below the required 90%"));
    let cfg = config.clone();
    let gate = tokio::task::spawn_blocking(move || {
        common::covtop(&cfg, &["check", "--fail-under", "10", "--offline"])
    })
    .await
    .unwrap();
    assert_eq!(gate.status.code(), Some(0), "{}", stdout(&gate));

    // Replica B restarts (counters back to zero) and then runs the `return false` branch only:
    // nothing it reported before is lost, and the branch is now covered too.
    {
        let mut p = b_profile.lock();
        p.clear();
    }
    hit_blocks(
        &b_profile,
        "example.com/shop/cart/cart.go",
        &[return_false - 1],
    );
    let cfg = config.clone();
    let out =
        tokio::task::spawn_blocking(move || common::covtop(&cfg, &["report", "--format", "json"]))
            .await
            .unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = file_row(&report, "cart/cart.go");
    assert_eq!(c["changed"]["missed"], 0, "{c:#}");
    assert_eq!(c["changed"]["covered"], 6, "{c:#}");

    // dump: prints stored dumps and the dead replica, exits 0 because others answered.
    let cfg = config.clone();
    let out = tokio::task::spawn_blocking(move || common::covtop(&cfg, &["dump"]))
        .await
        .unwrap();
    let s = stdout(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains(&a.url()) && s.contains(&b.url()) && s.contains("DOWN"),
        "{s}"
    );
    let stored = common::dump_names(&tmp.path().join("sessions/sessions/default")).len();
    // The two polls (reports) store each distinct content once: A's and B's first dumps, then
    // B's after its restart (A never changed); the explicit `dump` is a snapshot of its own.
    assert_eq!(stored, 5, "3 distinct dumps and a 2-replica snapshot");
}

#[test]
fn bad_configuration_and_unknown_base_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("covtop.toml");
    std::fs::write(&config, "[repo]\nbsae = \"main\"\n").unwrap();
    let out = common::covtop(&config, &["report"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("line 2") && e.contains("bsae"), "{e}");

    if !common::have_tool("git", "--version") {
        return;
    }
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("a.txt"), "x\n").unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "one"]);
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"origin/nope\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let out = common::covtop(&config, &["report", "--offline"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("origin/nope"), "{e}");

    // A target that refuses connections: dump fails with a clear message and exit 2.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[[target]]\nname = \"gone\"\nkind = \"goc\"\nurl = \"{url}\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let out = common::covtop(&config, &["dump"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("gone"), "{e}");
}

/// A gate never passes on missing data: a target whose URL points at nothing gave no data, and
/// the changed Go code has none; `check` says so and exits 2 unless told to gate on what there is.
#[test]
fn check_fails_on_missing_data_unless_allowed() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    common::write_goc_config_in_repo(
        &repo,
        &tmp.path().join("store"),
        &format!("http://127.0.0.1:{port}"),
    );
    let config = repo.join("covtop.toml");

    let gate = common::covtop(&config, &["check", "--fail-under", "80"]);
    let out = stdout(&gate);
    let err = String::from_utf8_lossy(&gate.stderr).to_string();
    assert_eq!(gate.status.code(), Some(2), "{out}{err}");
    assert!(out.contains("target shop gave no data"), "{out}");
    assert!(out.contains("changed code line(s)"), "{out}");
    assert!(out.contains("--allow-missing-data"), "{out}");
    // The screen's diagnostics reach stderr: the dead target and each file without data.
    assert!(err.contains("target error: shop"), "{err}");
    assert!(err.contains("no data: cart/cart.go"), "{err}");
    assert!(err.contains("no data: pricing/pricing.go"), "{err}");

    // --quiet silences the diagnostics, not the verdict.
    let quiet = common::covtop(&config, &["--quiet", "check", "--fail-under", "80"]);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    // Allowed: nothing coverable is known, so there is nothing to fail on.
    let allowed = common::covtop(
        &config,
        &["check", "--fail-under", "80", "--allow-missing-data"],
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));

    // The report counts the changed code lines without data instead of leaving them out.
    let report = common::covtop(&config, &["--quiet", "report", "--format", "json"]);
    assert!(report.status.success());
    let r: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert!(r["changed_no_data"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["targets_without_data"][0], "shop", "{r:#}");
    let text = common::covtop(&config, &["--quiet", "report"]);
    assert!(
        stdout(&text).contains("changed code line(s) have no coverage data"),
        "{}",
        stdout(&text)
    );
}

/// Issue #12: a Go source the coverage names but that is over the size covtop reads as a
/// source is named as such (why it cannot be read), on `report`'s stderr — not called "no such
/// file at the revision", which would send the user after the wrong cause.
#[test]
fn a_covered_go_source_over_the_size_limit_is_named_as_unreadable() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    std::fs::create_dir_all(repo.join("big")).unwrap();
    let mut big = b"package big\n".to_vec();
    big.resize(covtop::vcs::MAX_SOURCE_BYTES as usize + 1, b'\n');
    std::fs::write(repo.join("big/big.go"), big).unwrap();
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "a huge generated file"]);
    let store = tmp.path().join("store");
    common::write_goc_config_in_repo(&repo, &store, "http://127.0.0.1:1");
    let head = common::rev_parse(&repo, "HEAD");
    let mut session = covtop::session::SessionStore::open(&store, "default").unwrap();
    let meta = covtop::session::DumpMeta::new(
        "shop",
        "http://127.0.0.1:1",
        None,
        1,
        &head,
        covtop::session::PayloadKind::GoProfile,
    );
    let profile = "mode: count\nexample.com/shop/big/big.go:2.1,3.2 1 1\n\
                   example.com/shop/cart/cart.go:25.19,27.2 1 2\n";
    covtop::session::DumpStore::append(&mut session, &meta, profile.as_bytes()).unwrap();
    let o = common::covtop(&repo.join("covtop.toml"), &["report", "--offline"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("big/big.go") && err.contains("cannot be read at revision"),
        "{err}"
    );
    assert!(err.contains("more than covtop reads as a source"), "{err}");
    assert!(!err.contains("no such file exists"), "{err}");
}
