//! End to end with the `covtop` binary and an in-process goc v1 agent: the Go statement totals of
//! `covtop report --format json`. The whole-project total counts only blocks inside function
//! declarations (like `go tool cover -func`), and a block is a changed block only when a changed
//! line in it holds code: editing a comment inside a function does not make its statements
//! "changed".

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BASE: &str = "package app

var Ping = func() int {
\treturn 1
}

func A() int {
\t// old note
\treturn 1
}

func B() int {
\treturn 2
}
";

/// Line 8 (a comment inside `A`) and line 13 (code inside `B`) change; nothing moves.
const FEATURE: &str = "package app

var Ping = func() int {
\treturn 1
}

func A() int {
\t// new note
\treturn 1
}

func B() int {
\treturn 3
}
";

/// The blocks `go test -coverprofile` writes for the file: `Ping`'s literal body (outside every
/// function declaration, never run), `A`'s body (ran) and `B`'s body (never ran).
const PROFILE: &str = "mode: count\n\
example.com/chg/app.go:3.23,5.2 1 0\n\
example.com/chg/app.go:7.14,10.2 1 4\n\
example.com/chg/app.go:12.14,14.2 1 0\n";

fn repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("go.mod"), "module example.com/chg\n\ngo 1.18\n").unwrap();
    std::fs::write(dir.join("app.go"), BASE).unwrap();
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-qm", "base"]);
    common::git(dir, &["checkout", "-qb", "feature"]);
    std::fs::write(dir.join("app.go"), FEATURE).unwrap();
    common::git(
        dir,
        &["commit", "-qam", "feature: a comment in A, code in B"],
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_comment_is_not_a_changed_statement_and_package_literals_are_not_in_the_total() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    repo(&dir);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", live.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    common::write_goc_config_in_repo(&dir, &tmp.path().join("store"), &center.url());

    let d = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_covtop"))
            .args(["--base", "main", "report", "--format", "json"])
            .current_dir(&d)
            .stdin(Stdio::null())
            .output()
            .expect("covtop runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // `A` ran, `B` did not; `Ping`'s literal is package-level, so not in the total (counting
    // every block would give 1 of 3).
    assert_eq!(v["whole_statements"], serde_json::json!([1, 2]), "{v:#}");
    // Only `B`'s block has a changed code line: `A`'s changed line 8 is a comment (counting
    // every touched block would give 1 of 2).
    assert_eq!(v["changed_statements"], serde_json::json!([0, 1]), "{v:#}");

    // Now the changed code in `B` runs: the changed statements follow, `A` still not among them.
    live.lock().hit(2, 1);
    let d = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_covtop"))
            .args(["--base", "main", "report", "--format", "json"])
            .current_dir(&d)
            .stdin(Stdio::null())
            .output()
            .expect("covtop runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["changed_statements"], serde_json::json!([1, 1]), "{v:#}");
    assert_eq!(v["whole_statements"], serde_json::json!([2, 2]), "{v:#}");
}
