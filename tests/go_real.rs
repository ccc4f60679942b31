//! Real Go profiles: `go test -coverprofile` on the sample module, checked against
//! `go tool cover -func` and against lines verified by hand in the sample's sources.

mod common;

use covtop::go::{ModuleMap, Profile, module_path, parse, project};
use covtop::model::{FileCoverage, LineStatus};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gosample");

/// A copy of the sample module in a temporary directory, with Go confined to it (no network,
/// no user GOPATH). The build cache is shared between runs: Go's cache is content-addressed
/// and safe to share.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(Path::new(SAMPLE), dir.path());
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn go(&self, args: &[&str]) -> String {
        let shared = std::env::temp_dir().join("covtop-test-go");
        let out = Command::new("go")
            .args(args)
            .current_dir(self.path())
            .env("GOFLAGS", "-mod=mod")
            .env("GOPATH", shared.join("gopath"))
            .env("GOCACHE", shared.join("cache"))
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOWORK", "off")
            .env("GO111MODULE", "on")
            .output()
            .expect("run go");
        assert!(
            out.status.success(),
            "go {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs the tests with coverage and returns the profile's bytes.
    fn cover(&self, name: &str, extra: &[&str]) -> Vec<u8> {
        let file = self.path().join(name);
        let flag = format!("-coverprofile={}", file.display());
        let mut args = vec!["test", flag.as_str()];
        args.extend_from_slice(extra);
        args.push("./...");
        self.go(&args);
        std::fs::read(&file).expect("profile written")
    }

    /// The `total:` percentage `go tool cover -func` prints for a profile file.
    fn func_total(&self, profile: &[u8]) -> String {
        let file = self.path().join("check.out");
        std::fs::write(&file, profile).expect("write profile");
        let report = self.go(&["tool", "cover", &format!("-func={}", file.display())]);
        let total = report
            .lines()
            .find(|l| l.starts_with("total:"))
            .unwrap_or_else(|| panic!("no total in:\n{report}"));
        total
            .split_whitespace()
            .last()
            .expect("percentage")
            .trim_end_matches('%')
            .to_owned()
    }

    fn modules(&self) -> ModuleMap {
        let go_mod = std::fs::read_to_string(self.path().join("go.mod")).expect("go.mod");
        let module = module_path(&go_mod).expect("module line");
        assert_eq!(module, "example.com/shop");
        ModuleMap::new([(String::new(), module)])
    }

    fn source(&self) -> impl Fn(&str) -> Option<Arc<[u8]>> + '_ {
        |path| std::fs::read(self.path().join(path)).ok().map(Arc::from)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Statement coverage printed the way `go tool cover -func` prints it.
fn percent(p: &Profile) -> String {
    let (covered, total) = p.statements();
    format!("{:.1}", 100.0 * covered as f64 / total as f64)
}

fn file<'a>(files: &'a [FileCoverage], path: &str) -> &'a FileCoverage {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not projected"))
}

#[test]
fn statement_percentages_equal_go_tool_cover() {
    if !common::have_tool("go", "version") {
        return;
    }
    let sb = Sandbox::new();
    let set = sb.cover("set.out", &["-covermode=set"]);
    let count = sb.cover("count.out", &["-covermode=count"]);
    // With -coverpkg every test binary reports every package and go test concatenates them:
    // the profile holds duplicate blocks, which must be combined like go tool cover does.
    let all = sb.cover("all.out", &["-covermode=count", "-coverpkg=./..."]);
    let all_set = sb.cover("allset.out", &["-covermode=set", "-coverpkg=./..."]);

    for (name, bytes, mode) in [
        ("set", &set, "set"),
        ("count", &count, "count"),
        ("coverpkg count", &all, "count"),
        ("coverpkg set", &all_set, "set"),
    ] {
        let prof = parse(bytes, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(prof.mode(), mode);
        assert_eq!(percent(&prof), sb.func_total(bytes), "{name}");
        // Our own rewrite is read by Go and gives the same total.
        assert_eq!(sb.func_total(&prof.to_bytes()), percent(&prof), "{name}");
    }

    let lines_in_file = std::str::from_utf8(&all).unwrap().lines().count();
    let all = parse(&all, "all").unwrap();
    assert!(
        all.block_count() < lines_in_file - 1,
        "the coverpkg profile had duplicates to combine"
    );
    // api.go has no tests: present with every block at 0.
    let api = all.file("example.com/shop/api/api.go").expect("api.go");
    assert!(api.iter().all(|b| b.count == 0));
    assert_eq!(
        all.statements(),
        parse(&all.to_bytes(), "rewritten").unwrap().statements()
    );
}

#[test]
fn merged_profiles_are_read_by_go_tool_cover_with_the_same_total() {
    if !common::have_tool("go", "version") {
        return;
    }
    let sb = Sandbox::new();
    let set = parse(&sb.cover("set.out", &["-covermode=set"]), "set").unwrap();
    let count = parse(&sb.cover("count.out", &["-covermode=count"]), "count").unwrap();
    let all = parse(
        &sb.cover("all.out", &["-covermode=count", "-coverpkg=./..."]),
        "all",
    )
    .unwrap();
    // Only the pricing tests, only TestApply: fewer blocks ran, lower counts.
    let apply = parse(
        &sb.cover("apply.out", &["-covermode=count", "-run=TestApply"]),
        "apply",
    )
    .unwrap();

    // Expected coverage of a merge, computed independently: a block is covered when it ran in
    // any input; statements are counted once per (file, position).
    let union = |inputs: &[&Profile]| {
        let mut blocks = std::collections::BTreeMap::new();
        for p in inputs {
            for (f, bs) in p.files() {
                for b in bs {
                    let e = blocks
                        .entry((f.to_owned(), b.position()))
                        .or_insert((b.num_stmt, false));
                    e.1 |= b.count > 0;
                }
            }
        }
        let total: u64 = blocks.values().map(|(n, _)| u64::from(*n)).sum();
        let covered: u64 = blocks
            .values()
            .filter(|(_, ran)| *ran)
            .map(|(n, _)| u64::from(*n))
            .sum();
        format!("{:.1}", 100.0 * covered as f64 / total as f64)
    };

    let cases: Vec<(&str, Vec<&Profile>)> = vec![
        ("set + count", vec![&set, &count]),
        ("count + set", vec![&count, &set]),
        ("count + count", vec![&count, &count]),
        ("apply + all", vec![&apply, &all]),
        ("all + set + apply", vec![&all, &set, &apply]),
    ];
    for (name, inputs) in cases {
        let mut merged = Profile::default();
        for p in &inputs {
            let report = merged.merge(p);
            assert!(report.version_skew.is_empty(), "{name}: {report:?}");
        }
        let ours = percent(&merged);
        assert_eq!(ours, union(&inputs), "{name}");
        assert_eq!(sb.func_total(&merged.to_bytes()), ours, "{name}");
    }

    // Splitting a profile by file and merging the halves gives it back.
    let text = String::from_utf8(count.to_bytes()).unwrap();
    let (cart, pricing): (Vec<&str>, Vec<&str>) =
        text.lines().skip(1).partition(|l| l.contains("/cart/"));
    let mut halves = parse(
        format!("mode: count\n{}\n", cart.join("\n")).as_bytes(),
        "cart",
    )
    .unwrap();
    halves.merge(
        &parse(
            format!("mode: count\n{}", pricing.join("\n")).as_bytes(),
            "p",
        )
        .unwrap(),
    );
    assert_eq!(halves, count);

    // Counts add up: the count profile merged with itself doubles every count.
    let mut twice = count.clone();
    twice.merge(&count);
    for ((_, a), (_, b)) in twice.files().zip(count.files()) {
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.count, 2 * y.count);
        }
    }
    assert!(!twice.counts_decreased_from(&count));
    assert!(count.counts_decreased_from(&twice));
    // A run with fewer tests after a fuller one looks like a reset.
    assert!(apply.counts_decreased_from(&count));
}

#[test]
fn projection_of_real_profiles_matches_hand_checked_lines() {
    if !common::have_tool("go", "version") {
        return;
    }
    let sb = Sandbox::new();
    let count = parse(&sb.cover("count.out", &["-covermode=count"]), "count").unwrap();
    let modules = sb.modules();
    let proj = project(&count, &modules, &sb.source());
    assert!(proj.external.is_empty(), "{:?}", proj.external);
    assert_eq!(
        proj.files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        vec!["cart/cart.go", "pricing/pricing.go"]
    );

    use LineStatus::*;
    let pricing = file(&proj.files, "pricing/pricing.go");
    let expect = [
        (4, NotCoverable),  // comment above the function
        (5, Covered),       // func Discount(...) {   ran twice
        (6, Partial),       // if totalCents <= 0 {   the condition ran, the body did not
        (7, Missed),        //     return 0
        (8, Missed),        // }
        (9, Covered),       // d := 0
        (10, Covered),      // if totalCents >= 10000 {   body ran for 12000
        (11, Covered),      //     d = 10
        (12, Partial),      // } else if totalCents >= 5000 {   tested for 100, body never ran
        (13, Missed),       //     d = 5
        (16, Covered),      //     d += 2
        (20, NotCoverable), // blank line between functions
        (24, Missed),       //     return totalCents   (Apply(1000, 10) has percent > 0)
    ];
    for (line, status) in expect {
        assert_eq!(pricing.status(line), status, "pricing.go:{line}");
    }
    let l5 = pricing.line(5).unwrap();
    assert_eq!(l5.hits, Some(2), "Discount is called twice");
    assert_eq!(pricing.line(6).unwrap().units, (1, 1));
    assert_eq!(pricing.line(6).unwrap().hits, Some(2));
    // Statements of the file: -func says Discount 80% of 10 and Apply 60% of 5.
    assert_eq!(pricing.units, (11, 15));

    let cart = file(&proj.files, "cart/cart.go");
    for line in 43..=48 {
        assert_eq!(
            cart.status(line),
            Missed,
            "Remove never ran: cart.go:{line}"
        );
    }
    // `sort.Slice(out, func(i, j int) bool { return ... })`: two blocks on one line, neither ran.
    let spans: Vec<_> = cart
        .spans
        .iter()
        .filter(|s| s.line == 66)
        .map(|s| (s.start_col, s.end_col, s.covered))
        .collect();
    assert_eq!(spans, vec![(2, Some(38), false), (38, Some(74), false)]);
    // `if qty < 1 {` at line 31: block 30.60,31.13 ran 3 times, 31.13,33.3 once.
    let l31 = cart.line(31).unwrap();
    assert_eq!((l31.status, l31.hits), (Covered, Some(3)));

    // A module map that does not know the module lists everything as external.
    let other = ModuleMap::new([(String::new(), "example.com/other".to_owned())]);
    let none = project(&count, &other, &|_| None);
    assert!(none.files.is_empty());
    assert_eq!(
        none.external,
        vec![
            "example.com/shop/cart/cart.go".to_owned(),
            "example.com/shop/pricing/pricing.go".to_owned()
        ]
    );
}

#[test]
fn comment_inside_a_block_is_not_coverable_with_the_source() {
    if !common::have_tool("go", "version") {
        return;
    }
    let sb = Sandbox::new();
    let path = sb.path().join("pricing/pricing.go");
    let src = std::fs::read_to_string(&path).unwrap();
    let edited = src.replacen(
        "\t\treturn 0\n",
        "\t\t// Nothing to discount.\n\n\t\t/* still nothing */\n\t\treturn 0\n",
        1,
    );
    assert_ne!(src, edited);
    std::fs::write(&path, edited).unwrap();
    let prof = parse(&sb.cover("c.out", &["-covermode=set"]), "edited").unwrap();
    let modules = sb.modules();

    let with = project(&prof, &modules, &sb.source());
    let pricing = file(&with.files, "pricing/pricing.go");
    use LineStatus::*;
    assert_eq!(pricing.status(6), Partial);
    assert_eq!(pricing.status(7), NotCoverable, "comment line");
    assert_eq!(pricing.status(8), NotCoverable, "blank line");
    assert_eq!(pricing.status(9), NotCoverable, "block comment line");
    assert_eq!(pricing.status(10), Missed, "return 0");
    assert!(pricing.spans.iter().all(|s| !(7..=9).contains(&s.line)));

    let without = project(&prof, &modules, &|_| None);
    let pricing = file(&without.files, "pricing/pricing.go");
    for line in 7..=10 {
        assert_eq!(pricing.status(line), Missed, "without source, line {line}");
    }
}
