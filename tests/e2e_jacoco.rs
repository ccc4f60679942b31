//! End to end for JaCoCo targets: the real agent in tcpserver mode, covtop's engine (dump,
//! store, decode, accumulate, analyse, project), and JaCoCo's own Analyzer on the same stored
//! dump as the oracle, line by line.

mod common;
mod support_java;

use covtop::engine::Engine;
use covtop::model::{LineStatus, SourceLanguage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support_java::*;

/// Per line of one source file: (status, insn (mi, ci), branches (mb, cb)).
type LineCounters = (LineStatus, (u32, u32), (u32, u32));
type OracleLines = BTreeMap<u32, LineCounters>;
/// Per line: insn (mi, ci), branches (mb, cb).
type RawCounters = BTreeMap<u32, ((u32, u32), (u32, u32))>;

fn status_of(insn: (u32, u32), br: (u32, u32)) -> LineStatus {
    // JaCoCo: counter status EMPTY=0, NOT_COVERED=1, FULLY=2, PARTLY=3; line = insn | branch.
    let s = |(missed, covered): (u32, u32)| -> u8 {
        match (missed, covered) {
            (0, 0) => 0,
            (_, 0) => 1,
            (0, _) => 2,
            _ => 3,
        }
    };
    match s(insn) | s(br) {
        0 => LineStatus::NotCoverable,
        1 => LineStatus::Missed,
        2 => LineStatus::Covered,
        _ => LineStatus::Partial,
    }
}

/// Runs tests/oracle/Oracle.java over `classes` with `exec`; sums its per-class lines per source.
fn oracle(classes: &Path, exec: &Path, work: &Path) -> BTreeMap<String, OracleLines> {
    let jars = [
        "/usr/share/java/org.jacoco.core.jar",
        "/usr/share/java/asm.jar",
        "/usr/share/java/asm-commons.jar",
        "/usr/share/java/asm-tree.jar",
        "/usr/share/java/asm-analysis.jar",
    ]
    .join(":");
    let out = work.join("oracle");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/Oracle.java");
    javac(17, &out, Some(&jars), &[src]);
    let o = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{jars}", out.display()))
        .arg("Oracle")
        .arg("--exec")
        .arg(exec)
        .arg(classes)
        .output()
        .expect("java runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut sums: BTreeMap<String, RawCounters> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first().copied() {
            Some("CLASS") => {
                let name = f[3];
                let src = f.iter().find_map(|x| x.strip_prefix("src=")).unwrap_or("-");
                let pkg = name.rsplit_once('/').map_or("", |(p, _)| p);
                current = (src != "-").then(|| format!("{pkg}/{src}"));
            }
            Some("L") => {
                if let Some(src) = &current {
                    let n: u32 = f[1].parse().unwrap();
                    let v: Vec<u32> = f[3..7].iter().map(|x| x.parse().unwrap()).collect();
                    let e = sums.entry(src.clone()).or_default().entry(n).or_default();
                    e.0 = (e.0.0 + v[0], e.0.1 + v[1]);
                    e.1 = (e.1.0 + v[2], e.1.1 + v[3]);
                }
            }
            Some("END") => current = None,
            Some("ERROR") => panic!("oracle could not read a class: {line}"),
            _ => {}
        }
    }
    sums.into_iter()
        .map(|(src, lines)| {
            let lines = lines
                .into_iter()
                .map(|(n, (insn, br))| (n, (status_of(insn, br), insn, br)))
                .filter(|(_, (s, _, _))| *s != LineStatus::NotCoverable)
                .collect();
            (src, lines)
        })
        .collect()
}

/// The payload of a stored dump file (kept in the file or in the store's blobs).
fn stored_payload(path: &Path) -> Vec<u8> {
    covtop::session::read_dump_file(path).unwrap().payload
}

fn dumps_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A folder for a test and in it the shop's repository (`repo`): base has Cart and Main; the
/// feature (checked out) adds the pricing rule and the handler. `None` without Java or git.
fn shop_repo() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_java_and_jacoco() || !common::have_tool("git", "--version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let repo = repo.as_path();
    let java_dir = repo.join("src/main/java/shop");
    std::fs::create_dir_all(&java_dir).unwrap();
    let sources = shop_sources();
    for s in &sources {
        let name = s.file_name().unwrap().to_string_lossy().to_string();
        if name == "Cart.java" || name == "Main.java" {
            std::fs::copy(s, java_dir.join(&name)).unwrap();
        }
    }
    common::git(repo, &["init", "-q", "-b", "main"]);
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-qm", "base"]);
    common::git(repo, &["checkout", "-qb", "feature"]);
    for s in &sources {
        std::fs::copy(s, java_dir.join(s.file_name().unwrap())).unwrap();
    }
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-qm", "pricing and handler"]);
    let repo = repo.to_path_buf();
    Some((tmp, repo))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jacoco_target_equals_jacoco_analyzer_line_by_line_through_the_engine() {
    let Some((tmp, repo)) = shop_repo() else {
        return;
    };
    let work = tmp.path();

    // The service, compiled from the same sources, under the real agent.
    let shop = start_shop_under_agent(
        work,
        "e2e",
        &[
            "/add?item=pen&qty=2&price=150",
            "/add?item=ink&qty=0",
            "/total",
            "/nope",
        ],
    );
    let classes = shop.classes.clone();
    let sessions = work.join("sessions");
    let config = write_jacoco_config(work, &repo, &sessions, shop.agent_port, &classes);
    let cfg = covtop::config::load(&config).unwrap();
    let mut engine = Engine::open(cfg).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert_eq!(polls[0].stored.len(), 1, "{polls:?}");
    assert!(polls[0].failures.is_empty(), "{polls:?}");
    let view = engine.view();
    assert!(
        !view.diagnostics.iter().any(|d| d.subject.contains("stale")),
        "{:?}",
        view.diagnostics
    );

    // The oracle reads the very bytes covtop stored.
    let store = sessions.join("sessions/default");
    let dump = dumps_in(&store).pop().unwrap();
    let exec = work.join("stored.exec");
    std::fs::write(&exec, stored_payload(&dump)).unwrap();
    let expected = oracle(&classes, &exec, work);
    assert_eq!(
        expected.len(),
        4,
        "four source files: {:?}",
        expected.keys()
    );

    let mut compared = 0;
    for (src, lines) in &expected {
        let path = format!("src/main/java/{src}");
        let fv = view
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} missing from the view"));
        assert_eq!(fv.language, Some(SourceLanguage::Java));
        let cov = fv.coverage.as_ref().unwrap();
        let ours: OracleLines = cov
            .lines
            .iter()
            .map(|l| {
                assert_eq!(l.hits, None, "JaCoCo has no hit counts");
                (
                    l.line,
                    (
                        l.status,
                        (l.units.1, l.units.0),
                        (l.branches.1, l.branches.0),
                    ),
                )
            })
            .collect();
        assert_eq!(&ours, lines, "{path}: covtop vs JaCoCo");
        compared += lines.len();
    }
    assert!(compared > 30, "compared {compared} lines");
    // Something ran and something did not: the comparison is not trivially all-missed.
    let statuses: Vec<LineStatus> = expected
        .values()
        .flat_map(|l| l.values().map(|v| v.0))
        .collect();
    assert!(statuses.contains(&LineStatus::Covered) && statuses.contains(&LineStatus::Missed));

    // Changed lines: only PricingRule and ShopHandler are new on the feature branch.
    let changed: Vec<&str> = view
        .files
        .iter()
        .filter(|f| f.has_changes())
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        changed,
        vec![
            "src/main/java/shop/PricingRule.java",
            "src/main/java/shop/ShopHandler.java"
        ]
    );
    assert!(view.totals.changed.coverable() > 0);

    // Reset through the engine: dumped with the reset and stored; the agent starts a new
    // session; nothing covtop had is lost.
    let before = view.totals.whole;
    let resets = engine.reset(&[]).await.unwrap();
    assert!(
        resets[0].outcomes.iter().all(|o| o.result.is_ok()),
        "{:?}",
        resets[0].outcomes
    );
    http_get(shop.http_port, "/clear").unwrap();
    engine.poll(&[]).await.unwrap();
    let after = engine.view();
    assert!(
        after.totals.whole.covered >= before.covered,
        "{before:?} -> {:?}",
        after.totals.whole
    );
    let replica = &after.targets[0].replicas[0];
    assert!(
        replica.epoch >= 2,
        "the reset opened a new epoch: {replica:?}"
    );
    // The line of Cart.clear() ran only after the reset and is now covered too.
    let cart = after
        .files
        .iter()
        .find(|f| f.path.ends_with("Cart.java"))
        .unwrap();
    let cart_src = std::fs::read_to_string(repo.join("src/main/java/shop/Cart.java")).unwrap();
    let clear_line = cart_src
        .lines()
        .position(|l| l.contains("void clear()"))
        .map(|i| i as u32 + 2)
        .unwrap();
    assert_eq!(
        cart.coverage.as_ref().unwrap().status(clear_line),
        LineStatus::Covered,
        "line {clear_line} of Cart.java"
    );
}

/// Issue #12: a probe array longer than its class has (the class known from its class file) is
/// refused at decode — naming the dump, the class and both counts — and the dump is set aside,
/// while the real agent's data for the same classes passes the same check. The crafted reply
/// (the real agent's data with one class's array lengthened) is served by the replay agent:
/// the real one never sends such data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_array_longer_than_its_class_is_refused_at_decode() {
    use covtop::demo::jacoco_agent::ReplayAgent;
    use covtop::java::exec::ClassProbes;
    use covtop::java::probes::Probes;
    let Some((tmp, repo)) = shop_repo() else {
        return;
    };
    let work = tmp.path();

    // The real agent's data decodes with every class's probe count known.
    let shop = start_shop_under_agent(work, "bounds", &["/add?item=pen&qty=2&price=150"]);
    let sessions = work.join("sessions");
    let config = write_jacoco_config(work, &repo, &sessions, shop.agent_port, &shop.classes);
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert_eq!(polls[0].stored.len(), 1, "{polls:?}");
    assert!(polls[0].undecodable.is_empty(), "{polls:?}");
    let real = covtop::java::exec::parse(
        &stored_payload(&dumps_in(&sessions.join("sessions/default")).pop().unwrap()),
        "real",
    )
    .unwrap();
    let (&id, class) = real
        .classes
        .iter()
        .find(|(_, c)| c.any_hit())
        .expect("a class ran");
    let n = class.probes.len();
    let mut longer = Probes::new(n + 9);
    for i in 0..n {
        longer.set(i, class.probes.get(i));
    }
    longer.set(n + 8, true);

    let agent = ReplayAgent::start("crafted").await.unwrap();
    agent.hit(&BTreeMap::from([(
        id,
        ClassProbes {
            name: class.name.clone(),
            probes: longer,
        },
    )]));
    let crafted = work.join("crafted");
    std::fs::create_dir_all(&crafted).unwrap();
    let crafted_sessions = crafted.join("sessions");
    let config = write_jacoco_config(
        &crafted,
        &repo,
        &crafted_sessions,
        agent.address().port(),
        &shop.classes,
    );
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    let [(_, e)] = &polls[0].undecodable[..] else {
        panic!("the crafted dump is refused: {polls:?}")
    };
    for part in [
        format!("class {}", class.name),
        format!("sends {} probes", n + 9),
        format!("its class file has {n}"),
        format!("target shop, replica {}", agent.address()),
    ] {
        assert!(e.contains(&part), "{part:?} in {e}");
    }
    let aside: Vec<PathBuf> = dumps_in(&crafted_sessions.join("sessions/default/quarantine"));
    assert_eq!(aside.len(), 2, "the dump and its reason: {aside:?}");
    let view = engine.view();
    assert!(
        view.diagnostics
            .iter()
            .any(|d| d.message.contains("probes")),
        "{:?}",
        view.diagnostics
    );
}
