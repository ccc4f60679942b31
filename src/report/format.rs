//! Every format covtop writes, as one type, and the one writer behind `covtop report`,
//! `covtop watch --export` and the screen's export (`e`).

use super::export::{ExportOptions, RawData, export_as, export_bytes_as, write_atomically};
use super::html::{HtmlOptions, HtmlSummary, write_html};
use super::{ReportError, render_as};
use crate::model::{SourceStore, View};
use std::path::{Path, PathBuf};

/// A report or export format. The names are the command line's (`--format`, `--export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// The changed-line table for a terminal.
    Text,
    /// The changed-line report as JSON.
    Json,
    /// The changed-line table in Markdown (a pull request comment).
    #[value(alias = "md")]
    Markdown,
    /// A self-contained HTML report: a folder with an index and a page per file.
    Html,
    /// LCOV tracefile (genhtml, diff-cover, most CI services).
    Lcov,
    /// Cobertura XML (GitLab, Jenkins, Azure).
    Cobertura,
    /// JaCoCo XML report (Sonar's JaCoCo import, Gradle and Maven tooling).
    JacocoXml,
    /// Sonar generic test coverage XML.
    Sonar,
    /// Codecov's JSON coverage format.
    Codecov,
    /// The merged Go cover profile (`go tool cover`).
    GoProfile,
    /// The merged JaCoCo exec data (one file per JaCoCo target).
    JacocoExec,
}

impl Format {
    /// Every format, in the order menus and help list them.
    pub const ALL: [Format; 11] = [
        Format::Html,
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Lcov,
        Format::Cobertura,
        Format::JacocoXml,
        Format::Sonar,
        Format::Codecov,
        Format::GoProfile,
        Format::JacocoExec,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Lcov => "lcov",
            Format::Cobertura => "cobertura",
            Format::JacocoXml => "jacoco-xml",
            Format::Sonar => "sonar",
            Format::Codecov => "codecov",
            Format::GoProfile => "go-profile",
            Format::JacocoExec => "jacoco-exec",
        }
    }

    /// One line on what the format is for.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Text => "changed-line table, plain text",
            Format::Json => "changed-line report, JSON",
            Format::Markdown => "changed-line table, Markdown (a PR comment)",
            Format::Html => "HTML report, a folder (for a ticket)",
            Format::Lcov => "LCOV tracefile (genhtml, diff-cover)",
            Format::Cobertura => "Cobertura XML (GitLab, Jenkins)",
            Format::JacocoXml => "JaCoCo XML report",
            Format::Sonar => "Sonar generic coverage XML",
            Format::Codecov => "Codecov JSON",
            Format::GoProfile => "merged Go cover profile",
            Format::JacocoExec => "merged JaCoCo exec data",
        }
    }

    /// Where the screen suggests writing it.
    pub fn default_path(self) -> &'static str {
        match self {
            Format::Text => "covtop-report.txt",
            Format::Json => "covtop-report.json",
            Format::Markdown => "covtop-report.md",
            Format::Html => "covtop-html",
            Format::Lcov => "coverage.lcov",
            Format::Cobertura => "cobertura.xml",
            Format::JacocoXml => "jacoco.xml",
            Format::Sonar => "sonar-coverage.xml",
            Format::Codecov => "codecov.json",
            Format::GoProfile => "coverage.out",
            Format::JacocoExec => "jacoco.exec",
        }
    }

    /// The export formats, for other tools, that need the merged raw data ([`RawData`]).
    pub fn needs_raw(self) -> bool {
        !matches!(
            self,
            Format::Text | Format::Json | Format::Markdown | Format::Html
        )
    }

    /// HTML reads the sources and writes a folder.
    pub fn needs_sources(self) -> bool {
        self == Format::Html
    }

    /// Every name, comma-separated (for error messages).
    pub fn names() -> String {
        Format::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "md" {
            return Ok(Format::Markdown);
        }
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| ReportError::UnknownFormat(s.to_string()))
    }
}

/// What a report is made from: the View, the merged raw data (for [`Format::needs_raw`]) and the
/// sources (for HTML).
pub struct Inputs<'a> {
    pub view: &'a View,
    pub raw: &'a RawData,
    pub sources: Option<&'a dyn SourceStore>,
}

/// What an engine holds that a format needs besides the View: the merged raw data (export
/// formats) and the sources at the revision (HTML). Taken on the engine's side; owned, so it can
/// move to a blocking thread.
pub struct Gathered {
    raw: RawData,
    sources: Option<crate::vcs::GitSources>,
}

impl Gathered {
    /// What `format` needs from `engine`.
    pub fn from_engine(
        engine: &crate::engine::Engine,
        format: Format,
    ) -> Result<Gathered, crate::vcs::VcsError> {
        let raw = if format.needs_raw() {
            RawData {
                go: engine.go_total(),
                java: engine.java_totals(),
            }
        } else {
            RawData::default()
        };
        let sources = if format.needs_sources() {
            Some(crate::vcs::GitSources::new(
                engine.repo(),
                engine.revision(),
            )?)
        } else {
            None
        };
        Ok(Gathered { raw, sources })
    }

    /// The inputs of a report of `view`.
    pub fn inputs<'a>(&'a self, view: &'a View) -> Inputs<'a> {
        Inputs {
            view,
            raw: &self.raw,
            sources: self.sources.as_ref().map(|s| s as &dyn SourceStore),
        }
    }
}

/// How to write it.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Only the changed lines (and files with changed lines), where the format allows it.
    pub changed_only: bool,
    /// The repository root, for formats that name it (Cobertura's `<source>`).
    pub source_root: Option<PathBuf>,
    /// Counts the files written (an HTML report's pages and index; one for the other formats).
    pub progress: super::Progress,
}

/// What was written.
#[derive(Debug)]
pub enum Written {
    File(PathBuf),
    Html(HtmlSummary),
}

impl Written {
    /// `lcov to out.info`, `html to dir/index.html (12 file pages)`.
    pub fn describe(&self, format: Format) -> String {
        match self {
            Written::File(path) => format!("{format} to {}", path.display()),
            Written::Html(s) => {
                let mut text =
                    format!("{format} to {} ({} file pages)", s.index.display(), s.pages);
                if let Some((path, why)) = s.sources_unreadable.first() {
                    let more = s.sources_unreadable.len() - 1;
                    let more = if more > 0 {
                        format!(" nor {more} more")
                    } else {
                        String::new()
                    };
                    text.push_str(&format!(
                        "; the source of {path} could not be read ({why}){more}: its page shows coverage only"
                    ));
                }
                text
            }
        }
    }
}

fn export_options(inputs: &Inputs, opts: &WriteOptions) -> ExportOptions {
    ExportOptions {
        changed_only: opts.changed_only,
        partial_as_covered: inputs.view.rule.partial_as_covered,
        source_root: opts.source_root.clone(),
    }
}

/// Writes `format` to `out` (a folder for HTML), atomically for files: the one writer of every
/// surface.
pub fn write(
    format: Format,
    inputs: &Inputs,
    opts: &WriteOptions,
    out: &Path,
) -> Result<Written, ReportError> {
    match format {
        Format::Html => {
            let sources = inputs.sources.ok_or_else(|| ReportError::NoData {
                format: format.to_string(),
                what: "the sources of the repository are needed".to_string(),
            })?;
            let h = HtmlOptions {
                changed_only: opts.changed_only,
                partial_as_covered: inputs.view.rule.partial_as_covered,
                title: "covtop".to_string(),
                progress: opts.progress.clone(),
            };
            Ok(Written::Html(write_html(inputs.view, sources, &h, out)?))
        }
        f if f.needs_raw() => {
            opts.progress.set_total(1);
            export_as(
                inputs.view,
                inputs.raw,
                f,
                &export_options(inputs, opts),
                out,
            )?;
            opts.progress.advance(1);
            Ok(Written::File(out.to_path_buf()))
        }
        f => {
            opts.progress.set_total(1);
            let text = render_as(inputs.view, f)?;
            write_atomically(out, text.as_bytes())?;
            opts.progress.advance(1);
            Ok(Written::File(out.to_path_buf()))
        }
    }
}

/// The bytes of `format` for standard output; HTML (a folder) needs a path.
pub fn bytes(format: Format, inputs: &Inputs, opts: &WriteOptions) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Html => Err(ReportError::NoData {
            format: format.to_string(),
            what: "HTML is a folder: pass --output DIR".to_string(),
        }),
        f if f.needs_raw() => {
            export_bytes_as(inputs.view, inputs.raw, f, &export_options(inputs, opts))
        }
        f => render_as(inputs.view, f).map(String::into_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_parse_back_and_match_the_command_line() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            let clap_name = f.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(clap_name.as_deref(), Some(f.name()));
        }
        assert_eq!(Format::value_variants().len(), Format::ALL.len());
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        let e = "pdf".parse::<Format>().unwrap_err().to_string();
        assert!(
            e.contains("\"pdf\"") && e.contains("html") && e.contains("jacoco-exec"),
            "{e}"
        );
        let exports: Vec<&str> = Format::ALL
            .into_iter()
            .filter(|f| f.needs_raw())
            .map(Format::name)
            .collect();
        assert_eq!(exports, super::super::EXPORT_FORMATS);
    }
}
