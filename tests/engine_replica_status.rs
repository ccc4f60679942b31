//! Replica states across polls: an entry that never gave data and is no longer in the poll is
//! dropped (a goc v1 service that registers after covtop started); a replica that gave data and
//! is no longer listed stays, as gone, without a target error.

mod common;

use covtop::agent::goc_v1::GocV1Target;
use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use covtop::engine::Engine;
use covtop::model::{DiagnosticKind, ReplicaState, View};
use std::time::Duration;

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 1\n\
example.com/shop/cart/cart.go:25.18,27.2 1 0\n";

fn states(v: &View) -> Vec<(String, ReplicaState)> {
    v.targets
        .iter()
        .flat_map(|t| t.replicas.iter().map(|r| (r.id.clone(), r.state.clone())))
        .collect()
}

fn target_errors(v: &View) -> Vec<String> {
    v.diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::TargetError)
        .map(|d| format!("{}: {}", d.subject, d.message))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_registering_late_replaces_its_not_registered_entry() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"v1\"\nkind = \"goc\"\nurl = \"{}\"\nservices = [\"shop\"]\n",
            repo.display(),
            tmp.path().join("s").display(),
            center.url(),
        ),
    )
    .unwrap();
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();

    // Nothing registered yet: the service is down, and the diagnostics say why.
    engine.poll(&[]).await.unwrap();
    let v = engine.view();
    let s = states(&v);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].0, "service shop");
    assert!(
        matches!(&s[0].1, ReplicaState::Down(e) if e.contains("not registered")),
        "{s:?}"
    );
    assert!(
        target_errors(&v)
            .iter()
            .any(|e| e.contains("service shop") && e.contains("not registered")),
        "{:?}",
        v.diagnostics
    );

    // The service starts and registers: its replica is up, the synthetic entry is gone, and
    // nothing about "service shop" remains.
    let agent = Agent::start(
        "shop",
        SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap()),
        0,
        Some(&center.url()),
    )
    .await
    .unwrap();
    engine.poll(&[]).await.unwrap();
    let v = engine.view();
    assert_eq!(
        states(&v),
        vec![(agent.url(), ReplicaState::Up)],
        "only the live replica"
    );
    assert!(
        !v.diagnostics
            .iter()
            .any(|d| d.subject.contains("service shop") || d.message.contains("not registered")),
        "{:?}",
        v.diagnostics
    );
    assert!(target_errors(&v).is_empty(), "{:?}", v.diagnostics);

    // The replica is removed from the center (its pod went away): its data stays, it is shown
    // as gone, and that is no target error. The service is not registered any more, so that
    // is down again.
    GocV1Target::new(&center.url(), vec![], vec![], Duration::from_secs(2))
        .unwrap()
        .remove(&agent.url())
        .await
        .unwrap();
    engine.poll(&[]).await.unwrap();
    let v = engine.view();
    let s = states(&v);
    assert!(s.contains(&(agent.url(), ReplicaState::Gone)), "{s:?}");
    assert!(
        s.iter()
            .any(|(id, st)| id == "service shop" && matches!(st, ReplicaState::Down(_))),
        "{s:?}"
    );
    assert!(
        !target_errors(&v).iter().any(|e| e.contains(&agent.url())),
        "{:?}",
        v.diagnostics
    );
    assert!(
        v.files
            .iter()
            .any(|f| f.path == "pricing/pricing.go" && f.coverage.is_some()),
        "the gone replica's data is kept"
    );
    let gone = &v.targets[0]
        .replicas
        .iter()
        .find(|r| r.id == agent.url())
        .unwrap();
    assert!(gone.last_poll.is_some(), "when it last answered is kept");
}
