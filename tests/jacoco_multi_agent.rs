//! Two real JVMs of one small program (the same class files) under the real JaCoCo 0.8.6 agent in
//! tcpserver mode on two ports. Agent A takes one branch of a line, agent B the other, and some
//! lines run on agent B only. covtop, configured as ONE target with `addresses = [A, B]` and as
//! TWO targets, must give what JaCoCo gives for the merged exec data of both agents: its JaCoCo
//! XML equals JaCoCo's own `XMLFormatter` report (line by line `mi ci mb cb`, and the
//! INSTRUCTION/BRANCH/LINE counters) of what JaCoCo's `ExecDumpClient` dumps from both agents
//! and merges; diff-cover reports the same missing lines on both reports against the same diff;
//! the line that is partial on each agent is covered in covtop's JSON report and in every other
//! export.

mod common;
mod support_java;

use covtop::engine::Engine;
use covtop::report::{ExportOptions, RawData, export, render};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support_java::*;

const REPORT_JAR: &str = "/usr/share/java/org.jacoco.report.jar";

/// The changed file at `main`.
const CALC_BASE: &str = r#"package demo;

public class Calc {
    static int base(int n) {
        return n;
    }
}
"#;

/// The changed file on the branch (what runs).
const CALC: &str = r#"package demo;

public class Calc {
    static int base(int n) {
        return n;
    }

    static String classify(int n) {
        if (n > 0) { // SPLIT-IF
            return "pos"; // A-ONLY
        }
        return "neg"; // B-ONLY-NEG
    }

    static int sign(int n) {
        return n >= 0 ? 1 : -1; // SPLIT-TERNARY
    }

    static int onlySecond(int n) {
        int r = n * 3; // SECOND-ONLY
        r += 7;
        return r;
    }

    static int neverRun(int n) {
        return n - 1; // NEVER
    }
}
"#;

const MAIN: &str = r#"package demo;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Main {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(
            new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 0);
        server.createContext("/", exchange -> {
            String[] path = exchange.getRequestURI().getPath().split("/");
            String out;
            if (path.length < 3) {
                out = "ok";
            } else {
                int n = Integer.parseInt(path[2]);
                switch (path[1]) {
                    case "classify": out = Calc.classify(n); break;
                    case "sign": out = String.valueOf(Calc.sign(n)); break;
                    case "second": out = String.valueOf(Calc.onlySecond(n)); break;
                    default: out = "?";
                }
            }
            byte[] body = out.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
    }
}
"#;

/// JaCoCo's own view of several agents: `ExecDumpClient` dumps each (no reset), the data is
/// merged in one `ExecFileLoader` (saved as `merged.exec`), analysed over the class files, and
/// written by `XMLFormatter`. Args: classes dir, output xml, merged exec, host:port...
const JACOCO_MERGED_XML: &str = r#"
import java.io.File;
import java.io.FileOutputStream;
import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.tools.ExecDumpClient;
import org.jacoco.core.tools.ExecFileLoader;
import org.jacoco.report.IReportVisitor;
import org.jacoco.report.xml.XMLFormatter;

public class JacocoMergedXml {
    public static void main(String[] args) throws Exception {
        ExecFileLoader merged = new ExecFileLoader();
        ExecDumpClient client = new ExecDumpClient();
        client.setDump(true);
        client.setReset(false);
        for (int i = 3; i < args.length; i++) {
            String[] hp = args[i].split(":");
            ExecFileLoader one = client.dump(hp[0], Integer.parseInt(hp[1]));
            one.getExecutionDataStore().accept(merged.getExecutionDataStore());
            one.getSessionInfoStore().accept(merged.getSessionInfoStore());
        }
        merged.save(new File(args[2]), false);
        CoverageBuilder builder = new CoverageBuilder();
        new Analyzer(merged.getExecutionDataStore(), builder).analyzeAll(new File(args[0]));
        try (FileOutputStream out = new FileOutputStream(args[1])) {
            IReportVisitor v = new XMLFormatter().createVisitor(out);
            v.visitInfo(merged.getSessionInfoStore().getInfos(),
                merged.getExecutionDataStore().getContents());
            v.visitBundle(builder.getBundle("calc"), null);
            v.visitEnd();
        }
    }
}
"#;

/// Per `<sourcefile name>`: its `<line>` elements and INSTRUCTION/BRANCH/LINE counters, as
/// written (JaCoCo's COMPLEXITY, METHOD and CLASS counters are not in a View).
fn sourcefiles(xml: &str) -> BTreeMap<String, Vec<String>> {
    let file = Regex::new(r#"(?s)<sourcefile name="([^"]*)">(.*?)</sourcefile>"#).unwrap();
    let elem = Regex::new(r#"<(line|counter) [^>]*?/>"#).unwrap();
    file.captures_iter(xml)
        .map(|c| {
            let elems = elem
                .find_iter(&c[2])
                .map(|m| m.as_str().trim_end_matches("/>").to_string())
                .filter(|e| {
                    e.starts_with("<line ")
                        || ["INSTRUCTION", "BRANCH", "LINE"]
                            .iter()
                            .any(|t| e.contains(&format!("type=\"{t}\"")))
                })
                .collect();
            (c[1].to_string(), elems)
        })
        .collect()
}

/// The `<line>` element of line `nr` in a source file's elements.
fn line_elem(elems: &[String], nr: u32) -> &str {
    let prefix = format!("<line nr=\"{nr}\" ");
    elems
        .iter()
        .find(|e| e.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line {nr} in {elems:?}"))
}

/// The 1-based line of `CALC` holding `marker`.
fn line_of(marker: &str) -> u32 {
    CALC.lines()
        .position(|l| l.contains(marker))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("{marker} not in Calc.java"))
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// diff-cover on `report` against `main`: (changed lines it measured, missing lines of
/// Calc.java). Both our packages (repository folders, root `.`) and JaCoCo's (Java packages,
/// root `src/main/java`) are found with the same roots.
fn diff_cover(repo: &Path, report: &Path, json: &Path) -> (u64, Vec<u64>) {
    run_ok(
        Command::new("diff-cover")
            .arg(report)
            .arg("--compare-branch=main")
            .arg("--json-report")
            .arg(json)
            .args(["--src-roots", "src/main/java", "."])
            .current_dir(repo),
        &format!("diff-cover {}", report.display()),
    );
    let dc: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let stats = &dc["src_stats"]["src/main/java/demo/Calc.java"];
    assert!(stats.is_object(), "diff-cover measured Calc.java: {dc}");
    let mut missing: Vec<u64> = stats["violation_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    missing.sort_unstable();
    (dc["total_num_lines"].as_u64().unwrap(), missing)
}

/// What covtop writes for one configuration after polling both agents.
struct Ours {
    jacoco_xml: PathBuf,
    json: Value,
    lcov: String,
    cobertura: String,
    sonar: String,
    codecov: Value,
    targets: usize,
}

async fn covtop_exports(work: &Path, repo: &Path, classes: &Path, targets: &str) -> Ours {
    std::fs::create_dir_all(work).unwrap();
    let config = work.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n{targets}",
            repo.display(),
            work.join("sessions").display(),
        )
        .replace("CLASSES", &classes.display().to_string()),
    )
    .unwrap();
    let config = covtop::config::load(&config).unwrap();
    let targets = config.targets.len();
    let mut engine = Engine::open(config).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    for p in &polls {
        assert!(p.failures.is_empty(), "{polls:?}");
    }
    let stored: usize = polls.iter().map(|p| p.stored.len()).sum();
    assert_eq!(stored, 2, "both agents dumped: {polls:?}");
    let view = engine.view();
    let raw = RawData {
        go: None,
        java: engine.java_totals(),
    };
    assert_eq!(raw.java.len(), targets, "one raw exec per target");
    let opts = ExportOptions::default();
    let write = |format: &str, name: &str| -> PathBuf {
        let out = work.join(name);
        export(&view, &raw, format, &opts, &out).unwrap();
        out
    };
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    Ours {
        jacoco_xml: write("jacoco-xml", "ours.xml"),
        json: serde_json::from_str(&render(&view, "json").unwrap()).unwrap(),
        lcov: read(write("lcov", "ours.info")),
        cobertura: read(write("cobertura", "cobertura.xml")),
        sonar: read(write("sonar", "sonar.xml")),
        codecov: serde_json::from_str(&read(write("codecov", "codecov.json"))).unwrap(),
        targets,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_merge_probe_by_probe_as_jacoco_merges_them() {
    if !have_java_and_jacoco()
        || !common::have_tool("git", "--version")
        || !common::have_file(REPORT_JAR)
        || !common::have_tool("diff-cover", "--version")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();

    // The repository: Calc.java grows on `feature`; Main.java is unchanged.
    let repo = work.join("repo");
    let pkg = repo.join("src/main/java/demo");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("Main.java"), MAIN).unwrap();
    std::fs::write(pkg.join("Calc.java"), CALC_BASE).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "base"]);
    common::git(&repo, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(pkg.join("Calc.java"), CALC).unwrap();
    common::git(&repo, &["commit", "-qam", "calc"]);

    // One build, two JVMs under the agent on two ports.
    let classes = work.join("classes");
    javac(
        11,
        &classes,
        None,
        &[pkg.join("Main.java"), pkg.join("Calc.java")],
    );
    let agent = extract_agent(work);
    let mut agents = Vec::new();
    let mut jvms = Vec::new();
    for name in ["a", "b"] {
        let agent_port = free_port();
        let http_port = free_port();
        let mut jvm = start_jvm(
            &format!("calc-{name}"),
            &agent,
            &format!(
                "output=tcpserver,address=127.0.0.1,port={agent_port},sessionid=calc-{name},includes=demo.*"
            ),
            &classes,
            "demo.Main",
            &[http_port.to_string()],
        );
        wait_healthy(&mut jvm, http_port);
        agents.push(format!("127.0.0.1:{agent_port}"));
        jvms.push((jvm, http_port));
    }
    // A takes the `if` and the ternary's true branch; B their false branches and onlySecond.
    for path in ["/classify/5", "/sign/5"] {
        assert_eq!(http_get(jvms[0].1, path).unwrap().0, 200, "{path}");
    }
    for path in ["/classify/-5", "/sign/-5", "/second/2"] {
        assert_eq!(http_get(jvms[1].1, path).unwrap().0, 200, "{path}");
    }

    let one_target = format!(
        "[[target]]\nname = \"calc\"\nkind = \"jacoco\"\naddresses = [\"{}\", \"{}\"]\nclasses = [\"CLASSES\"]\n",
        agents[0], agents[1]
    );
    let two_targets = format!(
        "[[target]]\nname = \"calc-a\"\nkind = \"jacoco\"\naddress = \"{}\"\nclasses = [\"CLASSES\"]\n\
         [[target]]\nname = \"calc-b\"\nkind = \"jacoco\"\naddress = \"{}\"\nclasses = [\"CLASSES\"]\n",
        agents[0], agents[1]
    );
    let configurations = [
        covtop_exports(&work.join("one"), &repo, &classes, &one_target).await,
        covtop_exports(&work.join("two"), &repo, &classes, &two_targets).await,
    ];

    // JaCoCo's own report of both agents' merged data (dumped after covtop's polls, without
    // reset; nothing ran in between).
    let tool = work.join("tool");
    std::fs::create_dir_all(&tool).unwrap();
    std::fs::write(tool.join("JacocoMergedXml.java"), JACOCO_MERGED_XML).unwrap();
    let mut cp = vec![
        tool.display().to_string(),
        JACOCO_CORE.to_string(),
        REPORT_JAR.to_string(),
    ];
    cp.extend(ASM_JARS.iter().map(|s| s.to_string()));
    let cp = cp.join(":");
    javac(11, &tool, Some(&cp), &[tool.join("JacocoMergedXml.java")]);
    let theirs_xml = work.join("theirs.xml");
    run_ok(
        Command::new("java")
            .arg("-cp")
            .arg(&cp)
            .arg("JacocoMergedXml")
            .arg(&classes)
            .arg(&theirs_xml)
            .arg(work.join("merged.exec"))
            .args(&agents),
        "JaCoCo's merged report",
    );
    let theirs = sourcefiles(&std::fs::read_to_string(&theirs_xml).unwrap());
    let their_calc = &theirs["Calc.java"];

    // The fixture does what it says, by JaCoCo's own account.
    let split_if = line_of("SPLIT-IF");
    let split_ternary = line_of("SPLIT-TERNARY");
    let b_only = line_of("SECOND-ONLY");
    let never = line_of("NEVER");
    for nr in [split_if, split_ternary] {
        assert!(
            line_elem(their_calc, nr).contains("mb=\"0\" cb=\"2\""),
            "line {nr}: both branches ran, on different agents: {}",
            line_elem(their_calc, nr)
        );
    }
    for nr in [b_only, b_only + 1, b_only + 2, line_of("B-ONLY-NEG")] {
        assert!(
            line_elem(their_calc, nr).contains("mi=\"0\""),
            "{}",
            line_elem(their_calc, nr)
        );
    }
    assert!(
        line_elem(their_calc, never).contains(" ci=\"0\""),
        "{}",
        line_elem(their_calc, never)
    );

    let their_dc = diff_cover(&repo, &theirs_xml, &work.join("dc-theirs.json"));
    assert_eq!(
        their_dc.1,
        vec![u64::from(never)],
        "JaCoCo: only neverRun missed"
    );

    for ours in &configurations {
        let what = format!("{} target(s)", ours.targets);
        // JaCoCo XML: every source file, line by line and its counters, as JaCoCo's own.
        let our_files = sourcefiles(&std::fs::read_to_string(&ours.jacoco_xml).unwrap());
        assert_eq!(
            our_files.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{what}"
        );
        for (name, their_elems) in &theirs {
            assert_eq!(&our_files[name], their_elems, "{what}: {name}");
        }
        // diff-cover on both reports, same diff: the same missing lines.
        let our_dc = diff_cover(
            &repo,
            &ours.jacoco_xml,
            &work.join(format!("dc-ours-{}.json", ours.targets)),
        );
        assert_eq!(
            our_dc, their_dc,
            "{what}: diff-cover (changed lines, missing)"
        );

        // JSON: the lines partial on each agent are covered; only neverRun is missed.
        let files = ours.json["files"].as_array().unwrap();
        let calc = files
            .iter()
            .find(|f| f["path"] == "src/main/java/demo/Calc.java")
            .unwrap_or_else(|| panic!("{what}: Calc.java in {}", ours.json));
        assert_eq!(
            calc["partial_lines"],
            serde_json::json!([]),
            "{what}: {calc}"
        );
        assert_eq!(
            calc["missed_ranges"],
            serde_json::json!([[never, never]]),
            "{what}: {calc}"
        );
        assert_eq!(calc["changed"]["missed"], 1, "{what}: {calc}");

        // The other exports carry the merged branch counters of the split line.
        assert!(
            ours.lcov
                .contains(&format!("BRDA:{split_if},0,0,1\nBRDA:{split_if},0,1,1\n")),
            "{what}: {}",
            ours.lcov
        );
        assert!(
            ours.lcov.contains(&format!("DA:{b_only},1\n")),
            "{what}: {}",
            ours.lcov
        );
        assert!(
            ours.cobertura.contains(&format!(
                "<line number=\"{split_if}\" hits=\"1\" branch=\"true\" condition-coverage=\"100% (2/2)\"/>"
            )),
            "{what}: {}",
            ours.cobertura
        );
        assert!(
            ours.sonar.contains(&format!(
                "<lineToCover lineNumber=\"{split_if}\" covered=\"true\" branchesToCover=\"2\" coveredBranches=\"2\"/>"
            )),
            "{what}: {}",
            ours.sonar
        );
        let codecov = &ours.codecov["coverage"]["src/main/java/demo/Calc.java"];
        assert_eq!(codecov[split_if.to_string()], 1, "{what}: {codecov}");
        assert_eq!(codecov[b_only.to_string()], 1, "{what}: {codecov}");
        assert_eq!(codecov[never.to_string()], 0, "{what}: {codecov}");
    }
    drop(jvms);
}

/// A scripted tcpserver agent on 127.0.0.1 answering every dump request with `exec` (then
/// CMDOK), as the real agent does.
async fn scripted_agent(exec: covtop::java::exec::ExecData) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut reply = exec.to_bytes().unwrap();
    reply.push(0x20);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            // Header (5 bytes) and the dump command (3 bytes).
            let mut request = [0u8; 8];
            if s.read_exact(&mut request).await.is_ok() {
                let _ = s.write_all(&reply).await;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_id_with_two_names_across_targets_is_named_and_not_merged() {
    use covtop::java::exec::{ClassProbes, ExecData, SessionInfo};
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README"), "x\n").unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "base"]);
    let classes = work.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let tiny = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java-corpus/fixtures/Tiny.class"),
    )
    .unwrap();
    std::fs::write(classes.join("Tiny.class"), &tiny).unwrap();
    let tiny_id = covtop::java::crc64::class_id(&tiny);
    let n = covtop::java::analysis::analyze_class(&tiny)
        .unwrap()
        .unwrap()
        .probe_count();

    let exec = |session: &str, classes: &[(u64, &str, usize)]| ExecData {
        sessions: vec![SessionInfo {
            id: session.into(),
            start: 1,
            dump: 2,
        }],
        classes: classes
            .iter()
            .map(|&(id, name, len)| {
                (
                    id,
                    ClassProbes {
                        name: name.into(),
                        probes: vec![true; len].into(),
                    },
                )
            })
            .collect(),
    };
    // Target a: Tiny as compiled, and a class without class file. Target b: Tiny's id under
    // another name, and that other class's id under a third name.
    let a = scripted_agent(exec("a", &[(tiny_id, "Tiny", n), (7, "x/One", 1)])).await;
    let b = scripted_agent(exec("b", &[(tiny_id, "Other", n), (7, "x/Two", 1)])).await;
    let targets = format!(
        "[[target]]\nname = \"calc-a\"\nkind = \"jacoco\"\naddress = \"{a}\"\nclasses = [\"CLASSES\"]\n\
         [[target]]\nname = \"calc-b\"\nkind = \"jacoco\"\naddress = \"{b}\"\nclasses = [\"CLASSES\"]\n"
    );
    let config = work.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n{targets}",
            repo.display(),
            work.join("sessions").display(),
        )
        .replace("CLASSES", &classes.display().to_string()),
    )
    .unwrap();
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert!(polls.iter().all(|p| p.failures.is_empty()), "{polls:?}");
    let view = engine.view();
    let text: Vec<String> = view
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.subject, d.message))
        .collect();
    let conflict = text
        .iter()
        .find(|d| d.contains("class ids"))
        .unwrap_or_else(|| panic!("no conflict diagnostic: {text:#?}"));
    assert!(
        conflict.contains(&format!(
            "{tiny_id:016x}: Other ({n} probes, from calc-b) vs Tiny ({n} probes, from calc-a) vs class file Tiny ({n} probes)"
        )),
        "{conflict}"
    );
    assert!(
        conflict.contains(
            "0000000000000007: x/One (1 probes, from calc-a) vs x/Two (1 probes, from calc-b)"
        ),
        "{conflict}"
    );
    // Each target's raw data stays its own (the jacoco-exec export writes it per target).
    let totals: BTreeMap<String, Vec<String>> = engine
        .java_totals()
        .into_iter()
        .map(|(t, e)| {
            let mut names: Vec<String> = e.classes.values().map(|c| c.name.clone()).collect();
            names.sort();
            (t, names)
        })
        .collect();
    assert_eq!(totals["calc-a"], ["Tiny", "x/One"]);
    assert_eq!(totals["calc-b"], ["Other", "x/Two"]);
}
