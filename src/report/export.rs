//! The export entry point: standard coverage formats other tools read (genhtml, diff-cover,
//! Sonar, Codecov, JaCoCo consumers) and the merged raw data, written atomically.

use super::{Format, ReportError, cobertura, codecov, jacoco_xml, lcov, raw, sonar};
use crate::go::profile::Profile;
use crate::java::exec::ExecData;
use crate::model::{FileView, LineCoverage, LineStatus, View};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The formats [`export`] writes: the [`Format`]s that need the raw data (checked by a test).
pub const EXPORT_FORMATS: &[&str] = &[
    "lcov",
    "cobertura",
    "jacoco-xml",
    "sonar",
    "codecov",
    "go-profile",
    "jacoco-exec",
];

/// The merged raw coverage the View was computed from (see `Engine::go_total` and
/// `Engine::java_totals`).
#[derive(Debug, Clone, Default)]
pub struct RawData {
    pub go: Option<Profile>,
    /// Merged exec data per JaCoCo target, by target name.
    pub java: Vec<(String, ExecData)>,
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only the changed coverable lines (and only files with changed lines).
    pub changed_only: bool,
    /// Partial lines count as covered in the formats that carry a per-line verdict without
    /// branch detail (Sonar's `covered`, Codecov's value).
    pub partial_as_covered: bool,
    /// The repository root written as Cobertura's `<source>` (file names are relative to it);
    /// `.` when unset.
    pub source_root: Option<PathBuf>,
}

/// One file's exported lines.
pub(crate) struct ExportFile<'a> {
    pub path: &'a str,
    pub lines: Vec<&'a LineCoverage>,
}

impl ExportFile<'_> {
    /// Lines that ran at least partly (what line-based tools call "hit").
    pub fn lines_hit(&self) -> usize {
        self.lines.iter().filter(|l| hit(l)).count()
    }

    pub fn branches(&self) -> (u64, u64) {
        self.lines.iter().fold((0, 0), |(c, m), l| {
            (c + u64::from(l.branches.0), m + u64::from(l.branches.1))
        })
    }
}

/// True when some code of the line ran.
pub(crate) fn hit(l: &LineCoverage) -> bool {
    matches!(l.status, LineStatus::Covered | LineStatus::Partial)
}

/// The execution count tools expect: Go's count; JaCoCo only knows hit (1) or not (0).
pub(crate) fn hits(l: &LineCoverage) -> u64 {
    match l.hits {
        Some(h) if h > 0 || !hit(l) => h,
        _ => u64::from(hit(l)),
    }
}

/// The files and lines to export, sorted by path.
pub(crate) fn select<'a>(view: &'a View, opts: &ExportOptions) -> Vec<ExportFile<'a>> {
    view.files
        .iter()
        .filter_map(|f: &'a FileView| {
            let cov = f.coverage.as_ref()?;
            let changed = f.changed.as_deref();
            if opts.changed_only && !f.has_changes() {
                return None;
            }
            let lines: Vec<&LineCoverage> = cov
                .lines
                .iter()
                .filter(|l| l.status.is_coverable())
                .filter(|l| !opts.changed_only || changed.is_some_and(|c| c.contains(l.line)))
                .collect();
            if lines.is_empty() {
                return None;
            }
            Some(ExportFile {
                path: &f.path,
                lines,
            })
        })
        .collect()
}

/// Escapes text for an XML attribute or element.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `covered / total` as a rate in [0, 1] with 4 decimals; 1 when nothing is counted (as
/// Cobertura writers do).
pub(crate) fn rate(covered: u64, total: u64) -> String {
    if total == 0 {
        "1".to_string()
    } else {
        format!("{:.4}", covered as f64 / total as f64)
    }
}

pub(crate) fn unix_seconds(view: &View) -> u64 {
    view.created
        .unwrap_or_else(SystemTime::now)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Renders a text format of [`EXPORT_FORMATS`] (not the raw ones) into memory.
pub fn render_export(
    view: &View,
    format: &str,
    opts: &ExportOptions,
) -> Result<String, ReportError> {
    render_export_as(view, format.parse()?, opts)
}

/// [`render_export`] for a [`Format`].
pub(crate) fn render_export_as(
    view: &View,
    format: Format,
    opts: &ExportOptions,
) -> Result<String, ReportError> {
    let files = select(view, opts);
    match format {
        Format::Lcov => Ok(lcov::lcov(&files)),
        Format::Cobertura => Ok(cobertura::cobertura(view, &files, opts)),
        Format::JacocoXml => Ok(jacoco_xml::jacoco_xml(view, &files)),
        Format::Sonar => Ok(sonar::sonar(&files, opts)),
        Format::Codecov => codecov::codecov(&files, opts),
        other => Err(ReportError::NotAnExport(other)),
    }
}

/// Writes `view` (and for the raw formats, `raw`) in `format` to `out`, atomically: a reader
/// sees the old file or the complete new one. The raw formats ignore `changed_only`: they are
/// the merged agent data, to load into other tools. `jacoco-exec` writes one file per target:
/// `out` itself when there is one target, else `out` with `.TARGET` before the extension.
pub fn export(
    view: &View,
    raw: &RawData,
    format: &str,
    opts: &ExportOptions,
    out: &Path,
) -> Result<(), ReportError> {
    export_as(view, raw, format.parse()?, opts, out)
}

/// [`export`] for a [`Format`].
pub(crate) fn export_as(
    view: &View,
    raw: &RawData,
    format: Format,
    opts: &ExportOptions,
    out: &Path,
) -> Result<(), ReportError> {
    if format == Format::JacocoExec {
        for (path, bytes) in raw::jacoco_exec(java_targets(raw)?, out)? {
            write_atomically(&path, &bytes)?;
        }
        return Ok(());
    }
    write_atomically(out, &export_bytes_as(view, raw, format, opts)?)
}

/// The bytes of a single-stream export (for standard output): every format of
/// [`EXPORT_FORMATS`]; `jacoco-exec` only when there is exactly one JaCoCo target.
pub fn export_bytes(
    view: &View,
    raw: &RawData,
    format: &str,
    opts: &ExportOptions,
) -> Result<Vec<u8>, ReportError> {
    export_bytes_as(view, raw, format.parse()?, opts)
}

/// [`export_bytes`] for a [`Format`].
pub(crate) fn export_bytes_as(
    view: &View,
    raw: &RawData,
    format: Format,
    opts: &ExportOptions,
) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::GoProfile => {
            let p = raw.go.as_ref().ok_or_else(|| ReportError::NoData {
                format: format.to_string(),
                what: "no Go coverage: configure a goc target and poll it first".to_string(),
            })?;
            Ok(raw::go_profile(p))
        }
        Format::JacocoExec => match java_targets(raw)? {
            [(_, data)] => data
                .to_bytes()
                .map_err(|e| ReportError::Encode(e.to_string())),
            many => Err(ReportError::NoData {
                format: format.to_string(),
                what: format!(
                    "{} JaCoCo targets need one file each: add --output PATH",
                    many.len()
                ),
            }),
        },
        _ => render_export_as(view, format, opts).map(String::into_bytes),
    }
}

fn java_targets(raw: &RawData) -> Result<&[(String, ExecData)], ReportError> {
    if raw.java.is_empty() {
        return Err(ReportError::NoData {
            format: "jacoco-exec".to_string(),
            what: "no JaCoCo coverage: configure a jacoco target and poll it first".to_string(),
        });
    }
    Ok(&raw.java)
}

/// Writes a finished report to `out` atomically (a temporary file in the same directory,
/// fsynced, renamed over `out`): a reader sees the old file or the whole new one, and a failed
/// write leaves neither a partial report nor a temporary file behind.
pub fn write_report(out: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomically(out, bytes)
}

/// Writes a report to `out` as a shell's `>` would where that matters, atomically where it can:
/// a regular file is replaced atomically ([`crate::atomic_file::write`]); a FIFO, a device or
/// any other file that is not regular (`-o /dev/stdout`, `-o /dev/null`, a named pipe) is
/// written into, never replaced; a symbolic link is written through (the file it points to is
/// replaced, the link stays). Errors name the report.
pub(crate) fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Ok(m) = std::fs::metadata(out)
        && !m.is_file()
        && !m.is_dir()
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(out)
            .map_err(err)?;
        return f.write_all(bytes).and_then(|()| f.flush()).map_err(err);
    }
    let target = match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(out) {
            Ok(t) => t,
            // A link to nothing yet: `>` creates the file it names.
            Err(_) => {
                let link = std::fs::read_link(out).map_err(err)?;
                match out.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                }
            }
        },
        _ => out.to_path_buf(),
    };
    crate::atomic_file::write(&target, bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_covers_markup_and_quotes() {
        assert_eq!(xml_escape(r#"a&b<c>"d'"#), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(xml_escape("x\u{1}y"), "x\u{FFFD}y");
    }

    #[test]
    fn rate_of_nothing_is_one() {
        assert_eq!(rate(0, 0), "1");
        assert_eq!(rate(1, 3), "0.3333");
    }

    #[cfg(unix)]
    #[test]
    fn written_reports_are_readable_and_replace_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.xml");
        write_atomically(&out, b"one").unwrap();
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&out, b"two").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Only the report is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn links_are_written_through_and_fifos_and_devices_written_into() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        // A link to a report: the file behind it is replaced, the link stays a link.
        let real = dir.path().join("real.xml");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink("real.xml", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A link to nothing yet: the file it names is created.
        let dangling = dir.path().join("dangling.xml");
        std::os::unix::fs::symlink("made.xml", &dangling).unwrap();
        write_atomically(&dangling, b"made").unwrap();
        assert_eq!(std::fs::read(dir.path().join("made.xml")).unwrap(), b"made");
        // A named pipe is written into: its reader gets the report, the pipe stays a pipe.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            write_atomically(&fifo, b"through the pipe").unwrap();
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            assert!(
                std::fs::symlink_metadata(&fifo)
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
        }
        // A device is written into, never replaced.
        write_atomically(Path::new("/dev/null"), b"x").unwrap();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        // /dev/full says the disk is full, with the report's name.
        if Path::new("/dev/full").exists() {
            let e = write_atomically(Path::new("/dev/full"), b"x").unwrap_err();
            assert!(e.to_string().contains("/dev/full"), "{e}");
            assert!(
                std::fs::metadata("/dev/full")
                    .unwrap()
                    .file_type()
                    .is_char_device()
            );
        }
    }

    #[test]
    fn unwritable_path_is_named() {
        let e = write_atomically(Path::new("/nonexistent-dir/x/report.info"), b"x").unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-dir/x/report.info"),
            "{e}"
        );
    }
}
