//! covtop's native JaCoCo analysis against JaCoCo 0.8.6's own Analyzer (Debian's
//! libjacoco-java), line by line: the purpose-written corpus in tests/java-corpus compiled for
//! Java 8, 11 and 17 with probe data from real agent runs and seeded random probes, every class
//! of several large jars in /usr/share/java with seeded random probes, and the fixture dump.
//!
//! The oracle (tests/oracle/Oracle.java) prints per class its probe count, the probe array it
//! used, per method and per line the counters; this test projects the same probe array with
//! `covtop::java::analysis` and demands equality everywhere.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use covtop::java::analysis::{ClassCoverage, analyze_class, jacoco_status_code};

const JACOCO_CP: &[&str] = &[
    "/usr/share/java/org.jacoco.core.jar",
    "/usr/share/java/asm.jar",
    "/usr/share/java/asm-commons.jar",
    "/usr/share/java/asm-tree.jar",
    "/usr/share/java/asm-analysis.jar",
];

fn have_jacoco() -> bool {
    common::have_tool("javac", "-version")
        && JACOCO_CP.iter().all(|p| common::have_file(p))
        && common::have_file("/usr/share/java/org.jacoco.agent.jar")
}

fn work_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jacoco-oracle");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles Oracle.java once (rebuilt when the source changes).
fn oracle_classpath() -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/Oracle.java");
    let text = std::fs::read(&src).unwrap();
    let out = work_dir().join(format!("oracle-{:016x}", fxhash(&text)));
    if !out.join("Oracle.class").exists() {
        let tmp = work_dir().join(format!("oracle-build-{}", std::process::id()));
        let st = Command::new("javac")
            .args(["-nowarn", "-d"])
            .arg(&tmp)
            .arg("-cp")
            .arg(JACOCO_CP.join(":"))
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success(), "javac Oracle.java failed");
        let _ = std::fs::rename(&tmp, &out);
    }
    format!("{}:{}", out.display(), JACOCO_CP.join(":"))
}

fn fxhash(b: &[u8]) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x100000001b3);
    }
    h
}

#[derive(Debug, Default)]
struct OracleClass {
    location: String,
    name: String,
    probes: usize,
    data: Option<covtop::java::exec::Probes>,
    skipped: bool,
    methods: Vec<String>,
    lines: Vec<String>,
}

#[derive(Debug, Default)]
struct OracleRun {
    classes: Vec<OracleClass>,
    errors: Vec<String>,
}

fn run_oracle(mode: &[&str], inputs: &[PathBuf]) -> OracleRun {
    let out = Command::new("java")
        .arg("-cp")
        .arg(oracle_classpath())
        .arg("Oracle")
        .args(mode)
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_oracle(&String::from_utf8_lossy(&out.stdout))
}

fn parse_oracle(text: &str) -> OracleRun {
    let mut run = OracleRun::default();
    let mut cur: Option<OracleClass> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ERROR ") {
            run.errors.push(rest.to_owned());
        } else if line.starts_with("CLASS ") || line.starts_with("SKIP ") {
            let f: Vec<&str> = line.split(' ').collect();
            let data = f[5].strip_prefix("data=").unwrap();
            let c = OracleClass {
                location: f[1].to_owned(),
                name: f[3].to_owned(),
                probes: f[4].strip_prefix("probes=").unwrap().parse().unwrap(),
                data: (data != "-").then(|| data.bytes().map(|b| b == b'1').collect()),
                skipped: f[0] == "SKIP",
                ..Default::default()
            };
            if c.skipped {
                run.classes.push(c);
            } else {
                cur = Some(c);
            }
        } else if let Some(m) = line.strip_prefix("M ") {
            cur.as_mut().unwrap().methods.push(m.to_owned());
        } else if let Some(l) = line.strip_prefix("L ") {
            cur.as_mut().unwrap().lines.push(l.to_owned());
        } else if line == "END" {
            run.classes.push(cur.take().unwrap());
        }
    }
    run
}

/// The class files the oracle saw, by the same location strings.
fn load_inputs(inputs: &[PathBuf]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(p: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        } else if p.extension().is_some_and(|e| e == "class") {
            out.insert(p.display().to_string(), std::fs::read(p).unwrap());
        } else if p.extension().is_some_and(|e| e == "jar") {
            let jar = p.file_name().unwrap().to_string_lossy().to_string();
            let mut z = zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
            for i in 0..z.len() {
                let mut e = z.by_index(i).unwrap();
                let name = e.name().unwrap().to_string();
                if e.is_file() && name.ends_with(".class") {
                    let mut b = Vec::new();
                    std::io::Read::read_to_end(&mut e, &mut b).unwrap();
                    out.insert(format!("{jar}!{name}"), b);
                }
            }
        }
    }
    for p in inputs {
        walk(p, &mut out);
    }
    out
}

fn render(c: &ClassCoverage) -> (Vec<String>, Vec<String>) {
    let methods = c
        .method_counters
        .iter()
        .map(|m| {
            format!(
                "{}{} insn {} {} br {} {}",
                m.name, m.descriptor, m.insn.1, m.insn.0, m.branches.1, m.branches.0
            )
        })
        .collect();
    let lines = c
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {}",
                l.line,
                jacoco_status_code(l.insn, l.branches),
                l.insn.1,
                l.insn.0,
                l.branches.1,
                l.branches.0
            )
        })
        .collect();
    (methods, lines)
}

#[derive(Default)]
struct Comparison {
    classes: usize,
    skipped: usize,
    lines: usize,
    methods: usize,
    mismatches: Vec<String>,
    excluded: Vec<String>,
}

impl Comparison {
    fn report(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} classes compared ({} skipped by both), {} lines, {} methods; {} mismatching classes; {} excluded",
            self.classes,
            self.skipped,
            self.lines,
            self.methods,
            self.mismatches.len(),
            self.excluded.len()
        );
        for e in self.excluded.iter().take(20) {
            let _ = write!(s, "\n  excluded (oracle error): {e}");
        }
        for m in self.mismatches.iter().take(15) {
            let _ = write!(s, "\n  MISMATCH {m}");
        }
        s
    }
}

fn compare(run: &OracleRun, inputs: &[PathBuf]) -> Comparison {
    let bytes = load_inputs(inputs);
    let mut cmp = Comparison {
        excluded: run.errors.clone(),
        ..Default::default()
    };
    for oc in &run.classes {
        let Some(b) = bytes.get(&oc.location) else {
            cmp.mismatches
                .push(format!("{}: class file not found by the test", oc.location));
            continue;
        };
        let ours = match analyze_class(b) {
            Ok(a) => a,
            Err(e) => {
                cmp.mismatches
                    .push(format!("{}: our error: {e}", oc.location));
                continue;
            }
        };
        let Some(a) = ours else {
            if oc.skipped {
                cmp.skipped += 1;
            } else {
                cmp.mismatches
                    .push(format!("{}: we skip, JaCoCo analyses", oc.location));
            }
            continue;
        };
        if oc.skipped {
            cmp.mismatches
                .push(format!("{}: JaCoCo skips, we analyse", oc.location));
            continue;
        }
        cmp.classes += 1;
        let mut problems = String::new();
        if a.name() != oc.name {
            let _ = write!(problems, " name {} vs {}", a.name(), oc.name);
        }
        if a.probe_count() != oc.probes {
            let _ = write!(
                problems,
                " probes ours={} jacoco={}",
                a.probe_count(),
                oc.probes
            );
        }
        let cov = a.project(oc.data.as_ref());
        let (methods, lines) = render(&cov);
        cmp.lines += oc.lines.len();
        cmp.methods += oc.methods.len();
        // JaCoCo's M lines carry the first line; ours do not: compare without it.
        let theirs_m: Vec<String> = oc
            .methods
            .iter()
            .map(|m| {
                let mut p: Vec<&str> = m.split(' ').collect();
                p.remove(1);
                p.join(" ")
            })
            .collect();
        if methods != theirs_m {
            let diff: Vec<String> = methods
                .iter()
                .zip(&theirs_m)
                .filter(|(a, b)| a != b)
                .take(3)
                .map(|(a, b)| format!("[ours {a} | jacoco {b}]"))
                .collect();
            let _ = write!(
                problems,
                " methods differ ({} vs {}) {}",
                methods.len(),
                theirs_m.len(),
                diff.join(" ")
            );
        }
        if lines != oc.lines {
            let ours: std::collections::BTreeSet<&String> = lines.iter().collect();
            let theirs: std::collections::BTreeSet<&String> = oc.lines.iter().collect();
            let only_ours: Vec<_> = ours.difference(&theirs).take(4).collect();
            let only_theirs: Vec<_> = theirs.difference(&ours).take(4).collect();
            let _ = write!(
                problems,
                " lines differ: ours {only_ours:?} jacoco {only_theirs:?}"
            );
        }
        if !problems.is_empty() {
            cmp.mismatches.push(format!("{}:{problems}", oc.location));
        }
    }
    cmp
}

fn check(what: &str, mode: &[&str], inputs: &[PathBuf]) -> Comparison {
    let run = run_oracle(mode, inputs);
    let cmp = compare(&run, inputs);
    eprintln!("{}", cmp.report(what));
    assert!(cmp.classes > 0, "{what}: nothing compared");
    cmp
}

const REAL_JARS: &[&str] = &[
    "/usr/share/java/guava.jar",
    "/usr/share/java/commons-lang3.jar",
    "/usr/share/java/commons-io.jar",
    "/usr/share/java/guice.jar",
    "/usr/share/java/maven-core-3.x.jar",
    "/usr/share/java/plexus-utils2.jar",
];

#[test]
fn real_jars_with_random_probes_match_jacoco() {
    if !have_jacoco() {
        return;
    }
    let mut failures = Vec::new();
    for jar in REAL_JARS {
        if !common::have_file(jar) {
            continue;
        }
        let cmp = check(jar, &["--random", "20260521"], &[PathBuf::from(jar)]);
        if !cmp.mismatches.is_empty() {
            failures.push(format!(
                "{jar}: {} mismatching classes",
                cmp.mismatches.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn fixture_app_matches_oracle_file() {
    if !have_jacoco() {
        return;
    }
    // Copies of /work/shared/fixtures/jacoco: App.java, the real agent's dump1.exec and
    // JaCoCo's own per-line result for it.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java-corpus/fixtures");
    let out = work_dir().join("app11");
    let st = Command::new("javac")
        .args(["--release", "11", "-g", "-d"])
        .arg(&out)
        .arg(fixtures.join("App.java"))
        .status()
        .unwrap();
    assert!(st.success());
    let exec = fixtures.join("dump1.exec");
    let cmp = check(
        "fixture App",
        &["--exec", exec.to_str().unwrap()],
        std::slice::from_ref(&out),
    );
    assert!(cmp.mismatches.is_empty(), "{}", cmp.report("fixture"));

    // And directly against the fixture's recorded oracle output: fold both classes of App.java
    // (probe arrays as read from dump1.exec) into per-line coverage.
    let run = run_oracle(
        &["--exec", exec.to_str().unwrap()],
        std::slice::from_ref(&out),
    );
    let bytes = load_inputs(std::slice::from_ref(&out));
    let covs: Vec<ClassCoverage> = run
        .classes
        .iter()
        .map(|c| {
            let a = analyze_class(&bytes[&c.location]).unwrap().unwrap();
            assert_eq!(a.source_file(), Some("App.java"));
            a.project(c.data.as_ref())
        })
        .collect();
    let ours: Vec<String> = covs
        .iter()
        .flat_map(|c| c.lines.iter())
        .fold(BTreeMap::<u32, [u32; 4]>::new(), |mut m, l| {
            let e = m.entry(l.line).or_default();
            e[0] += l.insn.1;
            e[1] += l.insn.0;
            e[2] += l.branches.1;
            e[3] += l.branches.0;
            m
        })
        .into_iter()
        .map(|(line, [mi, ci, mb, cb])| {
            let status = match jacoco_status_code((ci, mi), (cb, mb)) {
                1 => "NOT_COVERED",
                2 => "FULLY_COVERED",
                3 => "PARTLY_COVERED",
                _ => "EMPTY",
            };
            format!("L{line} {status} insn mi={mi} ci={ci} br mb={mb} cb={cb}")
        })
        .collect();
    let folded = covtop::java::analysis::fold_source_lines(covs.iter());
    assert_eq!(folded.len(), ours.len());
    let recorded = std::fs::read_to_string(fixtures.join("oracle-App.txt")).unwrap();
    let theirs: Vec<String> = recorded
        .lines()
        .filter(|l| l.starts_with("  L"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(ours, theirs, "App.java lines differ from oracle-App.txt");
}

/// Every jar in /usr/share/java (about 80 s in a debug build). Lists per jar what matched.
#[test]
fn all_system_jars_match_jacoco() {
    if !have_jacoco() {
        return;
    }
    let mut jars: Vec<PathBuf> = std::fs::read_dir("/usr/share/java")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jar") && !p.is_symlink())
        // Kotlin's jars (Debian's kotlin package brings ~150, the compiler alone ~40 MB) have
        // their own test below: kotlin_jars_match_jacoco.
        .filter(|p| !is_kotlin_jar(p))
        .collect();
    jars.sort();
    let mut failures = Vec::new();
    for jar in &jars {
        let run = run_oracle(&["--random", "7"], std::slice::from_ref(jar));
        let cmp = compare(&run, std::slice::from_ref(jar));
        eprintln!("{}", cmp.report(&jar.display().to_string()));
        if !cmp.mismatches.is_empty() {
            failures.push(format!("{}: {}", jar.display(), cmp.mismatches.len()));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

fn is_kotlin_jar(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("kotlin"))
}

/// The Kotlin runtime jars of Debian's kotlin 1.3.31 (and kotlinx-coroutines when installed),
/// every class with seeded random probes: the Kotlin filters (Generated, Lateinit, When,
/// WhenString, UnsafeCastOperator, NotNullOperator, DefaultArguments, Inline, Coroutine,
/// DefaultMethods) against JaCoCo 0.8.6 on compiler output we did not write.
const KOTLIN_JARS: &[&str] = &[
    "/usr/share/java/kotlin-stdlib.jar",
    "/usr/share/java/kotlin-stdlib-jdk7.jar",
    "/usr/share/java/kotlin-stdlib-jdk8.jar",
    "/usr/share/java/kotlin-reflect.jar",
    "/usr/share/java/kotlin-test.jar",
    "/usr/share/java/kotlinx-coroutines-core.jar",
];

/// Classes of the Kotlin jars where covtop still differs from JaCoCo 0.8.6, one location a
/// line (`#` comments say which filter). Any other class must match; a listed class that
/// matches again must be taken off the list.
fn kotlin_known_differences() -> std::collections::BTreeSet<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kotlin-corpus/known-differences.txt");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn kotlin_jars_match_jacoco() {
    if !have_jacoco() || !common::have_file("/usr/share/java/kotlin-stdlib.jar") {
        return;
    }
    let known = kotlin_known_differences();
    let mut differing = std::collections::BTreeSet::new();
    let mut unexpected = Vec::new();
    let (mut classes, mut lines) = (0, 0);
    for jar in KOTLIN_JARS {
        if !Path::new(jar).exists() {
            continue;
        }
        for seed in ["7", "8"] {
            let cmp = check(
                &format!("{jar} seed {seed}"),
                &["--random", seed],
                &[PathBuf::from(jar)],
            );
            classes += cmp.classes;
            lines += cmp.lines;
            for m in &cmp.mismatches {
                let location = m.split(':').next().unwrap_or(m).to_owned();
                if !known.contains(&location) {
                    unexpected.push(format!("seed {seed}: {m}"));
                }
                differing.insert(location);
            }
        }
    }
    eprintln!(
        "kotlin jars: {classes} class analyses, {lines} lines; {} classes on the known-differences list still differ",
        differing.len()
    );
    let fixed: Vec<&String> = known.difference(&differing).collect();
    assert!(
        unexpected.is_empty(),
        "classes differing from JaCoCo that are not on tests/kotlin-corpus/known-differences.txt:\n{}",
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "these now match JaCoCo: take them off tests/kotlin-corpus/known-differences.txt: {fixed:?}"
    );
}

fn kotlin_sources(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kt"))
        .collect();
    v.sort();
    v
}

/// tests/kotlin-corpus compiled with kotlinc (when, lateinit, `!!`, `as`, default arguments,
/// inline functions from the same and another file, suspend functions and coroutines on the
/// bare stdlib, interface default methods, data classes, objects and companions), run under
/// the real agent, then agent data and seeded random probes against the oracle.
#[test]
fn kotlin_corpus_matches_jacoco() {
    const STDLIB: &str = "/usr/share/java/kotlin-stdlib.jar";
    if !have_jacoco() || !common::have_tool("kotlinc", "-version") || !common::have_file(STDLIB) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kotlin-corpus");
    let out = work_dir().join("kotlin-corpus");
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new("kotlinc")
        .args(["-nowarn", "-jvm-target", "1.8", "-d"])
        .arg(&out)
        .args(kotlin_sources(&root))
        .status()
        .unwrap();
    assert!(st.success(), "kotlinc failed");
    let exec = work_dir().join("kotlin-corpus.exec");
    let _ = std::fs::remove_file(&exec);
    let st = Command::new("java")
        .arg(format!(
            "-javaagent:{}=destfile={},includes=kcorpus.*",
            agent_jar().display(),
            exec.display()
        ))
        .arg("-cp")
        .arg(format!("{}:{STDLIB}", out.display()))
        .arg("kcorpus.MainKt")
        .status()
        .unwrap();
    assert!(st.success(), "kcorpus.MainKt failed under the agent");
    let inputs = std::slice::from_ref(&out);
    let mut failures = Vec::new();
    let agent = check(
        "kotlin corpus, agent data",
        &["--exec", exec.to_str().unwrap()],
        inputs,
    );
    assert!(agent.classes >= 15, "only {} corpus classes", agent.classes);
    let with_data = run_oracle(&["--exec", exec.to_str().unwrap()], inputs)
        .classes
        .iter()
        .filter(|c| c.data.is_some())
        .count();
    assert!(
        with_data >= 12,
        "only {with_data} Kotlin corpus classes have agent data"
    );
    failures.extend(agent.mismatches);
    for seed in ["1", "2", "3", "4", "5", "6"] {
        let cmp = check(
            &format!("kotlin corpus, random seed {seed}"),
            &["--random", seed],
            inputs,
        );
        failures.extend(cmp.mismatches);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Extracts the real agent (jacocoagent.jar, nested in Debian's org.jacoco.agent.jar).
fn agent_jar() -> PathBuf {
    let out = work_dir().join("jacocoagent.jar");
    if !out.exists() {
        let mut z = zip::ZipArchive::new(
            std::fs::File::open("/usr/share/java/org.jacoco.agent.jar").unwrap(),
        )
        .unwrap();
        let mut e = z.by_name("jacocoagent.jar").unwrap();
        let tmp = work_dir().join(format!("jacocoagent-{}.jar", std::process::id()));
        let mut f = std::fs::File::create(&tmp).unwrap();
        std::io::copy(&mut e, &mut f).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

fn java_sources(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "java"))
        .collect();
    v.sort();
    v
}

/// Compiles the corpus for one release, runs its main under the real agent, and returns the
/// class directory and the exec file the agent wrote at exit.
fn corpus_run(compiler: &str, release: &str) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java-corpus");
    let out = work_dir().join(format!("corpus-{compiler}-{release}"));
    let _ = std::fs::remove_dir_all(&out);
    let mut sources = java_sources(&root.join("common/corpus"));
    if release == "17" {
        sources.extend(java_sources(&root.join("java17/corpus17")));
    }
    let mut cmd = Command::new(compiler);
    if let Some(release) = release.strip_suffix("-nodebug") {
        // No LineNumberTable, no LocalVariableTable: totals only, different labels.
        cmd.args(["-nowarn", "--release", release, "-g:none", "-d"]);
    } else if compiler == "ecj" {
        cmd.args(["-nowarn", "-proc:none", &format!("-{release}"), "-g", "-d"]);
    } else {
        cmd.args(["-nowarn", "--release", release, "-g", "-d"]);
    }
    let st = cmd.arg(&out).args(&sources).status().unwrap();
    assert!(st.success(), "{compiler} for release {release} failed");
    let exec = work_dir().join(format!("corpus-{compiler}-{release}.exec"));
    let _ = std::fs::remove_file(&exec);
    let st = Command::new("java")
        .arg(format!(
            "-javaagent:{}=destfile={},includes=corpus*",
            agent_jar().display(),
            exec.display()
        ))
        .arg("-cp")
        .arg(&out)
        .arg("corpus.Main")
        .arg("arg")
        .status()
        .unwrap();
    assert!(st.success(), "corpus main failed under the agent");
    assert!(exec.exists(), "the agent wrote no exec file");
    (out, exec)
}

fn corpus_matches(compiler: &str, release: &str) {
    if !have_jacoco() || !common::have_tool(compiler, "-version") {
        return;
    }
    let (classes, exec) = corpus_run(compiler, release);
    let inputs = std::slice::from_ref(&classes);
    let mut failures = Vec::new();
    let agent = check(
        &format!("corpus {compiler} release {release}, agent data"),
        &["--exec", exec.to_str().unwrap()],
        inputs,
    );
    // The agent run must have produced data for most classes, or the comparison is hollow.
    let with_data = run_oracle(&["--exec", exec.to_str().unwrap()], inputs)
        .classes
        .iter()
        .filter(|c| c.data.is_some())
        .count();
    assert!(
        with_data >= 8,
        "only {with_data} corpus classes have agent data"
    );
    failures.extend(agent.mismatches);
    for seed in ["1", "2", "3", "4"] {
        let cmp = check(
            &format!("corpus {compiler} release {release}, random seed {seed}"),
            &["--random", seed],
            inputs,
        );
        failures.extend(cmp.mismatches);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn corpus_release_8_matches_jacoco() {
    corpus_matches("javac", "8");
}

#[test]
fn corpus_release_11_matches_jacoco() {
    corpus_matches("javac", "11");
}

#[test]
fn corpus_release_17_matches_jacoco() {
    corpus_matches("javac", "17");
}

/// ecj (Eclipse's compiler) generates its own shapes for string switches, try-with-resources
/// and synchronized blocks; 0.8.6 has filters for them.
#[test]
fn corpus_ecj_8_matches_jacoco() {
    corpus_matches("ecj", "8");
}

#[test]
fn corpus_ecj_17_matches_jacoco() {
    corpus_matches("ecj", "17");
}

#[test]
fn corpus_without_debug_info_matches_jacoco() {
    corpus_matches("javac", "11-nodebug");
}

/// `jsr`/`ret` subroutines (class files for Java 1.4 and older; JaCoCo inlines them with ASM's
/// JSRInlinerAdapter): ecj still emits them for `-target 1.4`. None of the system jars has one.
#[test]
fn jsr_subroutines_match_jacoco() {
    if !have_jacoco() || !common::have_tool("ecj", "-version") {
        return;
    }
    let dir = work_dir().join("jsr");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("Legacy.java");
    std::fs::write(
        &src,
        r#"public class Legacy {
    static int counter;
    static int f(int x) {
        try {
            if (x > 0) return 1;
            return 2;
        } finally {
            counter++;
        }
    }
    static int nested(int x) {
        try {
            try {
                if (x == 1) throw new IllegalStateException();
                counter += x;
            } finally {
                if (x > 2) counter--; else counter++;
            }
        } catch (IllegalStateException e) {
            return -1;
        } finally {
            synchronized (Legacy.class) { counter *= 2; }
        }
        for (int i = 0; i < x; i++) {
            try { counter += i; } finally { counter -= 1; }
        }
        return counter;
    }
    static String sw(int k) {
        try {
            switch (k) { case 1: return "a"; case 2: break; default: return "c"; }
            return "b";
        } finally {
            counter = 0;
        }
    }
}
"#,
    )
    .unwrap();
    let st = Command::new("ecj")
        .args([
            "-nowarn",
            "-proc:none",
            "-source",
            "1.4",
            "-target",
            "1.4",
            "-g",
            "-d",
        ])
        .arg(&dir)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(dir.join("Legacy.class")).unwrap();
    let code = covtop::java::classfile::parse_class(&bytes).unwrap();
    assert!(
        code.methods
            .iter()
            .filter_map(|m| m.code.as_ref())
            .any(|c| c.insns.iter().any(|i| i.opcode == 0xA8)),
        "ecj emitted no jsr: the test would be hollow"
    );
    let inputs = std::slice::from_ref(&dir);
    let mut failures = Vec::new();
    for seed in ["1", "2", "3", "4", "5", "6"] {
        failures.extend(check(&format!("jsr seed {seed}"), &["--random", seed], inputs).mismatches);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
