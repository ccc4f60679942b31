//! Exports and the HTML report to destinations that cannot be written: every format fails with
//! an error naming the path and saying what to do, never panics, leaves an existing report
//! as it was and leaves no temporary file behind.
//!
//! A directory without write permission does not stop root (tests and CI run as root), so
//! that case drops the file-system capabilities of one thread with `setfsuid` (per thread
//! on Linux) and runs the export there, as an ordinary user would.

use covtop::go::profile;
use covtop::java::exec::ExecData;
use covtop::model::{
    ChangeKind, ChangedFile, FileCoverage, FileView, LineCoverage, LineStatus, SourceLanguage,
    SourceStore, View,
};
use covtop::report::html::{HtmlOptions, write_html};
use covtop::report::{EXPORT_FORMATS, ExportOptions, RawData, export, write_report};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn view() -> View {
    let path = "shop/cart.go".to_string();
    let cov = FileCoverage {
        path: path.clone(),
        lines: vec![
            LineCoverage {
                line: 3,
                status: LineStatus::Covered,
                hits: Some(2),
                units: (1, 0),
                branches: (0, 0),
            },
            LineCoverage {
                line: 4,
                status: LineStatus::Missed,
                hits: Some(0),
                units: (0, 1),
                branches: (0, 0),
            },
        ],
        spans: vec![],
        units: (1, 1),
    };
    let whole_counts = cov.counts();
    View {
        revision: "abc".into(),
        base: "main".into(),
        files: vec![FileView {
            path: path.clone(),
            language: Some(SourceLanguage::Go),
            changed: Some(Arc::new(ChangedFile {
                path,
                kind: ChangeKind::Modified,
                lines: vec![4],
                deletions_before: vec![],
            })),
            coverage: Some(Arc::new(cov)),
            changed_counts: Default::default(),
            whole_counts,
            newly_hit: vec![],
            hit_since_mark: None,
            targets: Default::default(),
        }],
        ..View::default()
    }
}

fn raw() -> RawData {
    let go = profile::parse(
        b"mode: count\nexample.com/shop/cart.go:3.1,4.2 1 2\n",
        "test",
    )
    .unwrap();
    RawData {
        go: Some(go),
        java: vec![("orders".to_string(), ExecData::default())],
    }
}

struct Sources;

impl SourceStore for Sources {
    fn source(&self, _path: &str) -> Result<Option<Arc<[u8]>>, String> {
        Ok(Some(Arc::from(
            &b"package shop\n\nfunc A() {\n\tb()\n}\n"[..],
        )))
    }
}

fn html_opts() -> HtmlOptions {
    HtmlOptions {
        changed_only: false,
        partial_as_covered: false,
        title: "t".into(),
        ..HtmlOptions::default()
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every format to `out` fails; the message names `out` (or, for HTML, a directory on the
/// way to it) and contains `advice`.
fn every_format_fails(out: &Path, advice: &str) {
    let view = view();
    let raw = raw();
    for format in EXPORT_FORMATS {
        let err = export(&view, &raw, format, &ExportOptions::default(), out)
            .expect_err(&format!("{format} to {}", out.display()));
        let msg = err.to_string();
        assert!(msg.contains(&out.display().to_string()), "{format}: {msg}");
        assert!(msg.contains(advice), "{format}: {msg}");
    }
    let err = write_report(out, b"{}").unwrap_err().to_string();
    assert!(err.contains(advice), "{err}");
}

#[test]
fn a_path_under_a_file_is_named_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "keep").unwrap();
    every_format_fails(&blocker.join("cov.out"), "is a file, not a directory");
    let err = write_html(&view(), &Sources, &html_opts(), &blocker.join("html")).unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "keep");
    assert_eq!(entries(tmp.path()), vec!["a-file".to_string()]);
}

#[test]
fn a_missing_directory_is_named_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    every_format_fails(
        &tmp.path().join("no/such/dir/cov.out"),
        "create the directory first",
    );
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn a_directory_as_destination_is_left_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reports");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("old.info"), "old").unwrap();
    every_format_fails(&dir, "is a directory");
    assert_eq!(entries(&dir), vec!["old.info".to_string()]);
    assert_eq!(entries(tmp.path()), vec!["reports".to_string()]);
}

/// sysfs refuses new files even to root (EACCES, or EROFS where it is mounted read-only).
#[test]
fn a_file_system_that_refuses_new_files_is_named_with_what_to_do() {
    if !Path::new("/sys/kernel").is_dir() {
        return;
    }
    every_format_fails(Path::new("/sys/covtop-report.out"), "not writable");
    let err = write_html(
        &view(),
        &Sources,
        &html_opts(),
        Path::new("/sys/covtop-report-html"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/sys"), "{err}");
}

/// Runs `f` on a thread whose file-system uid is `nobody`: without CAP_DAC_OVERRIDE,
/// permission bits apply to it even when the test runs as root.
#[cfg(target_os = "linux")]
fn as_nobody<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: setfsuid only changes this thread's file-system credentials.
        unsafe { libc::setfsuid(65534) };
        f()
    })
    .join()
    .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_read_only_directory_keeps_the_old_report_and_gets_no_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let out = ro.join("cov.info");
    std::fs::write(&out, "the previous report").unwrap();
    let html = ro.join("html");
    std::fs::create_dir(&html).unwrap();
    std::fs::write(html.join("index.html"), "previous index").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();

    let target: PathBuf = out.clone();
    let html_target = html.clone();
    let (exports, html_err) = as_nobody(move || {
        let view = view();
        let raw = raw();
        let exports: Vec<(String, String)> = EXPORT_FORMATS
            .iter()
            .map(|f| {
                let r = export(&view, &raw, f, &ExportOptions::default(), &target);
                (
                    f.to_string(),
                    r.map_or_else(|e| e.to_string(), |()| "written".into()),
                )
            })
            .collect();
        let html_err = write_html(&view, &Sources, &html_opts(), &html_target)
            .map_or_else(|e| e.to_string(), |_| "written".into());
        (exports, html_err)
    });
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (format, msg) in exports {
        assert!(msg.contains(&out.display().to_string()), "{format}: {msg}");
        assert!(msg.contains("not writable"), "{format}: {msg}");
    }
    assert!(html_err.contains(&ro.display().to_string()), "{html_err}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the previous report"
    );
    assert_eq!(
        std::fs::read_to_string(html.join("index.html")).unwrap(),
        "previous index"
    );
    assert_eq!(
        entries(&ro),
        vec!["cov.info".to_string(), "html".to_string()]
    );
}
