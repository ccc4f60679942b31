//! JaCoCo coverage carries over between builds as line statuses, never as probes: the engine
//! saves each build's lines while its class files are there, and carries them onto the next
//! revision when the old class files are gone. JaCoCo "no match": when the data's class ids
//! are those of a build covtop saw earlier (identified by its class ids), that build's saved line
//! statuses are carried, through the diff when its revision differs; its probes never touch the
//! new classes. Real javac output and our JaCoCo analysis.

mod common;
mod support_java;

use covtop::engine::Engine;
use covtop::engine::carry::{BuildLines, lines_file_name};
use covtop::java::exec::{ClassProbes, ExecData};
use covtop::model::{LineStatus, View};
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
            probes: vec![true; analysis.probe_count()].into(),
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

    // Building a View writes nothing.
    let builds = sessions.join("builds");
    let _ = open(tmp.path(), &repo, &old, &old_classes, &sessions).view();
    assert!(
        !builds.exists(),
        "a View was built and something was written"
    );
    // While the old build is current, its line statuses are saved beside the dumps.
    let path = "src/main/java/shop/Calc.java";
    let v = view_saved(open(tmp.path(), &repo, &old, &old_classes, &sessions));
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
    // Beside the session, not in it: the session folder holds only dumps (and the store's own
    // hidden bookkeeping, such as the next sequence number).
    let saved = sessions
        .join("builds/default")
        .join(lines_file_name("calc", &old));
    for e in std::fs::read_dir(sessions.join("sessions/default")).unwrap() {
        let p = e.unwrap().path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        assert!(
            hidden || p.extension().is_some_and(|x| x == "dump"),
            "{} in the session folder",
            p.display()
        );
    }
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
    let v = view_saved(open(tmp.path(), &repo, &new, &new_classes, &sessions));
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
            probes: vec![true; 3].into(),
        },
    );
    let sessions = tmp.path().join("sessions");
    let mut store = SessionStore::open(&sessions, "default").unwrap();
    let meta = DumpMeta::new("calc", "a", None, 1, &old, PayloadKind::JacocoExec);
    store.persist(&meta, &exec.to_bytes().unwrap()).unwrap();
    // A damaged saved file of another build is reported, not trusted.
    let v = view_saved(open(
        tmp.path(),
        &repo,
        &new,
        &tmp.path().join("none"),
        &sessions,
    ));
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
    let v = view_saved(open(
        tmp.path(),
        &repo,
        &new,
        &tmp.path().join("none"),
        &sessions,
    ));
    assert!(v.carried.is_empty());
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.message.contains("saved line statuses unusable")),
        "{:#?}",
        v.diagnostics
    );
}

const PATH: &str = "src/main/java/shop/Calc.java";

/// Compiles Calc for `release` and returns the class id and the probe count.
fn compile_for(repo: &Path, out: &Path, release: u32) -> (u64, usize) {
    support_java::javac(release, out, None, &[repo.join(PATH)]);
    let bytes = std::fs::read(out.join("shop/Calc.class")).unwrap();
    let analysis = covtop::java::analysis::analyze_class(&bytes)
        .unwrap()
        .unwrap();
    (
        covtop::java::crc64::class_id(&bytes),
        analysis.probe_count(),
    )
}

/// A repository under `dir` with `Calc.java` at [`PATH`], committed on `main`: (its folder, the
/// commit).
fn calc_repo(dir: &Path) -> (std::path::PathBuf, String) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("src/main/java/shop")).unwrap();
    std::fs::write(repo.join(PATH), CALC).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "calc"]);
    let rev = common::rev_parse(&repo, "HEAD");
    (repo, rev)
}

/// Stores one exec dump, taken at `revision`, where every probe of class `id` ran.
fn store_all_hit(
    sessions: &Path,
    revision: &str,
    id: u64,
    probes: usize,
    at: u64,
) -> std::path::PathBuf {
    store_probes(sessions, revision, id, vec![true; probes], at)
}

/// Stores one exec dump, taken at `revision`, with these probes of class `id` (`shop/Calc`).
fn store_probes(
    sessions: &Path,
    revision: &str,
    id: u64,
    probes: Vec<bool>,
    at: u64,
) -> std::path::PathBuf {
    let mut exec = ExecData::default();
    exec.classes.insert(
        id,
        ClassProbes {
            name: "shop/Calc".into(),
            probes: probes.into(),
        },
    );
    let mut store = SessionStore::open(sessions, "default").unwrap();
    let meta = DumpMeta::new(
        "calc",
        "127.0.0.1:1",
        None,
        at,
        revision,
        PayloadKind::JacocoExec,
    );
    store.persist(&meta, &exec.to_bytes().unwrap()).unwrap()
}

fn own(v: &View) -> Vec<u32> {
    common::lines_where(v, PATH, |l| l.status == LineStatus::Covered)
}

fn carried(v: &View) -> Vec<(u32, LineStatus)> {
    v.carried
        .file(PATH)
        .map(|f| f.lines.iter().map(|l| (l.line, l.status)).collect())
        .unwrap_or_default()
}

fn earlier_build_note(v: &View) -> Option<&covtop::model::Diagnostic> {
    v.diagnostics
        .iter()
        .find(|d| d.message.contains("from an earlier build"))
}

#[test]
fn data_of_an_earlier_build_of_the_same_revision_is_carried_not_only_called_stale() {
    if !common::have_tool("git", "--version") || !support_java::have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (repo, r) = calc_repo(tmp.path());
    let sessions = tmp.path().join("sessions");

    // The first build (Java 11 bytecode) ran everything; covtop saw it with its classes.
    let first = tmp.path().join("classes-11");
    let (id1, probes1) = compile_for(&repo, &first, 11);
    let _ = store_all_hit(&sessions, &r, id1, probes1, 1);
    let v = view_saved(open(tmp.path(), &repo, &r, &first, &sessions));
    assert_eq!(own(&v), [3, 5, 6, 10], "hand-checked: class line, add, neg");
    assert!(carried(&v).is_empty());

    // The service is rebuilt (Java 17 bytecode: other class ids) at the same revision; the
    // stored data still holds the first build's ids.
    let second = tmp.path().join("classes-17");
    let (id2, _) = compile_for(&repo, &second, 17);
    assert_ne!(
        id1, id2,
        "a rebuild for another release changes the class id"
    );
    let v = view_saved(open(tmp.path(), &repo, &r, &second, &sessions));
    assert_eq!(
        carried(&v),
        [
            (3, LineStatus::Covered),
            (5, LineStatus::Covered),
            (6, LineStatus::Covered),
            (10, LineStatus::Covered)
        ],
        "{:#?}",
        v.diagnostics
    );
    // The first build's probes never touched the second build's class.
    assert!(own(&v).is_empty());
    let note = earlier_build_note(&v).expect("the earlier build is named");
    assert!(note.message.contains("1 class id(s)"), "{note:?}");
}

#[test]
fn an_earlier_builds_ids_at_a_new_revision_are_carried_through_the_diff() {
    if !common::have_tool("git", "--version") || !support_java::have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("src/main/java/shop")).unwrap();
    std::fs::write(repo.join(PATH), CALC).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "calc"]);
    let old = common::rev_parse(&repo, "HEAD");
    let sessions = tmp.path().join("sessions");
    let first = tmp.path().join("classes-old");
    let (id1, probes1) = compile_for(&repo, &first, 11);
    let old_dump = store_all_hit(&sessions, &old, id1, probes1, 1);
    assert_eq!(
        own(&view_saved(open(
            tmp.path(),
            &repo,
            &old,
            &first,
            &sessions
        ))),
        [3, 5, 6, 10]
    );
    // Only the saved lines of that build remain: no dump of the old revision is carried.
    std::fs::remove_file(old_dump).unwrap();

    // The new revision inserts two lines at the top and edits neg; covtop is configured with its
    // classes, but the agent still reports the old build's class ids (stored at the new revision).
    let text = CALC
        .replacen(
            "package shop;\n",
            "package shop;\n\nimport java.util.List;\n",
            1,
        )
        .replacen("return -a;", "return 0 - a;", 1);
    std::fs::write(repo.join(PATH), text).unwrap();
    common::git(&repo, &["commit", "-qam", "neg: explicit"]);
    let new = common::rev_parse(&repo, "HEAD");
    let second = tmp.path().join("classes-new");
    compile_for(&repo, &second, 11);
    let _ = store_all_hit(&sessions, &new, id1, probes1, 2);
    let v = view_saved(open(tmp.path(), &repo, &new, &second, &sessions));
    // 3 -> 5, 5 -> 7, 6 -> 8; the edited neg line (10 -> 12) is not carried.
    assert_eq!(
        carried(&v),
        [
            (5, LineStatus::Covered),
            (7, LineStatus::Covered),
            (8, LineStatus::Covered)
        ],
        "{:#?}",
        v.diagnostics
    );
    assert!(own(&v).is_empty(), "no probe applied across class ids");
    assert!(earlier_build_note(&v).is_some());
}

/// A View as the screen and the commands make one: built, then the build's lines saved (what
/// the next build carries).
fn view_saved(mut engine: covtop::engine::Engine) -> std::sync::Arc<covtop::model::View> {
    let v = engine.view();
    engine.save_build_lines();
    v
}

/// Every report saves the build's line statuses; a file already holding the same bytes (from an
/// earlier process) is left as it is, a change is written.
#[test]
fn saved_build_lines_are_rewritten_only_when_they_change() {
    use std::os::unix::fs::MetadataExt;
    if !common::have_tool("git", "--version") || !support_java::have_java_and_jacoco() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (repo, rev) = calc_repo(tmp.path());
    let classes = tmp.path().join("classes");
    let (id, probes) = compile_for(&repo, &classes, 11);
    let sessions = tmp.path().join("sessions");
    // First a dump in which nothing ran.
    let _ = store_probes(&sessions, &rev, id, vec![false; probes], 1);
    let saved = sessions
        .join("builds/default")
        .join(lines_file_name("calc", &rev));
    let _ = view_saved(open(tmp.path(), &repo, &rev, &classes, &sessions));
    let first = std::fs::metadata(&saved).unwrap().ino();
    let missed = std::fs::read(&saved).unwrap();

    // Another process, the same data: the file is not replaced.
    let _ = view_saved(open(tmp.path(), &repo, &rev, &classes, &sessions));
    assert_eq!(std::fs::metadata(&saved).unwrap().ino(), first);
    assert_eq!(std::fs::read(&saved).unwrap(), missed);

    // Everything ran since: the new statuses are written.
    let _ = store_all_hit(&sessions, &rev, id, probes, 2);
    let v = view_saved(open(tmp.path(), &repo, &rev, &classes, &sessions));
    assert!(!own(&v).is_empty(), "{:#?}", v.diagnostics);
    assert_ne!(std::fs::read(&saved).unwrap(), missed);
    let lines = BuildLines::decode(&std::fs::read(&saved).unwrap(), &saved, &rev).unwrap();
    let covered: Vec<u32> = lines.files[PATH]
        .iter()
        .filter(|(_, s)| **s == LineStatus::Covered)
        .map(|(l, _)| *l)
        .collect();
    assert_eq!(covered, own(&v));
}
