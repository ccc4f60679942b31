//! The goc test servers replayed against captures of real goc v1.4.5 and v2 sessions: same
//! status codes, content types and bodies (agent ports substituted; tokens and the order the
//! capture shows as random are masked).

mod common;
mod goc_support;

use std::time::Duration;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::v2::{AgentSpec, ProfileSource, STATUS_DISCONNECT, Server};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use goc_support::capture::{Capture, Section};

/// Agent 7778 of cap1/cap2 after three requests.
const COUNT_A: &str = "mode: count
example.com/demo/calc/calc.go:4.29,5.11 1 3
example.com/demo/calc/calc.go:8.2,8.12 1 2
example.com/demo/calc/calc.go:11.2,11.19 1 2
example.com/demo/calc/calc.go:5.11,7.3 1 1
example.com/demo/calc/calc.go:8.12,10.3 1 0
example.com/demo/main.go:12.13,14.42 2 1
example.com/demo/main.go:17.2,17.76 1 1
example.com/demo/main.go:25.2,25.55 1 1
example.com/demo/main.go:14.42,16.3 1 1
example.com/demo/main.go:17.76,19.17 2 3
example.com/demo/main.go:23.3,23.36 1 3
example.com/demo/main.go:19.17,22.4 2 0
example.com/demo/main.go:25.55,27.3 1 0
";

/// Agent 7780 of cap2: the service total minus agent 7778.
const COUNT_B: &str = "mode: count
example.com/demo/calc/calc.go:4.29,5.11 1 1
example.com/demo/calc/calc.go:8.2,8.12 1 1
example.com/demo/calc/calc.go:11.2,11.19 1 0
example.com/demo/calc/calc.go:5.11,7.3 1 0
example.com/demo/calc/calc.go:8.12,10.3 1 1
example.com/demo/main.go:12.13,14.42 2 1
example.com/demo/main.go:17.2,17.76 1 1
example.com/demo/main.go:25.2,25.55 1 1
example.com/demo/main.go:14.42,16.3 1 1
example.com/demo/main.go:17.76,19.17 2 1
example.com/demo/main.go:23.3,23.36 1 1
example.com/demo/main.go:19.17,22.4 2 0
example.com/demo/main.go:25.55,27.3 1 0
";

fn profile(text: &str) -> SharedProfile {
    SharedProfile::new(AgentProfile::from_text(text).expect("a valid profile"))
}

struct Reply {
    status: u16,
    content_type: Option<String>,
    body: String,
}

async fn send(method: &str, url: &str, json: Option<&str>) -> Reply {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, url);
    if let Some(body) = json {
        req = req
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("the test server answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let body = resp.text().await.expect("a body");
    Reply {
        status,
        content_type,
        body,
    }
}

/// Asserts a reply against a capture section after replacing the capture's addresses.
fn check(reply: &Reply, section: &Section, subst: &[(&str, String)]) {
    let mut expected = section.body.clone();
    for (from, to) in subst {
        expected = expected.replace(from, to);
    }
    if let Some(status) = section.status {
        assert_eq!(
            reply.status, status,
            "{}: status; body {}",
            section.title, reply.body
        );
        assert_eq!(
            reply.content_type, section.content_type,
            "{}: content type",
            section.title
        );
    }
    if section.exact {
        assert_eq!(reply.body, expected, "{}", section.title);
    } else {
        assert!(
            reply.body.starts_with(&expected),
            "{}: expected a body starting with\n{expected}\ngot\n{}",
            section.title,
            reply.body
        );
    }
}

#[tokio::test]
async fn v1_center_answers_like_the_captured_goc() {
    let center = Center::start().await.unwrap();
    let c = center.url();
    let set = Capture::load("cap2.txt")
        .get("agent(set) GET /v1/cover/profile")
        .body
        .clone()
        + "\n";
    let a = Agent::start("demo-count", profile(COUNT_A), 0, Some(&c))
        .await
        .unwrap();
    let b = Agent::start("demo-count", profile(COUNT_B), 0, Some(&c))
        .await
        .unwrap();
    let s = Agent::start("demo-set", profile(&set), 0, Some(&c))
        .await
        .unwrap();
    let subst = vec![
        ("127.0.0.1:7778", a.addr().to_string()),
        ("127.0.0.1:7780", b.addr().to_string()),
        ("127.0.0.1:7779", s.addr().to_string()),
    ];

    let cap1 = Capture::load("cap1.txt");
    let agent_profile = send("GET", &format!("{}/v1/cover/profile", a.url()), None).await;
    check(
        &agent_profile,
        cap1.get("agent GET /v1/cover/profile (after 3 requests)"),
        &subst,
    );

    let cap2 = Capture::load("cap2.txt");
    let list = send("GET", &format!("{c}/v1/cover/list"), None).await;
    check(&list, cap2.get("GET /v1/cover/list"), &subst);
    check(
        &send("GET", &format!("{c}/static"), None).await,
        cap2.get("GET /static"),
        &subst,
    );
    let service = send(
        "POST",
        &format!("{c}/v1/cover/profile"),
        Some(r#"{"service":["demo-count"]}"#),
    )
    .await;
    check(
        &service,
        cap2.get("POST /v1/cover/profile {\"service\""),
        &subst,
    );
    check(
        &send("GET", &format!("{c}/v1/cover/profile"), None).await,
        cap2.get("GET /v1/cover/profile (all: count+set mixed)"),
        &subst,
    );
    for (query, title) in [
        (
            "service=demo-set&coverfile=calc",
            "GET /v1/cover/profile?service=demo-set&coverfile=calc",
        ),
        (
            "service=demo-set&skipfile=calc&skipfile=nomatch",
            "GET /v1/cover/profile?service=demo-set&skipfile",
        ),
        ("service=nosuch", "GET /v1/cover/profile?service=nosuch"),
        (
            "service=nosuch&force=true",
            "GET /v1/cover/profile?service=nosuch&force=true",
        ),
        (
            "service=demo-set&address=http://127.0.0.1:7779",
            "GET /v1/cover/profile?service=demo-set&address",
        ),
        (
            "address=http://127.0.0.1:7779&coverfile=(",
            "GET /v1/cover/profile?address=http://127.0.0.1:7779&coverfile=(",
        ),
    ] {
        let mut q = query.to_string();
        for (from, to) in &subst {
            q = q.replace(from, to);
        }
        let q = q.replace('(', "%28");
        let reply = send("GET", &format!("{c}/v1/cover/profile?{q}"), None).await;
        check(&reply, cap2.get(title), &subst);
    }
    // Exact-prefix match above would accept `?service=nosuch&force=true` for the first
    // section; make sure the titles were told apart.
    let nosuch = send("GET", &format!("{c}/v1/cover/profile?service=nosuch"), None).await;
    assert_eq!(nosuch.body, r#"{"error":"service [nosuch] not found"}"#);
    // Lists are repeated keys: commas are not split.
    let comma = send("GET", &format!("{c}/v1/cover/profile?service=x,y"), None).await;
    assert_eq!(comma.body, r#"{"error":"service [x,y] not found"}"#);
    let bad_force = send(
        "POST",
        &format!("{c}/v1/cover/profile"),
        Some(r#"{"force":"true"}"#),
    )
    .await;
    assert_eq!(bad_force.status, 417);
    assert!(
        bad_force.body.contains("json: cannot unmarshal string"),
        "{}",
        bad_force.body
    );

    // cap3: agent 7780 deregistered (SIGTERM), agent 7779 killed (stays registered).
    let cap3 = Capture::load("cap3.txt");
    send(
        "POST",
        &format!("{c}/v1/cover/remove"),
        Some(&format!(r#"{{"address":["{}"]}}"#, b.url())),
    )
    .await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let list = send("GET", &format!("{c}/v1/cover/list"), None).await;
    check(&list, cap3.get("GET /v1/cover/list (after SIGTERM"), &subst);
    check(
        &send("GET", &format!("{c}/v1/cover/profile"), None).await,
        cap3.get("GET /v1/cover/profile (dead"),
        &subst,
    );
    check(
        &send("GET", &format!("{c}/v1/cover/profile?force=true"), None).await,
        cap3.get("GET /v1/cover/profile?force=true"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!("{c}/v1/cover/clear"),
            Some(r#"{"service":["demo-set"]}"#),
        )
        .await,
        cap3.get("POST /v1/cover/clear {\"service\":[\"demo-set\"]}"),
        &subst,
    );
    check(
        &send("POST", &format!("{}/v1/cover/clear", a.url()), None).await,
        cap3.get("agent POST /v1/cover/clear (direct)"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!("{c}/v1/cover/clear"),
            Some(r#"{"service":["demo-count"]}"#),
        )
        .await,
        cap3.get("POST /v1/cover/clear {\"service\":[\"demo-count\"]}"),
        &subst,
    );
    check(
        &send("POST", &format!("{c}/v1/cover/clear"), Some("{}")).await,
        cap3.get("POST /v1/cover/clear {} (all"),
        &subst,
    );
    check(
        &send(
            "GET",
            &format!("{c}/v1/cover/profile?service=demo-count"),
            None,
        )
        .await,
        cap3.get("GET /v1/cover/profile?service=demo-count after clear"),
        &subst,
    );
    let dead = format!(r#"{{"address":["http://{}"]}}"#, subst[2].1);
    check(
        &send("POST", &format!("{c}/v1/cover/remove"), Some(&dead)).await,
        cap3.get("POST /v1/cover/remove {\"address\":[\"http://127.0.0.1:7779\"]}"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!("{c}/v1/cover/remove"),
            Some(r#"{"address":["http://127.0.0.1:9999"]}"#),
        )
        .await,
        cap3.get("POST /v1/cover/remove {\"address\":[\"http://127.0.0.1:9999\"]}"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!("{c}/v1/cover/register?name=manual&address=http://10.1.2.3:9000"),
            None,
        )
        .await,
        cap3.get("POST /v1/cover/register?name=manual&"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!(
                "{c}/v1/cover/register?name=manual2&address=http://10.1.2.3:9000&ip_revise=false"
            ),
            None,
        )
        .await,
        cap3.get("POST /v1/cover/register?name=manual2"),
        &subst,
    );
    check(
        &send(
            "POST",
            &format!("{c}/v1/cover/register?name=bad&address=ftp://x:1"),
            None,
        )
        .await,
        cap3.get("POST /v1/cover/register?name=bad&address=ftp"),
        &subst,
    );
    check(
        &send("POST", &format!("{c}/v1/cover/register?name=bad"), None).await,
        cap3.get("POST /v1/cover/register?name=bad (missing"),
        &subst,
    );
    let form = reqwest::Client::new()
        .post(format!("{c}/v1/cover/register"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=formsvc&address=http%3A%2F%2F127.0.0.1%3A1234")
        .send()
        .await
        .unwrap();
    assert_eq!(form.text().await.unwrap(), r#"{"result":"success"}"#);
    let list = send("GET", &format!("{c}/v1/cover/list"), None).await;
    check(
        &list,
        cap3.sections
            .iter()
            .rfind(|s| s.title == "GET /v1/cover/list")
            .unwrap(),
        &subst,
    );
    check(
        &send("POST", &format!("{c}/v1/cover/init"), None).await,
        cap3.get("POST /v1/cover/init"),
        &subst,
    );
    check(
        &send("GET", &format!("{c}/v1/cover/list"), None).await,
        cap3.get("GET /v1/cover/list after init"),
        &subst,
    );
    check(
        &send("GET", &format!("{c}/v1/cover/profile"), None).await,
        cap3.get("GET /v1/cover/profile with no services"),
        &subst,
    );
    check(
        &send("GET", &format!("{c}/v1/cover/clear"), None).await,
        cap3.get("GET /v1/cover/clear (wrong method)"),
        &subst,
    );
}

#[tokio::test]
async fn v1_center_sums_set_mode_replicas() {
    let center = Center::start().await.unwrap();
    let replica = |hit_8_12: u32| {
        format!(
            "mode: set\n\
example.com/demo/calc/calc.go:4.29,5.11 1 1\n\
example.com/demo/calc/calc.go:8.2,8.12 1 1\n\
example.com/demo/calc/calc.go:11.2,11.19 1 1\n\
example.com/demo/calc/calc.go:5.11,7.3 1 0\n\
example.com/demo/calc/calc.go:8.12,10.3 1 {hit_8_12}\n"
        )
    };
    let _r1 = Agent::start("svc-set", profile(&replica(1)), 0, Some(&center.url()))
        .await
        .unwrap();
    let _r2 = Agent::start("svc-set", profile(&replica(0)), 0, Some(&center.url()))
        .await
        .unwrap();
    let reply = send(
        "GET",
        &format!("{}/v1/cover/profile?service=svc-set", center.url()),
        None,
    )
    .await;
    check(
        &reply,
        Capture::load("cap4.txt").get("GET /v1/cover/profile?service=svc-set"),
        &[],
    );
}

#[tokio::test]
async fn v1_agent_serves_coverage_and_404s_like_go() {
    let cap1 = Capture::load("cap1.txt");
    let before = cap1
        .get("agent GET /v1/cover/profile (before traffic)")
        .body
        .clone();
    let agent = Agent::start("demo", profile(&before), 0, None)
        .await
        .unwrap();
    let reply = send("PUT", &format!("{}/v1/cover/coverage", agent.url()), None).await;
    check(&reply, cap1.get("agent GET /v1/cover/coverage"), &[]);
    let missing = send("GET", &format!("{}/nope", agent.url()), None).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, "404 page not found\n")
    );
}

fn mask_tokens(body: &str) -> String {
    let re = regex::Regex::new(r#""token":"[0-9a-f]{32}""#).unwrap();
    re.replace_all(body, r#""token":"T""#).into_owned()
}

#[tokio::test]
async fn v2_server_answers_like_the_captured_goc() {
    let cap = Capture::load("cap_v2.txt");
    let unwrap_profile = |title: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(&cap.get(title).body).unwrap();
        v["profile"].as_str().unwrap().to_string()
    };
    let server = Server::start().await.unwrap();
    let s = server.url();
    let watch_agent = profile(&unwrap_profile("GET /v2/cover/profile?id=1"));
    let count_agent = profile(&unwrap_profile("GET /v2/cover/profile?id=2"));
    let id1 = server.add_agent(AgentSpec {
        hostname: "vm".into(),
        cmdline: "/srv/demo/demo-watch".into(),
        pid: 23247,
        extra: String::new(),
        watch_mode: true,
        source: ProfileSource::Memory(watch_agent),
    });
    let id2 = server.add_agent(AgentSpec {
        hostname: "vm".into(),
        cmdline: "/srv/demo/demo-v2count".into(),
        pid: 23251,
        extra: "ns=staging".into(),
        watch_mode: false,
        source: ProfileSource::Memory(count_agent),
    });
    assert_eq!((id1.as_str(), id2.as_str()), ("1", "2"));

    let agents = send("GET", &format!("{s}/v2/agents"), None).await;
    assert_eq!(
        mask_tokens(&agents.body),
        mask_tokens(&cap.get("GET /v2/agents").body)
    );
    let one = send("GET", &format!("{s}/v2/agents?id=2"), None).await;
    assert_eq!(
        mask_tokens(&one.body),
        mask_tokens(&cap.get("GET /v2/agents?id=2").body)
    );
    check(
        &send("GET", &format!("{s}/v2/cover/profile?id=1"), None).await,
        cap.get("GET /v2/cover/profile?id=1"),
        &[],
    );
    check(
        &send("GET", &format!("{s}/v2/cover/profile?id=2"), None).await,
        cap.get("GET /v2/cover/profile?id=2"),
        &[],
    );
    // goc folds agents in the order their answers arrive: either mismatch order is faithful.
    let all = send("GET", &format!("{s}/v2/cover/profile"), None).await;
    let expected = cap.get("GET /v2/cover/profile (all");
    let swapped = expected
        .body
        .replace("(cover vs count)", "(count vs cover)");
    assert_eq!(all.status, 500);
    assert!(
        all.body == expected.body || all.body == swapped,
        "{}",
        all.body
    );
    check(
        &send(
            "GET",
            &format!("{s}/v2/cover/profile?extra=staging&skippattern=calc"),
            None,
        )
        .await,
        cap.get("GET /v2/cover/profile?extra=staging"),
        &[],
    );
    check(
        &send("GET", &format!("{s}/v2/cover/profile?id=999"), None).await,
        cap.get("GET /v2/cover/profile?id=999"),
        &[],
    );
    check(
        &send("DELETE", &format!("{s}/v2/cover/profile?id=2"), None).await,
        cap.get("DELETE /v2/cover/profile?id=2"),
        &[],
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    check(
        &send("GET", &format!("{s}/v2/cover/profile?id=2"), None).await,
        cap.get("GET /v2/cover/profile?id=2 after reset"),
        &[],
    );

    let reg = send(
        "GET",
        &format!("{s}/v2/internal/register?hostname=h1&pid=42&cmdline=fake&extra=x"),
        None,
    )
    .await;
    let expected = cap.get("GET /v2/internal/register?hostname=h1&pid=42");
    assert_eq!(
        (reg.status, &reg.content_type),
        (200, &expected.content_type)
    );
    assert_eq!(mask_tokens(&reg.body), mask_tokens(&expected.body));
    check(
        &send(
            "GET",
            &format!("{s}/v2/internal/register?hostname=h1"),
            None,
        )
        .await,
        cap.get("GET /v2/internal/register?hostname=h1"),
        &[],
    );
    check(
        &send(
            "GET",
            &format!("{s}/v2/internal/ws/rpcstream?id=3&token=bad"),
            None,
        )
        .await,
        cap.get("GET /v2/internal/ws/rpcstream?id=3&token=bad"),
        &[],
    );
    let agents = send("GET", &format!("{s}/v2/agents"), None).await;
    let mut got: Vec<serde_json::Value> =
        serde_json::from_str::<serde_json::Value>(&mask_tokens(&agents.body)).unwrap()["items"]
            .as_array()
            .unwrap()
            .clone();
    let mut want: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(&mask_tokens(
        &cap.get("GET /v2/agents (with disconnected").body,
    ))
    .unwrap()["items"]
        .as_array()
        .unwrap()
        .clone();
    let by_id = |v: &serde_json::Value| v["id"].as_str().unwrap_or_default().to_string();
    got.sort_by_key(by_id);
    want.sort_by_key(by_id);
    assert_eq!(got, want);
    // In the capture agent 1's RPC failed at that moment: goc then counts it as an empty
    // profile, and the disconnected agent 3 as another, so only agent 2's zeros remain.
    server.set_source(&id1, ProfileSource::Pull("http://127.0.0.1:9".into()));
    check(
        &send("GET", &format!("{s}/v2/cover/profile"), None).await,
        cap.get("GET /v2/cover/profile (fake disconnected"),
        &[],
    );
    check(
        &send("DELETE", &format!("{s}/v2/agents?id=3"), None).await,
        cap.get("DELETE /v2/agents?id=3"),
        &[],
    );
    server.set_status(&id2, STATUS_DISCONNECT);
    let gone = send("GET", &format!("{s}/v2/cover/profile?id=2"), None).await;
    assert_eq!(gone.body, r#"{"msg":"can't write an empty profile"}"#);
}

#[tokio::test]
async fn v2_watch_frames_reach_the_client_verbatim() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/goc-agent/captures/watch.txt"
    ))
    .unwrap();
    let frames: Vec<String> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("str\t'")?.strip_suffix('\''))
        .map(str::to_string)
        .collect();
    assert_eq!(frames.len(), 14);
    let server = Server::start().await.unwrap();
    let target = covtop::agent::goc_v2::GocV2Target::new(
        &server.url(),
        vec![],
        None,
        Duration::from_secs(3),
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let _task = target.watch(tx);
    goc_support::eventually(Duration::from_secs(5), || async {
        (server.watch_clients() == 1).then_some(())
    })
    .await
    .expect("the watch client connects");
    for f in &frames {
        server.emit_watch(f);
    }
    server.emit_watch("not a block line");
    let mut got = Vec::new();
    while got.len() < frames.len() {
        let hint = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(hint);
    }
    assert_eq!(
        got.iter().map(|h| h.line.clone()).collect::<Vec<_>>(),
        frames
    );
    assert_eq!(got[2].file, "example.com/demo/calc/calc.go");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "the junk frame gives no hint"
    );
}
