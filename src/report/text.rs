//! Plain-text and Markdown renderings of the changed-line summary.

use super::summary::{BaselineReport, ChangedReport, LineCounts};
use crate::escape::field;
use crate::model::Category;
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

/// "72.0% (+8.0% carried)" when older builds' coverage is carried, else "72.0%".
fn headline(r: &ChangedReport) -> String {
    match r.carried_percent {
        Some(c) if r.carried_changed > 0 => format!("{} (+{c:.1}% carried)", pct(&r.changed)),
        _ => pct(&r.changed),
    }
}

/// The carried-over note: which builds, how many changed lines.
fn carried_note(r: &ChangedReport) -> Option<String> {
    (r.carried_changed > 0 || !r.carried_from.is_empty()).then(|| {
        format!(
            "Carried from older build(s) {}: {} changed line(s) covered there, not yet by this build",
            r.carried_from.join(", "),
            r.carried_changed
        )
    })
}

fn category_totals(b: &BaselineReport) -> String {
    Category::ALL
        .iter()
        .map(|&c| format!("{} {}", c.code(), b.totals.get(c)))
        .collect::<Vec<_>>()
        .join("  ")
}

fn baseline_text(s: &mut String, b: &BaselineReport) {
    let short = b.revision.get(..12).unwrap_or(&b.revision);
    let _ = writeln!(
        s,
        "\nAgainst baseline {} ({short}): {}",
        b.label,
        category_totals(b)
    );
    if b.files.is_empty() {
        let _ = writeln!(s, "No new uncovered (UNC) or lost (LBC) lines.");
        return;
    }
    for f in &b.files {
        let mut parts = Vec::new();
        if !f.unc.is_empty() {
            parts.push(format!("UNC {}", ranges_text(&f.unc)));
        }
        if !f.lbc.is_empty() {
            parts.push(format!("LBC {}", ranges_text(&f.lbc)));
        }
        let _ = writeln!(s, "  {}  {}", field(&f.path), parts.join("  "));
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
        if !f.carried_ranges.is_empty() {
            if !missed.is_empty() {
                missed.push(' ');
            }
            let _ = write!(missed, "(carried {})", ranges_text(&f.carried_ranges));
        }
        let _ = writeln!(
            s,
            "{:<width$}  {:>9} {:>7} {:>7} {:>6} {:>7}  {}",
            field(&f.path),
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
        headline(r)
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
            r.changed_without_data
                .iter()
                .map(|p| field(p))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if r.changed_no_data > 0 {
        let _ = writeln!(
            s,
            "No data: {} changed code line(s) have no coverage data and are in no percentage",
            r.changed_no_data
        );
    }
    if !r.targets_without_data.is_empty() {
        let _ = writeln!(
            s,
            "Targets without data: {}",
            r.targets_without_data.join(", ")
        );
    }
    if let Some(note) = carried_note(r) {
        let _ = writeln!(s, "{note}");
    }
    if r.partial_as_covered {
        let _ = writeln!(s, "(partial lines count as covered)");
    }
    if let Some(b) = &r.baseline {
        baseline_text(&mut s, b);
    }
    s
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in field(s).chars() {
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
        headline(r),
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
            if f.carried_ranges.is_empty() {
                ranges_text(&f.missed_ranges)
            } else {
                format!(
                    "{} (carried {})",
                    ranges_text(&f.missed_ranges),
                    ranges_text(&f.carried_ranges)
                )
                .trim_start()
                .to_string()
            }
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
    if r.changed_no_data > 0 {
        let _ = writeln!(
            s,
            "\n**No data:** {} changed code line(s) have no coverage data and are in no percentage.",
            r.changed_no_data
        );
    }
    if let Some(note) = carried_note(r) {
        let _ = writeln!(s, "\n{note}.");
    }
    if let Some(b) = &r.baseline {
        let short = b.revision.get(..12).unwrap_or(&b.revision);
        let _ = writeln!(
            s,
            "\n### Against baseline {} (`{short}`)\n\n{}\n",
            md_escape(&b.label),
            category_totals(b)
        );
        if b.files.is_empty() {
            let _ = writeln!(s, "No new uncovered (UNC) or lost (LBC) lines.");
        } else {
            let _ = writeln!(s, "| File | UNC lines | LBC lines |\n|---|---|---|");
            for f in &b.files {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md_escape(&f.path),
                    ranges_text(&f.unc),
                    ranges_text(&f.lbc)
                );
            }
        }
    }
    s
}
