//! Codecov's custom JSON coverage format.

use super::ReportError;
use super::export::{ExportFile, ExportOptions, hits};
use crate::model::{LineCoverage, LineStatus};
use std::fmt::Write;

/// A line's value: its hit count, or for a partial line a branch fraction (Codecov shows it as
/// partial), from its branches or, for Go lines without branches, its statements; with
/// `partial_as_covered` a partial line is written as its hit count.
fn write_value(s: &mut String, l: &LineCoverage, opts: &ExportOptions) {
    if l.status == LineStatus::Partial && !opts.partial_as_covered {
        let (c, m) = if l.branches.0 + l.branches.1 > 0 {
            l.branches
        } else {
            l.units
        };
        if c + m > 0 && m > 0 {
            let _ = write!(s, "\"{c}/{}\"", c + m);
        } else {
            // No counts that show the partial: say 1 of 2.
            s.push_str("\"1/2\"");
        }
    } else {
        let _ = write!(s, "{}", hits(l));
    }
}

/// `{"coverage": {"path": {"LINE": hits | "covered/total"}}}`, pretty-printed (two-space
/// indent). Written directly rather than through a `serde_json::Value` tree: a 600k-line
/// project would otherwise allocate a map entry and a key string per line (0.75 s of a
/// 5,000-file export); paths still go through serde_json for the string escaping.
pub(crate) fn codecov(
    files: &[ExportFile<'_>],
    opts: &ExportOptions,
) -> Result<String, ReportError> {
    let lines: usize = files.iter().map(|f| f.lines.len()).sum();
    let mut s = String::with_capacity(64 + lines * 16);
    s.push_str("{\n  \"coverage\": {");
    for (i, f) in files.iter().enumerate() {
        s.push_str(if i == 0 { "\n    " } else { ",\n    " });
        s.push_str(&serde_json::to_string(f.path).map_err(|e| ReportError::Encode(e.to_string()))?);
        s.push_str(": {");
        for (j, l) in f.lines.iter().enumerate() {
            let _ = write!(
                s,
                "{}\"{}\": ",
                if j == 0 { "\n      " } else { ",\n      " },
                l.line
            );
            write_value(&mut s, l, opts);
        }
        s.push_str(if f.lines.is_empty() { "}" } else { "\n    }" });
    }
    s.push_str(if files.is_empty() {
        "}\n}\n"
    } else {
        "\n  }\n}\n"
    });
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        line: u32,
        status: LineStatus,
        hits: Option<u64>,
        branches: (u32, u32),
    ) -> LineCoverage {
        LineCoverage {
            line,
            status,
            hits,
            units: (1, u32::from(status != LineStatus::Covered)),
            branches,
        }
    }

    #[test]
    fn pretty_json_with_escaped_paths_and_partial_fractions() {
        let a = [
            line(2, LineStatus::Covered, Some(3), (0, 0)),
            line(10, LineStatus::Partial, Some(1), (1, 3)),
            line(11, LineStatus::Partial, None, (0, 0)),
            line(12, LineStatus::Missed, Some(0), (0, 0)),
        ];
        let b = [line(1, LineStatus::Covered, None, (0, 0))];
        let files = vec![
            ExportFile {
                path: "a/\"q\"\\x.go",
                lines: a.iter().collect(),
            },
            ExportFile {
                path: "b.go",
                lines: b.iter().collect(),
            },
        ];
        for partial_as_covered in [false, true] {
            let opts = ExportOptions {
                partial_as_covered,
                ..ExportOptions::default()
            };
            let ours = codecov(&files, &opts).unwrap();
            let value: serde_json::Value = serde_json::from_str(&ours).unwrap();
            let lines = &value["coverage"]["a/\"q\"\\x.go"];
            if partial_as_covered {
                assert_eq!(lines["10"], 1);
            } else {
                assert_eq!(lines["10"], "1/4");
                assert_eq!(lines["11"], "1/2");
            }
            assert_eq!(lines["2"], 3);
            assert_eq!(lines["12"], 0);
            assert_eq!(value["coverage"]["b.go"]["1"], 1);
        }
        // The same layout serde_json's pretty printer uses, lines in file order.
        assert_eq!(
            codecov(&files[1..], &ExportOptions::default()).unwrap(),
            "{\n  \"coverage\": {\n    \"b.go\": {\n      \"1\": 1\n    }\n  }\n}\n"
        );
        let empty = codecov(&[], &ExportOptions::default()).unwrap();
        assert_eq!(empty, "{\n  \"coverage\": {}\n}\n");
        assert_eq!(
            serde_json::to_string_pretty(&serde_json::json!({"coverage": {}})).unwrap() + "\n",
            empty
        );
    }
}
