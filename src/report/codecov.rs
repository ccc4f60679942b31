//! Codecov's custom JSON coverage format.

use super::ReportError;
use super::export::{ExportFile, ExportOptions, hits};
use crate::model::LineStatus;
use serde_json::{Map, Value};

/// `{"coverage": {"path": {"LINE": hits | "covered/total"}}}`: a partial line is written as
/// a branch fraction (Codecov shows it as partial), from its branches or, for Go lines without
/// branches, its statements; with `partial_as_covered` it is written as its hit count.
pub(crate) fn codecov(
    files: &[ExportFile<'_>],
    opts: &ExportOptions,
) -> Result<String, ReportError> {
    let mut coverage = Map::new();
    for f in files {
        let mut lines = Map::new();
        for l in &f.lines {
            let value = if l.status == LineStatus::Partial && !opts.partial_as_covered {
                let (c, m) = if l.branches.0 + l.branches.1 > 0 {
                    l.branches
                } else {
                    l.units
                };
                if c + m > 0 && m > 0 {
                    Value::String(format!("{c}/{}", c + m))
                } else {
                    // No counts that show the partial: say 1 of 2.
                    Value::String("1/2".to_string())
                }
            } else {
                Value::from(hits(l))
            };
            lines.insert(l.line.to_string(), value);
        }
        coverage.insert(f.path.to_string(), Value::Object(lines));
    }
    let mut root = Map::new();
    root.insert("coverage".to_string(), Value::Object(coverage));
    serde_json::to_string_pretty(&Value::Object(root))
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| ReportError::Encode(e.to_string()))
}
