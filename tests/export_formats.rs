//! Exports checked by their real consumers: the `covtop` binary polls a goc center serving a
//! real `go test` profile of the sample repository (base `main`, branch `feature`), writes every
//! format, and genhtml, diff-cover, xmllint (against JaCoCo's own DTD and our Sonar XSD),
//! `go tool cover` read them and must agree with covtop's own changed-line report.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Cobertura's DTD, from coverage.py's source distribution (`lab/coverage-04.dtd`); see
/// docs/rooms/exports.md for the install step.
const COBERTURA_DTD: &str = "/usr/local/share/cobertura/coverage-04.dtd";

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    repo: PathBuf,
    config: PathBuf,
    /// covtop's own JSON report.
    report: Value,
}

impl Fixture {
    fn export(&self, format: &str, name: &str) -> PathBuf {
        self.export_with(format, name, &[])
    }

    fn export_with(&self, format: &str, name: &str, extra: &[&str]) -> PathBuf {
        let out = self.work.join(name);
        let mut args = vec![
            "report",
            "--offline",
            "--format",
            format,
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = common::covtop(&self.config, &args);
        ok(&o, &format!("covtop report --format {format}"));
        out
    }
}

/// Polls once (stores the dump in the session), then everything else runs `--offline`.
async fn fixture() -> Option<Fixture> {
    if !common::have_tool("go", "version") || !common::have_tool("git", "--version") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().to_path_buf();
    let repo = work.join("repo");
    common::sample_repo(&repo);
    let profile = common::go_test_profile(&repo, &work);
    let center = Center::start().await.unwrap();
    let _agent = Agent::start(
        "shop",
        SharedProfile::new(AgentProfile::from_text(&profile).unwrap()),
        0,
        Some(&center.url()),
    )
    .await
    .unwrap();
    let config = work.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            repo.display(),
            work.join("sessions").display(),
            center.url()
        ),
    )
    .unwrap();
    let cfg = config.clone();
    let out =
        tokio::task::spawn_blocking(move || common::covtop(&cfg, &["report", "--format", "json"]))
            .await
            .unwrap();
    let report: Value = serde_json::from_str(&ok(&out, "covtop report --format json")).unwrap();
    Some(Fixture {
        _tmp: tmp,
        work,
        repo,
        config,
        report,
    })
}

/// Missed changed lines per file, from covtop's own report.
fn covtop_missed(report: &Value) -> BTreeMap<String, Vec<u64>> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let lines = f["missed_ranges"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r[0].as_u64().unwrap()..=r[1].as_u64().unwrap())
                .collect();
            (f["path"].as_str().unwrap().to_string(), lines)
        })
        .collect()
}

/// diff-cover against `main`: (changed lines it measured, violation lines per file).
fn diff_cover(fx: &Fixture, report: &Path) -> (u64, BTreeMap<String, Vec<u64>>) {
    let json = fx.work.join("diff-cover.json");
    let o = Command::new("diff-cover")
        .arg(report)
        .arg("--compare-branch=main")
        .arg("--json-report")
        .arg(&json)
        // JaCoCo XML names files by package directory under a source root (default
        // src/main/java); our packages are repository directories.
        .args(["--src-roots", "."])
        .current_dir(&fx.repo)
        .output()
        .unwrap();
    ok(&o, &format!("diff-cover {}", report.display()));
    let dc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let missed = dc["src_stats"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, s)| {
            let mut v: Vec<u64> = s["violation_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            v.sort_unstable();
            (path.clone(), v)
        })
        .collect();
    (dc["total_num_lines"].as_u64().unwrap(), missed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_our_exports_and_agree_with_covtop() {
    let Some(fx) = fixture().await else { return };
    let whole = &fx.report["whole"];
    let whole_coverable = whole["coverable"].as_u64().unwrap();
    let whole_hit = whole["covered"].as_u64().unwrap() + whole["partial"].as_u64().unwrap();
    assert!(whole_coverable > 0 && whole_hit > 0, "{:#}", fx.report);

    // LCOV: genhtml accepts it and its index shows our line totals.
    if common::have_tool("genhtml", "--version") {
        let info = fx.export("lcov", "cov.info");
        let text = std::fs::read_to_string(&info).unwrap();
        let lf: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("LF:"))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(lf, whole_coverable);
        let html = fx.work.join("genhtml");
        let o = Command::new("genhtml")
            .arg("-o")
            .arg(&html)
            .arg(&info)
            .current_dir(&fx.repo)
            .output()
            .unwrap();
        let stdout = ok(&o, "genhtml");
        // genhtml's summary: "lines......: 80.0% (40 of 50 lines)".
        let expected = format!("({whole_hit} of {whole_coverable} lines)");
        assert!(stdout.contains(&expected), "{expected} in {stdout}");
        let index = std::fs::read_to_string(html.join("index.html")).unwrap();
        assert!(
            index.contains(&format!(">{whole_coverable}<"))
                && index.contains(&format!(">{whole_hit}<")),
            "genhtml index lacks {whole_hit}/{whole_coverable}"
        );
    }

    // Cobertura (whole and changed-only), JaCoCo XML and LCOV: diff-cover on the same diff
    // reports covtop's changed coverable lines and exactly covtop's missed lines per file.
    if common::have_tool("diff-cover", "--version") {
        let ours = covtop_missed(&fx.report);
        assert!(
            ours.values().any(|v| !v.is_empty()),
            "the fixture has missed lines"
        );
        let changed = fx.report["changed"]["coverable"].as_u64().unwrap();
        for (format, name, extra) in [
            ("cobertura", "coverage.xml", &[][..]),
            ("cobertura", "changed.xml", &["--changed-only"][..]),
            ("jacoco-xml", "dc-jacoco.xml", &[][..]),
            ("lcov", "dc.info", &[][..]),
        ] {
            let file = fx.export_with(format, name, extra);
            let (total, missed) = diff_cover(&fx, &file);
            assert_eq!(total, changed, "{format} {extra:?}: changed lines");
            assert_eq!(missed, ours, "{format} {extra:?}: missed lines");
        }
    }

    if common::have_tool("xmllint", "--version") {
        // JaCoCo XML: valid against JaCoCo's own DTD; LINE counter equals covtop's whole counts.
        if common::have_file("/usr/share/java/org.jacoco.report.jar") {
            let xml = fx.export("jacoco-xml", "jacoco.xml");
            let dtd = Command::new("unzip")
                .args(["-p", "/usr/share/java/org.jacoco.report.jar"])
                .arg("org/jacoco/report/xml/report.dtd")
                .output()
                .unwrap();
            let dtd_path = fx.work.join("report.dtd");
            std::fs::write(&dtd_path, ok(&dtd, "unzip report.dtd")).unwrap();
            let o = Command::new("xmllint")
                .args(["--noout", "--dtdvalid"])
                .arg(&dtd_path)
                .arg(&xml)
                .output()
                .unwrap();
            ok(&o, "xmllint --dtdvalid report.dtd");
            let text = std::fs::read_to_string(&xml).unwrap();
            let report_counter = text
                .lines()
                .rev()
                .find(|l| l.contains("type=\"LINE\""))
                .unwrap();
            let missed = whole["missed"].as_u64().unwrap();
            assert!(
                report_counter.contains(&format!("missed=\"{missed}\" covered=\"{whole_hit}\"")),
                "{report_counter}"
            );
        }
        // Cobertura: valid against Cobertura's coverage-04.dtd, whole and changed-only.
        if common::have_file(COBERTURA_DTD) {
            for (name, extra) in [
                ("cob-dtd.xml", &[][..]),
                ("cob-dtd-changed.xml", &["--changed-only"][..]),
            ] {
                let xml = fx.export_with("cobertura", name, extra);
                let o = Command::new("xmllint")
                    .args(["--noout", "--nonet", "--dtdvalid", COBERTURA_DTD])
                    .arg(&xml)
                    .output()
                    .unwrap();
                ok(&o, &format!("xmllint --dtdvalid coverage-04.dtd {extra:?}"));
            }
        }
        // Sonar generic coverage: valid against the XSD of the documented format.
        let xml = fx.export("sonar", "sonar.xml");
        let xsd =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sonar-generic-coverage.xsd");
        let o = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&xml)
            .output()
            .unwrap();
        ok(&o, "xmllint --schema sonar");
        let text = std::fs::read_to_string(&xml).unwrap();
        assert_eq!(
            text.matches("<lineToCover ").count() as u64,
            whole_coverable
        );
    }

    // Codecov JSON: one entry per coverable line, zero exactly on covtop's missed lines.
    let json = fx.export("codecov", "codecov.json");
    let cc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let files = cc["coverage"].as_object().unwrap();
    let entries: usize = files.values().map(|f| f.as_object().unwrap().len()).sum();
    assert_eq!(entries as u64, whole_coverable);
    for (path, missed) in covtop_missed(&fx.report) {
        for line in missed {
            assert_eq!(files[&path][line.to_string()], 0, "{path}:{line}");
        }
    }

    // The merged Go profile: `go tool cover -func` agrees with covtop's statement totals.
    let profile = fx.export("go-profile", "merged.cov");
    let mut cmd = Command::new("go");
    cmd.args(["tool", "cover"])
        .arg(format!("-func={}", profile.display()))
        .current_dir(&fx.repo);
    common::go_env(&mut cmd, &fx.work);
    let func = ok(&cmd.output().unwrap(), "go tool cover -func");
    let total = func.lines().last().unwrap_or_default();
    let st = &fx.report["whole_statements"];
    let ours = st[0].as_f64().unwrap() * 100.0 / st[1].as_f64().unwrap();
    assert!(
        total.ends_with(&format!("{ours:.1}%")),
        "go tool cover -func says {total:?}, covtop {ours:.1}%"
    );

    // Without --output the same bytes go to standard output.
    for (format, file) in [("lcov", "cov.info"), ("go-profile", "merged.cov")] {
        let o = common::covtop(&fx.config, &["report", "--offline", "--format", format]);
        assert_eq!(
            ok(&o, format),
            std::fs::read_to_string(fx.work.join(file)).unwrap(),
            "{format}"
        );
    }

    // No JaCoCo target: asking for exec data is a clear error, and nothing is written.
    let out = fx.work.join("none.exec");
    let o = common::covtop(
        &fx.config,
        &[
            "report",
            "--offline",
            "--format",
            "jacoco-exec",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no JaCoCo coverage"));
    assert!(!out.exists());

    // Unwritable destinations: exit code 2, the path and what to do on standard error,
    // nothing written and no temporary file left.
    let blocker = fx.work.join("a-file");
    std::fs::write(&blocker, "keep").unwrap();
    let existing_dir = fx.work.join("a-dir");
    std::fs::create_dir(&existing_dir).unwrap();
    let mut cases = vec![
        (
            "lcov",
            fx.work.join("missing-dir/cov.info"),
            "create the directory first",
        ),
        (
            "cobertura",
            blocker.join("cov.xml"),
            "is a file, not a directory",
        ),
        ("json", blocker.join("r.json"), "is a file, not a directory"),
        ("sonar", existing_dir.clone(), "is a directory"),
        ("html", blocker.join("html"), "a-file"),
    ];
    // sysfs refuses new files even to root.
    if Path::new("/sys/kernel").is_dir() {
        cases.push((
            "lcov",
            PathBuf::from("/sys/covtop-cov.info"),
            "not writable",
        ));
    }
    let before: Vec<_> = std::fs::read_dir(&fx.work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (format, bad, advice) in cases {
        let o = common::covtop(
            &fx.config,
            &[
                "report",
                "--offline",
                "--format",
                format,
                "--output",
                bad.to_str().unwrap(),
            ],
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{format} {}: {stderr}",
            bad.display()
        );
        assert!(
            stderr.contains(bad.parent().unwrap().to_str().unwrap()) && stderr.contains(advice),
            "{format} {}: {stderr}",
            bad.display()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let after: Vec<_> = std::fs::read_dir(&fx.work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing added beside the destinations");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "keep");
    assert_eq!(std::fs::read_dir(&existing_dir).unwrap().count(), 0);
}
