//! SonarQube generic test coverage (`sonar.coverageReportPaths`).

use super::export::{ExportFile, ExportOptions, xml_escape};
use crate::model::LineStatus;
use std::fmt::Write;

/// `<lineToCover>` per coverable line. `covered` is true when the line ran (partial lines
/// only when `partial_as_covered`, unless their branch counts say it for Sonar); branch
/// attributes only on lines with branches, as Sonar requires both or neither.
pub(crate) fn sonar(files: &[ExportFile<'_>], opts: &ExportOptions) -> String {
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<coverage version=\"1\">\n");
    for f in files {
        let _ = writeln!(s, "  <file path=\"{}\">", xml_escape(f.path));
        for l in &f.lines {
            let (c, m) = l.branches;
            let covered = match l.status {
                LineStatus::Covered => true,
                // With branch detail Sonar itself flags the partial line; without, the line
                // verdict must carry it.
                LineStatus::Partial => opts.partial_as_covered || c + m > 0,
                _ => false,
            };
            if c + m > 0 {
                let _ = writeln!(
                    s,
                    "    <lineToCover lineNumber=\"{}\" covered=\"{covered}\" branchesToCover=\"{}\" coveredBranches=\"{c}\"/>",
                    l.line,
                    c + m
                );
            } else {
                let _ = writeln!(
                    s,
                    "    <lineToCover lineNumber=\"{}\" covered=\"{covered}\"/>",
                    l.line
                );
            }
        }
        s.push_str("  </file>\n");
    }
    s.push_str("</coverage>\n");
    s
}
