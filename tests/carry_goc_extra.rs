//! goc v2 agents that tell their build's commit in `extra` (`GOC_REGISTER_EXTRA`): an old
//! build's replicas are stored at their own revision and carried onto the configured one, a
//! new build's replicas count as its own coverage. Real git history, real `go test` profiles,
//! the in-process goc v2 server.

mod common;

use covtop::engine::Engine;
use covtop::model::{LineStatus, View};
use covtop::session::SessionStore;
use covtop::target::gocserver::v2::{AgentSpec, ProfileSource, Server};
use covtop::target::gocserver::{AgentProfile, SharedProfile};
use std::path::Path;

fn agent(profile: &str, pid: u32, extra: &str) -> AgentSpec {
    AgentSpec {
        hostname: "test".into(),
        cmdline: "shop".into(),
        pid,
        extra: extra.into(),
        watch_mode: false,
        source: ProfileSource::Memory(SharedProfile::new(
            AgentProfile::from_text(profile).unwrap(),
        )),
    }
}

fn config(dir: &Path, repo: &Path, revision: &str, url: &str) -> covtop::config::Config {
    let path = dir.join("covtop.toml");
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\nrevision = \"{revision}\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc-v2\"\nurl = \"{url}\"\n\
             revision_from_extra = \"commit=([0-9a-f]{{7,40}})\"\n",
            repo.display(),
            dir.join("sessions").display(),
        ),
    )
    .unwrap();
    covtop::config::load(&path).unwrap()
}

fn hit(v: &View, path: &str) -> Vec<u32> {
    v.files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.coverage.as_ref())
        .map(|c| {
            c.lines
                .iter()
                .filter(|l| matches!(l.status, LineStatus::Covered | LineStatus::Partial))
                .map(|l| l.line)
                .collect()
        })
        .unwrap_or_default()
}

fn carried(v: &View, path: &str) -> Vec<u32> {
    v.carried
        .file(path)
        .map(|f| f.lines.iter().map(|l| l.line).collect())
        .unwrap_or_default()
}

fn diagnostic<'a>(v: &'a View, needle: &str) -> Option<&'a covtop::model::Diagnostic> {
    v.diagnostics
        .iter()
        .find(|d| d.message.contains(needle) || d.fix.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_an_older_build_are_carried_and_the_new_builds_own_lines_are_covered() {
    if !common::have_tool("git", "--version") || !common::have_tool("go", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // The old build (the feature commit) ran the whole test suite.
    let old = common::rev_parse(&repo, "HEAD");
    let old_profile = common::go_test_profile_of(&repo, &work, Some("."));

    // The new build: two lines inserted at the top of pricing.go and line 11 edited.
    let pricing = repo.join("pricing/pricing.go");
    let text = std::fs::read_to_string(&pricing).unwrap();
    let text = text
        .replacen(
            "package pricing\n",
            "package pricing\n\n// Rates are in percent.\n",
            1,
        )
        .replacen("\t\td = 10\n", "\t\td = 12\n", 1);
    std::fs::write(&pricing, text).unwrap();
    common::git(&repo, &["commit", "-qam", "new build: rates"]);
    let new = common::rev_parse(&repo, "HEAD");
    let new_profile = common::go_test_profile_of(&repo, &work, Some("TestApply"));
    // What the old build covered, judged by itself at its own revision.
    let old_hits: Vec<u32> = {
        let mut e = Engine::open(config(tmp.path(), &repo, &old, "http://127.0.0.1:1")).unwrap();
        let poll = covtop::target::PollResult {
            dumps: vec![covtop::target::ReplicaDump {
                replica: "id=0".into(),
                instance: None,
                extra: None,
                fetched_at: std::time::SystemTime::now(),
                elapsed: std::time::Duration::ZERO,
                payload: covtop::target::Payload::GoProfile(old_profile.clone().into_bytes()),
            }],
            failures: Vec::new(),
        };
        e.apply_poll(0, poll).unwrap();
        hit(&e.view(), "pricing/pricing.go")
    };
    assert!(
        old_hits.contains(&11) && old_hits.contains(&29),
        "{old_hits:?}"
    );
    // Start the live session afresh.
    std::fs::remove_dir_all(tmp.path().join("sessions")).unwrap();

    let server = Server::start().await.unwrap();
    let old_id = server.add_agent(agent(
        &old_profile,
        101,
        &format!("ns=prod,commit={}", &old[..12]),
    ));
    let mut engine = Engine::open(config(tmp.path(), &repo, &new, &server.url())).unwrap();

    // Only the old build runs: everything it covered is carried, nothing is the new build's own.
    engine.poll(&[]).await.unwrap();
    let v = engine.view();
    let expected: Vec<u32> = old_hits
        .iter()
        .filter(|&&l| l != 11)
        .map(|&l| l + 2)
        .collect();
    assert_eq!(carried(&v, "pricing/pricing.go"), expected);
    assert!(!carried(&v, "pricing/pricing.go").contains(&13), "edited");
    assert!(hit(&v, "pricing/pricing.go").is_empty());
    let d = diagnostic(&v, "(from goc extra)").expect("the running build is named");
    assert!(
        d.message.contains(&format!("runs revision {}", &old[..7]))
            && d.message.contains(&format!("covtop shows {}", &new[..7]))
            && d.fix.contains(&format!("--revision {}", &old[..7])),
        "{d:?}"
    );

    // The dump is stored at the old build's full revision.
    let (stored, _) = SessionStore::open(&tmp.path().join("sessions"), "default")
        .unwrap()
        .load_all()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].meta.revision, old);
    assert_eq!(stored[0].meta.replica, format!("id={old_id}"));

    // The new build comes up beside it: its own lines are covered, the rest stays carried.
    server.add_agent(agent(&new_profile, 102, &format!("commit={new}")));
    // An agent whose commit the repository does not have.
    let stray_id = server.add_agent(agent(&new_profile, 103, "commit=deadbeefdeadbeef"));
    engine.poll(&[]).await.unwrap();
    let v = engine.view();
    let own = hit(&v, "pricing/pricing.go");
    assert!(own.contains(&31) && own.contains(&25), "{own:?}");
    let c = carried(&v, "pricing/pricing.go");
    assert!(!c.contains(&31), "covered by the new build itself");
    assert!(c.contains(&8) && c.contains(&11), "{c:?}");
    for l in &c {
        assert!(expected.contains(l) && !own.contains(l), "{l}");
    }
    assert!(
        diagnostic(&v, "(from goc extra) but covtop shows").is_none(),
        "the configured build runs too"
    );
    let stray = diagnostic(&v, "deadbeefdeadbeef").expect("the unknown commit is named");
    assert!(
        stray.message.contains(&format!("replica id={stray_id}")),
        "{stray:?}"
    );
    // Nothing is lost: the stray dump is stored with the commit text as found.
    let (stored, _) = SessionStore::open(&tmp.path().join("sessions"), "default")
        .unwrap()
        .load_all()
        .unwrap();
    assert!(stored.iter().any(
        |d| d.meta.revision == "deadbeefdeadbeef" && d.meta.replica == format!("id={stray_id}")
    ));
    server.stop();

    // A restarted covtop replays the session the same way.
    let v2 = Engine::open(config(tmp.path(), &repo, &new, "http://127.0.0.1:1"))
        .unwrap()
        .view();
    assert_eq!(carried(&v2, "pricing/pricing.go"), c);
    assert_eq!(hit(&v2, "pricing/pricing.go"), own);
}
