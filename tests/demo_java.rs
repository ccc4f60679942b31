//! `covtop demo`'s Java service: the in-process JaCoCo agent as covtop's `JacocoTarget` sees
//! it, the recording's class ids against the embedded class files, the engine's Java
//! changed-line coverage over the replay, and that the recording belongs to what javac makes of
//! the demo's feature sources.

mod common;
mod support_java;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use covtop::agent::Payload;
use covtop::agent::jacoco::JacocoTarget;
use covtop::config::TargetKind;
use covtop::demo::Demo;
use covtop::demo::jacoco_agent::ReplayAgent;
use covtop::demo::java::{CLASSES, JavaRecording};
use covtop::engine::Engine;
use covtop::java::crc64::class_id;
use covtop::java::exec::{self, ExecData};
use covtop::model::{Counts, LineStatus, SourceLanguage};

const TIMEOUT: Duration = Duration::from_secs(5);

fn exec_of(poll: &covtop::agent::PollResult) -> ExecData {
    assert!(poll.failures.is_empty(), "{:?}", poll.failures);
    assert_eq!(poll.dumps.len(), 1);
    match &poll.dumps[0].payload {
        Payload::JacocoExec(bytes) => exec::parse(bytes, "demo agent").unwrap(),
        other => panic!("expected exec data, got {other:?}"),
    }
}

fn hits(data: &ExecData) -> usize {
    data.classes.values().map(|c| c.hit_count()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_agent_answers_covtops_jacoco_client() {
    let rec = JavaRecording::embedded().unwrap();
    let agent = ReplayAgent::start("inventory-test").await.unwrap();
    let target = JacocoTarget::new(&agent.address().to_string(), TIMEOUT).unwrap();

    // Nothing ran yet: a session block and no classes.
    let empty = exec_of(&target.poll().await);
    assert!(empty.classes.is_empty());
    assert_eq!(empty.sessions[0].id, "inventory-test");

    let last = &rec.captures.last().unwrap().data;
    agent.hit(&rec.captures[0].data.classes);
    let first = exec_of(&target.poll().await);
    assert_eq!(first.classes, rec.captures[0].data.classes);
    agent.hit(&last.classes);
    let full = exec_of(&target.poll().await);
    assert_eq!(
        full.classes, last.classes,
        "OR of a prefix and the last capture"
    );
    let instance = |p: &covtop::agent::PollResult| p.dumps[0].instance.clone();

    // dump+reset returns everything, then the agent is empty with a new session start.
    let before_reset = target.poll().await;
    let reset = target.dump_and_reset(None).await;
    assert_eq!(exec_of(&reset).classes, last.classes);
    let after = target.poll().await;
    let after_data = exec_of(&after);
    assert!(after_data.classes.is_empty(), "no old probes after a reset");
    assert!(after_data.sessions[0].start >= full.sessions[0].dump);
    assert_ne!(
        instance(&after),
        instance(&before_reset),
        "a new session start"
    );

    // Hits after the reset come back alone.
    let newer = covtop::demo::java::newly_hit(&rec.captures[0].data, last);
    agent.hit(&newer);
    let again = exec_of(&target.poll().await);
    assert_eq!(again.classes, newer);
    assert!(hits(&again) < hits(last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_waits_for_the_first() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let agent = ReplayAgent::start("inventory-test").await.unwrap();
    let mut first = tokio::net::TcpStream::connect(agent.address())
        .await
        .unwrap();
    let mut header = [0u8; 5];
    first.read_exact(&mut header).await.unwrap();
    assert_eq!(header, exec::HEADER);

    let target = JacocoTarget::new(&agent.address().to_string(), TIMEOUT).unwrap();
    let second = tokio::spawn(async move { target.poll().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the second client is served only after the first"
    );
    // The first client runs a command, then leaves.
    let mut cmd = exec::HEADER.to_vec();
    cmd.extend_from_slice(&[0x40, 0, 0]);
    first.write_all(&cmd).await.unwrap();
    let mut ok = [0u8; 1];
    first.read_exact(&mut ok).await.unwrap();
    assert_eq!(ok, [exec::BLOCK_CMDOK]);
    drop(first);
    let poll = tokio::time::timeout(TIMEOUT, second)
        .await
        .unwrap()
        .unwrap();
    assert!(exec_of(&poll).classes.is_empty());
}

#[test]
fn recorded_class_ids_are_the_embedded_class_files() {
    let ids: BTreeMap<u64, &str> = CLASSES.iter().map(|(p, b)| (class_id(b), *p)).collect();
    let rec = JavaRecording::embedded().unwrap();
    for c in &rec.captures {
        for (id, class) in &c.data.classes {
            let path = ids
                .get(id)
                .unwrap_or_else(|| panic!("{} {id:016x}: no embedded class file", class.name));
            assert_eq!(format!("{}.class", class.name), *path);
            // The probe count is what covtop's analysis (JaCoCo's probe insertion) gives.
            let bytes = CLASSES.iter().find(|(p, _)| p == path).unwrap().1;
            let analysis = covtop::java::analysis::analyze_class(bytes)
                .unwrap()
                .unwrap();
            assert_eq!(analysis.probe_count(), class.probes.len(), "{}", class.name);
        }
    }
}

fn feature_sources() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/demo/feature/inventory/src/main/java/bookstore/inventory");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The recording belongs to the feature sources: javac 11 -g of them gives the embedded class
/// files (same JDK, same bytes), whose ids the recording uses (checked above). If this JDK's
/// javac writes different bytes, the probe counts covtop computes for its classes must still
/// equal the recorded ones.
#[test]
fn recording_matches_javac_of_the_feature_sources() {
    if !(common::have_tool("javac", "-version")
        && common::have_file("/usr/share/java/org.jacoco.core.jar"))
    {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("javac")
        .args(["--release", "11", "-g", "-d"])
        .arg(out.path())
        .args(feature_sources())
        .status()
        .unwrap();
    assert!(status.success());
    let rec = JavaRecording::embedded().unwrap();
    let last = &rec.captures.last().unwrap().data;
    for (path, embedded) in CLASSES {
        let compiled = std::fs::read(out.path().join(path)).unwrap();
        if class_id(&compiled) == class_id(embedded) {
            continue;
        }
        eprintln!("{path}: this javac writes other bytes; comparing probe counts instead");
        let name = path.trim_end_matches(".class");
        let analysis = covtop::java::analysis::analyze_class(&compiled)
            .unwrap()
            .unwrap();
        let recorded = last.classes.values().find(|c| c.name == name).unwrap();
        assert_eq!(analysis.probe_count(), recorded.probes.len(), "{path}");
    }
}

/// Line statuses per source (`bookstore/inventory/X.java`) from JaCoCo's own Analyzer
/// (tests/oracle/Oracle.java) over `classes` with `exec`; a line's status combines its
/// instruction and branch counters summed over the classes of the source, as JaCoCo does.
fn jacoco_lines(
    classes: &Path,
    exec: &Path,
    work: &Path,
) -> BTreeMap<String, BTreeMap<u32, LineStatus>> {
    let jars = [support_java::JACOCO_CORE]
        .into_iter()
        .chain(support_java::ASM_JARS)
        .collect::<Vec<_>>()
        .join(":");
    let out = work.join("oracle");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/Oracle.java");
    support_java::javac(17, &out, Some(&jars), &[src]);
    let o = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{jars}", out.display()))
        .arg("Oracle")
        .arg("--exec")
        .arg(exec)
        .arg(classes)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // source -> line -> (insn missed, insn covered, branches missed, branches covered)
    let mut sums: BTreeMap<String, BTreeMap<u32, [u32; 4]>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first().copied() {
            Some("CLASS") => {
                let pkg = f[3].rsplit_once('/').map_or("", |(p, _)| p);
                let src = f.iter().find_map(|x| x.strip_prefix("src="));
                current = src.filter(|s| *s != "-").map(|s| format!("{pkg}/{s}"));
            }
            Some("L") => {
                if let Some(src) = &current {
                    let e = sums
                        .entry(src.clone())
                        .or_default()
                        .entry(f[1].parse().unwrap())
                        .or_default();
                    for (i, v) in f[3..7].iter().enumerate() {
                        e[i] += v.parse::<u32>().unwrap();
                    }
                }
            }
            Some("END") => current = None,
            Some("ERROR") => panic!("JaCoCo could not read a class: {line}"),
            _ => {}
        }
    }
    let status = |missed: u32, covered: u32| match (missed, covered) {
        (0, 0) => 0u8,
        (_, 0) => 1,
        (0, _) => 2,
        _ => 3,
    };
    sums.into_iter()
        .map(|(src, lines)| {
            let lines = lines
                .into_iter()
                .filter_map(|(n, [mi, ci, mb, cb])| {
                    let s = match status(mi, ci) | status(mb, cb) {
                        0 => return None,
                        1 => LineStatus::Missed,
                        2 => LineStatus::Covered,
                        _ => LineStatus::Partial,
                    };
                    Some((n, s))
                })
                .collect();
            (src, lines)
        })
        .collect()
}

/// The recording was made by the real agent: JaCoCo's own loader reads every capture as covtop
/// does, and after the replay covtop's Java lines equal JaCoCo's Analyzer over the embedded
/// classes and the last capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_java_lines_equal_jacocos_analyzer() {
    if !support_java::have_java_and_jacoco() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let rec = JavaRecording::embedded().unwrap();
    let reader = support_java::build_exec_dump(&work.path().join("execdump"));
    let last = work.path().join("last.exec");
    // The raw agent replies as stored, read here without covtop's recording reader.
    let json: serde_json::Value = serde_json::from_str(covtop::demo::java::EMBEDDED).unwrap();
    let raw = json["captures"].as_array().unwrap();
    assert_eq!(raw.len(), rec.captures.len());
    for (i, c) in rec.captures.iter().enumerate() {
        let hex = raw[i]["exec"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|j| u8::from_str_radix(&hex[j..j + 2], 16).unwrap())
            .collect();
        let file = work.path().join(format!("capture-{i}.exec"));
        std::fs::write(&file, bytes).unwrap();
        let theirs = support_java::jacoco_read(&reader, &[&file]).unwrap();
        assert_eq!(theirs, support_java::ours(&c.data), "capture #{i}");
        if i + 1 == rec.captures.len() {
            std::fs::rename(&file, &last).unwrap();
        }
    }
    let classes = work.path().join("classes");
    for (rel, bytes) in CLASSES {
        let path = classes.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let expected = jacoco_lines(&classes, &last, work.path());
    assert_eq!(expected.len(), 3, "{:?}", expected.keys());

    let demo = Demo::start(40.0).await.unwrap();
    let mut engine = Engine::open(demo.config().clone()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = demo.finished();
        engine.poll(&[]).await.unwrap();
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let view = engine.view();
    for (src, lines) in &expected {
        let path = format!("inventory/src/main/java/{src}");
        let file = view.files.iter().find(|f| f.path == path).unwrap();
        let ours: BTreeMap<u32, LineStatus> = file
            .coverage
            .as_ref()
            .unwrap()
            .lines
            .iter()
            .map(|l| (l.line, l.status))
            .filter(|(_, s)| *s != LineStatus::NotCoverable)
            .collect();
        assert_eq!(&ours, lines, "{path}: covtop vs JaCoCo");
    }
    let statuses: Vec<LineStatus> = expected
        .values()
        .flat_map(|l| l.values().copied())
        .collect();
    assert!(statuses.contains(&LineStatus::Covered) && statuses.contains(&LineStatus::Missed));
    assert!(
        statuses.contains(&LineStatus::Partial),
        "a branch taken one way only"
    );
}

fn java_changed(view: &covtop::model::View) -> Counts {
    let mut c = Counts::default();
    for f in view.files.iter().filter(|f| f.path.ends_with(".java")) {
        c.covered += f.changed_counts.covered;
        c.missed += f.changed_counts.missed;
        c.partial += f.changed_counts.partial;
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_shows_java_changed_coverage_growing_over_the_replay() {
    let demo = Demo::start(20.0).await.unwrap();
    let jacoco = demo
        .config()
        .targets
        .iter()
        .find(|t| matches!(t.kind, TargetKind::Jacoco { .. }))
        .expect("a jacoco target");
    assert_eq!(jacoco.name, "inventory");
    let mut engine = Engine::open(demo.config().clone()).unwrap();
    let changed_java: Vec<&String> = engine
        .changed()
        .files
        .keys()
        .filter(|f| f.ends_with(".java"))
        .collect();
    let prefix = "inventory/src/main/java/bookstore/inventory/";
    assert_eq!(
        changed_java,
        [
            &format!("{prefix}InventoryServer.java"),
            &format!("{prefix}ReservationRule.java"),
            &format!("{prefix}StockLedger.java"),
        ]
    );

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = demo.finished();
        for p in engine.poll(&[]).await.unwrap() {
            assert!(p.failures.is_empty(), "{}: {:?}", p.target, p.failures);
        }
        seen.push(java_changed(&engine.view()));
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let view = engine.view();
    let covered: Vec<u64> = seen.iter().map(|c| c.covered).collect();
    eprintln!(
        "java changed lines covered per poll: {covered:?}; final {:?}",
        seen.last()
    );
    assert!(covered.windows(2).all(|w| w[0] <= w[1]), "{covered:?}");
    assert!(
        covered.first() < covered.last(),
        "coverage grew: {covered:?}"
    );
    let last = seen.last().unwrap();
    assert!(
        last.missed > 0,
        "the tester never reserves as staff: {last:?}"
    );
    // The JaCoCo target's index: what each Java file names as the target reporting it.
    let jacoco = view
        .targets
        .iter()
        .position(|t| t.kind == "jacoco")
        .expect("the demo has a JaCoCo target") as u16;
    for f in view.files.iter().filter(|f| f.path.ends_with(".java")) {
        assert_eq!(f.language, Some(SourceLanguage::Java), "{}", f.path);
        assert!(f.coverage.is_some(), "{} has coverage", f.path);
        assert_eq!(
            &*f.targets,
            &[jacoco],
            "{} is reported by the agent",
            f.path
        );
    }
    let staff = view
        .files
        .iter()
        .find(|f| f.path.ends_with("ReservationRule.java"))
        .unwrap();
    assert!(staff.changed_counts.covered > 0 && staff.changed_counts.missed > 0);
    assert!(
        view.diagnostics.is_empty(),
        "no stale classes, no unmatched sources: {:?}",
        view.diagnostics
    );
}

/// The screen opens the session without waiting for class analysis: its first View says
/// "analysing" and has no Java coverage; the live engine installs the analysed classes beside
/// it and the next View projects the data polled meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_view_comes_before_class_analysis_and_java_follows() {
    let demo = Demo::start(40.0).await.unwrap();
    let mut engine = Engine::open_deferred(demo.config().clone()).unwrap();
    let first = engine.view();
    assert!(
        first.analysing,
        "the first View says the classes are being analysed"
    );
    assert_eq!(java_changed(&first).coverable(), 0, "no Java coverage yet");
    let (mut handles, task) = covtop::engine::live::spawn(engine);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = handles.views.borrow_and_update().clone();
        if !v.analysing && java_changed(&v).covered > 0 {
            // The classes' changed lines are all there once analysed.
            assert!(java_changed(&v).coverable() > 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Java coverage never appeared: analysing {}",
            v.analysing
        );
        let _ = tokio::time::timeout(Duration::from_millis(500), handles.views.changed()).await;
    }
    handles
        .commands
        .send(covtop::engine::Command::Quit)
        .await
        .unwrap();
    task.await.unwrap();
}
