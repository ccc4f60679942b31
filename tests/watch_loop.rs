//! `covtop watch` end to end: the real binary against an in-process goc v1 agent. Rounds write
//! the exports and run the command with its environment; an unwritable export is logged and the
//! loop goes on; SIGUSR1 pauses, SIGUSR2 resumes; SIGTERM stores a final dump and exits 0.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 3\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 0\n\
example.com/shop/cart/cart.go:25.18,27.2 1 0\n";

/// The JSON log lines of a running covtop, read on a thread.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Value>>>);

impl Events {
    fn follow(child: &mut Child) -> Events {
        let events = Events::default();
        let stderr = child.stderr.take().unwrap();
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                sink.0.lock().unwrap().push(v);
            }
        });
        events
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    fn named(&self, event: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits until `pred` holds for the events (30 s at most).
    fn wait_for(&self, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if pred(&self.all()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; events: {:#?}", self.all());
    }

    fn rounds(&self) -> usize {
        self.named("round").len()
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("covtop watch did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_dump(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".dump"))
        .collect();
    names.sort();
    let dump = covtop::session::read_dump_file(&dir.join(names.last().unwrap())).unwrap();
    String::from_utf8_lossy(&dump.payload).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exports_runs_the_command_pauses_and_stops_gracefully() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", live.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let store = tmp.path().join("store");
    common::write_goc_config_in_repo(&repo, &store, &center.url());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // A regular file where a folder should be: the lcov export cannot be written.
    std::fs::write(tmp.path().join("blocker"), b"").unwrap();
    let unwritable = tmp.path().join("blocker/cov.info");
    let exec = format!(
        "env | grep ^COVTOP_ | sort > {}/env-$COVTOP_ROUND.txt; test $COVTOP_ROUND -ne 2",
        out.display()
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_covtop"))
        .args(["watch", "--every", "400ms"])
        .arg("--export")
        .arg(format!("sonar:{}/sonar.xml", out.display()))
        .arg("--export")
        .arg(format!("lcov:{}", unwritable.display()))
        .arg("--export")
        .arg(format!("html:{}/html", out.display()))
        .arg("--exec")
        .arg(&exec)
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let events = Events::follow(&mut child);

    let ev = events.clone();
    tokio::task::spawn_blocking(move || {
        ev.wait_for("3 rounds", |e| {
            e.iter().filter(|v| v["event"] == "round").count() >= 3
        })
    })
    .await
    .unwrap();

    // Each round wrote the exports it could, and said which one it could not.
    let sonar = std::fs::read_to_string(out.join("sonar.xml")).unwrap();
    assert!(sonar.contains("pricing/pricing.go"), "{sonar}");
    assert!(out.join("html/index.html").exists());
    let failed = events.named("export_failed");
    assert!(failed.len() >= 3, "{failed:#?}");
    assert_eq!(failed[0]["level"], "error");
    assert_eq!(failed[0]["format"], "lcov");
    assert_eq!(failed[0]["path"], unwritable.display().to_string());
    let round1 = &events.named("round")[0];
    assert_eq!(round1["stored"], 1);
    assert_eq!(round1["exports"], 2);
    assert_eq!(round1["export_failures"], 1);

    // The command ran with the exports and the round in its environment; its failure in round
    // 2 was logged with its status, and round 3 still ran.
    let env1 = std::fs::read_to_string(out.join("env-1.txt")).unwrap();
    let revision = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for expected in [
        "COVTOP_ROUND=1".to_string(),
        "COVTOP_FINAL=0".to_string(),
        "COVTOP_EXPORT_FAILURES=1".to_string(),
        format!("COVTOP_EXPORT_SONAR={}/sonar.xml", out.display()),
        format!("COVTOP_EXPORT_HTML={}/html", out.display()),
        format!("COVTOP_REVISION={}", revision.trim()),
    ] {
        assert!(env1.lines().any(|l| l == expected), "{expected}: {env1}");
    }
    assert!(!env1.contains("COVTOP_EXPORT_LCOV"), "{env1}");
    let execs = events.all();
    let exec_of = |round: u64| {
        execs
            .iter()
            .find(|v| v["round"] == round && v["command"].is_string())
            .cloned()
            .unwrap()
    };
    assert_eq!(exec_of(1)["event"], "exec");
    assert_eq!(exec_of(2)["event"], "exec_failed");
    assert_eq!(exec_of(2)["status"], 1);

    // SIGUSR1 pauses: no round while paused.
    signal(&child, libc::SIGUSR1);
    let ev = events.clone();
    tokio::task::spawn_blocking(move || {
        ev.wait_for("paused", |e| e.iter().any(|v| v["event"] == "paused"))
    })
    .await
    .unwrap();
    let paused_at = events.rounds();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(events.rounds(), paused_at, "a round ran while paused");

    // SIGUSR2 resumes.
    signal(&child, libc::SIGUSR2);
    let ev = events.clone();
    tokio::task::spawn_blocking(move || {
        ev.wait_for("a round after resuming", |e| {
            e.iter().filter(|v| v["event"] == "round").count() > paused_at
        })
    })
    .await
    .unwrap();

    // New coverage, then SIGTERM: the final round stores it before covtop exits 0.
    live.lock().hit(2, 5);
    let expected_line = "example.com/shop/cart/cart.go:25.18,27.2 1 5";
    signal(&child, libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let last = events.named("round").last().cloned().unwrap();
    assert_eq!(last["final"], true, "{last}");
    assert_eq!(last["stored"], 1, "{last}");
    assert!(events.named("stopped").len() == 1);
    let dump = last_dump(&store.join("sessions/default"));
    assert!(dump.contains(expected_line), "{dump}");
    let sonar = std::fs::read_to_string(out.join("sonar.xml")).unwrap();
    assert!(sonar.contains("cart/cart.go"), "{sonar}");
}

#[test]
fn bad_arguments_are_clear_errors_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("covtop.toml");
    std::fs::write(&cfg, "").unwrap();
    for (args, expected) in [
        (vec!["watch", "--export", "pdf:x"], "unknown format \"pdf\""),
        (
            vec!["watch", "--export", "report.xml"],
            "expected FORMAT:PATH",
        ),
        (vec!["watch", "--every", "soon"], "--every \"soon\""),
        (vec!["watch", "--every", "10ms"], "at least 100ms"),
        (
            vec!["watch", "--every", "100000000000s"],
            "--every \"100000000000s\" is longer than 24h",
        ),
        (
            vec!["watch", "--exec-timeout", "0s"],
            "--exec-timeout \"0s\" would kill the command at once",
        ),
        (
            vec!["watch", "--exec-timeout", "25h"],
            "--exec-timeout \"25h\" is longer than 24h",
        ),
        (
            vec!["watch", "--exec-timeout=-1s"],
            "--exec-timeout \"-1s\": expected number",
        ),
        (vec!["watch"], "no [[target]] is configured"),
    ] {
        let out = common::covtop(&cfg, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_one_round_and_fails_when_it_is_incomplete() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", live, 0, Some(&center.url()))
        .await
        .unwrap();
    let cfg = repo.join("covtop.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            center.url()
        ),
    )
    .unwrap();
    let cobertura = tmp.path().join("cobertura.xml");
    let run = |args: Vec<String>| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::covtop(&cfg, &args)
        })
    };
    let out = run(vec![
        "watch".into(),
        "--once".into(),
        "--log-format".into(),
        "text".into(),
        "--export".into(),
        format!("cobertura:{}", cobertura.display()),
    ])
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(" INFO  round ") && err.contains("final=true"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(&cobertura)
            .unwrap()
            .contains("pricing.go")
    );
    assert_eq!(
        common::dump_names(&repo.join(".covtop/sessions/default")).len(),
        1
    );

    let out = run(vec![
        "watch".into(),
        "--once".into(),
        "--export".into(),
        format!(
            "sonar:{}/no/such/dir/s.xml",
            tmp.path().join("missing").display()
        ),
        "--exec".into(),
        "exit 3".into(),
    ])
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("1 export(s) failed, the command failed"),
        "{err}"
    );
    assert!(
        err.contains("\"event\":\"exec_failed\"") && err.contains("\"status\":3"),
        "{err}"
    );
}
