//! The JaCoCo tcpserver target against the real agent (Debian's 0.8.6) in two JVMs running the
//! shop service: dump both replicas, class ids, probes of the requests that ran, dump+reset,
//! merge, and JaCoCo's own loader reading the agents' raw dumps and the files we write.

mod common;
mod support_java;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use covtop::agent::jacoco::JacocoTarget;
use covtop::agent::{Payload, PollResult, ReplicaDump};
use covtop::java::exec::{self, ExecData, Probes};
use covtop::java::{archive, crc64};
use support_java::*;

struct Shop {
    tmp: tempfile::TempDir,
    classes: PathBuf,
    agent: PathBuf,
    exec_dump_cp: String,
    /// vm name -> class id of the compiled class file
    ids: BTreeMap<String, u64>,
}

fn build_shop() -> Option<Shop> {
    if !have_java_and_jacoco() {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let classes = tmp.path().join("classes");
    javac(11, &classes, None, &shop_sources());
    let agent = extract_agent(tmp.path());
    let exec_dump_cp = build_exec_dump(&tmp.path().join("tool"));
    let (entries, problems) = archive::load_classes(std::slice::from_ref(&classes), &[]);
    assert!(problems.is_empty(), "{problems:?}");
    let ids = entries
        .iter()
        .map(|e| {
            let rel = Path::new(&e.origin).strip_prefix(&classes).unwrap();
            let name = rel.to_string_lossy().trim_end_matches(".class").to_string();
            (name, e.id)
        })
        .collect();
    Some(Shop {
        tmp,
        classes,
        agent,
        exec_dump_cp,
        ids,
    })
}

/// Starts one replica: the agent on `agent_ip:agent_port`, the service on 127.0.0.1:http_port.
fn start_replica(
    shop: &Shop,
    session: &str,
    agent_ip: &str,
    agent_port: u16,
    http_port: u16,
) -> Jvm {
    let options = format!(
        "output=tcpserver,address={agent_ip},port={agent_port},sessionid={session},includes=shop.*"
    );
    let mut jvm = start_jvm(
        session,
        &shop.agent,
        &options,
        &shop.classes,
        "shop.Main",
        &[http_port.to_string()],
    );
    wait_healthy(&mut jvm, http_port);
    jvm
}

fn get(port: u16, path: &str, status: u16) {
    let (got, body) = http_get(port, path).unwrap();
    assert_eq!(got, status, "GET {path}: {body}");
}

/// Two loopback addresses for the two agents on one port, as a host name resolving to two pod
/// IPs would give. Falls back to two ports on 127.0.0.1 where 127.0.0.2 cannot be bound.
fn agent_addresses() -> (String, String, u16, u16) {
    for _ in 0..20 {
        let port = free_port();
        if std::net::TcpListener::bind(("127.0.0.2", port)).is_ok() {
            return ("127.0.0.1".into(), "127.0.0.2".into(), port, port);
        }
    }
    (
        "127.0.0.1".into(),
        "127.0.0.1".into(),
        free_port(),
        free_port(),
    )
}

fn payload(d: &ReplicaDump) -> &[u8] {
    match &d.payload {
        Payload::JacocoExec(b) => b,
        other => panic!("unexpected payload {other:?}"),
    }
}

fn dump_of<'a>(r: &'a PollResult, replica: &str) -> &'a ReplicaDump {
    r.dumps
        .iter()
        .find(|d| d.replica == replica)
        .unwrap_or_else(|| panic!("no dump from {replica}: {r:?}"))
}

fn parsed(d: &ReplicaDump) -> ExecData {
    exec::parse(payload(d), &d.replica).unwrap()
}

fn probes_of<'a>(data: &'a ExecData, name: &str) -> Option<&'a Probes> {
    data.classes
        .values()
        .find(|c| c.name == name)
        .map(|c| &c.probes)
}

fn hits(p: &Probes) -> usize {
    p.count_ones()
}

/// `a` has every probe `b` has.
fn covers(a: &Probes, b: &Probes) -> bool {
    a.len() == b.len() && !b.any_lost_in(a)
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn two_replicas_dump_reset_and_merge_like_jacoco() {
    let Some(shop) = build_shop() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ip_a, ip_b, port_a, port_b) = agent_addresses();
    let (http_a, http_b) = (free_port(), free_port());
    let _a = start_replica(&shop, "replica-a", &ip_a, port_a, http_a);
    let _b = start_replica(&shop, "replica-b", &ip_b, port_b, http_b);
    let (ra, rb) = (format!("{ip_a}:{port_a}"), format!("{ip_b}:{port_b}"));

    // Replica A: a big cart (the 10% rule), then clear. Replica B: three cheap items (the 5%
    // rule), a bad quantity and an unknown page.
    get(http_a, "/add?item=book&qty=2&price=6000", 200);
    get(http_a, "/total", 200);
    get(http_a, "/clear", 200);
    for item in ["a", "b", "c"] {
        get(http_b, &format!("/add?item={item}&qty=1&price=100"), 200);
    }
    get(http_b, "/total", 200);
    get(http_b, "/add?qty=0", 400);
    get(http_b, "/nope", 404);

    let target =
        JacocoTarget::with_addresses(&[ra.clone(), rb.clone()], Duration::from_secs(10)).unwrap();
    let first = rt.block_on(target.poll());
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.dumps.len(), 2);
    let (da, db) = (dump_of(&first, &ra), dump_of(&first, &rb));
    let (a, b) = (parsed(da), parsed(db));
    let start_a = a.sessions[0].start;
    assert_eq!(da.instance, Some(format!("replica-a start={start_a}")));
    assert_eq!(
        db.instance,
        Some(format!("replica-b start={}", b.sessions[0].start))
    );

    // Ids are the CRC64 of the class files we compiled; every class the requests ran is there.
    for data in [&a, &b] {
        for (id, c) in &data.classes {
            assert_eq!(shop.ids.get(&c.name), Some(id), "{}", c.name);
        }
        for name in [
            "shop/Main",
            "shop/ShopHandler",
            "shop/Cart",
            "shop/PricingRule",
        ] {
            let p = probes_of(data, name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(hits(p) > 0, "{name}");
        }
    }
    // Different requests, different probes; `coupon` and the private constructor never ran.
    let (pa, pb) = (
        probes_of(&a, "shop/PricingRule").unwrap(),
        probes_of(&b, "shop/PricingRule").unwrap(),
    );
    assert_ne!(pa, pb);
    assert!(
        !covers(pa, pb) && !covers(pb, pa),
        "each replica took its own discount branch"
    );
    let (ha, hb) = (
        probes_of(&a, "shop/ShopHandler").unwrap(),
        probes_of(&b, "shop/ShopHandler").unwrap(),
    );
    assert!(!covers(ha, hb) && !covers(hb, ha));

    // Merge = OR, and JaCoCo's loader agrees on the raw dumps and on the file we write.
    let mut merged = a.clone();
    merged.merge(&b).unwrap();
    let mp = probes_of(&merged, "shop/PricingRule").unwrap();
    assert!(
        mp.iter()
            .zip(pa.iter().zip(pb.iter()))
            .all(|(m, (x, y))| m == (x || y))
    );
    assert!(hits(mp) > hits(pa).max(hits(pb)) && hits(mp) < mp.len());
    let dir = shop.tmp.path();
    let fa = write_file(dir, "a.exec", payload(da));
    let fb = write_file(dir, "b.exec", payload(db));
    let fm = write_file(dir, "merged.exec", &merged.to_bytes().unwrap());
    let cp = &shop.exec_dump_cp;
    assert_eq!(jacoco_read(cp, &[&fa]).unwrap(), ours(&a));
    assert_eq!(jacoco_read(cp, &[&fb]).unwrap(), ours(&b));
    let jacoco_merged = jacoco_read(cp, &[&fa, &fb]).unwrap();
    assert_eq!(jacoco_merged, ours(&merged));
    assert_eq!(jacoco_read(cp, &[&fm]).unwrap(), jacoco_merged);

    // More requests only add probes (the agent's data is cumulative).
    get(http_a, "/add?item=x&qty=5&price=1", 200);
    get(http_a, "/total", 200);
    let again = rt.block_on(target.poll());
    let a2 = parsed(dump_of(&again, &ra));
    let pa2 = probes_of(&a2, "shop/PricingRule").unwrap();
    assert!(covers(pa2, pa) && pa2 != pa, "the 5% branch ran on A now");
    assert_eq!(a2.sessions[0].start, start_a);

    // Dump+reset A only: the reply holds the data up to the reset; B keeps its data.
    let before_reset = Instant::now();
    let reset = rt.block_on(target.dump_and_reset(Some(std::slice::from_ref(&ra))));
    assert!(reset.failures.is_empty(), "{:?}", reset.failures);
    assert_eq!(reset.dumps.len(), 1);
    let ar = parsed(&reset.dumps[0]);
    assert!(covers(probes_of(&ar, "shop/PricingRule").unwrap(), pa2));
    let after = rt.block_on(target.poll());
    let (a3, b3) = (parsed(dump_of(&after, &ra)), parsed(dump_of(&after, &rb)));
    assert!(
        a3.sessions[0].start > start_a,
        "a reset opens a new session start"
    );
    assert!(before_reset.elapsed() < Duration::from_secs(60));
    assert!(
        a3.classes.is_empty(),
        "nothing ran since the reset: {:?}",
        a3.classes
    );
    assert_ne!(dump_of(&after, &ra).instance, da.instance);
    assert_eq!(b3.classes, b.classes, "B was not reset");

    // After the reset only what runs now shows up, and it is a subset of before.
    get(http_a, "/health", 200);
    let a4 = parsed(dump_of(&rt.block_on(target.poll()), &ra));
    assert_eq!(a4.classes.len(), 1, "{:?}", a4.classes);
    let h4 = probes_of(&a4, "shop/ShopHandler").unwrap();
    assert!(hits(h4) > 0 && hits(h4) < hits(probes_of(&ar, "shop/ShopHandler").unwrap()));

    // Plain reset of every replica.
    let outcomes = rt.block_on(target.reset(None));
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let cleared = rt.block_on(target.poll());
    for d in &cleared.dumps {
        assert!(parsed(d).classes.is_empty(), "{}", d.replica);
    }
}

#[test]
fn busy_agent_and_wrong_ports_fail_with_clear_errors_while_others_answer() {
    let Some(shop) = build_shop() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (agent_a, agent_b, http_a, http_b) = (free_port(), free_port(), free_port(), free_port());
    let _a = start_replica(&shop, "busy", "127.0.0.1", agent_a, http_a);
    let _b = start_replica(&shop, "free", "127.0.0.1", agent_b, http_b);
    let (ra, rb) = (
        format!("127.0.0.1:{agent_a}"),
        format!("127.0.0.1:{agent_b}"),
    );

    // The agent serves one connection at a time: while another client holds A's, A accepts
    // (backlog) but never answers, and must time out while B answers.
    let holder = TcpStream::connect(ra.parse::<SocketAddr>().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let target =
        JacocoTarget::with_addresses(&[ra.clone(), rb.clone()], Duration::from_millis(1500))
            .unwrap();
    let started = Instant::now();
    let r = rt.block_on(target.poll());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.dumps.len(), 1, "{r:?}");
    assert_eq!(r.dumps[0].replica, rb);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].replica, ra);
    assert!(
        r.failures[0].error.contains(&ra) && r.failures[0].error.contains("no reply within"),
        "{}",
        r.failures[0].error
    );
    drop(holder);
    std::thread::sleep(Duration::from_millis(300));
    let r = rt.block_on(target.poll());
    assert!(
        r.failures.is_empty(),
        "once the other client left, A answers: {:?}",
        r.failures
    );

    // The service's HTTP port instead of the agent's, and a port nobody listens on.
    let http = format!("127.0.0.1:{http_a}");
    let closed = format!("127.0.0.1:{}", free_port());
    let wrong =
        JacocoTarget::with_addresses(&[http.clone(), closed.clone()], Duration::from_millis(1500))
            .unwrap();
    let r = rt.block_on(wrong.poll());
    assert!(r.dumps.is_empty());
    let err = |replica: &str| {
        r.failures
            .iter()
            .find(|f| f.replica == replica)
            .map(|f| f.error.clone())
            .unwrap_or_else(|| panic!("no failure for {replica}: {r:?}"))
    };
    // Depending on the JDK build, its HttpServer either waits for a request line that never
    // comes (a timeout whose message names the likely causes) or answers 400 to JaCoCo's
    // header at once; either way the error says it is not a JaCoCo agent.
    let e = err(&http);
    assert!(e.starts_with(&http), "{e}");
    assert!(
        e.contains("no reply within 1.5s after 0 bytes (not a JaCoCo agent")
            || e.contains("not a JaCoCo agent: got 'HTTP/1.1 400"),
        "{e}"
    );
    assert!(
        err(&closed).contains("connection refused"),
        "{}",
        err(&closed)
    );

    // The class ids the agent reports still match the class files.
    let d = parsed(dump_of(&rt.block_on(target.poll()), &rb));
    for (id, c) in &d.classes {
        assert_eq!(
            crc64::class_id(
                &std::fs::read(shop.classes.join(format!("{}.class", c.name))).unwrap()
            ),
            *id
        );
    }
}

#[test]
fn an_http_server_on_the_port_is_named_as_such() {
    // hyper (through axum) answers our binary command with an immediate 400.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let target = JacocoTarget::new(&addr.to_string(), Duration::from_secs(5)).unwrap();
    let r = rt.block_on(target.poll());
    assert!(r.dumps.is_empty());
    let e = &r.failures[0].error;
    assert!(
        e.starts_with(&format!(
            "{addr}: not a JaCoCo agent: got 'HTTP/1.1 400 Bad Request'..."
        )),
        "{e}"
    );
}
