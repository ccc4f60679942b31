//! The engine's live loop: polls on its own tasks, goc v2 watch hints, and the UI's commands.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::v2::{AgentSpec, ProfileSource, Server};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use covtop::engine::{Command, Engine, Notice, live};
use covtop::model::View;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 0\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 0\n\
example.com/shop/cart/cart.go:25.18,27.2 1 0\n";

async fn next_view(
    views: &mut watch::Receiver<Arc<View>>,
    what: &str,
    check: impl Fn(&View) -> bool,
) -> Arc<View> {
    common::view_where(views, what, Duration::from_secs(10), check).await
}

async fn next_notice(notices: &mut mpsc::Receiver<Notice>, needle: &str) -> Notice {
    let wait = async {
        loop {
            let n = notices.recv().await.expect("engine alive");
            let text = match &n {
                Notice::Info(t) | Notice::Error(t) => t.clone(),
            };
            if text.contains(needle) {
                return n;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no notice containing {needle:?}"))
}

use common::hit_lines;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_hints_commands_and_mark_drive_the_live_engine() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);

    let center = Center::start().await.unwrap();
    let v1_profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", v1_profile.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let v2 = Server::start().await.unwrap();
    let v2_profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    v2.add_agent(AgentSpec {
        hostname: "pod-1".into(),
        cmdline: "/shop".into(),
        pid: 7,
        extra: String::new(),
        watch_mode: true,
        source: ProfileSource::Memory(v2_profile.clone()),
    });

    // A long interval: after the first poll, only a hint or a command can cause another.
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ninterval = \"60s\"\ntimeout = \"2s\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"v1\"\nkind = \"goc\"\nurl = \"{}\"\n\
             [[target]]\nname = \"v2\"\nkind = \"goc-v2\"\nurl = \"{}\"\n",
            repo.display(),
            tmp.path().join("s").display(),
            center.url(),
            v2.url()
        ),
    )
    .unwrap();
    let engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let (mut h, join) = live::spawn(engine);

    // The first tick polls both targets.
    next_view(&mut h.views, "both targets polled", |v| {
        v.targets.iter().all(|t| !t.replicas.is_empty())
    })
    .await;
    assert!(hit_lines(&h.views.borrow(), "pricing/pricing.go").is_empty());

    // Something runs on the v2 agent: the server pushes a watch frame, and the engine polls
    // long before the 60 s interval.
    // The watch stream may connect a little after the first poll, and a frame sent before that
    // is lost (as with the real server): the block keeps running until the View shows it.
    let started = std::time::Instant::now();
    let runner = {
        let profile = v2_profile.clone();
        tokio::spawn(async move {
            loop {
                profile.lock().hit(0, 1);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let v = next_view(&mut h.views, "the hinted poll", |v| {
        hit_lines(v, "pricing/pricing.go").contains(&5)
    })
    .await;
    runner.abort();
    // Far sooner than the 60 s interval: the hint brought the poll forward.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        v.files.iter().any(|f| f.newly_hit.contains(&5)),
        "line 5 is newly hit"
    );

    // Mark, then something else runs: only that is "since the mark".
    h.commands.send(Command::Mark).await.unwrap();
    next_notice(&mut h.notices, "mark set").await;
    v1_profile.lock().hit(2, 1);
    h.commands.send(Command::PollNow).await.unwrap();
    let v = next_view(&mut h.views, "cart hit after the mark", |v| {
        hit_lines(v, "cart/cart.go").contains(&27)
    })
    .await;
    let cart = v.files.iter().find(|f| f.path == "cart/cart.go").unwrap();
    assert!(cart.hit_since_mark.as_ref().unwrap().contains(&27));
    let pricing = v
        .files
        .iter()
        .find(|f| f.path == "pricing/pricing.go")
        .unwrap();
    assert_eq!(
        pricing.hit_since_mark.as_deref(),
        Some(&[][..]),
        "hit before the mark"
    );
    // Unmark: the Views count nothing since a mark any more.
    h.commands.send(Command::Unmark).await.unwrap();
    next_notice(&mut h.notices, "mark cleared").await;
    next_view(&mut h.views, "no mark", |v| {
        v.files.iter().all(|f| f.hit_since_mark.is_none())
    })
    .await;

    // Pause shows in the View; a dump stores a snapshot and says where.
    h.commands.send(Command::Pause(true)).await.unwrap();
    next_view(&mut h.views, "paused", |v| v.paused).await;
    h.commands.send(Command::Dump).await.unwrap();
    let n = next_notice(&mut h.notices, "snapshot stored").await;
    assert!(matches!(n, Notice::Info(t) if t.contains("sessions")));

    // Reset: the data is stored first, agents are zeroed, nothing covtop had is lost.
    h.commands
        .send(Command::Reset { targets: vec![] })
        .await
        .unwrap();
    next_notice(&mut h.notices, "reset after their data was stored").await;
    next_notice(&mut h.notices, "reset after their data was stored").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(v1_profile.lock().blocks.iter().all(|b| b.count == 0));
    assert!(v2_profile.lock().blocks.iter().all(|b| b.count == 0));
    h.commands.send(Command::PollNow).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let v = h.views.borrow().clone();
    assert!(
        hit_lines(&v, "pricing/pricing.go").contains(&5),
        "kept after reset"
    );
    assert!(
        hit_lines(&v, "cart/cart.go").contains(&27),
        "kept after reset"
    );

    // Export writes the report and says so; a bad path is an error notice, not a crash.
    let out = tmp.path().join("report.json");
    h.commands
        .send(Command::Export {
            format: covtop::report::Format::Json,
            path: out.display().to_string(),
            progress: covtop::report::Progress::default(),
        })
        .await
        .unwrap();
    next_notice(&mut h.notices, "exported json").await;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(report["whole"]["covered"].as_u64().unwrap() >= 2);
    let lcov = tmp.path().join("cov.info");
    h.commands
        .send(Command::Export {
            format: covtop::report::Format::Lcov,
            path: lcov.display().to_string(),
            progress: covtop::report::Progress::default(),
        })
        .await
        .unwrap();
    next_notice(&mut h.notices, "exported lcov").await;
    let text = std::fs::read_to_string(&lcov).unwrap();
    assert!(
        text.contains("SF:pricing/pricing.go") && text.contains("DA:5,"),
        "{text}"
    );
    // HTML too, through the same writer as `covtop report --format html`, counting its files
    // (every page and the index) in the command's progress.
    let html = tmp.path().join("html");
    let progress = covtop::report::Progress::default();
    h.commands
        .send(Command::Export {
            format: covtop::report::Format::Html,
            path: html.display().to_string(),
            progress: progress.clone(),
        })
        .await
        .unwrap();
    next_notice(&mut h.notices, "exported html").await;
    let pages = std::fs::read_dir(html.join("files")).unwrap().count();
    assert!(pages >= 2);
    assert_eq!(progress.get(), (pages + 1, pages + 1));
    let index = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(
        index.contains("pricing/pricing.go"),
        "the index lists the files"
    );
    h.commands
        .send(Command::Export {
            format: covtop::report::Format::Json,
            path: "/nonexistent-dir/x.json".into(),
            progress: covtop::report::Progress::default(),
        })
        .await
        .unwrap();
    let n = next_notice(&mut h.notices, "cannot write").await;
    assert!(matches!(n, Notice::Error(_)));

    h.commands.send(Command::Quit).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), join)
        .await
        .expect("engine stops on Quit")
        .unwrap();
}
