//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod measure;

use std::path::Path;
use std::process::Command;

/// True when running under CI (`CI=true`), where a missing tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns true if `tool` can be run (`tool <version_arg>` exits 0). Locally a missing tool
/// skips the test (with a message); under `CI=true` it fails it, since CI installs every tool.
pub fn have_tool(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{tool} is required under CI=true; the README's test command installs it"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// Returns true if `path` exists; same skip/fail rule as [`have_tool`].
pub fn have_file(path: &str) -> bool {
    let ok = std::path::Path::new(path).exists();
    if !ok {
        assert!(!in_ci(), "{path} is required under CI=true");
        eprintln!("skipping: {path} is missing");
    }
    ok
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The names of the dump files of a folder session (`*.dump`, sorted), leaving out the store's
/// hidden bookkeeping (`.next-seq`, unfinished writes); none when the folder does not exist.
#[allow(dead_code)]
pub fn dump_names(session_dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(session_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".dump") && !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The sample module as a repository: `main` lacks `Cart.Remove` and the `percent >= 100` rule
/// of `pricing.Apply`; branch `feature` (checked out) adds them.
pub fn sample_repo(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gosample");
    copy_dir(&src, dir);
    let cart = dir.join("cart/cart.go");
    let pricing = dir.join("pricing/pricing.go");
    let feature_cart = std::fs::read_to_string(&cart).unwrap();
    let feature_pricing = std::fs::read_to_string(&pricing).unwrap();
    let remove_start = feature_cart.find("// Remove takes").unwrap();
    let remove_end = feature_cart.find("// Total is").unwrap();
    let base_cart = format!(
        "{}{}",
        &feature_cart[..remove_start],
        &feature_cart[remove_end..]
    );
    let base_pricing = feature_pricing.replace("\tif percent >= 100 {\n\t\treturn 0\n\t}\n", "");
    assert_ne!(base_pricing, feature_pricing);
    std::fs::write(&cart, base_cart).unwrap();
    std::fs::write(&pricing, base_pricing).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "base"]);
    git(dir, &["checkout", "-qb", "feature"]);
    std::fs::write(&cart, feature_cart).unwrap();
    std::fs::write(&pricing, feature_pricing).unwrap();
    git(
        dir,
        &["commit", "-qam", "feature: Cart.Remove and a cap in Apply"],
    );
}

/// Sets the environment of a `go` command for tests: modules, a private GOPATH and cache under
/// `work`, the installed toolchain only.
pub fn go_env(cmd: &mut Command, work: &Path) {
    cmd.env("GOFLAGS", "-mod=mod")
        .env("GOPATH", work.join("gopath"))
        .env("GOCACHE", work.join("gocache"))
        .env("GOTOOLCHAIN", "local");
}

/// A real profile of the checked-out sample repository from `go test -covermode=count`.
pub fn go_test_profile(repo: &Path, work: &Path) -> String {
    go_test_profile_of(repo, work, None)
}

/// A `-covermode=count` profile of the checked-out repository from the tests matching `run`
/// (all tests when `None`).
pub fn go_test_profile_of(repo: &Path, work: &Path, run: Option<&str>) -> String {
    let out_file = work.join(format!("{}.cov", run.unwrap_or("unit")));
    let mut cmd = Command::new("go");
    cmd.args(["test", "-covermode=count"]);
    if let Some(run) = run {
        cmd.args(["-run", run]);
    }
    cmd.arg(format!("-coverprofile={}", out_file.display()))
        .arg("./...")
        .current_dir(repo);
    go_env(&mut cmd, work);
    let out = cmd.output().expect("go runs");
    assert!(
        out.status.success(),
        "go test: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(out_file).expect("go test wrote the profile")
}

/// The full commit id `what` names in `repo`.
pub fn rev_parse(repo: &Path, what: &str) -> String {
    let out = Command::new("git")
        .args(["rev-parse", what])
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git rev-parse {what}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the `covtop` binary with `--config config` and `args`.
pub fn covtop(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_covtop"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("covtop runs")
}

/// Writes `<repo>/covtop.toml` for the tests that run the binary inside the repository: base
/// `main`, a 2 s poll timeout, the session store at `store`, one goc v1 target "shop" at `url`.
pub fn write_goc_config_in_repo(repo: &Path, store: &Path, url: &str) {
    std::fs::write(
        repo.join("covtop.toml"),
        format!(
            "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            store.display(),
            url
        ),
    )
    .expect("write covtop.toml");
}

/// The lines of `path` that ran in `v`.
pub fn hit_lines(v: &covtop::model::View, path: &str) -> Vec<u32> {
    lines_where(v, path, |l| l.hits.unwrap_or(0) > 0)
}

/// The lines of `path` in `v` whose coverage passes `keep`.
pub fn lines_where(
    v: &covtop::model::View,
    path: &str,
    keep: impl Fn(&covtop::model::LineCoverage) -> bool,
) -> Vec<u32> {
    v.files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.coverage.as_ref())
        .map(|c| c.lines.iter().filter(|l| keep(l)).map(|l| l.line).collect())
        .unwrap_or_default()
}

/// The first View (the current one included) for which `check` holds; fails the test, naming
/// `what` and the last View's totals, after `within`.
pub async fn view_where(
    views: &mut tokio::sync::watch::Receiver<std::sync::Arc<covtop::model::View>>,
    what: &str,
    within: std::time::Duration,
    check: impl Fn(&covtop::model::View) -> bool,
) -> std::sync::Arc<covtop::model::View> {
    let wait = async {
        loop {
            {
                let v = views.borrow_and_update().clone();
                if check(&v) {
                    return v;
                }
            }
            views.changed().await.expect("engine alive");
        }
    };
    match tokio::time::timeout(within, wait).await {
        Ok(v) => v,
        Err(_) => panic!(
            "timed out waiting for {what}; last view: {:#?}",
            views.borrow().totals
        ),
    }
}

/// The `<tr>` of line `n` in an HTML report's file page.
#[allow(dead_code)]
pub fn page_row(page: &str, n: u32) -> &str {
    let start = page
        .find(&format!("<tr id=\"L{n}\" "))
        .unwrap_or_else(|| panic!("line {n} has no row"));
    let end = start + page[start..].find("</tr>").unwrap();
    &page[start..end]
}
