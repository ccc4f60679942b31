//! Coverage of an older Go build carries over to the unchanged lines of the new revision:
//! a real git history, real `go test` profiles, dumps stored in a real session. goc v2 agents
//! that tell their build's commit in `extra` (`GOC_REGISTER_EXTRA`) are stored at their own
//! revision and carried the same way (the in-process goc v2 server).

mod common;

use covtop::demo::gocserver::v2::{AgentSpec, ProfileSource, Server};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use covtop::engine::Engine;
use covtop::model::{LineStatus, View};
use covtop::session::{DumpMeta, PayloadKind, SessionStore};
use std::path::Path;

fn store(session_root: &Path, revision: &str, payload: &str) {
    let mut s = SessionStore::open(session_root, "default").unwrap();
    let meta = DumpMeta::new(
        "shop",
        "http://127.0.0.1:1",
        None,
        1,
        revision,
        PayloadKind::GoProfile,
    );
    s.persist(&meta, payload.as_bytes()).unwrap();
}

fn config(dir: &Path, repo: &Path, revision: &str, sessions: &Path) -> covtop::config::Config {
    let path = dir.join(format!("covtop-{revision}.toml"));
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\nrevision = \"{revision}\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:1\"\n",
            repo.display(),
            sessions.display(),
        ),
    )
    .unwrap();
    covtop::config::load(&path).unwrap()
}

fn hit(v: &View, path: &str) -> Vec<u32> {
    common::lines_where(v, path, |l| {
        matches!(l.status, LineStatus::Covered | LineStatus::Partial)
    })
}

fn carried(v: &View, path: &str) -> Vec<u32> {
    v.carried
        .file(path)
        .map(|f| f.lines.iter().map(|l| l.line).collect())
        .unwrap_or_default()
}

#[test]
fn an_older_builds_coverage_is_carried_onto_unchanged_lines_until_the_new_build_covers_them() {
    if !common::have_tool("git", "--version") || !common::have_tool("go", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let sessions = tmp.path().join("sessions");

    // The old build runs the feature commit; a tester exercised Cart.Remove and the pricing rules.
    let old = common::rev_parse(&repo, "HEAD");
    let remove_test = repo.join("cart/remove_test.go");
    std::fs::write(
        &remove_test,
        "package cart\n\nimport \"testing\"\n\nfunc TestRemove(t *testing.T) {\n\tc := New()\n\
         _ = c.Add(\"apple\", 1, 50)\n\tif !c.Remove(\"apple\") {\n\t\tt.Fatal(\"not removed\")\n\t}\n}\n",
    )
    .unwrap();
    let old_profile = common::go_test_profile_of(&repo, &work, Some("."));
    std::fs::remove_file(&remove_test).unwrap();
    store(&sessions, &old, &old_profile);

    // What the old build covered, at the old revision.
    let old_view = Engine::open(config(tmp.path(), &repo, &old, &sessions))
        .unwrap()
        .view();
    let old_pricing = hit(&old_view, "pricing/pricing.go");
    let old_cart = hit(&old_view, "cart/cart.go");
    assert!(
        old_pricing.contains(&11) && old_pricing.contains(&29),
        "{old_pricing:?}"
    );
    assert!(
        old_view.carried.is_empty(),
        "nothing older than the only build"
    );

    // The new build: two lines inserted at the top of pricing.go, line 11 edited, and
    // cart.go renamed to basket.go.
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
    common::git(&repo, &["mv", "cart/cart.go", "cart/basket.go"]);
    common::git(&repo, &["commit", "-qam", "new build: rates, basket"]);
    let new = common::rev_parse(&repo, "HEAD");

    // Before the new build reports anything, all old coverage shows as carried.
    let engine = Engine::open(config(tmp.path(), &repo, &new, &sessions)).unwrap();
    let v = engine_view(engine);
    let expected_pricing: Vec<u32> = old_pricing
        .iter()
        .filter(|&&l| l != 11)
        .map(|&l| l + 2)
        .collect();
    assert_eq!(carried(&v, "pricing/pricing.go"), expected_pricing);
    // Hand-checked: the `return totalCents - ...` line 29 is now 31; edited line 11 (now 13)
    // starts uncovered.
    assert!(carried(&v, "pricing/pricing.go").contains(&31));
    assert!(!carried(&v, "pricing/pricing.go").contains(&13));
    assert_eq!(
        carried(&v, "cart/basket.go"),
        old_cart,
        "the rename is followed"
    );
    assert!(carried(&v, "cart/cart.go").is_empty());
    assert_eq!(v.carried.from.len(), 1);
    // Changed against main and run by the old build: Cart.Remove's lines 43, 44, 47, 48 and the
    // `percent >= 100` test (old 26, now 28).
    let remove_lines: Vec<u32> = old_cart
        .iter()
        .copied()
        .filter(|l| (42..=50).contains(l))
        .collect();
    assert_eq!(remove_lines, [43, 44, 47, 48]);
    assert!(carried(&v, "pricing/pricing.go").contains(&28));
    assert_eq!(v.totals.carried_changed, 5);
    // No data from the new build yet: carried lines are coverable and not covered by it.
    assert_eq!(v.totals.changed.missed, 5);
    assert_eq!(v.totals.changed.covered, 0);

    // The report shows carried coverage apart from the build's own.
    let out = common::covtop(
        &tmp.path().join(format!("covtop-{new}.toml")),
        &["report", "--offline"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("0.0% (+100.0% carried)"), "{text}");
    assert!(text.contains("(carried 43-44,47-48)"), "{text}");
    assert!(text.contains("5 changed line(s) covered there"), "{text}");
    let html = tmp.path().join("html");
    let out = common::covtop(
        &tmp.path().join(format!("covtop-{new}.toml")),
        &[
            "report",
            "--offline",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_dir(html.join("files"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|p| p.contains("<h1>pricing/pricing.go</h1>"))
        .expect("a page for pricing.go");
    assert!(
        page.contains("<tr id=\"L31\" class=\"s-none carried\""),
        "line 31 carried"
    );
    assert!(!page.contains("<tr id=\"L13\" class=\"s-none carried\""));

    // The new build runs only TestApply: its own coverage of Apply turns those lines Covered,
    // the rest stays carried.
    let new_profile = common::go_test_profile_of(&repo, &work, Some("TestApply"));
    store(&sessions, &new, &new_profile);
    let v = engine_view(Engine::open(config(tmp.path(), &repo, &new, &sessions)).unwrap());
    let now = hit(&v, "pricing/pricing.go");
    assert!(now.contains(&31) && now.contains(&25), "{now:?}");
    let c = carried(&v, "pricing/pricing.go");
    assert!(
        !c.contains(&31),
        "covered by the new build itself: not carried"
    );
    for l in &c {
        assert!(!now.contains(l));
        assert!(expected_pricing.contains(l));
    }
    // Discount's lines (6 -> 8, 9 -> 11) were not run by TestApply: still carried.
    assert!(c.contains(&8) && c.contains(&11), "{c:?}");
    // The edited line is in the new build's data, missed, and not carried.
    let f = v
        .files
        .iter()
        .find(|f| f.path == "pricing/pricing.go")
        .unwrap();
    assert_eq!(f.coverage.as_ref().unwrap().status(13), LineStatus::Missed);
    assert!(!c.contains(&13));
    assert_eq!(v.totals.carried_whole, {
        v.carried
            .files
            .values()
            .map(|f| f.lines.len() as u64)
            .sum::<u64>()
    });
}

fn engine_view(mut e: Engine) -> std::sync::Arc<View> {
    e.view()
}

#[test]
fn a_diff_file_that_does_not_apply_is_named_and_nothing_else_is_lost() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let head = common::rev_parse(&repo, "HEAD");
    let diff = tmp.path().join("review.diff");
    std::fs::write(
        &diff,
        "diff --git a/pricing/pricing.go b/pricing/pricing.go\n--- a/pricing/pricing.go\n\
         +++ b/pricing/pricing.go\n@@ -29,0 +30,2 @@\n+\treturn 1\n+\treturn 2\n\
         diff --git a/gone/gone.go b/gone/gone.go\nnew file mode 100644\n--- /dev/null\n\
         +++ b/gone/gone.go\n@@ -0,0 +1 @@\n+package gone\n",
    )
    .unwrap();
    let sessions = tmp.path().join("sessions");
    store(
        &sessions,
        &head,
        "mode: set\nexample.com/shop/pricing/pricing.go:23.2,23.19 1 1\n",
    );
    let path = tmp.path().join("covtop.toml");
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\ndiff_file = \"{}\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:1\"\n",
            repo.display(),
            diff.display(),
            sessions.display(),
        ),
    )
    .unwrap();
    let v = Engine::open(covtop::config::load(&path).unwrap())
        .unwrap()
        .view();
    let messages: Vec<&str> = v.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("changes line 31 of pricing/pricing.go, which has 30 lines")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("changes gone/gone.go, which is not in revision")),
        "{messages:#?}"
    );
    // The stored coverage is still there.
    assert_eq!(hit(&v, "pricing/pricing.go"), [23]);
}

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

fn extra_config(dir: &Path, repo: &Path, revision: &str, url: &str) -> covtop::config::Config {
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
        let mut e =
            Engine::open(extra_config(tmp.path(), &repo, &old, "http://127.0.0.1:1")).unwrap();
        let poll = covtop::agent::PollResult {
            dumps: vec![covtop::agent::ReplicaDump {
                replica: "id=0".into(),
                instance: None,
                extra: None,
                fetched_at: std::time::SystemTime::now(),
                elapsed: std::time::Duration::ZERO,
                payload: covtop::agent::Payload::GoProfile(old_profile.clone().into_bytes()),
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
    server.add_agent(agent(
        &old_profile,
        101,
        &format!("ns=prod,commit={}", &old[..12]),
    ));
    let mut engine = Engine::open(extra_config(tmp.path(), &repo, &new, &server.url())).unwrap();

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
    // Replicas are processes (hostname/pid), whatever id the server gave them.
    assert_eq!(stored[0].meta.replica, "test/101");

    // The new build comes up beside it: its own lines are covered, the rest stays carried.
    server.add_agent(agent(&new_profile, 102, &format!("commit={new}")));
    // An agent whose commit the repository does not have.
    server.add_agent(agent(&new_profile, 103, "commit=deadbeefdeadbeef"));
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
    assert!(stray.message.contains("replica test/103"), "{stray:?}");
    // Nothing is lost: the stray dump is stored with the commit text as found.
    let (stored, _) = SessionStore::open(&tmp.path().join("sessions"), "default")
        .unwrap()
        .load_all()
        .unwrap();
    assert!(
        stored
            .iter()
            .any(|d| d.meta.revision == "deadbeefdeadbeef" && d.meta.replica == "test/103")
    );
    server.stop();

    // A restarted covtop replays the session the same way.
    let v2 = Engine::open(extra_config(tmp.path(), &repo, &new, "http://127.0.0.1:1"))
        .unwrap()
        .view();
    assert_eq!(carried(&v2, "pricing/pricing.go"), c);
    assert_eq!(hit(&v2, "pricing/pricing.go"), own);
}
