//! Exports of a hand-built View: a file name full of markup characters, Java-style lines (no
//! hit counts, branches, partial lines) and `changed_only`. XML outputs are validated by
//! xmllint (JaCoCo's DTD, our Sonar XSD), LCOV by genhtml, JSON by serde.

mod common;

use covtop::model::{
    ChangeKind, ChangedFile, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, View,
};
use covtop::report::{ExportOptions, RawData, export, render_export};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const NASTY: &str = "src/a&b<c>\"d'e/Q&A \"x\" <y>.java";

fn line(line: u32, status: LineStatus, units: (u32, u32), branches: (u32, u32)) -> LineCoverage {
    LineCoverage {
        line,
        status,
        hits: None,
        units,
        branches,
    }
}

/// Line 3 covered, 4 partial (1 of 2 branches), 5 missed (2 branches), 7 covered; lines 4 and
/// 5 changed (and non-coverable line 6).
fn view() -> View {
    let cov = FileCoverage {
        path: NASTY.to_string(),
        lines: vec![
            line(3, LineStatus::Covered, (2, 0), (0, 0)),
            line(4, LineStatus::Partial, (3, 1), (1, 1)),
            line(5, LineStatus::Missed, (0, 4), (0, 2)),
            line(7, LineStatus::Covered, (1, 0), (0, 0)),
        ],
        spans: vec![],
        units: (6, 11),
    };
    let changed = ChangedFile {
        path: NASTY.to_string(),
        kind: ChangeKind::Modified,
        lines: vec![4, 5, 6],
        deletions_before: vec![],
    };
    let mut changed_counts = Counts::default();
    changed_counts.add(LineStatus::Partial);
    changed_counts.add(LineStatus::Missed);
    let whole_counts = cov.counts();
    View {
        revision: "abc123".to_string(),
        base: "main".to_string(),
        files: vec![FileView {
            path: NASTY.to_string(),
            language: Some(SourceLanguage::Java),
            coverage: Some(Arc::new(cov)),
            changed: Some(Arc::new(changed)),
            changed_counts,
            whole_counts,
            newly_hit: vec![],
            hit_since_mark: None,
            targets: Default::default(),
        }],
        ..View::default()
    }
}

fn opts(changed_only: bool) -> ExportOptions {
    ExportOptions {
        changed_only,
        partial_as_covered: false,
        source_root: Some(Path::new("/repo/with & amp").to_path_buf()),
    }
}

fn xmllint(args: &[&str], file: &Path) {
    let o = Command::new("xmllint")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "xmllint {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn markup_in_file_names_is_escaped_and_consumers_accept_it() {
    if !common::have_tool("xmllint", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let v = view();
    let raw = RawData::default();
    for format in ["cobertura", "jacoco-xml", "sonar"] {
        let out = tmp.path().join(format!("{format}.xml"));
        export(&v, &raw, format, &opts(false), &out).unwrap();
        // Well-formed, and the file name reads back exactly.
        xmllint(&["--noout"], &out);
        let o = Command::new("xmllint")
            .args([
                "--xpath",
                "string(//@path | //@filename | //sourcefile/@name)",
            ])
            .arg(&out)
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&o.stdout).to_string();
        let expect = if format == "jacoco-xml" {
            NASTY.rsplit_once('/').unwrap().1
        } else {
            NASTY
        };
        assert_eq!(got.trim_end(), expect, "{format}");
    }
    if common::have_file("/usr/share/java/org.jacoco.report.jar") {
        let dtd = Command::new("unzip")
            .args(["-p", "/usr/share/java/org.jacoco.report.jar"])
            .arg("org/jacoco/report/xml/report.dtd")
            .output()
            .unwrap();
        let dtd_path = tmp.path().join("report.dtd");
        std::fs::write(&dtd_path, &dtd.stdout).unwrap();
        xmllint(
            &["--noout", "--dtdvalid", dtd_path.to_str().unwrap()],
            &tmp.path().join("jacoco-xml.xml"),
        );
    }
    let xsd =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sonar-generic-coverage.xsd");
    xmllint(
        &["--noout", "--schema", xsd.to_str().unwrap()],
        &tmp.path().join("sonar.xml"),
    );
    // Cobertura's own DTD (from coverage.py's sdist, see docs/rooms/exports.md), whole and
    // changed-only.
    if common::have_file("/usr/local/share/cobertura/coverage-04.dtd") {
        let changed = tmp.path().join("cobertura-changed.xml");
        export(&v, &raw, "cobertura", &opts(true), &changed).unwrap();
        for file in [tmp.path().join("cobertura.xml"), changed] {
            xmllint(
                &[
                    "--noout",
                    "--nonet",
                    "--dtdvalid",
                    "/usr/local/share/cobertura/coverage-04.dtd",
                ],
                &file,
            );
        }
    }

    let codecov: Value =
        serde_json::from_str(&render_export(&v, "codecov", &opts(false)).unwrap()).unwrap();
    let lines = &codecov["coverage"][NASTY];
    assert_eq!(lines["3"], 1);
    assert_eq!(lines["4"], "1/2", "a partial line is a branch fraction");
    assert_eq!(lines["5"], 0);
    assert_eq!(lines["7"], 1);
}

#[test]
fn genhtml_reads_java_lines_with_branches() {
    if !common::have_tool("genhtml", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // genhtml reads the sources: give it one with the nasty name.
    let src = tmp.path().join(NASTY);
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    std::fs::write(
        &src,
        (1..=8).map(|i| format!("line {i}\n")).collect::<String>(),
    )
    .unwrap();
    let info = tmp.path().join("cov.info");
    export(&view(), &RawData::default(), "lcov", &opts(false), &info).unwrap();
    let o = Command::new("genhtml")
        .args(["--branch-coverage", "-o"])
        .arg(tmp.path().join("html"))
        .arg(&info)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "genhtml: {stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Lines 3, 4, 7 ran of 4; branches 1 of 4 taken.
    assert!(stdout.contains("(3 of 4 lines)"), "{stdout}");
    assert!(stdout.contains("(1 of 4 branches)"), "{stdout}");
}

#[test]
fn changed_only_keeps_the_changed_coverable_lines() {
    let v = view();
    let lcov = render_export(&v, "lcov", &opts(true)).unwrap();
    let da: Vec<&str> = lcov.lines().filter(|l| l.starts_with("DA:")).collect();
    assert_eq!(da, vec!["DA:4,1", "DA:5,0"]);
    assert!(lcov.contains("LF:2\nLH:1\n"), "{lcov}");
    let sonar = render_export(&v, "sonar", &opts(true)).unwrap();
    assert_eq!(sonar.matches("<lineToCover ").count(), 2);
    assert!(
        sonar.contains(
            "lineNumber=\"4\" covered=\"true\" branchesToCover=\"2\" coveredBranches=\"1\""
        )
    );
    let cob = render_export(&v, "cobertura", &opts(true)).unwrap();
    assert!(
        cob.contains("lines-covered=\"1\" lines-valid=\"2\""),
        "{cob}"
    );
    assert!(cob.contains("condition-coverage=\"50% (1/2)\""), "{cob}");
    let jx = render_export(&v, "jacoco-xml", &opts(true)).unwrap();
    assert!(
        jx.contains("<line nr=\"4\" mi=\"1\" ci=\"3\" mb=\"1\" cb=\"1\"/>"),
        "{jx}"
    );
    assert!(!jx.contains("nr=\"3\""));

    // A view without changed lines exports an empty (but valid) report.
    let mut unchanged = view();
    unchanged.files[0].changed = None;
    let lcov = render_export(&unchanged, "lcov", &opts(true)).unwrap();
    assert_eq!(lcov, "TN:\n");
}

#[test]
fn unknown_format_and_missing_raw_data_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    let e = export(&view(), &RawData::default(), "nope", &opts(false), &out).unwrap_err();
    assert!(e.to_string().contains("lcov"), "{e}");
    let e = export(
        &view(),
        &RawData::default(),
        "go-profile",
        &opts(false),
        &out,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no Go coverage"), "{e}");
    assert!(!out.exists());
}

/// A file named to forge a report line (`x\nTOTAL 999 …`) or carrying terminal escapes shows
/// escaped in the text and Markdown reports: one TOTAL line, no raw control characters.
#[test]
fn control_characters_in_file_names_cannot_forge_report_lines() {
    let forged = "src/forged\nTOTAL 999 999 0 0 100.0%\u{1b}[2J.go";
    let mut v = view();
    v.files[0].path = forged.to_string();
    for format in ["text", "markdown"] {
        let out = covtop::report::render(&v, format).unwrap();
        assert_eq!(
            out.lines().filter(|l| l.starts_with("TOTAL")).count(),
            usize::from(format == "text"),
            "{format}: {out}"
        );
        assert!(!out.contains('\u{1b}'), "{format}: {out:?}");
        // The name stays on its row, its newline shown escaped.
        assert!(
            out.lines()
                .any(|l| l.contains("forged") && l.contains("u{a}TOTAL 999")),
            "{format}: {out}"
        );
    }
    // LCOV, line-based too: the name cannot end its record nor start another.
    v.files[0].path = "src/forged\nend_of_record\nSF:src/other.go\u{1b}.go".to_string();
    let lcov = render_export(&v, "lcov", &opts(false)).unwrap();
    assert_eq!(
        lcov.lines().filter(|l| l.starts_with("SF:")).count(),
        1,
        "{lcov}"
    );
    assert_eq!(
        lcov.lines().filter(|l| *l == "end_of_record").count(),
        1,
        "{lcov}"
    );
    assert!(!lcov.contains('\u{1b}'), "{lcov:?}");
}
