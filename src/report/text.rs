//! Plain-text and Markdown renderings of the changed-line summary.

use super::summary::{ChangedReport, LineCounts};
use std::fmt::Write;

fn pct(c: &LineCounts) -> String {
    c.percent
        .map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"))
}

fn stmt_pct((covered, total): (u64, u64)) -> String {
    if total == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", covered as f64 * 100.0 / total as f64)
    }
}

fn ranges_text(r: &[(u32, u32)]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn text(r: &ChangedReport) -> String {
    let mut s = String::new();
    let short = r.revision.get(..12).unwrap_or(&r.revision);
    let _ = writeln!(s, "Changed-line coverage of {short} against {}", r.base);
    let width = r
        .files
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(4)
        .max(5);
    let _ = writeln!(
        s,
        "{:<width$}  {:>9} {:>7} {:>7} {:>6} {:>7}  missed lines",
        "file", "coverable", "covered", "partial", "missed", "percent"
    );
    for f in &r.files {
        let mut missed = ranges_text(&f.missed_ranges);
        if !f.partial_lines.is_empty() {
            let p: Vec<String> = f.partial_lines.iter().map(u32::to_string).collect();
            if !missed.is_empty() {
                missed.push(' ');
            }
            let _ = write!(missed, "(partial {})", p.join(","));
        }
        let _ = writeln!(
            s,
            "{:<width$}  {:>9} {:>7} {:>7} {:>6} {:>7}  {}",
            f.path,
            f.changed.coverable,
            f.changed.covered,
            f.changed.partial,
            f.changed.missed,
            pct(&f.changed),
            missed
        );
    }
    let _ = writeln!(
        s,
        "{:<width$}  {:>9} {:>7} {:>7} {:>6} {:>7}",
        "TOTAL",
        r.changed.coverable,
        r.changed.covered,
        r.changed.partial,
        r.changed.missed,
        pct(&r.changed)
    );
    let _ = writeln!(
        s,
        "Changed statements: {}/{} ({})   Whole: {}/{} lines ({}), {}/{} statements ({})",
        r.changed_statements.0,
        r.changed_statements.1,
        stmt_pct(r.changed_statements),
        r.whole.covered,
        r.whole.coverable,
        pct(&r.whole),
        r.whole_statements.0,
        r.whole_statements.1,
        stmt_pct(r.whole_statements)
    );
    if !r.changed_without_data.is_empty() {
        let _ = writeln!(
            s,
            "Changed files without coverage data: {}",
            r.changed_without_data.join(", ")
        );
    }
    if r.partial_as_covered {
        let _ = writeln!(s, "(partial lines count as covered)");
    }
    s
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn markdown(r: &ChangedReport) -> String {
    let mut s = String::new();
    let short = r.revision.get(..12).unwrap_or(&r.revision);
    let _ = writeln!(
        s,
        "## Changed-line coverage: {}\n\n`{short}` against `{}` — {} of {} changed lines covered",
        pct(&r.changed),
        md_escape(&r.base),
        r.changed.covered,
        r.changed.coverable
    );
    let _ = writeln!(
        s,
        "\n| File | Coverable | Covered | Partial | Missed | % | Missed lines |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for f in &r.files {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&f.path),
            f.changed.coverable,
            f.changed.covered,
            f.changed.partial,
            f.changed.missed,
            pct(&f.changed),
            ranges_text(&f.missed_ranges)
        );
    }
    let _ = writeln!(
        s,
        "| **Total** | {} | {} | {} | {} | **{}** | |",
        r.changed.coverable,
        r.changed.covered,
        r.changed.partial,
        r.changed.missed,
        pct(&r.changed)
    );
    let _ = writeln!(
        s,
        "\nWhole files: {} of {} lines ({}); changed statements {}/{} ({}).",
        r.whole.covered,
        r.whole.coverable,
        pct(&r.whole),
        r.changed_statements.0,
        r.changed_statements.1,
        stmt_pct(r.changed_statements)
    );
    if !r.changed_without_data.is_empty() {
        let list: Vec<String> = r
            .changed_without_data
            .iter()
            .map(|p| md_escape(p))
            .collect();
        let _ = writeln!(
            s,
            "\nChanged files without coverage data: {}",
            list.join(", ")
        );
    }
    s
}
