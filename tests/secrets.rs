//! Secrets never leave the configuration: a target URL with credentials
//! (`http://admin:TOKEN@host`) is used to poll, but the token appears in nothing covtop prints or
//! writes — the headless commands' output, `watch`'s log events and exports, the View the
//! screen draws, and the session folder. The same holds for the password of a shared session
//! store in PostgreSQL (`[session] password_file`, `PGPASSWORD`).

mod common;
mod pg_support;

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

/// Runs every command that stores, reads or exports (`watch` writing `exports`) and returns
/// all they printed.
fn every_command(config: &Path, exports: &[String]) -> String {
    let mut watch = vec!["watch", "--once"];
    for e in exports {
        watch.extend(["--export", e.as_str()]);
    }
    let runs: [&[&str]; 7] = [
        &["dump"],
        &["report"],
        &["report", "--format", "json"],
        &["check", "--fail-under", "50"],
        &["reset", "--yes"],
        &watch,
        &["watch", "--once", "--log-format", "text"],
    ];
    let mut printed = String::new();
    for args in runs {
        let o = common::covtop(config, args);
        printed.push_str(&String::from_utf8_lossy(&o.stdout));
        printed.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    printed
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
    let cfg = config.clone();
    let printed = tokio::task::spawn_blocking(move || every_command(&cfg, &[lcov_arg]))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_appears_in_nothing_covtop_prints_or_writes() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    cluster.create_db("coverage");
    let center = Center::start().await.unwrap();
    let profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", profile, 0, Some(&center.url()))
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let secrets = tempfile::tempdir().unwrap();
    let pw_file = secrets.path().join("pgpassword");
    std::fs::write(&pw_file, format!("{}\n", pg_support::PASSWORD)).unwrap();
    let store = tmp.path().join("store");
    let write_config = |password_file: Option<&Path>| {
        let config = repo.join("covtop.toml");
        std::fs::write(
            &config,
            format!(
                "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"1s\"\n\
                 [session]\ndir = \"{}\"\nstore = \"{}\"\n{}\
                 [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
                store.display(),
                cluster.url("coverage"),
                password_file
                    .map(|p| format!("password_file = \"{}\"\n", p.display()))
                    .unwrap_or_default(),
                center.url()
            ),
        )
        .unwrap();
        config
    };
    let lcov = tmp.path().join("out.info");
    let lcov_arg = format!("lcov:{}", lcov.display());
    let html = tmp.path().join("html");
    let html_arg = format!("html:{}", html.display());
    let config = write_config(Some(&pw_file));
    let env_config = repo.join("env.toml");
    let printed = tokio::task::spawn_blocking({
        let config = config.clone();
        let env_config = env_config.clone();
        move || {
            let mut printed = every_command(&config, &[lcov_arg, html_arg]);
            let mut record = |o: std::process::Output| {
                printed.push_str(&String::from_utf8_lossy(&o.stdout));
                printed.push_str(&String::from_utf8_lossy(&o.stderr));
                o.status
            };
            // The password from PGPASSWORD instead of a file.
            let text = std::fs::read_to_string(&config).unwrap();
            let text: String = text
                .lines()
                .filter(|l| !l.starts_with("password_file"))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&env_config, text).unwrap();
            let status = record(
                std::process::Command::new(env!("CARGO_BIN_EXE_covtop"))
                    .arg("--config")
                    .arg(&env_config)
                    .arg("dump")
                    .env("PGPASSWORD", pg_support::PASSWORD)
                    .output()
                    .unwrap(),
            );
            assert!(status.success(), "dump with PGPASSWORD failed");
            // A wrong password: a clear error, and still no password in it.
            let status = record(
                std::process::Command::new(env!("CARGO_BIN_EXE_covtop"))
                    .arg("--config")
                    .arg(&env_config)
                    .arg("dump")
                    .env("PGPASSWORD", "not-the-password")
                    .env("PGPASSFILE", "/nonexistent")
                    .output()
                    .unwrap(),
            );
            assert!(!status.success());
            printed
        }
    })
    .await
    .unwrap();
    assert!(
        printed.contains("password authentication failed"),
        "a wrong password is named as such: {printed}"
    );
    assert!(
        printed.contains(&format!("127.0.0.1:{}/coverage", cluster.port)),
        "messages name the store: {printed}"
    );
    assert!(
        !printed.contains(pg_support::PASSWORD),
        "the password was printed:\n{printed}"
    );

    // The dumps are in the database, with nothing of the password in them.
    let target =
        covtop::session::postgres::PgTarget::new(&cluster.url("coverage"), Some(&pw_file)).unwrap();
    let db = covtop::session::postgres::PgStore::open(target, "default", &store).unwrap();
    use covtop::session::DumpStore;
    let (dumps, _) = db.load().unwrap();
    assert!(
        dumps.len() >= 3,
        "dump, reset and watch stored dumps: {}",
        dumps.len()
    );
    for d in &dumps {
        let meta = serde_json::to_string(&d.meta).unwrap();
        assert!(
            !meta.contains(pg_support::PASSWORD)
                && !d.path.display().to_string().contains(pg_support::PASSWORD)
        );
    }
    assert!(
        format!("{db:?}").contains("127.0.0.1")
            && !format!("{db:?}").contains(pg_support::PASSWORD)
    );

    // Everything covtop wrote: its local session folder, exports, the HTML report, the
    // configuration it was given (no password there either) and the server's log.
    let mut files = Vec::new();
    all_files_under(tmp.path(), &mut files);
    assert!(files.iter().any(|f| f.starts_with(&html)), "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(pg_support::PASSWORD),
            "{} holds the password",
            f.display()
        );
    }
    assert!(!cluster.log().contains(pg_support::PASSWORD));
}
