//! GocV2Target against the v2 test server whose agents are replicas of the real instrumented
//! shop: per-agent profiles, growing counts, a killed replica, a black-holed one, a
//! disconnected one, the asynchronous reset, and the watch stream across a server restart.

mod common;
mod goc_support;

use std::time::{Duration, Instant};

use covtop::agent::Payload;
use covtop::agent::goc_v2::{GocV2Target, RESET_SETTLE, WatchHint};
use covtop::demo::gocserver::v2::{AgentSpec, ProfileSource, STATUS_DISCONNECT, Server};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use goc_support::{BlackHole, ShopReplica, count_for, eventually, shop_binary};
use tokio::sync::mpsc;

fn bytes(p: &Payload) -> &[u8] {
    match p {
        Payload::GoProfile(b) => b,
        other => panic!("expected a Go profile, got {other:?}"),
    }
}

fn shop_agent(replica: &ShopReplica, extra: &str, watch_mode: bool) -> AgentSpec {
    AgentSpec {
        hostname: "test".into(),
        cmdline: "shop".into(),
        pid: replica.pid(),
        extra: extra.into(),
        watch_mode,
        source: ProfileSource::Pull(replica.agent_url.clone()),
    }
}

async fn profile_of(target: &GocV2Target, replica: &str) -> Vec<u8> {
    let poll = target.poll().await;
    let dump = poll
        .dumps
        .iter()
        .find(|d| d.replica == replica)
        .unwrap_or_else(|| panic!("no dump for {replica}: {:?}", poll.failures));
    bytes(&dump.payload).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_report_separately_fail_alone_and_reset_asynchronously() {
    let Some(bin) = shop_binary() else { return };
    let server = Server::start().await.unwrap();
    let a = ShopReplica::start(bin, 0, None);
    let mut b = ShopReplica::start(bin, 0, None);
    let id_a = server.add_agent(shop_agent(&a, "ns=staging", false));
    let id_b = server.add_agent(shop_agent(&b, "ns=prod", false));
    let timeout = Duration::from_millis(1500);
    // Replicas are processes (hostname/pid), not registration ids.
    let (ra, rb) = (format!("test/{}", a.pid()), format!("test/{}", b.pid()));
    let target = GocV2Target::new(&server.url(), vec![], None, timeout).unwrap();

    let agents = target.agents().await.unwrap();
    assert_eq!(
        agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        vec![id_a.as_str(), id_b.as_str()]
    );
    assert_eq!(agents[0].pid, a.pid().to_string());
    assert_eq!(agents[0].status, 2);

    let poll = target.poll().await;
    assert!(poll.failures.is_empty(), "{:?}", poll.failures);
    assert_eq!(poll.dumps.len(), 2);
    assert_eq!(poll.dumps[0].replica, ra);
    let instance = poll.dumps[0].instance.clone().unwrap();
    assert!(
        instance.starts_with(&format!("test/{}/", a.pid())) && !instance.contains("id="),
        "the process, not its registration: {instance}"
    );

    let base_a = count_for(&profile_of(&target, &ra).await, "cart/cart.go");
    let base_b = count_for(&profile_of(&target, &rb).await, "cart/cart.go");
    a.traffic(3);
    b.traffic(1);
    let grown_a = count_for(&profile_of(&target, &ra).await, "cart/cart.go");
    let grown_b = count_for(&profile_of(&target, &rb).await, "cart/cart.go");
    assert!(
        grown_a > base_a && grown_b > base_b,
        "{base_a}->{grown_a}, {base_b}->{grown_b}"
    );
    assert!(
        grown_a - base_a > grown_b - base_b,
        "a got three times the traffic"
    );

    // The extra regexp and the id filter select agents like the server does.
    let staging =
        GocV2Target::new(&server.url(), vec![], Some("staging$".into()), timeout).unwrap();
    let poll = staging.poll().await;
    assert_eq!(
        poll.dumps
            .iter()
            .map(|d| d.replica.clone())
            .collect::<Vec<_>>(),
        vec![ra.clone()]
    );
    let by_id = GocV2Target::new(
        &server.url(),
        vec![format!("id={id_b}"), "77".into()],
        None,
        timeout,
    )
    .unwrap();
    let poll = by_id.poll().await;
    assert_eq!(poll.dumps.len(), 1);
    assert_eq!(poll.failures.len(), 1);
    assert!(
        poll.failures[0]
            .error
            .contains("agent id=77 is not registered"),
        "{:?}",
        poll.failures
    );

    // Reset of one agent: the DELETE answers before the agent is reset; poll again later.
    let outcomes = target.reset(Some(std::slice::from_ref(&ra))).await;
    assert_eq!(outcomes[0].result, Ok(()));
    tokio::time::sleep(RESET_SETTLE).await;
    assert_eq!(count_for(&profile_of(&target, &ra).await, ""), 0);
    assert!(count_for(&profile_of(&target, &rb).await, "cart/cart.go") >= grown_b);

    // A killed process: the server still lists it, gets nothing from it, and says so.
    b.kill9();
    let hole = BlackHole::start();
    server.add_agent(AgentSpec {
        hostname: "hole".into(),
        cmdline: "hung".into(),
        pid: 1,
        extra: String::new(),
        watch_mode: false,
        source: ProfileSource::Pull(hole.url.clone()),
    });
    let started = Instant::now();
    let poll = target.poll().await;
    let elapsed = started.elapsed();
    assert_eq!(poll.dumps.len(), 1, "{:?}", poll.failures);
    assert_eq!(poll.dumps[0].replica, ra);
    let failure = |replica: &str| {
        poll.failures
            .iter()
            .find(|f| f.replica == replica)
            .unwrap_or_else(|| panic!("no failure for {replica}: {:?}", poll.failures))
            .error
            .clone()
    };
    assert!(
        failure(&rb).contains("can't write an empty profile"),
        "{}",
        failure(&rb)
    );
    assert!(
        failure("hole/1").contains("did not answer within"),
        "{}",
        failure("hole/1")
    );
    assert!(elapsed < timeout * 3, "poll took {elapsed:?}");

    // Once the server marks it disconnected it is reported as such and not fetched.
    server.set_status(&id_b, STATUS_DISCONNECT);
    let poll = target.poll().await;
    assert!(
        failure_text(&poll, &rb).starts_with("disconnected"),
        "{:?}",
        poll.failures
    );
    // Resetting everything skips it with a reason instead of a silent 200.
    let outcomes = target.reset(None).await;
    let of = |replica: &str| {
        outcomes
            .iter()
            .find(|o| o.replica == replica)
            .map(|o| o.result.clone())
    };
    assert_eq!(of(&ra), Some(Ok(())));
    assert!(
        of(&rb).unwrap().unwrap_err().starts_with("disconnected"),
        "{outcomes:?}"
    );

    // A restarted process registers again under a new id, counting from zero.
    let b2 = ShopReplica::start(bin, 0, None);
    server.add_agent(shop_agent(&b2, "ns=prod", false));
    let fresh = profile_of(&target, &format!("test/{}", b2.pid())).await;
    assert_eq!(count_for(&fresh, "cart/cart.go"), base_b);
}

fn failure_text(poll: &covtop::agent::PollResult, replica: &str) -> String {
    poll.failures
        .iter()
        .find(|f| f.replica == replica)
        .map(|f| f.error.clone())
        .unwrap_or_default()
}

async fn next_hint(rx: &mut mpsc::Receiver<WatchHint>, within: Duration) -> Option<WatchHint> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

/// Sends shop requests until a hint for a file ending with `suffix` arrives.
async fn hint_during_traffic(
    shop: &ShopReplica,
    rx: &mut mpsc::Receiver<WatchHint>,
    within: Duration,
    suffix: &str,
) -> Option<WatchHint> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        shop.traffic(1);
        while let Some(h) = next_hint(rx, Duration::from_millis(300)).await {
            if h.file.ends_with(suffix) {
                return Some(h);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_yields_hints_while_requests_run_and_survives_a_server_restart() {
    let Some(bin) = shop_binary() else { return };
    let server = Server::start().await.unwrap();
    let port = server.addr().port();
    let shop = ShopReplica::start(bin, 0, None);
    server.add_agent(shop_agent(&shop, "", true));
    let target = GocV2Target::new(&server.url(), vec![], None, Duration::from_secs(3)).unwrap();
    let (tx, mut rx) = mpsc::channel(256);
    let task = target.watch(tx);

    // Requests keep running; hints for the shop's files arrive.
    let hint = hint_during_traffic(&shop, &mut rx, Duration::from_secs(10), "cart/cart.go")
        .await
        .expect("a cart.go hint while requests run");
    assert!(hint.line.ends_with(" 1"), "{}", hint.line);

    // The server goes away and comes back on the same port: the stream reconnects.
    server.stop();
    while next_hint(&mut rx, Duration::from_millis(100))
        .await
        .is_some()
    {}
    let server = Server::start_on(port).await.unwrap();
    server.add_agent(shop_agent(&shop, "", true));
    let again = hint_during_traffic(&shop, &mut rx, Duration::from_secs(15), "").await;
    assert!(again.is_some(), "no hint after the server restarted");

    // Dropping the receiver ends the task.
    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the watch task ends when the receiver is dropped")
        .expect("the watch task does not panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_answers_pings_and_stays_connected() {
    let server = Server::start().await.unwrap();
    let profile =
        SharedProfile::new(AgentProfile::from_text("mode: count\nx/a.go:1.1,2.2 1 0\n").unwrap());
    server.add_agent(AgentSpec {
        hostname: "h".into(),
        cmdline: "c".into(),
        pid: 7,
        extra: String::new(),
        watch_mode: true,
        source: ProfileSource::Memory(profile.clone()),
    });
    let target = GocV2Target::new(&server.url(), vec![], None, Duration::from_secs(3)).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let _task = target.watch(tx);
    eventually(Duration::from_secs(5), || async {
        (server.watch_clients() == 1).then_some(())
    })
    .await
    .expect("the watch client connects");
    // Longer than the server's ping interval plus its pong deadline: a client that ignored
    // pings would have been dropped (and counted again on reconnect).
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        server.watch_connections_total(),
        1,
        "the client never had to reconnect"
    );
    profile.lock().hit(0, 3);
    let hint = next_hint(&mut rx, Duration::from_secs(3))
        .await
        .expect("a hint from the counter going up");
    assert_eq!(hint.line, "x/a.go:1.1,2.2 1 1");
    server.emit_watch("x/b.go:3.1,4.2 2 1");
    let direct = next_hint(&mut rx, Duration::from_secs(3))
        .await
        .expect("a directly emitted frame");
    assert_eq!(direct.file, "x/b.go");
}
