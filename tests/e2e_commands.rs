//! End to end: `covtop init`, `covtop reset`, and the errors of a repository without go.mod.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PROFILE: &str = "mode: count\n\
example.com/shop/pricing/pricing.go:5.49,6.20 1 3\n\
example.com/shop/pricing/pricing.go:6.20,8.3 1 1\n\
example.com/shop/cart/cart.go:25.19,27.2 1 2\n";

fn covtop_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covtop"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("covtop runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn init_detects_go_modules_and_writes_a_valid_config() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    // A nested module too.
    std::fs::create_dir_all(repo.join("tools/gen")).unwrap();
    std::fs::write(
        repo.join("tools/gen/go.mod"),
        "module \"example.com/shop/tools/gen\"\n",
    )
    .unwrap();
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "tools"]);

    let out = covtop_in(&repo, &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("example.com/shop") && t.contains("tools/gen"),
        "{t}"
    );
    let written = std::fs::read_to_string(repo.join("covtop.toml")).unwrap();
    assert!(
        written.contains("#   ./go.mod  module example.com/shop"),
        "{written}"
    );
    // base detected from the repository's branches
    assert!(written.contains("base = \"main\""), "{written}");
    let cfg = covtop::config::parse(&written, &repo.join("covtop.toml")).unwrap();
    assert_eq!(cfg.targets[0].name, "shop");

    // Never overwrites without --force.
    let again = covtop_in(&repo, &["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    let forced = covtop_in(&repo, &["init", "--force"]);
    assert!(forced.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_dumps_and_stores_first_then_resets_only_what_was_saved() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let agent = Agent::start("shop", live.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    center.register("shop", &dead_url);
    let sessions = tmp.path().join("s");
    std::fs::write(
        repo.join("covtop.toml"),
        format!(
            "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"1s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            sessions.display(),
            center.url()
        ),
    )
    .unwrap();

    // Without a terminal and without --yes, nothing is reset.
    let r = repo.clone();
    let out = tokio::task::spawn_blocking(move || covtop_in(&r, &["reset"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(live.lock().blocks[0].count, 3, "not reset");

    let r = repo.clone();
    let out = tokio::task::spawn_blocking(move || covtop_in(&r, &["reset", "--yes"]))
        .await
        .unwrap();
    let t = text(&out);
    // The dead replica could not be dumped, so it is not reset: exit 2 with the reason.
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains(&format!("{}: reset", agent.url())), "{t}");
    assert!(t.contains("not reset: its dump failed"), "{t}");
    assert!(
        live.lock().blocks.iter().all(|b| b.count == 0),
        "live replica reset"
    );

    // The dump taken before the reset is on disk with the pre-reset counts, and a reset marker
    // follows it.
    let dir = sessions.join("sessions/default");
    let names = common::dump_names(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    let first = covtop::session::read_dump_file(&dir.join(&names[0])).unwrap();
    let first = String::from_utf8_lossy(&first.payload);
    assert!(first.contains("pricing.go:5.49,6.20 1 3"), "{first}");
    let marker = covtop::session::read_dump_file(&dir.join(&names[1])).unwrap();
    assert!(marker.meta.reset_after);

    // The session still reports what ran before the reset.
    live.lock().hit(2, 1);
    let r = repo.clone();
    let out = tokio::task::spawn_blocking(move || {
        covtop_in(&r, &["--base", "main", "report", "--format", "json"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Only block 3 ran after the reset; blocks 1 and 2 ran only before it. Had the reset lost
    // the first epoch, this would be 1 of 3 statements.
    assert_eq!(v["whole_statements"], serde_json::json!([3, 3]), "{v:#}");
}

#[test]
fn repository_without_go_mod_is_a_clear_error() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("main.go"), "package main\n").unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "one"]);
    std::fs::write(
        repo.join("covtop.toml"),
        "[repo]\nbase = \"main\"\n[[target]]\nname = \"x\"\nkind = \"goc\"\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let out = covtop_in(&repo, &["report", "--offline"]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(
        t.contains("no go.mod at revision") && t.contains("[repo] path"),
        "{t}"
    );
}

#[test]
fn diff_file_replaces_git_and_a_bad_one_is_a_clear_error() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    std::fs::write(repo.join("covtop.toml"), "[repo]\nbase = \"main\"\n").unwrap();
    // Only pricing.go, per the diff file (git would also name cart.go).
    let diff = tmp.path().join("change.diff");
    std::fs::write(
        &diff,
        "diff --git a/pricing/pricing.go b/pricing/pricing.go\n\
         --- a/pricing/pricing.go\n+++ b/pricing/pricing.go\n\
         @@ -24,0 +25,3 @@ func Apply(totalCents, percent int) int {\n\
         +\tif percent >= 100 {\n+\t\treturn 0\n+\t}\n",
    )
    .unwrap();
    let d = diff.display().to_string();
    let out = covtop_in(
        &repo,
        &["report", "--offline", "--format", "json", "--diff-file", &d],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["changed_without_data"],
        serde_json::json!(["pricing/pricing.go"]),
        "{v:#}"
    );
    let git = covtop_in(&repo, &["report", "--offline", "--format", "json"]);
    let g: serde_json::Value = serde_json::from_slice(&git.stdout).unwrap();
    assert_eq!(
        g["changed_without_data"],
        serde_json::json!(["cart/cart.go", "pricing/pricing.go"]),
        "{g:#}"
    );

    std::fs::write(
        &diff,
        "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,zz @@\n+a\n",
    )
    .unwrap();
    let out = covtop_in(&repo, &["report", "--offline", "--diff-file", &d]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(
        t.contains("change.diff:4:") && t.contains("malformed hunk header"),
        "{t}"
    );
    let missing = tmp.path().join("nope.diff").display().to_string();
    let out = covtop_in(&repo, &["report", "--offline", "--diff-file", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("nope.diff"), "{}", text(&out));
}

#[test]
fn report_html_writes_a_folder_and_needs_one() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    std::fs::write(repo.join("covtop.toml"), "[repo]\nbase = \"main\"\n").unwrap();
    let out_dir = tmp.path().join("html");
    let d = out_dir.display().to_string();
    let out = covtop_in(
        &repo,
        &["report", "--offline", "--format", "html", "--output", &d],
    );
    assert!(out.status.success(), "{}", text(&out));
    let index = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(
        index.contains("pricing/pricing.go") && index.contains("cart/cart.go"),
        "{index}"
    );
    let out = covtop_in(&repo, &["report", "--offline", "--format", "html"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--output DIR"), "{}", text(&out));
    // An unknown format and `report --help` name every format, html included, and say the file
    // formats print to standard output without --output.
    let out = covtop_in(&repo, &["report", "--offline", "--format", "pdf"]);
    assert!(!out.status.success());
    for f in covtop::report::Format::ALL {
        assert!(text(&out).contains(f.name()), "{f}: {}", text(&out));
    }
    let help = text(&covtop_in(&repo, &["report", "--help"]));
    assert!(
        help.contains("html") && help.contains("standard output"),
        "{help}"
    );
    assert!(!help.contains("needs --output): lcov"), "{help}");
}

/// A dump equal to its replica's previous one is not stored again (its "last seen" still
/// advances); one that changed is; after a reset the next dump is stored whatever it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_dumps_are_not_stored_again() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let center = Center::start().await.unwrap();
    let live = SharedProfile::new(AgentProfile::from_text(PROFILE).unwrap());
    let _agent = Agent::start("shop", live.clone(), 0, Some(&center.url()))
        .await
        .unwrap();
    let sessions = tmp.path().join("s");
    std::fs::write(
        repo.join("covtop.toml"),
        format!(
            "[repo]\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            sessions.display(),
            center.url()
        ),
    )
    .unwrap();
    let dumps = || common::dump_names(&sessions.join("sessions/default")).len();
    let run = |args: &'static [&'static str]| {
        let r = repo.clone();
        tokio::task::spawn_blocking(move || covtop_in(&r, args))
    };
    // One process polling three times: the same content is stored once.
    let cfg = covtop::config::load(&repo.join("covtop.toml")).unwrap();
    let mut engine = covtop::engine::Engine::open(cfg).unwrap();
    for _ in 0..3 {
        let p = engine.poll(&[]).await.unwrap();
        assert_eq!(p[0].stored.len(), 1, "the replica counts as stored");
    }
    assert_eq!(dumps(), 1, "three equal dumps, one file");
    live.lock().hit(0, 1);
    let p = engine.poll(&[]).await.unwrap();
    assert_eq!(p[0].unchanged, 0);
    assert_eq!(dumps(), 2, "a changed dump is stored");
    let p = engine.poll(&[]).await.unwrap();
    assert_eq!(p[0].unchanged, 1);
    assert_eq!(dumps(), 2);
    drop(engine);
    // A reset dumps first: that content is on disk already (the restarted covtop knows it from
    // the session), so only the reset's marker is added; the next dump is stored again.
    let out = run(&["reset", "--yes"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let after_reset = dumps();
    assert_eq!(after_reset, 3, "the marker after the stored dump");
    let out = run(&["report", "--format", "json"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        dumps(),
        after_reset + 1,
        "the first dump after a reset is stored"
    );
    // A restarted covtop knows what is on disk: the same content is not stored again.
    let out = run(&["report", "--format", "json"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dumps(), after_reset + 1);
    // An explicit snapshot (`covtop dump`, the screen's `d`) is always a file of its own.
    let out = run(&["dump"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dumps(), after_reset + 2);
}

/// Small frictions of the command line: the configuration is found from a subfolder of the
/// repository, a target that does not exist is named as such, a JaCoCo reset warns as the screen
/// does, and the screen outside a terminal says what to use instead.
#[test]
fn command_line_frictions() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    std::fs::write(
        repo.join("covtop.toml"),
        "[repo]\nbase = \"main\"\n[[target]]\nname = \"orders\"\nkind = \"jacoco\"\n\
         address = \"127.0.0.1:9\"\n",
    )
    .unwrap();
    // From a subfolder, as git finds its repository.
    let out = covtop_in(
        &repo.join("cart"),
        &["report", "--offline", "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("cart/cart.go"), "{}", text(&out));
    // A target that is not configured.
    let out = covtop_in(&repo, &["reset", "--target", "nosuch"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("no such target") && said.contains("orders") && !said.contains("--yes"),
        "{said}"
    );
    // The JaCoCo warning, as in the screen's dialog (the agent is not there: the reset fails).
    let out = covtop_in(&repo, &["reset", "--target", "orders", "--yes"]);
    assert!(
        text(&out).contains("JaCoCo's reset is global to the JVM"),
        "{}",
        text(&out)
    );
    // The screen without a terminal.
    let out = covtop_in(&repo, &[]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("needs a terminal")
            && said.contains("covtop report")
            && said.contains("covtop watch"),
        "{said}"
    );
}

/// `covtop --repo DIR init` names DIR in the configuration it writes (relative paths in a
/// configuration are relative to its folder), not `.`.
#[test]
fn init_with_repo_names_that_repository() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let elsewhere = tmp.path().join("configs");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out_file = elsewhere.join("covtop.toml");
    let out = covtop_in(
        tmp.path(),
        &[
            "--repo",
            &repo.display().to_string(),
            "init",
            "--output",
            &out_file.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let cfg = covtop::config::load(&out_file).unwrap();
    assert_eq!(
        cfg.repo.path.canonicalize().unwrap(),
        repo.canonicalize().unwrap()
    );
    // Inside the repository it stays `.`.
    let inside = repo.join("covtop.toml");
    let out = covtop_in(&repo, &["init", "--output", "covtop.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&inside)
            .unwrap()
            .contains("path = \".\""),
        "the repository's own configuration names it ."
    );
}

/// Each subcommand's `--help` lists only the options it uses (the repository and diff options
/// and `--baseline` are not on `init`, `session` or `demo`), and the options are accepted both
/// before and after the subcommand, with the same result.
#[test]
fn each_subcommand_lists_only_its_options_and_takes_them_on_either_side() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let help = |args: &[&str]| {
        let out = covtop_in(Path::new("."), args);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let diff_flags = [
        "--revision",
        "--two-dot",
        "--working-tree",
        "--untracked",
        "--ignore-whitespace",
        "--no-renames",
        "--diff-file",
    ];
    for command in [
        &["init", "--help"][..],
        &["session", "--help"],
        &["session", "rm", "--help"],
        &["demo", "--help"],
    ] {
        let h = help(command);
        for flag in diff_flags.iter().chain(&["--baseline", "--quiet"]) {
            assert!(!h.contains(flag), "{command:?} lists {flag}:\n{h}");
        }
    }
    assert!(!help(&["demo", "--help"]).contains("--repo"));
    assert!(help(&["init", "--help"]).contains("--repo"));
    assert!(help(&["session", "list", "--help"]).contains("--session"));
    for command in ["dump", "reset", "report", "check", "watch"] {
        let h = help(&[command, "--help"]);
        for flag in diff_flags.iter().chain(&["--repo", "--base", "--session"]) {
            assert!(h.contains(flag), "{command} lacks {flag}:\n{h}");
        }
        assert_eq!(
            h.contains("--baseline"),
            command == "report",
            "{command}:\n{h}"
        );
    }
    let top = help(&["--help"]);
    assert!(top.contains("--baseline") && top.contains("--diff-file") && top.contains("--attach"));

    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let r = repo.display().to_string();
    let elsewhere = tmp.path();
    // A configuration outside the repository, whose [repo] the options override.
    std::fs::write(
        elsewhere.join("covtop.toml"),
        "[repo]\npath = \"nowhere\"\nbase = \"nosuch\"\n",
    )
    .unwrap();
    // Before or after the subcommand: the same report.
    let before = covtop_in(
        elsewhere,
        &[
            "--repo",
            &r,
            "--base",
            "main",
            "-q",
            "report",
            "--offline",
            "--format",
            "json",
        ],
    );
    let after = covtop_in(
        elsewhere,
        &[
            "report",
            "--offline",
            "--format",
            "json",
            "--repo",
            &r,
            "--base",
            "main",
            "-q",
        ],
    );
    assert!(before.status.success(), "{}", text(&before));
    assert!(after.status.success(), "{}", text(&after));
    let v: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(
        v["changed_without_data"],
        serde_json::json!(["cart/cart.go", "pricing/pricing.go"]),
        "{v:#}"
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&before.stdout).unwrap(),
        v
    );
    // A later --base wins over an earlier one.
    let out = covtop_in(
        elsewhere,
        &[
            "--base",
            "nosuch",
            "report",
            "--offline",
            "--repo",
            &r,
            "--base",
            "main",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // `session` takes --repo and --session before or after its action.
    for args in [
        &["session", "--repo", &r, "new", "s1"][..],
        &["session", "new", "s2", "--repo", &r],
        &["--repo", &r, "session", "list"],
    ] {
        let out = covtop_in(elsewhere, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = covtop_in(
        elsewhere,
        &["session", "list", "--repo", &r, "--session", "s1"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .lines()
            .any(|l| l.starts_with("* ") && l.contains("s1")),
        "{}",
        text(&out)
    );
}

/// A broken `[keys]` is said by every command that loads the configuration (not only when the
/// screen starts), with the file, the line and the key.
#[test]
fn a_broken_keys_section_is_an_error_of_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        "[repo]\nbase = \"main\"\n\n[keys]\nquit = \"ctrl-\"\n",
    )
    .unwrap();
    let c = config.display().to_string();
    for command in [
        &["report"][..],
        &["check", "--fail-under", "1"],
        &["dump"],
        &["session", "list"],
    ] {
        let mut args = vec!["--config", c.as_str()];
        args.extend_from_slice(command);
        let out = covtop_in(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{c}:5: [keys] quit: cannot read key \"ctrl-\"")),
            "{command:?}: {}",
            text(&out)
        );
    }
}

/// `covtop init` in a Maven/Gradle repository (at HEAD) and in a plain folder (on disk): a
/// commented JaCoCo target per project, with where its build writes the classes; build output
/// folders are not projects; without go.mod no live goc target is written.
#[test]
fn init_detects_maven_and_gradle_projects() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let make = |root: &Path| {
        for (path, text) in [
            ("pom.xml", "<project/>"),
            ("orders/pom.xml", "<project/>"),
            ("orders/src/main/java/shop/Orders.java", "class Orders {}"),
            ("billing/build.gradle.kts", "plugins { java }"),
            (
                "billing/src/main/java/shop/Billing.java",
                "class Billing {}",
            ),
            ("billing/build/src/main/java/gen/Gen.java", "class Gen {}"),
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    };
    let repo = tmp.path().join("repo");
    make(&repo);
    common::git(&repo, &["init", "-q", "-b", "main"]);
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "jvm"]);
    let plain = tmp.path().join("plain");
    make(&plain);
    for dir in [&repo, &plain] {
        let out = covtop_in(dir, &["init"]);
        assert!(out.status.success(), "{}", text(&out));
        let said = text(&out);
        assert!(
            said.contains("Gradle project in billing") && said.contains("Maven project in orders"),
            "{said}"
        );
        assert!(
            !said.contains("gen") && !said.contains("No go.mod"),
            "{said}"
        );
        let written = std::fs::read_to_string(dir.join("covtop.toml")).unwrap();
        for expected in [
            "# [[target]]                 # Maven project in orders\n# name = \"orders\"\n# kind = \"jacoco\"\n",
            "# classes = [\"orders/target/classes\"]\n",
            "# [[target]]                 # Gradle project in billing\n",
            "# classes = [\"billing/build/classes/java/main\"]\n",
            "# kind = \"goc\"\n",
        ] {
            assert!(written.contains(expected), "{expected:?} in\n{written}");
        }
        let cfg = covtop::config::parse(&written, &dir.join("covtop.toml")).unwrap();
        assert!(cfg.targets.is_empty(), "{:?}", cfg.targets);
    }
}

/// An option given before a subcommand that has no use for it is an error naming the option and
/// the commands that take it (it was silently ignored).
#[test]
fn an_option_a_subcommand_does_not_use_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["--diff-file", "x.diff", "init"],
            "--diff-file has no effect on `covtop init`",
            &[
                "the screen",
                "`covtop dump`",
                "`covtop report`",
                "`covtop watch`",
            ],
        ),
        (
            &["--two-dot", "demo"],
            "--two-dot has no effect on `covtop demo`",
            &["`covtop check`"],
        ),
        (
            &["--diff-file", "x.diff", "session", "list"],
            "--diff-file has no effect on `covtop session`",
            &["`covtop reset`"],
        ),
        (
            &["--baseline", "s1", "dump"],
            "--baseline has no effect on `covtop dump`",
            &["the screen", "`covtop report`"],
        ),
        (
            &["--attach", "report"],
            "--attach has no effect on `covtop report`",
            &["the screen (covtop without a subcommand)"],
        ),
        (
            &["-q", "watch"],
            "--quiet has no effect on `covtop watch`",
            &["`covtop dump`", "`covtop check`"],
        ),
    ];
    for (args, said, takers) in cases {
        let out = covtop_in(tmp.path(), args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(said), "{args:?}: {t}");
        for taker in *takers {
            assert!(t.contains(taker), "{args:?} does not name {taker}: {t}");
        }
    }
    // The screen's own options are not offered to commands that do not take them.
    let out = covtop_in(tmp.path(), &["--baseline", "s1", "dump"]);
    assert!(!text(&out).contains("`covtop check`"), "{}", text(&out));
    let out = covtop_in(tmp.path(), &["-q", "watch"]);
    assert!(!text(&out).contains("the screen"), "{}", text(&out));
}

/// Issue #12: `-o` writes through what it names as a plain `>` would — a symlink's target (the
/// link stays), a named pipe (its reader gets the report), `/dev/stdout` — and replaces only
/// regular files (the atomic rename used to replace the link, the pipe, even a device node).
#[test]
fn output_writes_through_links_pipes_and_devices() {
    use std::os::unix::fs::FileTypeExt;
    if !common::have_tool("git", "--version") || !common::have_tool("mkfifo", "--version") {
        assert!(!common::in_ci(), "git and mkfifo are needed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    common::write_goc_config_in_repo(&repo, &tmp.path().join("store"), "http://127.0.0.1:1");
    let report = |out: &str| {
        covtop_in(
            &repo,
            &["report", "--offline", "--format", "json", "-o", out],
        )
    };
    let is_report = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("totals").is_some() || v.get("files").is_some())
    };

    // /dev/stdout: the report is on standard output (it was renamed over the device's path).
    let out = report("/dev/stdout");
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_report(&out.stdout), "{}", text(&out));

    // A symlink: its target gets the report, the link stays a link.
    let real = tmp.path().join("real.json");
    std::fs::write(&real, "old").unwrap();
    let link = tmp.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = report(&link.display().to_string());
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(is_report(&std::fs::read(&real).unwrap()));

    // A named pipe: its reader gets the report, the pipe stays a pipe.
    let fifo = tmp.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = report(&fifo.display().to_string());
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_report(&reader.join().unwrap()));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // A regular file is replaced whole.
    let plain = tmp.path().join("plain.json");
    std::fs::write(&plain, "x".repeat(100_000)).unwrap();
    let out = report(&plain.display().to_string());
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_report(&std::fs::read(&plain).unwrap()));
}

/// Issue #12: an error naming something with control characters in it (here the configuration
/// file's own name) shows them escaped: the error cannot drive the terminal.
#[test]
fn errors_escape_control_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("a\u{1b}[2Jb\u{7}.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_covtop"))
        .arg("--config")
        .arg(&config)
        .args(["report", "--offline"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a\\u{1b}[2Jb\\u{7}.toml"), "{err:?}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
}
