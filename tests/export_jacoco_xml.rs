//! The JaCoCo XML export of a real JaCoCo target equals, line by line, the XML report JaCoCo's
//! own `XMLFormatter` writes from our merged `jacoco-exec` export and the same class files.

mod common;
mod support_java;

use covtop::engine::Engine;
use covtop::report::{ExportOptions, RawData, export};
use regex::Regex;
use std::collections::BTreeMap;
use std::process::Command;
use support_java::*;

/// JaCoCo's XML report of `exec` over `classes`, through the report API.
const JACOCO_XML: &str = r#"
import java.io.File;
import java.io.FileOutputStream;
import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.tools.ExecFileLoader;
import org.jacoco.report.IReportVisitor;
import org.jacoco.report.xml.XMLFormatter;

public class JacocoXml {
    public static void main(String[] args) throws Exception {
        ExecFileLoader loader = new ExecFileLoader();
        loader.load(new File(args[0]));
        CoverageBuilder builder = new CoverageBuilder();
        new Analyzer(loader.getExecutionDataStore(), builder).analyzeAll(new File(args[1]));
        try (FileOutputStream out = new FileOutputStream(args[2])) {
            IReportVisitor v = new XMLFormatter().createVisitor(out);
            v.visitInfo(loader.getSessionInfoStore().getInfos(),
                loader.getExecutionDataStore().getContents());
            v.visitBundle(builder.getBundle("shop"), null);
            v.visitEnd();
        }
    }
}
"#;

/// Per `<sourcefile name>`: its `<line>` and `<counter>` elements, attribute text as written.
fn sourcefiles(xml: &str) -> BTreeMap<String, Vec<String>> {
    let file = Regex::new(r#"(?s)<sourcefile name="([^"]*)">(.*?)</sourcefile>"#).unwrap();
    let elem = Regex::new(r#"<(line|counter) [^>]*?/>"#).unwrap();
    file.captures_iter(xml)
        .map(|c| {
            let elems = elem
                .find_iter(&c[2])
                .map(|m| m.as_str().replace("\"/>", "\""))
                .map(|s| s.trim_end_matches('"').to_string())
                .collect();
            (c[1].to_string(), elems)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jacoco_xml_equals_jacocos_own_report_of_our_merged_exec() {
    if !have_java_and_jacoco()
        || !common::have_tool("git", "--version")
        || !common::have_file("/usr/share/java/org.jacoco.report.jar")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let repo = work.join("repo");
    let java_dir = repo.join("src/main/java/shop");
    std::fs::create_dir_all(&java_dir).unwrap();
    let sources = shop_sources();
    for s in &sources {
        std::fs::copy(s, java_dir.join(s.file_name().unwrap())).unwrap();
    }
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "shop"]);

    let shop = start_shop_under_agent(
        work,
        "x",
        &[
            "/add?item=pen&qty=2&price=150",
            "/add?item=ink&qty=0",
            "/total",
        ],
    );
    let classes = shop.classes.clone();
    let config = write_jacoco_config(
        work,
        &repo,
        &work.join("sessions"),
        shop.agent_port,
        &classes,
    );
    let mut engine = Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    let polls = engine.poll(&[]).await.unwrap();
    assert!(polls[0].failures.is_empty(), "{polls:?}");
    let view = engine.view();
    let raw = RawData {
        go: None,
        java: engine.java_totals(),
    };
    let ours_xml = work.join("ours.xml");
    let exec = work.join("merged.exec");
    export(
        &view,
        &raw,
        "jacoco-xml",
        &ExportOptions::default(),
        &ours_xml,
    )
    .unwrap();
    export(&view, &raw, "jacoco-exec", &ExportOptions::default(), &exec).unwrap();

    // JaCoCo's report from our exported exec data.
    let tool = work.join("tool");
    std::fs::create_dir_all(&tool).unwrap();
    std::fs::write(tool.join("JacocoXml.java"), JACOCO_XML).unwrap();
    let mut cp = vec![
        tool.display().to_string(),
        JACOCO_CORE.to_string(),
        "/usr/share/java/org.jacoco.report.jar".to_string(),
    ];
    cp.extend(ASM_JARS.iter().map(|s| s.to_string()));
    let cp = cp.join(":");
    javac(11, &tool, Some(&cp), &[tool.join("JacocoXml.java")]);
    let theirs_xml = work.join("theirs.xml");
    let o = Command::new("java")
        .arg("-cp")
        .arg(&cp)
        .arg("JacocoXml")
        .arg(&exec)
        .arg(&classes)
        .arg(&theirs_xml)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let theirs = sourcefiles(&std::fs::read_to_string(&theirs_xml).unwrap());
    let ours = sourcefiles(&std::fs::read_to_string(&ours_xml).unwrap());
    assert_eq!(theirs.len(), sources.len(), "{:?}", theirs.keys());
    for (name, their_elems) in &theirs {
        // JaCoCo also counts COMPLEXITY, METHOD and CLASS, which a View does not carry.
        let their_elems: Vec<&String> = their_elems
            .iter()
            .filter(|e| {
                e.starts_with("<line ")
                    || ["INSTRUCTION", "BRANCH", "LINE"]
                        .iter()
                        .any(|t| e.contains(&format!("type=\"{t}\"")))
            })
            .collect();
        let our_elems: Vec<&String> = ours
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from our report"))
            .iter()
            .collect();
        assert!(
            their_elems
                .iter()
                .filter(|e| e.starts_with("<line "))
                .count()
                > 1,
            "{name}: {their_elems:?}"
        );
        assert_eq!(our_elems, their_elems, "{name}");
    }
    assert!(
        ours.values()
            .flatten()
            .any(|e| e.contains("mb=\"1\"") || e.contains("cb=\"1\"")),
        "the run exercises branches"
    );
}
