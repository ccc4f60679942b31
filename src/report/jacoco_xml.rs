//! JaCoCo's XML report (`report.dtd` 1.1), as Sonar's JaCoCo importer, Jenkins and GitLab read it.

use super::export::{ExportFile, xml_escape};
use crate::model::{LineCoverage, LineStatus, View};
use std::collections::BTreeMap;
use std::fmt::Write;

/// (missed, covered) instructions of a line. JaCoCo lines carry instruction counts; Go lines
/// carry statements in their place (a Go statement is the unit `go tool cover` counts, so the
/// INSTRUCTION counter of a Go file is its statement coverage). A coverable line without unit
/// counts gets one unit per verdict so consumers still see its status.
fn instructions(l: &LineCoverage) -> (u64, u64) {
    let (covered, missed) = l.units;
    if covered + missed > 0 {
        return (u64::from(missed), u64::from(covered));
    }
    match l.status {
        LineStatus::Covered => (0, 1),
        LineStatus::Partial => (1, 1),
        _ => (1, 0),
    }
}

#[derive(Default, Clone, Copy)]
struct Counters {
    instr: (u64, u64),
    branch: (u64, u64),
    line: (u64, u64),
}

impl Counters {
    fn add(&mut self, o: Counters) {
        self.instr.0 += o.instr.0;
        self.instr.1 += o.instr.1;
        self.branch.0 += o.branch.0;
        self.branch.1 += o.branch.1;
        self.line.0 += o.line.0;
        self.line.1 += o.line.1;
    }

    /// JaCoCo writes only counters with something to count.
    fn write(&self, s: &mut String, indent: &str) {
        for (kind, (missed, covered)) in [
            ("INSTRUCTION", self.instr),
            ("BRANCH", self.branch),
            ("LINE", self.line),
        ] {
            if missed + covered > 0 {
                let _ = writeln!(
                    s,
                    "{indent}<counter type=\"{kind}\" missed=\"{missed}\" covered=\"{covered}\"/>"
                );
            }
        }
    }
}

/// A `<package>` per directory (VM notation uses `/`), a `<sourcefile>` per file.
pub(crate) fn jacoco_xml(view: &View, files: &[ExportFile<'_>]) -> String {
    let mut packages: BTreeMap<&str, Vec<&ExportFile<'_>>> = BTreeMap::new();
    for f in files {
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        packages.entry(dir).or_default().push(f);
    }
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
         <!DOCTYPE report PUBLIC \"-//JACOCO//DTD Report 1.1//EN\" \"report.dtd\">\n",
    );
    let name = if view.revision.is_empty() {
        "covtop".to_string()
    } else {
        format!("covtop {}", view.revision)
    };
    let _ = writeln!(s, "<report name=\"{}\">", xml_escape(&name));
    let mut total = Counters::default();
    for (dir, pkg_files) in &packages {
        let _ = writeln!(s, "  <package name=\"{}\">", xml_escape(dir));
        let mut pkg = Counters::default();
        for f in pkg_files {
            let file_name = f.path.rsplit_once('/').map_or(f.path, |(_, n)| n);
            let _ = writeln!(s, "    <sourcefile name=\"{}\">", xml_escape(file_name));
            let mut file = Counters::default();
            for l in &f.lines {
                let (mi, ci) = instructions(l);
                let (cb, mb) = l.branches;
                let _ = writeln!(
                    s,
                    "      <line nr=\"{}\" mi=\"{mi}\" ci=\"{ci}\" mb=\"{mb}\" cb=\"{cb}\"/>",
                    l.line
                );
                // JaCoCo counts a line as covered when any of its instructions ran.
                file.add(Counters {
                    instr: (mi, ci),
                    branch: (u64::from(mb), u64::from(cb)),
                    line: if ci > 0 { (0, 1) } else { (1, 0) },
                });
            }
            file.write(&mut s, "      ");
            s.push_str("    </sourcefile>\n");
            pkg.add(file);
        }
        pkg.write(&mut s, "    ");
        s.push_str("  </package>\n");
        total.add(pkg);
    }
    total.write(&mut s, "  ");
    s.push_str("</report>\n");
    s
}
