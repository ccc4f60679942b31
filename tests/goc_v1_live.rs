//! GocV1Target against the v1 test center and replicas of the real instrumented shop (built
//! with `go tool cover` plus a goc-style agent): per-replica profiles, growing counts, a
//! killed replica, a black-holed one, a restart, reset by address, clear's partial failure.

mod common;
mod goc_support;

use std::time::{Duration, Instant};

use covtop::agent::Payload;
use covtop::agent::goc_v1::{GocError, GocV1Target};
use covtop::demo::gocserver::v1::Center;
use goc_support::{BlackHole, ShopReplica, count_for, eventually, files_of, shop_binary};

fn bytes(p: &Payload) -> &[u8] {
    match p {
        Payload::GoProfile(b) => b,
        other => panic!("expected a Go profile, got {other:?}"),
    }
}

/// Waits until the center lists `n` shop addresses.
async fn registered(target: &GocV1Target, n: usize) -> Vec<String> {
    eventually(Duration::from_secs(10), || async {
        let list = target.list().await.ok()?;
        let addrs = list.get("shop")?.clone();
        (addrs.len() >= n).then_some(addrs)
    })
    .await
    .unwrap_or_else(|| panic!("{n} shop replicas never registered"))
}

async fn profile_of(target: &GocV1Target, replica: &str) -> Vec<u8> {
    let poll = target.poll().await;
    let dump = poll
        .dumps
        .iter()
        .find(|d| d.replica == replica)
        .unwrap_or_else(|| panic!("no dump for {replica}: {:?}", poll.failures));
    bytes(&dump.payload).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_report_separately_and_counts_grow() {
    let Some(bin) = shop_binary() else { return };
    let center = Center::start().await.unwrap();
    let a = ShopReplica::start(bin, 0, Some(&center.url()));
    let b = ShopReplica::start(bin, 0, Some(&center.url()));
    let target = GocV1Target::new(
        &center.url(),
        vec!["shop".into()],
        vec![],
        Duration::from_secs(3),
    )
    .unwrap();
    registered(&target, 2).await;

    let poll = target.poll().await;
    assert!(poll.failures.is_empty(), "{:?}", poll.failures);
    let mut replicas: Vec<_> = poll.dumps.iter().map(|d| d.replica.clone()).collect();
    replicas.sort();
    let mut expected = vec![a.agent_url.clone(), b.agent_url.clone()];
    expected.sort();
    assert_eq!(replicas, expected);
    for d in &poll.dumps {
        assert_eq!(d.instance, None);
        let files = files_of(bytes(&d.payload));
        assert!(files.contains("example.com/shop/cart/cart.go"), "{files:?}");
        assert!(files.contains("example.com/shop/main.go"), "{files:?}");
        assert!(files.contains("example.com/shop/api/api.go"), "{files:?}");
    }

    let cart_a = count_for(&profile_of(&target, &a.agent_url).await, "cart/cart.go");
    let cart_b = count_for(&profile_of(&target, &b.agent_url).await, "cart/cart.go");
    a.traffic(3);
    let after_a = count_for(&profile_of(&target, &a.agent_url).await, "cart/cart.go");
    let after_b = count_for(&profile_of(&target, &b.agent_url).await, "cart/cart.go");
    assert!(
        after_a > cart_a,
        "replica a ran cart code: {cart_a} -> {after_a}"
    );
    assert_eq!(after_b, cart_b, "replica b got no traffic");

    // Filters: an address filter keeps one replica; an unknown service is a failure.
    let only_b = GocV1Target::new(
        &center.url(),
        vec![],
        vec![b.agent_url.clone()],
        Duration::from_secs(3),
    )
    .unwrap();
    let poll = only_b.poll().await;
    assert_eq!(poll.dumps.len(), 1);
    assert_eq!(poll.dumps[0].replica, b.agent_url);
    let nosuch = GocV1Target::new(
        &center.url(),
        vec!["nosuch".into()],
        vec![],
        Duration::from_secs(3),
    )
    .unwrap();
    let poll = nosuch.poll().await;
    assert!(poll.dumps.is_empty());
    assert!(
        poll.failures[0]
            .error
            .contains("\"nosuch\" is not registered"),
        "{:?}",
        poll.failures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_black_holed_replicas_fail_alone_and_a_restart_comes_back() {
    let Some(bin) = shop_binary() else { return };
    let center = Center::start().await.unwrap();
    let a = ShopReplica::start(bin, 0, Some(&center.url()));
    let mut b = ShopReplica::start(bin, 0, Some(&center.url()));
    let holes: Vec<BlackHole> = (0..3).map(|_| BlackHole::start()).collect();
    for hole in &holes {
        center.register("shop", &hole.url);
    }
    let timeout = Duration::from_secs(1);
    let target = GocV1Target::new(&center.url(), vec![], vec![], timeout).unwrap();
    registered(&target, 5).await;
    let baseline = count_for(&profile_of(&target, &a.agent_url).await, "cart/cart.go");
    b.traffic(2);
    assert!(count_for(&profile_of(&target, &b.agent_url).await, "cart/cart.go") > baseline);

    b.kill9();
    let started = Instant::now();
    let poll = target.poll().await;
    let elapsed = started.elapsed();
    assert_eq!(poll.dumps.len(), 1, "{:?}", poll.failures);
    assert_eq!(poll.dumps[0].replica, a.agent_url);
    let failure = |r: &str| {
        poll.failures
            .iter()
            .find(|f| f.replica == r)
            .unwrap_or_else(|| panic!("no failure for {r}: {:?}", poll.failures))
            .error
            .clone()
    };
    let dead = failure(&b.agent_url);
    assert!(
        dead.contains("connection refused") && dead.contains("417"),
        "{dead}"
    );
    for hole in &holes {
        let hung = failure(&hole.url);
        assert!(hung.contains("did not answer within 1s"), "{hung}");
    }
    // The fetches run concurrently: three black holes fetched one after another would hold
    // the poll for at least 3 s; concurrently they cost one timeout.
    assert!(elapsed < timeout * 5 / 2, "poll took {elapsed:?}");

    // A restart on the same agent port comes back with counts from zero.
    let b2 = ShopReplica::start(bin, b.agent_port, Some(&center.url()));
    assert_eq!(b2.agent_url, b.agent_url);
    let fresh = profile_of(&target, &b2.agent_url).await;
    let untouched = profile_of(&target, &a.agent_url).await;
    assert_eq!(
        count_for(&fresh, "cart/cart.go"),
        count_for(&untouched, "cart/cart.go"),
        "only start-up code ran in the restarted replica"
    );
    assert!(count_for(&fresh, "main.go") > 0, "main ran at start");

    // Stale entries can be removed; removing one twice says it is not registered.
    for hole in &holes {
        target.remove(&hole.url).await.unwrap();
    }
    let again = target.remove(&holes[0].url).await.unwrap_err();
    assert!(matches!(again, GocError::NotRegistered { .. }), "{again}");
    let poll = target.poll().await;
    assert_eq!(poll.dumps.len(), 2, "{:?}", poll.failures);
    assert!(poll.failures.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_clears_one_replica_and_clear_partial_failure_is_detected() {
    let Some(bin) = shop_binary() else { return };
    let center = Center::start().await.unwrap();
    let a = ShopReplica::start(bin, 0, Some(&center.url()));
    let target = GocV1Target::new(
        &center.url(),
        vec!["shop".into()],
        vec![],
        Duration::from_secs(3),
    )
    .unwrap();
    registered(&target, 1).await;
    // Registration order decides the order the center clears in: b after a.
    let mut b = ShopReplica::start(bin, 0, Some(&center.url()));
    registered(&target, 2).await;
    a.traffic(2);
    b.traffic(2);

    let outcomes = target.reset(Some(std::slice::from_ref(&a.agent_url))).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].result, Ok(()), "{outcomes:?}");
    assert_eq!(count_for(&profile_of(&target, &a.agent_url).await, ""), 0);
    assert!(count_for(&profile_of(&target, &b.agent_url).await, "cart/cart.go") > 0);

    // An address the center does not know answers an empty 200: not a success.
    let unknown = target
        .reset(Some(&["http://127.0.0.1:9".to_string()]))
        .await;
    assert!(
        unknown[0]
            .result
            .as_ref()
            .unwrap_err()
            .contains("not registered"),
        "{unknown:?}"
    );

    b.kill9();
    // One request for the service: a is cleared, then the center hits dead b and appends the
    // error to its 200 body.
    a.traffic(1);
    let outcomes = target.clear_service("shop").await;
    let of = |r: &str| {
        outcomes
            .iter()
            .find(|o| o.replica == r)
            .unwrap()
            .result
            .clone()
    };
    assert_eq!(of(&a.agent_url), Ok(()), "{outcomes:?}");
    let err = of(&b.agent_url).unwrap_err();
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(count_for(&profile_of(&target, &a.agent_url).await, ""), 0);

    // Per-address reset of everything: the dead one fails, the live one succeeds.
    let outcomes = target.reset(None).await;
    assert_eq!(outcomes.len(), 2);
    let of = |r: &str| {
        outcomes
            .iter()
            .find(|o| o.replica == r)
            .unwrap()
            .result
            .clone()
    };
    assert_eq!(of(&a.agent_url), Ok(()));
    assert!(of(&b.agent_url).unwrap_err().contains("connection refused"));
}
