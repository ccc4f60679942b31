//! Comparing with a baseline: lcov's categories per line, a baseline at another revision mapped
//! through the diff, and clear errors for baselines that cannot be used.

mod common;

use covtop::engine::Engine;
use covtop::model::{Category, View};
use covtop::session::{DumpMeta, PayloadKind, SessionStore};
use std::path::Path;

fn store(root: &Path, session: &str, revision: &str, payload: &str) -> std::path::PathBuf {
    let mut s = SessionStore::open(root, session).unwrap();
    let meta = DumpMeta::new("shop", "r1", None, 1, revision, PayloadKind::GoProfile);
    s.persist(&meta, payload.as_bytes()).unwrap()
}

fn open(dir: &Path, repo: &Path, revision: &str, sessions: &Path, session: &str) -> Engine {
    let path = dir.join("covtop.toml");
    std::fs::write(
        &path,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\nrevision = \"{revision}\"\n\
             [session]\ndir = \"{}\"\nname = \"{session}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:1\"\n",
            repo.display(),
            sessions.display(),
        ),
    )
    .unwrap();
    Engine::open(covtop::config::load(&path).unwrap()).unwrap()
}

fn lines(v: &View, path: &str, c: Category) -> Vec<u32> {
    v.baseline
        .as_ref()
        .unwrap()
        .files
        .get(path)
        .map(|f| f.lines_of(c))
        .unwrap_or_default()
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    repo: std::path::PathBuf,
    sessions: std::path::PathBuf,
    new: String,
    baseline_dump: std::path::PathBuf,
}

/// Baseline session "before": the feature commit running TestDiscount and TestAddAndTotal.
/// Current session "after": a new commit (two lines inserted at the top of pricing.go, line 11
/// edited, a new func Zero, cart.go renamed to basket.go) running TestApply and TestDiscount.
fn setup() -> Option<Setup> {
    if !common::have_tool("git", "--version") || !common::have_tool("go", "version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let repo = dir.join("repo");
    common::sample_repo(&repo);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let sessions = dir.join("sessions");
    let old = common::rev_parse(&repo, "HEAD");
    let baseline_dump = store(
        &sessions,
        "before",
        &old,
        &common::go_test_profile_of(&repo, &work, Some("TestDiscount|TestAddAndTotal")),
    );
    let pricing = repo.join("pricing/pricing.go");
    let mut text = std::fs::read_to_string(&pricing).unwrap();
    text = text
        .replacen(
            "package pricing\n",
            "package pricing\n\n// Rates are in percent.\n",
            1,
        )
        .replacen("\t\td = 10\n", "\t\td = 5 * 2\n", 1);
    text.push_str("\n// Zero is new.\nfunc Zero() int {\n\treturn 0\n}\n");
    std::fs::write(&pricing, text).unwrap();
    common::git(&repo, &["mv", "cart/cart.go", "cart/basket.go"]);
    common::git(&repo, &["commit", "-qam", "new build"]);
    let new = common::rev_parse(&repo, "HEAD");
    store(
        &sessions,
        "after",
        &new,
        &common::go_test_profile_of(&repo, &work, Some("TestApply|TestDiscount")),
    );
    Some(Setup {
        _tmp: tmp,
        dir,
        repo,
        sessions,
        new,
        baseline_dump,
    })
}

#[test]
fn categories_against_a_baseline_at_an_older_revision() {
    let Some(s) = setup() else { return };
    let mut e = open(&s.dir, &s.repo, &s.new, &s.sessions, "after");
    e.set_baseline("before").unwrap();
    let v = e.view();
    let b = v.baseline.as_ref().unwrap();
    assert_eq!(b.label, "before");
    let p = "pricing/pricing.go";
    // Hand-checked against pricing.go of the new commit (old line + 2):
    // 13 `d = 5 * 2` is edited (new code) and TestDiscount runs it now.
    assert_eq!(lines(&v, p, Category::Gnc), [13]);
    // Zero (its one block spans lines 35-37), new and never run.
    assert_eq!(lines(&v, p, Category::Unc), [35, 36, 37]);
    // Apply (old 22 with its opening block, 23, 26, 29): not run by the baseline, run now.
    assert_eq!(lines(&v, p, Category::Gbc), [24, 25, 28, 31]);
    // Discount (old 5-18, blocks spanning their closing braces) run by both.
    assert_eq!(
        lines(&v, p, Category::Cbc),
        [7, 8, 11, 12, 14, 17, 18, 19, 20]
    );
    // The never-run blocks with their closing braces: `return 0` (old 7-8), `d = 5` (old 13-14),
    // `return totalCents` (old 24-25), `return 0` (old 27-28).
    assert_eq!(lines(&v, p, Category::Ubc), [9, 10, 15, 16, 26, 27, 29, 30]);
    assert!(lines(&v, p, Category::Lbc).is_empty());
    // The baseline ran the cart; the current build did not: lost coverage, followed through the
    // rename to basket.go.
    let lost = lines(&v, "cart/basket.go", Category::Lbc);
    assert!(!lost.is_empty());
    assert!(lines(&v, "cart/basket.go", Category::Cbc).is_empty());
    assert!(!b.files.contains_key("cart/cart.go"));
    // Totals add up per category.
    let sum = |c: Category| -> u64 { b.files.values().map(|f| f.counts.get(c)).sum() };
    for c in Category::ALL {
        assert_eq!(b.totals.get(c), sum(c), "{}", c.code());
    }
    assert_eq!(b.totals.unc, 3);
    assert_eq!(b.totals.lbc, lost.len() as u64);
}

#[test]
fn a_baseline_at_the_same_revision_has_no_new_code_and_seq_or_file_select_dumps() {
    let Some(s) = setup() else { return };
    // The current session compared with itself: everything is unchanged and still covered.
    let mut e = open(&s.dir, &s.repo, &s.new, &s.sessions, "after");
    e.set_baseline("after:1").unwrap();
    let v = e.view();
    let b = v.baseline.as_ref().unwrap();
    assert_eq!(b.totals.gnc + b.totals.unc + b.totals.lbc + b.totals.gbc, 0);
    assert!(b.totals.cbc > 0 && b.totals.ubc > 0);
    // A stored dump file names its session up to that dump: the same as "before".
    let mut e = open(&s.dir, &s.repo, &s.new, &s.sessions, "after");
    e.set_baseline(s.baseline_dump.to_str().unwrap()).unwrap();
    let by_file = e.view();
    let mut e = open(&s.dir, &s.repo, &s.new, &s.sessions, "after");
    e.set_baseline("before").unwrap();
    let by_name = e.view();
    assert_eq!(
        by_file.baseline.as_ref().unwrap().totals,
        by_name.baseline.as_ref().unwrap().totals
    );
}

#[test]
fn unusable_baselines_are_clear_errors_and_change_nothing() {
    let Some(s) = setup() else { return };
    // A session of another repository: its revision is not here.
    store(
        &s.sessions,
        "elsewhere",
        "0123456789abcdef0123456789abcdef01234567",
        "mode: set\n",
    );
    let mut e = open(&s.dir, &s.repo, &s.new, &s.sessions, "after");
    let err = e.set_baseline("elsewhere").unwrap_err().to_string();
    assert!(err.contains("another repository"), "{err}");
    assert!(
        err.contains("0123456789abcdef0123456789abcdef01234567"),
        "{err}"
    );
    let err = e.set_baseline("nosuch").unwrap_err().to_string();
    assert!(err.contains("no session of that name"), "{err}");
    assert!(err.contains("after, before, elsewhere"), "{err}");
    let err = e.set_baseline("before:x").unwrap_err().to_string();
    assert!(err.contains("not a dump sequence number"), "{err}");
    let err = e.set_baseline("before:0").unwrap_err().to_string();
    assert!(
        err.contains("holds no dump up to sequence number 0"),
        "{err}"
    );
    let junk = s.dir.join("junk.dump");
    std::fs::write(&junk, b"not a dump").unwrap();
    let err = e
        .set_baseline(junk.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable covtop dump"), "{err}");
    // The session itself is untouched and still works.
    let v = e.view();
    assert!(v.baseline.is_none());
    assert!(v.totals.whole.covered > 0);
}

#[test]
fn report_lists_unc_and_lbc_lines_and_refuses_a_foreign_baseline() {
    let Some(s) = setup() else { return };
    drop(open(&s.dir, &s.repo, &s.new, &s.sessions, "after"));
    let config = s.dir.join("covtop.toml");
    let out = common::covtop(&config, &["report", "--offline", "--baseline", "before"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Against baseline before"), "{text}");
    assert!(text.contains("GNC 1  UNC 3  LBC "), "{text}");
    assert!(text.contains("pricing/pricing.go  UNC 35-37\n"), "{text}");
    assert!(text.contains("cart/basket.go  LBC "), "{text}");

    let out = common::covtop(
        &config,
        &[
            "report",
            "--offline",
            "--format",
            "json",
            "--baseline",
            "before",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["baseline"]["totals"]["unc"], 3);
    assert_eq!(json["baseline"]["files"][1]["path"], "pricing/pricing.go");
    assert_eq!(json["baseline"]["files"][1]["unc"][0][0], 35);

    let out = common::covtop(
        &config,
        &[
            "report",
            "--offline",
            "--format",
            "markdown",
            "--baseline",
            "before",
        ],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| pricing/pricing.go | 35-37 |  |"), "{md}");

    store(&s.sessions, "elsewhere", &"ab".repeat(20), "mode: set\n");
    let out = common::covtop(&config, &["report", "--offline", "--baseline", "elsewhere"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("another repository"), "{err}");
    assert!(err.contains(&"ab".repeat(20)), "{err}");
}
