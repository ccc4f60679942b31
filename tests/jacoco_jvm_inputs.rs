//! JVM inputs covtop used to get wrong, checked end to end with the real javac, jar tool and
//! JaCoCo 0.8.6 agent, through the engine:
//! - a sealed class (javac 17 makes an enum whose constants have bodies sealed), which the 0.8.6
//!   agent cannot instrument: its lines are not missed, a diagnostic names it, and its constant
//!   bodies (ordinary classes) are covered per the agent's data;
//! - a multi-release jar: a JDK 17 JVM runs the `META-INF/versions/11` class, whose id the agent
//!   reports; its coverage maps onto that version's sources, and the base version is not folded
//!   in as missed.
//!
//! The cases the real agent cannot produce (data for a sealed class, several versions of one
//! class running) are served by the in-process replay agent.

mod common;
mod support_java;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use covtop::demo::jacoco_agent::ReplayAgent;
use covtop::engine::Engine;
use covtop::java::analysis::analyze_class;
use covtop::java::archive::load_classes;
use covtop::java::exec::ClassProbes;
use covtop::model::{LineStatus, View};
use support_java::{
    Jvm, extract_agent, free_port, have_java_and_jacoco, javac, start_jvm, write_jacoco_config,
};

const OP: &str = "package demo;

public enum Op {
    PLUS {
        int apply(int a, int b) {
            return a + b;
        }
    },
    MINUS {
        int apply(int a, int b) {
            return a - b;
        }
    };

    abstract int apply(int a, int b);

    static Op parse(String s) {
        if (s.equals(\"+\")) {
            return PLUS;
        }
        return MINUS;
    }
}
";

/// Runs `work`, writes the marker file named by its first argument, then waits to be polled.
fn main_source(work: &str) -> String {
    format!(
        "package demo;

public class Main {{
    public static void main(String[] args) throws Exception {{
        System.out.println({work});
        java.nio.file.Files.write(java.nio.file.Paths.get(args[0]), new byte[0]);
        Thread.sleep(600_000);
    }}
}}
"
    )
}

const GREETER_BASE: &str = "package demo;

public class Greeter {
    public String greet(int n) {
        String s = \"base\";
        if (n > 0) {
            s = s + n;
        }
        return s;
    }
}
";

const GREETER_11: &str = "package demo;

public class Greeter {
    public String greet(int n) {
        var parts = new StringBuilder();
        parts.append(\"v11\");
        if (n > 5) {
            parts.append(\"many\");
        }
        return parts.toString();
    }
}
";

/// 1-based number of the first line of `src` containing `needle`.
fn line_of(src: &str, needle: &str) -> u32 {
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the source"))
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// A repository on branch `main` holding `files` (path, text).
fn repo_with(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        write(&dir.join(path), text);
    }
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-qm", "sources"]);
}

/// Starts `demo.Main` from `classpath` under the real agent (tcpserver) and waits until main has
/// done its work.
fn run_under_agent(work: &Path, classpath: &Path) -> (Jvm, u16) {
    let agent = extract_agent(work);
    let port = free_port();
    let marker = work.join("main.done");
    let mut jvm = start_jvm(
        "demo",
        &agent,
        &format!("output=tcpserver,address=127.0.0.1,port={port},includes=demo.*"),
        classpath,
        "demo.Main",
        &[marker.display().to_string()],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        if let Ok(Some(status)) = jvm.child.try_wait() {
            panic!("the JVM exited early: {status}\n{}", jvm.stderr());
        }
        assert!(
            Instant::now() < deadline,
            "main did not finish\n{}",
            jvm.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (jvm, port)
}

async fn poll_view(work: &Path, repo: &Path, port: u16, classes: &Path) -> std::sync::Arc<View> {
    let config = write_jacoco_config(work, repo, &work.join("sessions"), port, classes);
    let cfg = covtop::config::load(&config).unwrap();
    let mut engine = Engine::open(cfg).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert!(polls[0].failures.is_empty(), "{polls:?}");
    engine.view()
}

fn status(view: &View, path: &str, line: u32) -> LineStatus {
    view.files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.coverage.as_ref())
        .map_or(LineStatus::NotCoverable, |c| c.status(line))
}

fn jar_tool() -> bool {
    common::have_tool("jar", "--version")
}

const OP_PATH: &str = "src/main/java/demo/Op.java";

/// javac 17 output of Op and a Main that applies PLUS only.
fn compile_sealed_enum(work: &Path, repo: &Path) -> PathBuf {
    let main = main_source("Op.parse(\"+\").apply(2, 3)");
    repo_with(
        repo,
        &[(OP_PATH, OP), ("src/main/java/demo/Main.java", &main)],
    );
    let classes = work.join("classes");
    javac(
        17,
        &classes,
        None,
        &[
            repo.join(OP_PATH),
            repo.join("src/main/java/demo/Main.java"),
        ],
    );
    classes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_enum_the_agent_cannot_instrument_is_not_reported_as_missed() {
    if !have_java_and_jacoco() || !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    let classes = compile_sealed_enum(work, &repo);
    let op = analyze_class(&std::fs::read(classes.join("demo/Op.class")).unwrap())
        .unwrap()
        .unwrap();
    assert!(op.is_sealed(), "javac 17 writes PermittedSubclasses");

    let (jvm, port) = run_under_agent(work, &classes);
    // The fact covtop relies on: 0.8.6 fails on the sealed class, and the JVM runs it as is.
    let log = jvm.stderr();
    assert!(
        log.contains("Error while instrumenting demo/Op.")
            && log.contains("PermittedSubclasses requires ASM9"),
        "{log}"
    );
    let view = poll_view(work, &repo, port, &classes).await;

    // Op's own code (parse, the constants' creation) ran, but no data can exist for it.
    for needle in ["if (s.equals", "return PLUS;", "return MINUS;"] {
        assert_eq!(
            status(&view, OP_PATH, line_of(OP, needle)),
            LineStatus::NotCoverable,
            "{needle}"
        );
    }
    // The constant bodies are ordinary classes, instrumented: PLUS ran, MINUS did not.
    assert_eq!(
        status(&view, OP_PATH, line_of(OP, "return a + b;")),
        LineStatus::Covered
    );
    assert_eq!(
        status(&view, OP_PATH, line_of(OP, "return a - b;")),
        LineStatus::Missed
    );
    let d = view
        .diagnostics
        .iter()
        .find(|d| d.subject.contains("sealed"))
        .unwrap_or_else(|| panic!("no sealed-class diagnostic: {:?}", view.diagnostics));
    assert!(
        d.message.contains("demo/Op") && !d.message.contains("demo/Op$"),
        "{d:?}"
    );
    assert!(d.message.contains("JaCoCo 0.8.6"), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_class_with_data_from_a_newer_agent_is_projected_as_usual() {
    if !have_java_and_jacoco() || !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    let classes = compile_sealed_enum(work, &repo);
    let bytes = std::fs::read(classes.join("demo/Op.class")).unwrap();
    let op = analyze_class(&bytes).unwrap().unwrap();
    let agent = ReplayAgent::start("newer").await.unwrap();
    agent.hit(&BTreeMap::from([(
        covtop::java::crc64::class_id(&bytes),
        ClassProbes {
            name: "demo/Op".into(),
            probes: vec![true; op.probe_count()].into(),
        },
    )]));
    let view = poll_view(work, &repo, agent.address().port(), &classes).await;
    for needle in ["if (s.equals", "return PLUS;", "return MINUS;"] {
        assert_eq!(
            status(&view, OP_PATH, line_of(OP, needle)),
            LineStatus::Covered,
            "{needle}"
        );
    }
    // No data for Op$2: its body is missed, as with any class.
    assert_eq!(
        status(&view, OP_PATH, line_of(OP, "return a - b;")),
        LineStatus::Missed
    );
    assert!(
        !view
            .diagnostics
            .iter()
            .any(|d| d.subject.contains("sealed")),
        "{:?}",
        view.diagnostics
    );
}

const BASE: &str = "src/main/java/demo/Greeter.java";
const V11: &str = "src/main/java11/demo/Greeter.java";

/// The multi-release jar `mr.jar`: base classes for release 8, `Greeter` again for release 11.
/// Returns its path and the ids of the base and the versioned `Greeter`.
fn build_multi_release_jar(work: &Path, repo: &Path) -> (PathBuf, u64, u64) {
    let main = main_source("new Greeter().greet(args.length)");
    repo_with(
        repo,
        &[
            ("src/main/java/demo/Main.java", &main),
            (BASE, GREETER_BASE),
            (V11, GREETER_11),
        ],
    );
    let base = work.join("base");
    let v11 = work.join("v11");
    javac(
        8,
        &base,
        None,
        &[repo.join("src/main/java/demo/Main.java"), repo.join(BASE)],
    );
    javac(
        11,
        &v11,
        Some(&base.display().to_string()),
        &[repo.join(V11)],
    );
    let jar = work.join("mr.jar");
    let o = Command::new("jar")
        .args(["--create", "--file"])
        .arg(&jar)
        .args(["--main-class", "demo.Main", "-C"])
        .arg(&base)
        .args([".", "--release", "11", "-C"])
        .arg(&v11)
        .arg(".")
        .output()
        .expect("run jar");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (entries, problems) = load_classes(std::slice::from_ref(&jar), &[]);
    assert!(problems.is_empty(), "{problems:?}");
    let id = |release: Option<u32>| {
        entries
            .iter()
            .find(|e| e.origin.ends_with("demo/Greeter.class") && e.release == release)
            .unwrap_or_else(|| panic!("Greeter {release:?} in {entries:?}"))
            .id
    };
    (jar, id(None), id(Some(11)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_release_class_maps_onto_the_version_the_jvm_ran() {
    if !have_java_and_jacoco() || !common::have_tool("git", "--version") || !jar_tool() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    let (jar, base_id, v11_id) = build_multi_release_jar(work, &repo);
    assert_ne!(base_id, v11_id);

    let (_jvm, port) = run_under_agent(work, &jar);
    let view = poll_view(work, &repo, port, &jar).await;
    // JDK 17 loaded META-INF/versions/11: its id is the one the agent reported, so nothing is
    // stale.
    assert!(
        !view
            .diagnostics
            .iter()
            .any(|d| d.subject.contains("stale") || d.subject.contains("without class files")),
        "{:?}",
        view.diagnostics
    );
    // greet(0): the versioned body ran, its `n > 5` branch did not.
    assert_eq!(
        status(&view, V11, line_of(GREETER_11, "append(\"v11\")")),
        LineStatus::Covered
    );
    assert_eq!(
        status(&view, V11, line_of(GREETER_11, "if (n > 5)")),
        LineStatus::Partial
    );
    assert_eq!(
        status(&view, V11, line_of(GREETER_11, "append(\"many\")")),
        LineStatus::Missed
    );
    // The base version never ran on this JVM: not shown at all, so not missed.
    for needle in ["String s = \"base\"", "s = s + n;", "return s;"] {
        assert_eq!(
            status(&view, BASE, line_of(GREETER_BASE, needle)),
            LineStatus::NotCoverable,
            "{needle}"
        );
    }
    assert_eq!(
        status(&view, "src/main/java/demo/Main.java", 5),
        LineStatus::Covered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_release_class_without_data_shows_its_base_version_and_one_of_two_that_ran() {
    if !have_java_and_jacoco() || !common::have_tool("git", "--version") || !jar_tool() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    let (jar, base_id, v11_id) = build_multi_release_jar(work, &repo);
    let agent = ReplayAgent::start("replicas").await.unwrap();
    // No data for Greeter yet: the base version is shown (all missed), the versioned one not.
    let view = poll_view(work, &repo, agent.address().port(), &jar).await;
    assert_eq!(
        status(&view, BASE, line_of(GREETER_BASE, "String s = \"base\"")),
        LineStatus::Missed
    );
    assert_eq!(
        status(&view, V11, line_of(GREETER_11, "append(\"v11\")")),
        LineStatus::NotCoverable
    );
    // Two replicas on different Java releases ran both versions: only one is shown (the one
    // with the more probes hit), and a diagnostic says so.
    let count = |name: &str, id: u64| {
        let (entries, _) = load_classes(std::slice::from_ref(&jar), &[]);
        let e = entries.into_iter().find(|e| e.id == id).unwrap();
        let a = analyze_class(&e.bytes).unwrap().unwrap();
        assert_eq!(a.name(), name);
        a.probe_count()
    };
    let n11 = count("demo/Greeter", v11_id);
    let nbase = count("demo/Greeter", base_id);
    let mut one = vec![false; nbase];
    one[0] = true;
    agent.hit(&BTreeMap::from([
        (
            v11_id,
            ClassProbes {
                name: "demo/Greeter".into(),
                probes: vec![true; n11].into(),
            },
        ),
        (
            base_id,
            ClassProbes {
                name: "demo/Greeter".into(),
                probes: one.into(),
            },
        ),
    ]));
    let again = work.join("again");
    std::fs::create_dir_all(&again).unwrap();
    let view = poll_view(&again, &repo, agent.address().port(), &jar).await;
    assert_eq!(
        status(&view, V11, line_of(GREETER_11, "append(\"many\")")),
        LineStatus::Covered
    );
    assert_eq!(
        status(&view, BASE, line_of(GREETER_BASE, "String s = \"base\"")),
        LineStatus::NotCoverable
    );
    let d = view
        .diagnostics
        .iter()
        .find(|d| d.subject.contains("versions"))
        .unwrap_or_else(|| panic!("{:?}", view.diagnostics));
    assert!(
        d.message.contains("demo/Greeter (META-INF/versions/11)"),
        "{d:?}"
    );
}
