//! JaCoCo coverage carries over between builds as line statuses, never as probes: the engine
//! saves each build's lines while its class files are there, and carries them onto the next
//! revision when the old class files are gone. Real javac output and our JaCoCo analysis.

mod common;
mod support_java;

use covtop::engine::Engine;
use covtop::engine::carry::{BuildLines, lines_file_name};
use covtop::java::exec::{ClassProbes, ExecData};
use covtop::model::LineStatus;
use covtop::session::{DumpMeta, PayloadKind, SessionStore};
use std::path::Path;

const CALC: &str = "package shop;

public class Calc {
    public static int add(int a, int b) {
        int s = a + b;
        return s;
    }

    public static int neg(int a) {
        return -a;
    }
}
";

fn open(dir: &Path, repo: &Path, revision: &str, classes: &Path, sessions: &Path) -> Engine {
    let path = dir.join("covtop.toml");
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\nrevision = \"{revision}\"\n\
             [session]\ndir = \"{}\"\n\
             [[target]]\nname = \"calc\"\nkind = \"jacoco\"\naddress = \"127.0.0.1:1\"\n\
             classes = [\"{}\"]\nsource_roots = [\"src/main/java\"]\n",
            repo.display(),
            sessions.display(),
            classes.display()
        ),
    )
    .unwrap();
    Engine::open(covtop::config::load(&path).unwrap()).unwrap()
}

fn compile(repo: &Path, out: &Path) -> Vec<u8> {
    support_java::javac(11, out, None, &[repo.join("src/main/java/shop/Calc.java")]);
    std::fs::read(out.join("shop/Calc.class")).unwrap()
}

#[test]
fn java_line_statuses_are_saved_per_build_and_carried_without_the_old_classes() {
    if !common::have_tool("git", "--version") || !support_java::have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let src = repo.join("src/main/java/shop");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("Calc.java"), CALC).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "calc"]);
    let old = common::rev_parse(&repo, "HEAD");
    let old_classes = tmp.path().join("classes-old");
    let bytes = compile(&repo, &old_classes);
    let analysis = covtop::java::analysis::analyze_class(&bytes)
        .unwrap()
        .unwrap();

    // The old build ran everything: every probe of its Calc class is set.
    let mut exec = ExecData::default();
    exec.classes.insert(
        covtop::java::crc64::class_id(&bytes),
        ClassProbes {
            name: "shop/Calc".into(),
            probes: vec![true; analysis.probe_count()],
        },
    );
    let sessions = tmp.path().join("sessions");
    let mut store = SessionStore::open(&sessions, "default").unwrap();
    let meta = DumpMeta::new(
        "calc",
        "127.0.0.1:1",
        None,
        1,
        &old,
        PayloadKind::JacocoExec,
    );
    store.persist(&meta, &exec.to_bytes().unwrap()).unwrap();

    // While the old build is current, its line statuses are saved beside the dumps.
    let path = "src/main/java/shop/Calc.java";
    let v = open(tmp.path(), &repo, &old, &old_classes, &sessions).view();
    let own: Vec<u32> = v
        .files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.coverage.as_ref())
        .map(|c| {
            c.lines
                .iter()
                .filter(|l| l.status == LineStatus::Covered)
                .map(|l| l.line)
                .collect()
        })
        .unwrap();
    // Hand-checked: the implicit constructor on the class line 3, add's 5 and 6, neg's 10.
    assert_eq!(own, [3, 5, 6, 10]);
    // Beside the session, not in it: the session folder holds only dumps.
    let saved = sessions
        .join("builds/default")
        .join(lines_file_name("calc", &old));
    assert!(
        std::fs::read_dir(sessions.join("sessions/default"))
            .unwrap()
            .all(|e| e.unwrap().path().extension().is_some_and(|x| x == "dump"))
    );
    let lines = BuildLines::decode(&std::fs::read(&saved).unwrap(), &saved, &old).unwrap();
    let covered: Vec<u32> = lines.files[path]
        .iter()
        .filter(|(_, s)| **s == LineStatus::Covered)
        .map(|(l, _)| *l)
        .collect();
    assert_eq!(covered, own);

    // The new build: an import and a blank line inserted after the package line, neg edited.
    // Its class files replace the old ones, which are gone.
    let text = CALC
        .replacen(
            "package shop;\n",
            "package shop;\n\nimport java.util.List;\n",
            1,
        )
        .replacen("return -a;", "return 0 - a;", 1);
    std::fs::write(src.join("Calc.java"), text).unwrap();
    common::git(&repo, &["commit", "-qam", "neg: explicit"]);
    let new = common::rev_parse(&repo, "HEAD");
    std::fs::remove_dir_all(&old_classes).unwrap();
    let new_classes = tmp.path().join("classes-new");
    compile(&repo, &new_classes);
    let v = open(tmp.path(), &repo, &new, &new_classes, &sessions).view();
    let carried: Vec<(u32, LineStatus)> = v
        .carried
        .file(path)
        .map(|f| f.lines.iter().map(|l| (l.line, l.status)).collect())
        .unwrap_or_default();
    // 3 -> 5, 5 -> 7, 6 -> 8; the edited neg line (10 -> 12) starts uncovered.
    assert_eq!(
        carried,
        [
            (5, LineStatus::Covered),
            (7, LineStatus::Covered),
            (8, LineStatus::Covered)
        ]
    );
    let f = v.files.iter().find(|f| f.path == path).unwrap();
    assert_eq!(f.coverage.as_ref().unwrap().status(12), LineStatus::Missed);
    // The old dump's probes were never applied to the new class (another class id): nothing
    // of the new build is covered by them.
    assert_eq!(f.whole_counts.covered, 0);
    assert!(
        !v.diagnostics
            .iter()
            .any(|d| d.message.contains("not carried")),
        "{:#?}",
        v.diagnostics
    );
}

#[test]
fn an_old_java_build_without_saved_lines_is_named_not_guessed() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("src/main/java/shop")).unwrap();
    std::fs::write(repo.join("src/main/java/shop/Calc.java"), CALC).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "one"]);
    let old = common::rev_parse(&repo, "HEAD");
    common::git(&repo, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let new = common::rev_parse(&repo, "HEAD");
    let mut exec = ExecData::default();
    exec.classes.insert(
        7,
        ClassProbes {
            name: "shop/Calc".into(),
            probes: vec![true; 3],
        },
    );
    let sessions = tmp.path().join("sessions");
    let mut store = SessionStore::open(&sessions, "default").unwrap();
    let meta = DumpMeta::new("calc", "a", None, 1, &old, PayloadKind::JacocoExec);
    store.persist(&meta, &exec.to_bytes().unwrap()).unwrap();
    // A damaged saved file of another build is reported, not trusted.
    let v = open(tmp.path(), &repo, &new, &tmp.path().join("none"), &sessions).view();
    assert!(v.carried.is_empty());
    let d = v
        .diagnostics
        .iter()
        .find(|d| d.message.contains("not carried over"))
        .expect("a diagnostic names the uncarried build");
    assert!(d.message.contains(&old[..7]), "{d:?}");
    std::fs::create_dir_all(sessions.join("builds/default")).unwrap();
    std::fs::write(
        sessions.join("builds/default").join(lines_file_name("calc", &old)),
        b"{\"format\":\"covtop-build-lines 1\",\"revision\":\"x\",\"target\":\"calc\",\"files\":{}}",
    )
    .unwrap();
    let v = open(tmp.path(), &repo, &new, &tmp.path().join("none"), &sessions).view();
    assert!(v.carried.is_empty());
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.message.contains("saved line statuses unusable")),
        "{:#?}",
        v.diagnostics
    );
}
