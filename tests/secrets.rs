//! Secrets never leave the configuration: a target URL with credentials
//! (`http://admin:TOKEN@host`) is used to poll, but the token appears in nothing covtop prints or
//! writes — the headless commands' output, `watch`'s log events and exports, the View the
//! screen draws, and the session folder.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use std::path::Path;

/// Blocks of the sample service that fit its sources.
const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 3\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 1\n\
example.com/shop/cart/cart.go:25.18,27.2 1 2\n";

const TOKEN: &str = "s3cr3t-TOKEN-41";

fn all_files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                all_files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_target_urls_appear_in_nothing_covtop_prints_or_writes() {
    if !common::have_tool("git", "--version") {
        return;
    }
    // A live goc v1 center reached through a URL with credentials, so dumps are stored.
    let center = Center::start().await.unwrap();
    let profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", profile, 0, Some(&center.url()))
        .await
        .unwrap();
    let live_url = center
        .url()
        .replacen("http://", &format!("http://admin:{TOKEN}@"), 1);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    // Ports nobody listens on: every poll fails, and the failures name the URLs.
    let closed = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = tmp.path().join("store");
    let config = repo.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"1s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{live_url}\"\n\
             [[target]]\nname = \"down\"\nkind = \"goc\"\nurl = \"http://admin:{TOKEN}@127.0.0.1:{}\"\n\
             [[target]]\nname = \"shop-v2\"\nkind = \"goc-v2\"\nurl = \"http://{TOKEN}@127.0.0.1:{}\"\n",
            store.display(),
            closed(),
            closed()
        ),
    )
    .unwrap();
    let lcov = tmp.path().join("out.info");
    let lcov_arg = format!("lcov:{}", lcov.display());
    let runs: Vec<Vec<String>> = [
        vec!["dump"],
        vec!["report"],
        vec!["report", "--format", "json"],
        vec!["check", "--fail-under", "50"],
        vec!["reset", "--yes"],
        vec!["watch", "--once", "--export", lcov_arg.as_str()],
        vec!["watch", "--once", "--log-format", "text"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect();
    let cfg = config.clone();
    let printed = tokio::task::spawn_blocking(move || {
        let mut printed = String::new();
        for args in runs {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = common::covtop(&cfg, &args);
            printed.push_str(&String::from_utf8_lossy(&o.stdout));
            printed.push_str(&String::from_utf8_lossy(&o.stderr));
        }
        printed
    })
    .await
    .unwrap();
    assert!(
        printed.contains("***@127.0.0.1"),
        "the failures name the (masked) URLs: {printed}"
    );
    assert!(!printed.contains(TOKEN), "a token was printed:\n{printed}");

    // The View the screen draws.
    let cfg = covtop::config::load(&config).unwrap();
    let mut engine = covtop::engine::Engine::open(cfg).unwrap();
    engine.poll(&[]).await.unwrap();
    let view = engine.view();
    assert!(
        view.totals.whole.coverable() > 0,
        "the live target was polled"
    );
    let view = serde_json::to_string(&*view).unwrap();
    assert!(view.contains("***@127.0.0.1"), "{view}");
    assert!(!view.contains(TOKEN), "the View holds a token: {view}");

    // Everything written: the session folder, saved build lines, exports.
    let mut files = Vec::new();
    all_files_under(&store, &mut files);
    files.push(lcov.clone());
    assert!(files.len() > 1, "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{} holds a token",
            f.display()
        );
    }
}
