//! Sessions shared by a team: a writer (the team's collector) polls the agents and stores dumps;
//! a viewer (`covtop --attach`, `Engine::attached`) follows the session and shows them without
//! any traffic to the agents. Through real PostgreSQL (LISTEN/NOTIFY) and through one session
//! folder (two covtops on one machine).

mod common;
mod pg_support;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use covtop::engine::{Command, Engine, live};
use covtop::model::View;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 0\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 0\n\
example.com/shop/cart/cart.go:25.18,27.2 1 0\n";

use common::hit_lines;

async fn view_where(
    views: &mut watch::Receiver<Arc<View>>,
    what: &str,
    check: impl Fn(&View) -> bool,
) -> Arc<View> {
    common::view_where(views, what, Duration::from_secs(20), check).await
}

/// The hit count of `line` of `path` in `v`.
fn hits(v: &View, path: &str, line: u32) -> u64 {
    v.files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.coverage.as_ref())
        .and_then(|c| c.lines.iter().find(|l| l.line == line))
        .and_then(|l| l.hits)
        .unwrap_or(0)
}

/// Where one covtop of the team keeps its session: `local` is its `[session] dir`, `store` more
/// `[session]` lines (a database).
struct Place<'a> {
    local: &'a str,
    store: &'a str,
}

/// A configuration for one covtop of the team; `url` is the goc center it would poll.
fn config(dir: &Path, repo: &Path, name: &str, at: &Place, url: &str) -> covtop::config::Config {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ninterval = \"60s\"\ntimeout = \"2s\"\n\
             [session]\nname = \"team\"\ndir = \"{}\"\n{}\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{url}\"\n",
            repo.display(),
            dir.join(at.local).display(),
            at.store,
        ),
    )
    .unwrap();
    covtop::config::load(&path).unwrap()
}

/// The `[session]` lines of a store in a new database `db` of `cluster`, its password in a
/// file in `dir`.
fn pg_store(cluster: &pg_support::PgCluster, db: &str, dir: &Path) -> String {
    cluster.create_db(db);
    let pw = dir.join("pgpassword");
    std::fs::write(&pw, pg_support::PASSWORD).unwrap();
    format!(
        "store = \"{}\"\npassword_file = \"{}\"",
        cluster.url(db),
        pw.display()
    )
}

/// The writer polls a real goc center (the protocol-faithful imitation); the viewer's target
/// points at a listener that counts connections: it must see none.
async fn writer_and_viewer_share(tmp: &Path, writer_at: &Place<'_>, viewer_at: &Place<'_>) {
    let repo = tmp.join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", profile.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!("http://{}", trap.local_addr().unwrap());

    let mut viewer = Engine::open(config(tmp, &repo, "viewer", viewer_at, &trap_url)).unwrap();
    viewer.attached = true;
    let (mut seen, viewer_join) = live::spawn(viewer);
    assert!(hit_lines(&seen.views.borrow(), "pricing/pricing.go").is_empty());

    let writer = Engine::open(config(tmp, &repo, "writer", writer_at, &center.url())).unwrap();
    let (mut written, writer_join) = live::spawn(writer);
    // Something runs; the writer polls: the viewer shows it without polling anything.
    profile.lock().hit(0, 1);
    written.commands.send(Command::PollNow).await.unwrap();
    let polled = Instant::now();
    view_where(&mut written.views, "the writer's poll", |v| {
        hit_lines(v, "pricing/pricing.go").contains(&5)
    })
    .await;
    view_where(&mut seen.views, "the viewer following the writer", |v| {
        hit_lines(v, "pricing/pricing.go").contains(&5)
    })
    .await;
    eprintln!(
        "poll command → viewer's View: {} ms",
        polled.elapsed().as_millis()
    );
    // A second change, and a reset from the writer: the viewer follows into the new epoch and
    // keeps what ran before.
    profile.lock().hit(2, 1);
    written
        .commands
        .send(Command::Reset { targets: vec![] })
        .await
        .unwrap();
    let v = view_where(&mut seen.views, "the viewer after the reset", |v| {
        hit_lines(v, "cart/cart.go").contains(&27)
    })
    .await;
    assert!(hit_lines(&v, "pricing/pricing.go").contains(&5));
    // Nothing is counted twice: neither the viewer (the writer's dumps once each, the reset
    // marker once) nor the writer (its own dumps come back through the feed and are skipped).
    let writer_view = view_where(&mut written.views, "the writer after the reset", |v| {
        hit_lines(v, "cart/cart.go").contains(&27)
    })
    .await;
    for (who, v) in [("viewer", &v), ("writer", &writer_view)] {
        assert_eq!(hits(v, "pricing/pricing.go", 5), 1, "{who}");
        assert_eq!(hits(v, "cart/cart.go", 27), 1, "{who}");
    }
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the attached viewer contacted an agent: {other:?}"),
    }
    for h in [&written, &seen] {
        h.commands.send(Command::Quit).await.unwrap();
    }
    writer_join.await.unwrap();
    viewer_join.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_follows_a_writer_through_postgres_without_polling() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = pg_store(&cluster, "team", tmp.path());
    // Each covtop has a folder of its own: they share the database only.
    writer_and_viewer_share(
        tmp.path(),
        &Place {
            local: "writer-local",
            store: &store,
        },
        &Place {
            local: "viewer-local",
            store: &store,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_follows_a_writer_through_one_session_folder() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let shared = Place {
        local: "shared",
        store: "",
    };
    writer_and_viewer_share(tmp.path(), &shared, &shared).await;
}

/// `covtop session new | list | use | rm` on a PostgreSQL store: the sessions are the database's
/// (a tester's laptop has no folder of them), `--session` names one of them, `list` shows
/// dumps, span and size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_commands_work_on_a_postgres_store() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    cluster.create_db("team");
    let center = Center::start().await.unwrap();
    let profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", profile.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    profile.lock().hit(0, 1);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let pw = tmp.path().join("pgpassword");
    std::fs::write(&pw, pg_support::PASSWORD).unwrap();
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n\
             [session]\ndir = \"{}\"\nstore = \"{}\"\npassword_file = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            repo.display(),
            tmp.path().join("local").display(),
            cluster.url("team"),
            pw.display(),
            center.url()
        ),
    )
    .unwrap();
    let run = move |args: &[&str]| {
        let o = common::covtop(&config, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let out = tokio::task::spawn_blocking(move || {
        let runs: [&[&str]; 10] = [
            &["session", "new", "sprint-7"],
            &["dump"],
            &["dump", "--session", "nope"],
            &["session", "list"],
            &["session", "rm", "sprint-7"],
            &["session", "new", "other"],
            &["session", "use", "sprint-7"],
            &["session", "use", "other"],
            &["session", "rm", "sprint-7", "--yes"],
            &["session", "list"],
        ];
        runs.map(run)
    })
    .await
    .unwrap();
    let [
        new,
        dump,
        nope,
        list,
        rm_current,
        other,
        use_sprint,
        use_other,
        rm,
        after,
    ] = &out[..]
    else {
        unreachable!()
    };
    assert!(
        new.0 && new.1.contains("Created session sprint-7"),
        "{new:?}"
    );
    assert!(dump.0, "{dump:?}");
    assert!(
        !nope.0 && nope.1.contains("nope") && nope.1.contains("sprint-7"),
        "an unknown --session names the database's sessions: {nope:?}"
    );
    let row = list
        .1
        .lines()
        .find(|l| l.contains("sprint-7"))
        .unwrap_or_else(|| panic!("{list:?}"));
    assert!(row.starts_with('*'), "the session in use is marked: {row}");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[2], "1", "one dump stored: {row}");
    assert!(list.1.contains(&format!("127.0.0.1:{}/team", cluster.port)));
    assert!(
        !rm_current.0 && rm_current.1.contains("--yes"),
        "the session in use is not removed without --yes: {rm_current:?}"
    );
    assert!(
        other.0 && use_sprint.0 && use_other.0,
        "{other:?} {use_sprint:?} {use_other:?}"
    );
    assert!(rm.0 && rm.1.contains("Removed session sprint-7"), "{rm:?}");
    assert!(!after.1.contains("sprint-7"), "{after:?}");
}

/// Issue #11: the View tells the header the shared store's state: where it is (no password)
/// and, once PostgreSQL is gone and dumps go to the local spool, that it is unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_carries_the_shared_stores_state() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let Some(cluster) = pg_support::PgCluster::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let store = pg_store(&cluster, "state", tmp.path());
    let center = Center::start().await.unwrap();
    let profile = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", profile.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let at = Place {
        local: "local",
        store: &store,
    };
    let mut engine = Engine::open(config(tmp.path(), &repo, "w", &at, &center.url())).unwrap();
    engine.poll(&[]).await.unwrap();
    let state = engine.view().store.clone().expect("a store state");
    assert!(state.shared && state.problem.is_none(), "{state:?}");
    assert!(state.location.contains("state"), "{state:?}");
    assert!(!state.location.contains(pg_support::PASSWORD), "{state:?}");
    cluster.stop();
    profile.lock().hit(0, 1);
    engine.poll(&[]).await.unwrap();
    let state = engine.view().store.clone().expect("a store state");
    let problem = state.problem.expect("the store is unreachable");
    assert!(
        problem.starts_with("unreachable") && problem.contains("spool"),
        "{problem}"
    );
}
