//! The self-contained HTML report: an index of files with their changed-line coverage and one
//! page per file with highlighted source and the same gutters as the screen. Everything is
//! inline (no external CSS, JS or fonts) so the directory can be attached to a CI run as is.

mod page;

use crate::model::{Counts, FileView, SourceStore, View};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

pub use page::page_name;

/// What to write.
#[derive(Debug, Clone, Default)]
pub struct HtmlOptions {
    /// Only files with changed lines get pages and index rows.
    pub changed_only: bool,
    /// Count partial lines as covered in percentages.
    pub partial_as_covered: bool,
    /// Shown in the page titles and the index header.
    pub title: String,
    /// Counts the pages written, and the index.
    pub progress: crate::report::Progress,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlSummary {
    /// `<out_dir>/index.html`.
    pub index: PathBuf,
    /// Per-file pages written under `<out_dir>/files/`.
    pub pages: usize,
    /// Files whose source is not at the revision (their pages show coverage only).
    pub sources_missing: Vec<String>,
    /// Files whose source could not be read (path, why): too large, not a regular file, a
    /// damaged object. Their pages show coverage only; the report's caller names them.
    pub sources_unreadable: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error(
        "cannot create the report directory {path}: {source}; choose a writable --out directory"
    )]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}; check the disk space and permissions of the directory")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} exists and is not a directory; choose another --out directory or remove it")]
    NotADirectory { path: PathBuf },
    #[error(
        "cannot move the finished report from {from} to {to}: {source}; check permissions of {to}"
    )]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
}

/// The rows the index shows, in the least-covered-first order the screen offers.
fn selected_files<'a>(view: &'a View, opts: &HtmlOptions) -> Vec<&'a FileView> {
    view.files
        .iter()
        .filter(|f| !opts.changed_only || f.has_changes())
        .collect()
}

/// Writes the report into `out_dir` (replacing it): `index.html` and `files/<page>.html`.
/// The report is built in a temporary directory beside `out_dir` and renamed into place, so a
/// failed run leaves the previous report untouched.
pub fn write_html(
    view: &View,
    sources: &dyn SourceStore,
    opts: &HtmlOptions,
    out_dir: &Path,
) -> Result<HtmlSummary, HtmlError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(HtmlError::NotADirectory {
            path: out_dir.to_path_buf(),
        });
    }
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| HtmlError::CreateDir {
        path: parent.clone(),
        source,
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(".covtop-html-")
        .tempdir_in(&parent)
        .map_err(|source| HtmlError::CreateDir {
            path: parent.clone(),
            source,
        })?;
    let files_dir = tmp.path().join("files");
    std::fs::create_dir(&files_dir).map_err(|source| HtmlError::CreateDir {
        path: files_dir.clone(),
        source,
    })?;

    let files = selected_files(view, opts);
    // Every page, then the index.
    opts.progress.set_total(files.len() + 1);
    let (missing, unreadable) = write_pages(&files, sources, opts, view, &files_dir)?;
    let index = index_html(view, &files, opts);
    let index_path = tmp.path().join("index.html");
    std::fs::write(&index_path, index).map_err(|source| HtmlError::Write {
        path: index_path.clone(),
        source,
    })?;
    opts.progress.advance(1);

    // Swap: move an old report aside first, so the new one lands in one rename.
    let built = tmp.keep();
    let mut old: Option<PathBuf> = None;
    if out_dir.exists() {
        let aside = parent.join(format!(
            ".covtop-html-old-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::rename(out_dir, &aside).map_err(|source| HtmlError::Rename {
            from: out_dir.to_path_buf(),
            to: aside.clone(),
            source,
        })?;
        old = Some(aside);
    }
    if let Err(source) = std::fs::rename(&built, out_dir) {
        if let Some(aside) = &old {
            let _ = std::fs::rename(aside, out_dir);
        }
        let _ = std::fs::remove_dir_all(&built);
        return Err(HtmlError::Rename {
            from: built,
            to: out_dir.to_path_buf(),
            source,
        });
    }
    if let Some(aside) = old {
        // The new report is in place; a leftover old copy is only clutter.
        let _ = std::fs::remove_dir_all(aside);
    }
    Ok(HtmlSummary {
        index: out_dir.join("index.html"),
        pages: files.len(),
        sources_missing: missing,
        sources_unreadable: unreadable,
    })
}

/// The paths without a source at the revision, and those whose source could not be read (why).
type PageSources = (Vec<String>, Vec<(String, String)>);

/// Renders and writes the file pages on every core; returns which sources could not be shown.
fn write_pages(
    files: &[&FileView],
    sources: &dyn SourceStore,
    opts: &HtmlOptions,
    view: &View,
    dir: &Path,
) -> Result<PageSources, HtmlError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Result<PageSources, HtmlError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let (mut missing, mut unreadable) = (Vec::new(), Vec::new());
                    let mut buf = String::new();
                    for f in part {
                        buf.clear();
                        match page::file_page(&mut buf, f, sources, opts, view) {
                            page::PageSource::Shown => {}
                            page::PageSource::Missing => missing.push(f.path.clone()),
                            page::PageSource::Unreadable(e) => unreadable.push((f.path.clone(), e)),
                        }
                        let path = dir.join(page_name(&f.path));
                        std::fs::write(&path, buf.as_bytes())
                            .map_err(|source| HtmlError::Write { path, source })?;
                        opts.progress.advance(1);
                    }
                    Ok((missing, unreadable))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let (mut missing, mut unreadable) = (Vec::new(), Vec::new());
    for r in results {
        let (m, u) = r?;
        missing.extend(m);
        unreadable.extend(u);
    }
    missing.sort();
    unreadable.sort();
    Ok((missing, unreadable))
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

pub(crate) fn percent_text(c: &Counts, partial_as_covered: bool) -> String {
    c.percent(partial_as_covered)
        .map_or_else(|| "–".to_string(), |p| format!("{p:.1}%"))
}

/// The CSS class of a percentage cell: the screen's thresholds.
fn percent_class(p: Option<f64>) -> &'static str {
    match p {
        None => "pn",
        Some(p) if p >= 80.0 => "pg",
        Some(p) if p >= 50.0 => "pw",
        Some(_) => "pb",
    }
}

pub(crate) const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#fff}\
header{padding:12px 20px;background:#24292f;color:#fff}\
header h1{margin:0 0 6px;font-size:20px}\
header .meta{font-size:13px;color:#d0d7de}\
header .big{font-size:16px;margin-right:18px;color:#fff}\
main{padding:12px 20px}\
table{border-collapse:collapse}\
table.files td,table.files th{padding:4px 10px;border-bottom:1px solid #d0d7de;text-align:right;font-variant-numeric:tabular-nums}\
table.files td.path,table.files th.path{text-align:left}\
table.files th{background:#f6f8fa}\
.pg{background:#dafbe1;color:#116329}.pw{background:#fff8c5;color:#7d4e00}.pb{background:#ffebe9;color:#a40e26}.pn{color:#57606a}\
a{color:#0969da}\
table.src{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px;width:100%}\
table.src td{padding:0 6px;white-space:pre;vertical-align:top}\
table.src td.code{tab-size:4;-moz-tab-size:4;width:100%}\
td.ln{color:#57606a;text-align:right;user-select:none}\
td.ln a{color:inherit;text-decoration:none}\
td.hits{color:#57606a;text-align:right}\
td.st{text-align:center;font-weight:bold}\
td.chg{color:#8250df;font-weight:bold}\
tr.s-covered td.st{background:#2da44e;color:#fff}\
tr.s-partial td.st{background:#d4a72c;color:#000}\
tr.s-missed td.st{background:#cf222e;color:#fff}\
tr.s-covered td.code{background:#e6ffec}\
tr.s-partial td.code{background:#fff8c5}\
tr.s-missed td.code{background:#ffebe9}\
tr.carried td.st{background:#8fd19e;color:#1a4d2e}\
tr.carried td.code{background:#f3fbf5}\
span.unc{text-decoration:underline wavy #cf222e;background:#ffcecb}\
p.note{color:#57606a}\
";

fn index_html(view: &View, files: &[&FileView], opts: &HtmlOptions) -> String {
    let pac = opts.partial_as_covered;
    let mut with: Vec<&FileView> = files
        .iter()
        .copied()
        .filter(|f| f.coverage.is_some())
        .collect();
    let without: Vec<&FileView> = files
        .iter()
        .copied()
        .filter(|f| f.coverage.is_none())
        .collect();
    // Least covered first: files with changed coverable lines by ascending percent, then those
    // with nothing coverable changed; ties by path.
    with.sort_by(|a, b| {
        let pa = a.changed_counts.percent(pac);
        let pb = b.changed_counts.percent(pac);
        match (pa, pb) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.path.cmp(&b.path))
    });
    let mut h = String::with_capacity(4096 + files.len() * 300);
    let title = escape(&opts.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n"
    );
    let changed = &view.totals.changed;
    let whole = &view.totals.whole;
    let _ = write!(
        h,
        "<header><h1>{title}</h1><div class=\"meta\">\
         <span class=\"big\" id=\"changed-pct\">changed lines {}</span>\
         <span class=\"big\" id=\"whole-pct\">whole {}</span>\
         <span>{} of {} changed lines covered, {} partial</span><br>\
         revision <code id=\"revision\">{}</code> against base <code id=\"base\">{}</code>{}</div></header>\n<main>\n",
        percent_text(changed, pac),
        percent_text(whole, pac),
        changed.covered,
        changed.coverable(),
        changed.partial,
        escape(&view.revision),
        escape(&view.base),
        if pac {
            " · partial lines count as covered"
        } else {
            ""
        },
    );
    h.push_str(
        "<table class=\"files\" id=\"files\"><thead><tr><th class=\"path\">file</th>\
         <th>changed coverable</th><th>covered</th><th>partial</th><th>missed</th>\
         <th>changed %</th><th>whole %</th></tr></thead><tbody>\n",
    );
    for f in &with {
        let c = &f.changed_counts;
        let p = c.percent(pac);
        let path = escape(&f.path);
        let _ = writeln!(
            h,
            "<tr data-path=\"{path}\"><td class=\"path\"><a href=\"files/{}\">{path}</a></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
            escape(&page_name(&f.path)),
            c.coverable(),
            c.covered,
            c.partial,
            c.missed,
            percent_class(p),
            percent_text(c, pac),
            percent_class(f.whole_counts.percent(pac)),
            percent_text(&f.whole_counts, pac),
        );
    }
    h.push_str("</tbody></table>\n");
    if !without.is_empty() {
        h.push_str(
            "<h2>Files without coverage data</h2>\
             <p class=\"note\">No agent reported these files: not built into the deployed \
             binary, or not mapped to the repository.</p><ul id=\"no-data\">\n",
        );
        for f in &without {
            let path = escape(&f.path);
            let _ = writeln!(
                h,
                "<li data-path=\"{path}\"><a href=\"files/{}\">{path}</a></li>",
                escape(&page_name(&f.path))
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</main></body></html>\n");
    h
}
