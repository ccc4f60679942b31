//! End to end with the `covtop` binary and an in-process goc v1 agent: sessions are continued
//! by a restarted covtop, `covtop session list | new | use | merge | rm`, and a session folder
//! with garbage, truncated and foreign files.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 3\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 0\n\
example.com/shop/cart/cart.go:25.19,27.2 1 0\n";

struct Setup {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    store: PathBuf,
    live: SharedProfile,
    _center: Center,
    _agent: Agent,
}

async fn setup() -> Option<Setup> {
    if !common::have_tool("git", "--version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let agent = Agent::start("shop", live.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let store = tmp.path().join("store");
    common::write_goc_config_in_repo(&repo, &store, &center.url());
    Some(Setup {
        _tmp: tmp,
        repo,
        store,
        live,
        _center: center,
        _agent: agent,
    })
}

async fn covtop(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_covtop"))
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("covtop runs")
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn dumps_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".dump"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn whole_statements(o: &Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", text(o));
    });
    v["whole_statements"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_covtop_continues_its_session_across_agent_restarts() {
    let Some(s) = setup().await else { return };
    let out = covtop(&s.repo, &["dump"]).await;
    assert!(out.status.success(), "{}", text(&out));
    // The service restarts: its counters start again from zero, then other code runs.
    s.live.lock().clear();
    s.live.lock().hit(2, 1);
    let out = covtop(&s.repo, &["dump"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dumps_in(&s.store.join("sessions/default")).len(), 2);
    // A third process reads both dumps back: the block that ran before the restart still counts.
    let out = covtop(&s.repo, &["report", "--offline", "--format", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(whole_statements(&out), serde_json::json!([2, 3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_folds_into_a_checkpoint_and_drops_only_what_it_holds() {
    let Some(s) = setup().await else { return };
    let session = s.store.join("sessions/default");
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    s.live.lock().clear();
    s.live.lock().hit(2, 1);
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    let out = covtop(&s.repo, &["session", "compact"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("folded 2 dump(s) into a checkpoint of every dump up to #2"),
        "{}",
        text(&out)
    );
    // Within the window nothing is dropped.
    let out = covtop(&s.repo, &["session", "compact", "--keep-raw", "1h"]).await;
    assert!(
        text(&out).contains("already holds every dump (up to #2)"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("Dropped 0 raw dump(s)"),
        "{}",
        text(&out)
    );
    assert_eq!(dumps_in(&session).len(), 2);
    let list = covtop(&s.repo, &["session", "list"]).await;
    let t = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(t.contains("CHECKPOINT") && t.contains("#2 "), "{t}");

    // Everything the checkpoint holds dropped: the session reports the same, and goes on.
    let out = covtop(&s.repo, &["session", "compact", "--keep-raw", "0s"]).await;
    assert!(
        text(&out).contains("Dropped 2 raw dump(s)"),
        "{}",
        text(&out)
    );
    assert!(dumps_in(&session).is_empty());
    let out = covtop(&s.repo, &["report", "--offline", "--format", "json"]).await;
    assert_eq!(
        whole_statements(&out),
        serde_json::json!([2, 3]),
        "{}",
        text(&out)
    );
    s.live.lock().hit(1, 1);
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    let after = dumps_in(&session);
    assert!(
        after.len() == 1 && after[0].starts_with("00000003-"),
        "numbered after the checkpoint: {after:?}"
    );
    let out = covtop(&s.repo, &["report", "--offline", "--format", "json"]).await;
    assert_eq!(
        whole_statements(&out),
        serde_json::json!([3, 3]),
        "{}",
        text(&out)
    );
    let out = covtop(&s.repo, &["session", "compact", "nope"]).await;
    assert!(!out.status.success() && text(&out).contains("no session is named \"nope\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_commands_list_new_use_merge_rm() {
    let Some(s) = setup().await else { return };
    assert!(covtop(&s.repo, &["dump"]).await.status.success());

    let out = covtop(&s.repo, &["session", "new", "sprint-7"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(s.store.join("current"))
            .unwrap()
            .trim(),
        "sprint-7"
    );
    // The new current session receives the next dumps.
    s.live.lock().hit(1, 2);
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    assert_eq!(dumps_in(&s.store.join("sessions/sprint-7")).len(), 2);
    assert_eq!(dumps_in(&s.store.join("sessions/default")).len(), 1);

    let out = covtop(&s.repo, &["session", "list"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let line = |name: &str| {
        t.lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("{name} not listed: {t}"))
            .to_string()
    };
    let sprint = line("sprint-7");
    assert!(sprint.starts_with('*'), "{t}");
    assert!(
        sprint.split_whitespace().nth(2) == Some("2") && sprint.contains("shop"),
        "{t}"
    );
    assert!(!line("default").starts_with('*'), "{t}");

    // --session selects another one for a single command.
    let out = covtop(
        &s.repo,
        &[
            "--session",
            "default",
            "report",
            "--offline",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(whole_statements(&out), serde_json::json!([1, 3]));
    let out = covtop(&s.repo, &["--session", "nope", "report", "--offline"]).await;
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(
        t.contains("nope") && t.contains("default, sprint-7") && t.contains("session new"),
        "{t}"
    );

    // Merge twice: the second copies nothing.
    let out = covtop(
        &s.repo,
        &["session", "merge", "default", "sprint-7", "--into", "all"],
    )
    .await;
    assert!(text(&out).contains("3 dump(s) copied"), "{}", text(&out));
    let out = covtop(
        &s.repo,
        &["session", "merge", "default", "sprint-7", "--into", "all"],
    )
    .await;
    assert!(
        text(&out).contains("0 dump(s) copied, 3 already present"),
        "{}",
        text(&out)
    );
    assert_eq!(dumps_in(&s.store.join("sessions/all")).len(), 3);
    let out = covtop(
        &s.repo,
        &[
            "--session",
            "all",
            "report",
            "--offline",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(whole_statements(&out), serde_json::json!([2, 3]));

    // Without a terminal nothing is removed unless --yes, the session in use or another.
    let out = covtop(&s.repo, &["session", "rm", "sprint-7"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("(the session in use) without confirmation: pass --yes"),
        "{}",
        text(&out)
    );
    let out = covtop(&s.repo, &["session", "use", "all"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = covtop(&s.repo, &["session", "rm", "sprint-7"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("pass --yes"), "{}", text(&out));
    assert_eq!(dumps_in(&s.store.join("sessions/sprint-7")).len(), 2);
    let out = covtop(&s.repo, &["session", "rm", "sprint-7", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!s.store.join("sessions/sprint-7").exists());
    // An unknown name is said as such, not asked about.
    let out = covtop(&s.repo, &["session", "rm", "sprint-7"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no session is named \"sprint-7\""),
        "{}",
        text(&out)
    );
    let out = covtop(&s.repo, &["session", "new", "../escape"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("invalid session name"),
        "{}",
        text(&out)
    );
}

/// `covtop session rm NAME` on a terminal (util-linux `script` gives it one): it asks, removes
/// nothing unless the answer is y, and removes the session when it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_rm_asks_on_a_terminal() {
    let Some(s) = setup().await else { return };
    if !common::have_tool("script", "--version") {
        return;
    }
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    assert!(
        covtop(&s.repo, &["session", "new", "scratch"])
            .await
            .status
            .success()
    );
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    let on_terminal = |answer: &'static str| {
        let repo = s.repo.clone();
        tokio::task::spawn_blocking(move || {
            let command = format!("{} session rm scratch", env!("CARGO_BIN_EXE_covtop"));
            let mut child = Command::new("script")
                .args(["-qec", &command, "/dev/null"])
                .current_dir(&repo)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("script runs");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(answer.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
    };
    let out = on_terminal("n\n").await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Remove session scratch (the session in use) and every dump"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("Not removed."), "{}", text(&out));
    assert_eq!(dumps_in(&s.store.join("sessions/scratch")).len(), 1);
    let out = on_terminal("y\n").await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Removed session scratch"),
        "{}",
        text(&out)
    );
    assert!(!s.store.join("sessions/scratch").exists());
    assert_eq!(dumps_in(&s.store.join("sessions/default")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_foreign_files_are_reported_and_skipped() {
    let Some(s) = setup().await else { return };
    assert!(covtop(&s.repo, &["dump"]).await.status.success());
    let dir = s.store.join("sessions/default");
    let good = dir.join(&dumps_in(&dir)[0]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("00000050-shop-x.dump"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.join("00000051-shop-y.dump"), b"\x00\xffgarbage").unwrap();
    std::fs::write(
        dir.join("00000052-shop-z.dump"),
        b"COVTOP-DUMP 1\n{not json\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), b"someone's notes").unwrap();
    std::fs::create_dir(dir.join("00000053-a-dir.dump")).unwrap();

    let out = covtop(&s.repo, &["report", "--offline", "--format", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(whole_statements(&out), serde_json::json!([1, 3]));
    let err = String::from_utf8_lossy(&out.stderr);
    for (name, why) in [
        ("00000050-shop-x.dump", "truncated"),
        ("00000051-shop-y.dump", "bad magic"),
        ("00000052-shop-z.dump", "corrupt metadata"),
        ("00000053-a-dir.dump", "cannot read"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(name) && l.contains(why)),
            "{name}: {err}"
        );
    }
    assert!(!err.contains("notes.txt"), "{err}");

    // New dumps still go in, numbered after the bad files.
    let out = covtop(&s.repo, &["dump"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(dumps_in(&dir).iter().any(|n| n.starts_with("00000054-")));

    let out = covtop(&s.repo, &["session", "list"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 bad file(s)"), "{}", text(&out));
}

/// Issue #12: text from folder names and stored metadata reaches `session list` escaped: a
/// session folder named with ESC and a newline, a dump whose target and revision hold control
/// characters, neither drive the terminal nor forge a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_list_escapes_control_characters_from_names_and_metadata() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let store = tmp.path().join("store");
    common::write_goc_config_in_repo(&repo, &store, "http://127.0.0.1:1");
    let mut s = covtop::session::SessionStore::open(&store, "default").unwrap();
    let meta = covtop::session::DumpMeta::new(
        "shop\u{1b}]0;owned\u{7}",
        "http://127.0.0.1:1",
        None,
        1,
        "\u{1b}[2Jabcdef",
        covtop::session::PayloadKind::GoProfile,
    );
    s.persist(&meta, PROFILE.as_bytes()).unwrap();
    std::fs::create_dir_all(store.join("sessions/evil\u{1b}[2J\nTOTAL")).unwrap();
    let out = covtop(&repo, &["session", "list"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&out);
    assert!(
        !listed.contains('\u{1b}') && !listed.contains('\u{7}'),
        "{listed:?}"
    );
    assert!(listed.contains("shop\\u{1b}]0;owned\\u{7}"), "{listed}");
    assert!(listed.contains("evil\\u{1b}[2J\\u{a}TOTAL"), "{listed}");
    assert!(!listed.lines().any(|l| l.starts_with("TOTAL")), "{listed}");
}
