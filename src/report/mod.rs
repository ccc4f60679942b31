//! Reports: the same View turned into files and terminal output in standard formats.

mod cobertura;
mod codecov;
mod export;
mod format;
pub mod html;
mod jacoco_xml;
mod lcov;
mod progress;
mod raw;
mod sonar;
mod summary;
mod text;

pub use export::{
    EXPORT_FORMATS, ExportOptions, RawData, export, export_bytes, render_export, write_report,
};
pub use format::{Format, Gathered, Inputs, WriteOptions, Written, bytes, write};
pub use progress::Progress;
pub use summary::{ChangedReport, FileRow, LineCounts, summarize};

use crate::model::View;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("unknown report format \"{0}\": use one of {formats}", formats = Format::names())]
    UnknownFormat(String),
    #[error("cannot encode the report: {0}")]
    Encode(String),
    #[error("cannot write the report to {}: {source}; {}", path.display(), write_advice(source))]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot export {format}: {what}")]
    NoData { format: String, what: String },
    #[error(transparent)]
    Html(#[from] html::HtmlError),
    /// A format asked of the wrong writer (a program error, never the user's).
    #[error("{0} is not written by this function; use report::write")]
    NotAnExport(Format),
}

/// What to do about a failed report write, by the kind of failure.
pub(crate) fn write_advice(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "create the directory first or choose another --output path",
        ErrorKind::NotADirectory => {
            "a part of the path is a file, not a directory: choose another --output path"
        }
        ErrorKind::IsADirectory => "that is a directory: give a file name with --output",
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            "the directory is not writable (permissions or a read-only file system): \
             choose a writable --output path"
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "the disk is full: free space or write elsewhere"
        }
        _ => "check the directory exists and is writable",
    }
}

/// Renders `view` in `format` (text, json, markdown), counting lines by the View's rule.
pub fn render(view: &View, format: &str) -> Result<String, ReportError> {
    render_as(view, format.parse()?)
}

/// [`render`] for a [`Format`].
pub(crate) fn render_as(view: &View, format: Format) -> Result<String, ReportError> {
    let report = summarize(view);
    match format {
        Format::Text => Ok(text::text(&report)),
        Format::Markdown => Ok(text::markdown(&report)),
        Format::Json => serde_json::to_string_pretty(&report)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| ReportError::Encode(e.to_string())),
        other => Err(ReportError::NotAnExport(other)),
    }
}
