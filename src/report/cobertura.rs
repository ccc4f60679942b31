//! Cobertura XML (the `coverage-04.dtd` shape diff-cover, GitLab and Jenkins read).

use super::export::{ExportFile, ExportOptions, hits, rate, unix_seconds, xml_escape};
use crate::model::View;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A package per directory, a class per file (`filename` relative to `<source>`), a `<line>`
/// per coverable line with its hit count; lines with branches carry `condition-coverage`.
pub(crate) fn cobertura(view: &View, files: &[ExportFile<'_>], opts: &ExportOptions) -> String {
    let mut packages: BTreeMap<&str, Vec<&ExportFile<'_>>> = BTreeMap::new();
    for f in files {
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        packages.entry(dir).or_default().push(f);
    }
    let lines_valid: usize = files.iter().map(|f| f.lines.len()).sum();
    let lines_covered: usize = files.iter().map(ExportFile::lines_hit).sum();
    let (bc, bm) = files.iter().fold((0, 0), |(c, m), f| {
        let (fc, fm) = f.branches();
        (c + fc, m + fm)
    });
    let source = opts
        .source_root
        .as_ref()
        .map_or_else(|| ".".to_string(), |p| p.display().to_string());
    let mut s = String::from("<?xml version=\"1.0\" ?>\n");
    s.push_str(
        "<!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n",
    );
    let _ = writeln!(
        s,
        "<coverage line-rate=\"{}\" branch-rate=\"{}\" lines-covered=\"{lines_covered}\" \
         lines-valid=\"{lines_valid}\" branches-covered=\"{bc}\" branches-valid=\"{}\" \
         complexity=\"0\" version=\"covtop {}\" timestamp=\"{}\">",
        rate(lines_covered as u64, lines_valid as u64),
        rate(bc, bc + bm),
        bc + bm,
        env!("CARGO_PKG_VERSION"),
        unix_seconds(view) * 1000
    );
    let _ = writeln!(
        s,
        "  <sources>\n    <source>{}</source>\n  </sources>\n  <packages>",
        xml_escape(&source)
    );
    for (dir, pkg_files) in &packages {
        let valid: usize = pkg_files.iter().map(|f| f.lines.len()).sum();
        let covered: usize = pkg_files.iter().map(|f| f.lines_hit()).sum();
        let (pc, pm) = pkg_files.iter().fold((0, 0), |(c, m), f| {
            let (fc, fm) = f.branches();
            (c + fc, m + fm)
        });
        let name = if dir.is_empty() {
            ".".to_string()
        } else {
            dir.replace('/', ".")
        };
        let _ = writeln!(
            s,
            "    <package name=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">\n      <classes>",
            xml_escape(&name),
            rate(covered as u64, valid as u64),
            rate(pc, pc + pm)
        );
        for f in pkg_files {
            let (fc, fm) = f.branches();
            let file_name = f.path.rsplit_once('/').map_or(f.path, |(_, n)| n);
            let _ = writeln!(
                s,
                "        <class name=\"{}\" filename=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">\n          <methods/>\n          <lines>",
                xml_escape(file_name),
                xml_escape(f.path),
                rate(f.lines_hit() as u64, f.lines.len() as u64),
                rate(fc, fc + fm)
            );
            for l in &f.lines {
                let (c, m) = l.branches;
                if c + m > 0 {
                    let pct = u64::from(c) * 100 / u64::from(c + m);
                    let _ = writeln!(
                        s,
                        "            <line number=\"{}\" hits=\"{}\" branch=\"true\" condition-coverage=\"{pct}% ({c}/{})\"/>",
                        l.line,
                        hits(l),
                        c + m
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "            <line number=\"{}\" hits=\"{}\" branch=\"false\"/>",
                        l.line,
                        hits(l)
                    );
                }
            }
            s.push_str("          </lines>\n        </class>\n");
        }
        s.push_str("      </classes>\n    </package>\n");
    }
    s.push_str("  </packages>\n</coverage>\n");
    s
}
