//! Hostile servers on the network side (issue #12): a black-holed replica beside a healthy one,
//! replicas by the hundred under a small descriptor limit, endless bodies. The goc v1 center here
//! is a small hostile server: the real center cannot be told to black-hole one agent or to send
//! an endless body.

mod common;

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use covtop::engine::{Engine, live};
use covtop::model::{ReplicaState, View};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 1\n\
example.com/shop/cart/cart.go:25.18,27.2 1 0\n";

/// What [`Behaviour::Garbage`] answers: a profile's header, then no block.
const GARBAGE: &str = "mode: count\nnot a block at all\n";

/// How the hostile center answers a profile request for one agent address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    /// Accepts the request and never answers.
    BlackHole,
    /// Answers 200 and then a body without end, as fast as it can.
    Endless,
    /// Answers 200 with a body that is no profile.
    Garbage,
    /// Answers 200, then a profile one byte every 100 ms, for ever.
    Drip,
}

struct Hostile {
    agents: Vec<(String, Behaviour)>,
    /// Profile requests per agent address.
    requests: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Agent addresses cleared (reset), in order.
    cleared: std::sync::Mutex<Vec<String>>,
}

impl Hostile {
    fn requests_of(&self, address: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .get(address)
            .copied()
            .unwrap_or(0)
    }
}

/// A goc v1 center listing `agents` under service "shop" and answering each as told.
async fn hostile_center(agents: Vec<(String, Behaviour)>) -> (String, Arc<Hostile>) {
    let state = Arc::new(Hostile {
        agents,
        requests: Default::default(),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        cleared: Default::default(),
    });
    async fn list(State(s): State<Arc<Hostile>>) -> axum::Json<serde_json::Value> {
        let addrs: Vec<&str> = s.agents.iter().map(|(a, _)| a.as_str()).collect();
        axum::Json(serde_json::json!({ "shop": addrs }))
    }
    async fn profile(State(s): State<Arc<Hostile>>, body: String) -> axum::response::Response {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let address = v["address"][0].as_str().unwrap_or_default().to_string();
        *s.requests
            .lock()
            .unwrap()
            .entry(address.clone())
            .or_default() += 1;
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let behaviour = s
            .agents
            .iter()
            .find(|(a, _)| *a == address)
            .map_or(Behaviour::Healthy, |(_, b)| *b);
        let response = match behaviour {
            Behaviour::Healthy => {
                // Slow enough that many requests overlap.
                tokio::time::sleep(Duration::from_millis(20)).await;
                axum::response::Response::new(Body::from(PROFILE))
            }
            Behaviour::BlackHole => std::future::pending().await,
            Behaviour::Garbage => axum::response::Response::new(Body::from(GARBAGE)),
            Behaviour::Drip => {
                let bytes = PROFILE.as_bytes().repeat(1000);
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let byte = axum::body::Bytes::copy_from_slice(&bytes[i % bytes.len()..][..1]);
                    async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Ok::<_, std::io::Error>(byte), i + 1))
                    }
                });
                axum::response::Response::new(Body::from_stream(stream))
            }
            Behaviour::Endless => {
                let chunk = bytes_chunk();
                let stream = futures_util::stream::unfold((), move |()| {
                    let c = chunk.clone();
                    async move { Some((Ok::<_, std::io::Error>(c), ())) }
                });
                axum::response::Response::new(Body::from_stream(stream))
            }
        };
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
        response
    }
    async fn clear(State(s): State<Arc<Hostile>>, body: String) -> String {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let address = v["address"][0].as_str().unwrap_or_default().to_string();
        s.cleared.lock().unwrap().push(address.clone());
        format!("Register service {address} coverage counter clear call successfully\n")
    }
    let app = axum::Router::new()
        .route("/v1/cover/clear", post(clear))
        .route("/v1/cover/list", get(list))
        .route("/v1/cover/profile", post(profile))
        .with_state(state.clone());
    let url = serve(app).await;
    (url, state)
}

/// Serves `app` on a loopback port of its own; returns its URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// One MiB of a profile line repeated: a body that looks like a profile and never ends.
fn bytes_chunk() -> axum::body::Bytes {
    let mut b = b"mode: count\n".to_vec();
    while b.len() < 1 << 20 {
        b.extend_from_slice(b"example.com/shop/cart/cart.go:25.18,27.2 1 0\n");
    }
    axum::body::Bytes::from(b)
}

/// A sample repository and a config polling one target of `kind` at `url` (`poll`: the
/// `[poll]` keys); `None` outside CI when git is missing. Keep the folder while the test runs.
fn prepared(kind: &str, url: &str, poll: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if !common::have_tool("git", "--version") {
        assert!(!common::in_ci(), "git is needed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\n{poll}\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"{kind}\"\nurl = \"{url}\"\n",
            repo.display(),
            tmp.path().join("s").display(),
        ),
    )
    .unwrap();
    Some((tmp, config))
}

const HEALTHY: &str = "http://10.0.0.1:7778";
const HOLE: &str = "http://10.0.0.2:7778";

/// A hostile center with a healthy replica ([`HEALTHY`]) and a black-holed one ([`HOLE`]).
async fn healthy_and_black_hole() -> (String, Arc<Hostile>) {
    hostile_center(vec![
        (HEALTHY.into(), Behaviour::Healthy),
        (HOLE.into(), Behaviour::BlackHole),
    ])
    .await
}

/// Quits a live engine and waits for its task.
async fn quit(h: live::LiveHandles, join: tokio::task::JoinHandle<()>) {
    h.commands
        .send(covtop::engine::Command::Quit)
        .await
        .unwrap();
    join.await.unwrap();
}

fn state_of(v: &View, replica: &str) -> Option<ReplicaState> {
    v.targets
        .iter()
        .flat_map(|t| &t.replicas)
        .find(|r| r.id == replica)
        .map(|r| r.state.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_replica_never_holds_up_a_healthy_one_on_the_screen() {
    let (healthy, hole) = (HEALTHY, HOLE);
    let (center, state) = healthy_and_black_hole().await;
    // A timeout far longer than the wait below: the black hole is still in flight all along.
    let Some((_tmp, config)) = prepared("goc", &center, "interval = \"200ms\"\ntimeout = \"60s\"")
    else {
        return;
    };
    let engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let (h, join) = live::spawn(engine);
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while state.requests_of(healthy) < 5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the healthy replica was asked {} time(s) while the black hole was pending",
        state.requests_of(healthy)
    );
    // The black hole was asked once and is still pending: one sequence at a time per replica.
    assert_eq!(state.requests_of(hole), 1);
    let v = h.views.borrow().clone();
    assert_eq!(
        state_of(&v, healthy),
        Some(ReplicaState::Up),
        "{:?}",
        v.targets
    );
    assert_eq!(state_of(&v, hole), None, "{:?}", v.targets);
    assert!(v.totals.whole_statements.0 >= 1, "{:?}", v.totals);
    quit(h, join).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_on_the_screen_resets_the_healthy_replica_while_another_is_black_holed() {
    let (healthy, hole) = (HEALTHY, HOLE);
    let (center, state) = healthy_and_black_hole().await;
    let Some((_tmp, config)) = prepared("goc", &center, "interval = \"60s\"\ntimeout = \"60s\"")
    else {
        return;
    };
    let engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let session = engine.session_dir();
    let (h, join) = live::spawn(engine);
    // The first tick's fetches are in flight (the black hole's for 60 s); then a reset.
    tokio::time::timeout(Duration::from_secs(20), async {
        while state.requests_of(healthy) < 1 || state.requests_of(hole) < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first poll reaches both replicas");
    let before = state.requests_of(healthy);
    h.commands
        .send(covtop::engine::Command::Reset { targets: vec![] })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        // Reset, then the first dump of the new epoch.
        while state.cleared.lock().unwrap().is_empty() || state.requests_of(healthy) < before + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the healthy replica is reset without waiting for the black hole");
    // Only the replica whose dump is stored was reset, and its dump was fetched first.
    assert_eq!(*state.cleared.lock().unwrap(), [healthy]);
    assert_eq!(state.requests_of(hole), 1);
    quit(h, join).await;
    // The reset is recorded in the session as a marker beside the healthy replica's dumps.
    let files: Vec<String> = walk(&session);
    let markers: Vec<&String> = files
        .iter()
        .filter(|f| f.contains("\"reset_after\":true"))
        .collect();
    assert_eq!(markers.len(), 1, "{files:?}");
    assert!(markers[0].contains(healthy), "{markers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned());
        }
    }
    out
}

/// One headless round of a healthy replica beside one that behaves as `bad`, with a 1 s
/// timeout: the healthy one is stored, the other asked once, cut at the timeout and named with it.
async fn healthy_stored_and_the_other_cut_at_the_timeout(bad: Behaviour) {
    let healthy = "http://10.0.0.1:7778";
    let other = "http://10.0.0.2:7778";
    let (center, state) = hostile_center(vec![
        (healthy.into(), Behaviour::Healthy),
        (other.into(), bad),
    ])
    .await;
    let Some((_tmp, config)) = prepared("goc", &center, "timeout = \"1s\"") else {
        return;
    };
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert_eq!(polls.len(), 1);
    let p = &polls[0];
    assert_eq!(
        p.stored.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        [healthy]
    );
    assert_eq!(p.failures.len(), 1, "{:?}", p.failures);
    assert_eq!(p.failures[0].0, other);
    assert!(p.failures[0].1.contains("within 1s"), "{:?}", p.failures);
    assert_eq!(state.requests_of(other), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_replica_is_cut_at_the_timeout_in_a_headless_round() {
    healthy_stored_and_the_other_cut_at_the_timeout(Behaviour::BlackHole).await;
}

/// Issue #12: a replica dripping its body a byte at a time was cut after 30 s whatever the
/// configured timeout. The timeout bounds the whole exchange: the drip (which never ends) is
/// cut at the configured 1 s, named with it, and the healthy replica is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_replica_is_cut_at_the_configured_timeout() {
    healthy_stored_and_the_other_cut_at_the_timeout(Behaviour::Drip).await;
}

/// Runs `covtop` with `args` under `ulimit -n nofile`, returning its output and peak RSS (KiB).
// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn covtop_limited(
    config: &std::path::Path,
    nofile: u32,
    args: &[&str],
) -> (std::process::Output, i64) {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_covtop"));
    cmd.arg("--config").arg(config).args(args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's own limit.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: libc::rlim_t::from(nofile),
                rlim_max: libc::rlim_t::from(nofile),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("covtop starts");
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut b).unwrap();
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut { stderr }, &mut b).unwrap();
        b
    });
    let mut status = 0;
    // SAFETY: plain zeroed C struct, filled by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let output = std::process::Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, usage.ru_maxrss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_replicas_under_ulimit_256_are_queued_not_failed() {
    let agents: Vec<(String, Behaviour)> = (0..500)
        .map(|k| {
            (
                format!("http://10.1.{}.{}:7778", k / 250, k % 250 + 1),
                Behaviour::Healthy,
            )
        })
        .collect();
    let (center, state) = hostile_center(agents).await;
    let Some((_tmp, config)) = prepared("goc", &center, "timeout = \"30s\"") else {
        return;
    };
    let (out, _) = tokio::task::spawn_blocking(move || covtop_limited(&config, 256, &["dump"]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches(": stored ").count(),
        500,
        "{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains("DOWN") && !stderr.contains("Too many open files"),
        "{stdout}\n{stderr}"
    );
    // Queued, not all at once: at most the slots a limit of 256 allows.
    let most = state.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most <= covtop::agent::limits::connections_for(256),
        "{most} at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_endless_bodies_stay_within_one_budget() {
    let agents: Vec<(String, Behaviour)> = (0..8)
        .map(|k| (format!("http://10.2.0.{}:7778", k + 1), Behaviour::Endless))
        .collect();
    let (center, _state) = hostile_center(agents).await;
    let Some((_tmp, config)) = prepared("goc", &center, "timeout = \"8s\"") else {
        return;
    };
    let (out, peak_kib) =
        tokio::task::spawn_blocking(move || covtop_limited(&config, 4096, &["dump"]))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every endless body is refused, each with a reason naming it.
    assert_eq!(stdout.matches("DOWN").count(), 8, "{stdout}");
    assert!(
        stdout.contains("larger than") || stdout.contains("memory budget"),
        "{stdout}"
    );
    // One budget for all bodies in flight (192 MiB), not 256 MiB per body (2 GiB for eight):
    // the whole process stays under the 256 MiB a hostile input may add to normal use.
    let peak_mib = peak_kib / 1024;
    assert!(peak_mib < 256, "peak RSS {peak_mib} MiB");
    eprintln!("eight endless bodies: peak RSS {peak_mib} MiB");
}

/// A goc v2 server with one agent whose watch stream floods frames; counts profile requests.
async fn flooding_v2_server() -> (String, Arc<AtomicUsize>) {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    let requests = Arc::new(AtomicUsize::new(0));
    async fn agents() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({"items": [{
            "id": "1", "hostname": "pod-1", "pid": "7", "cmdline": "/shop", "status": 6
        }]}))
    }
    async fn profile(State(n): State<Arc<AtomicUsize>>) -> axum::Json<serde_json::Value> {
        n.fetch_add(1, Ordering::SeqCst);
        axum::Json(serde_json::json!({ "profile": PROFILE }))
    }
    async fn flood(mut socket: WebSocket) {
        let frame = "example.com/shop/cart/cart.go:25.18,27.2 1 1";
        while socket.send(Message::Text(frame.into())).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    async fn watch(ws: WebSocketUpgrade) -> axum::response::Response {
        ws.on_upgrade(flood)
    }
    let app = axum::Router::new()
        .route("/v2/agents", get(agents))
        .route("/v2/cover/profile", get(profile))
        .route("/v2/cover/ws/watch", get(watch))
        .with_state(requests.clone());
    let url = serve(app).await;
    (url, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_watch_stream_does_not_flood_the_server_with_polls() {
    let (url, requests) = flooding_v2_server().await;
    let Some((_tmp, config)) = prepared("goc-v2", &url, "interval = \"60s\"\ntimeout = \"2s\"")
    else {
        return;
    };
    let engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let (h, join) = live::spawn(engine);
    let window = Duration::from_secs(6);
    tokio::time::sleep(window).await;
    let polls = requests.load(Ordering::SeqCst);
    quit(h, join).await;
    // The first tick, then at most one hint-driven poll per HINT_MIN_GAP (2 s): a few, where an
    // unlimited stream gave one every debounce (300 ms), about 20 in this window.
    let most = 1 + (window.as_secs() / live::HINT_MIN_GAP.as_secs()) as usize + 1;
    assert!((2..=most).contains(&polls), "{polls} polls in {window:?}");
    // Every poll answered the same profile: it is stored once (67 identical dumps were stored
    // in 20 s before).
    let session = _tmp.path().join("s/sessions/default");
    let dumps = common::dump_names(&session);
    assert_eq!(dumps.len(), 1, "{dumps:?}");
}

/// A goc v2 server listing an agent with an empty id and one whose id needs encoding
/// (`a b&x=1`); records every request's method and URI.
async fn v2_server_with_odd_ids() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    async fn agents() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({"items": [
            {"id": "", "hostname": "pod-0", "pid": "6", "cmdline": "/shop", "status": 6},
            {"id": "a b&x=1", "hostname": "pod-1", "pid": "7", "cmdline": "/shop", "status": 6}
        ]}))
    }
    async fn record(
        State(seen): State<Arc<std::sync::Mutex<Vec<String>>>>,
        req: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        seen.lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.uri()));
        next.run(req).await
    }
    async fn profile() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({ "profile": PROFILE }))
    }
    let app = axum::Router::new()
        .route("/v2/agents", get(agents))
        .route("/v2/cover/profile", get(profile).delete(|| async { "" }))
        .layer(axum::middleware::from_fn_with_state(seen.clone(), record));
    let url = serve(app).await;
    (url, seen)
}

/// Issue #12: no request addresses every agent unless the user asked for all: an agent whose
/// id is empty is never fetched nor reset with `?id=` (which goc v2 takes as every agent), and
/// every id is sent encoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goc_v2_never_addresses_every_agent_and_encodes_ids() {
    let (url, seen) = v2_server_with_odd_ids().await;
    let Some((_tmp, config)) = prepared("goc-v2", &url, "timeout = \"2s\"") else {
        return;
    };
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    let resets = engine.reset(&[]).await.unwrap();
    let requests = seen.lock().unwrap().clone();
    let to_profile: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("/v2/cover/profile"))
        .collect();
    for r in &to_profile {
        assert!(r.ends_with("?id=a+b%26x%3D1"), "{r}: {requests:#?}");
    }
    assert!(
        to_profile.iter().any(|r| r.starts_with("GET ")),
        "{requests:#?}"
    );
    assert!(
        to_profile.iter().any(|r| r.starts_with("DELETE ")),
        "{requests:#?}"
    );
    // The agent without an id is named, not silently dropped, by the poll.
    let failures = format!("{:?}", polls[0].failures);
    assert!(failures.contains("pod-0"), "{failures}");
    assert_eq!(resets.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_reset_names_what_could_not_even_be_listed_as_not_reset() {
    let healthy = "http://10.0.0.1:7778";
    let (center, state) = hostile_center(vec![(healthy.into(), Behaviour::Healthy)]).await;
    let Some((_tmp, config)) = prepared("goc", &center, "timeout = \"2s\"") else {
        return;
    };
    let text = std::fs::read_to_string(&config).unwrap() + "services = [\"shop\", \"ghost\"]\n";
    std::fs::write(&config, text).unwrap();
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let resets = engine.reset(&[]).await.unwrap();
    assert_eq!(resets.len(), 1);
    let r = &resets[0];
    assert_eq!(r.outcomes.len(), 1, "{:?}", r.outcomes);
    assert_eq!(r.outcomes[0].replica, healthy);
    assert!(r.outcomes[0].result.is_ok());
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert_eq!(r.skipped[0].0, "service ghost");
    assert!(r.skipped[0].1.starts_with("not reset"), "{:?}", r.skipped);
    assert_eq!(*state.cleared.lock().unwrap(), [healthy]);
}

/// Issue #12: a freshly polled dump that cannot be decoded is set aside at once (not only at
/// the next replay): after one `dump` it is in the session's quarantine with its reason, the
/// summary names where it went, and the next `report` only says it was set aside earlier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_dump_that_cannot_be_decoded_is_set_aside_at_once() {
    let agent = "http://10.0.0.3:7778";
    let (center, _state) = hostile_center(vec![(agent.into(), Behaviour::Garbage)]).await;
    let Some((tmp, config)) = prepared("goc", &center, "timeout = \"5s\"") else {
        return;
    };
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_covtop"))
                .arg("--config")
                .arg(&config)
                .args(args)
                .output()
                .expect("covtop runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            (o.status, text)
        })
    };
    let (_, out) = run(&["dump"]).await.unwrap();
    let session = tmp.path().join("s/sessions/default");
    let aside: Vec<String> = std::fs::read_dir(session.join("quarantine"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(aside.len(), 2, "the dump and its reason: {aside:?}\n{out}");
    let dump = aside
        .iter()
        .find(|n| n.ends_with(".dump"))
        .expect("the dump");
    let moved = std::fs::read_to_string(session.join("quarantine").join(dump)).unwrap();
    assert!(moved.contains(agent), "the replica's dump: {moved}");
    let reason = std::fs::read_to_string(
        session
            .join("quarantine")
            .join(format!("{dump}.reason.txt")),
    )
    .unwrap();
    assert!(!reason.trim().is_empty(), "with its reason");
    assert!(
        !std::fs::read_dir(&session).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".dump")),
        "nothing undecodable is left in the session"
    );
    assert!(out.contains("quarantine"), "the summary says where: {out}");
    let (status, out) = run(&["report", "--offline", "--format", "json"])
        .await
        .unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("1 stored dump(s) set aside earlier"), "{out}");
    assert!(
        !out.contains("moved to"),
        "not set aside a second time: {out}"
    );
}

/// The same garbage polled again (the screen's next tick) is not stored nor set aside again,
/// and still reported undecodable: the replica's last dump names the quarantined file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_undecodable_dump_polled_again_is_reported_not_stored_again() {
    let agent = "http://10.0.0.4:7778";
    let (center, _state) = hostile_center(vec![(agent.into(), Behaviour::Garbage)]).await;
    let Some((tmp, config)) = prepared("goc", &center, "timeout = \"5s\"") else {
        return;
    };
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let quarantine = tmp.path().join("s/sessions/default/quarantine");
    let first = engine.poll(&[]).await.unwrap().remove(0);
    assert_eq!(first.undecodable.len(), 1, "{first:?}");
    assert!(first.stored[0].1.starts_with(&quarantine), "{first:?}");
    let second = engine.poll(&[]).await.unwrap().remove(0);
    assert_eq!(second.unchanged, 1, "{second:?}");
    assert_eq!(second.undecodable.len(), 1, "{second:?}");
    assert_eq!(second.stored, first.stored);
    assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 2);
}

/// Issue #12: ESC and BEL in an agent's address (as a hostile center lists it) reach no output
/// raw — `dump` and `reset` summaries, `report`'s warnings, `watch`'s text log, the error of a
/// failing command — each names the replica with its control characters escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_agent_addresses_are_escaped_in_every_text_output() {
    let healthy = "http://10.0.0.1:7778/\u{1b}]0;owned\u{7}";
    let garbage = "http://10.0.0.2:7778/\u{1b}[2J\u{7}";
    let hole = "http://10.0.0.3:7778/\u{1b}[1;31m";
    let (center, _state) = hostile_center(vec![
        (healthy.into(), Behaviour::Healthy),
        (garbage.into(), Behaviour::Garbage),
        (hole.into(), Behaviour::BlackHole),
    ])
    .await;
    let Some((_tmp, config)) = prepared("goc", &center, "timeout = \"1s\"") else {
        return;
    };
    let runs: [&[&str]; 5] = [
        &["dump"],
        &["reset", "--yes"],
        &["report", "--format", "text"],
        &["report", "--format", "markdown"],
        &["watch", "--once", "--log-format", "text"],
    ];
    for args in runs {
        let config = config.clone();
        let out = tokio::task::spawn_blocking(move || common::covtop(&config, args))
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{args:?} printed a raw control character: {text:?}"
        );
        // The replicas are named, escaped (not dropped).
        assert!(
            text.contains("10.0.0.3:7778/\\u{1b}[1;31m"),
            "{args:?} does not name the black-holed replica: {text}"
        );
    }
}
