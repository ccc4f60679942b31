//! One file's page: the source coloured by the one highlighter and cut into the same pieces as on
//! the screen (`present::source`), with the screen's gutters (`present`'s glyphs and hit marks).

use super::{HtmlOptions, STYLE, escape, escape_into, percent_text};
use crate::model::{FileView, LineStatus, SourceLanguage, SourceStore, View};
use crate::present::source::{
    SourceText, SyntaxTheme, highlight_now, styled_pieces, uncovered_ranges,
};
use crate::present::{CARRIED_GLYPH, hits_mark, status_class, status_glyph, status_words};
use ratatui::style::{Color, Modifier, Style};
use std::fmt::Write as _;

/// The screen's light theme's colours: the page background is white.
const SYNTAX: &SyntaxTheme = &crate::present::source::LIGHT_SYNTAX;
/// Longest file name most file systems accept is 255 bytes; stay well below.
const MAX_NAME: usize = 180;

/// The page file name of a repository path: unambiguous (every byte outside `[A-Za-z0-9.-]`,
/// `_` included, becomes `_XX`), so two paths never share a page. Very long names keep a prefix
/// and end in a hash of the whole path.
pub fn page_name(path: &str) -> String {
    let mut name = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            name.push(b as char);
        } else {
            let _ = write!(name, "_{b:02X}");
        }
    }
    if name.len() > MAX_NAME {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in path.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        name.truncate(MAX_NAME);
        let _ = write!(name, "~{hash:016x}");
    }
    name.push_str(".html");
    name
}

/// Appends `text` escaped, in a span with its colour and weight when `style` has any (no
/// intermediate string: a report writes one of these per token of every line).
fn push_styled(out: &mut String, text: &str, style: Style) {
    let uncovered = style.add_modifier.contains(Modifier::UNDERLINED);
    let colour = match style.fg {
        Some(Color::Rgb(r, g, b)) => Some((r, g, b)),
        _ => None,
    };
    let bold = style.add_modifier.contains(Modifier::BOLD);
    let italic = style.add_modifier.contains(Modifier::ITALIC);
    if !uncovered && colour.is_none() && !bold && !italic {
        escape_into(out, text);
        return;
    }
    out.push_str("<span");
    if uncovered {
        out.push_str(" class=\"unc\" title=\"did not run\"");
    }
    if colour.is_some() || bold || italic {
        out.push_str(" style=\"");
        if let Some((r, g, b)) = colour {
            let _ = write!(out, "color:#{r:02x}{g:02x}{b:02x};");
        }
        if bold {
            out.push_str("font-weight:bold;");
        }
        if italic {
            out.push_str("font-style:italic;");
        }
        out.push('"');
    }
    out.push('>');
    escape_into(out, text);
    out.push_str("</span>");
}

/// Appends the page of `f` to `out`; false when its source is not readable at the revision.
pub(super) fn file_page(
    out: &mut String,
    f: &FileView,
    sources: &dyn SourceStore,
    opts: &HtmlOptions,
    view: &View,
) -> PageSource {
    let pac = opts.partial_as_covered;
    let mut unreadable = None;
    let (text, note) = match sources.source(&f.path) {
        Ok(Some(bytes)) => (Some(SourceText::new(&f.path, &bytes)), None),
        Ok(None) => (
            None,
            Some("The file is not in the repository at this revision.".to_string()),
        ),
        Err(e) => {
            let note = format!("The source could not be read: {e}");
            unreadable = Some(e);
            (None, Some(note))
        }
    };
    let highlighted = text.as_ref().and_then(|t| highlight_now(t, SYNTAX));
    let path = escape(&f.path);
    let title = escape(&opts.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{path} – {title}</title><style>{STYLE}</style></head><body>\n\
         <header><h1>{path}</h1><div class=\"meta\"><a href=\"../index.html\" style=\"color:#fff\">← {title}</a> · \
         changed lines <span id=\"file-changed-pct\">{}</span> ({} of {} covered, {} partial, {} missed) · \
         whole file {} · revision <code>{}</code></div></header>\n<main>\n",
        percent_text(&f.changed_counts, pac),
        f.changed_counts.covered,
        f.changed_counts.coverable(),
        f.changed_counts.partial,
        f.changed_counts.missed,
        percent_text(&f.whole_counts, pac),
        escape(&view.revision),
    );
    if let Some(note) = &note {
        out.push_str("<p class=\"note\">");
        escape_into(out, note);
        out.push_str("</p>\n");
    }
    if f.coverage.is_none() {
        out.push_str("<p class=\"note\">No coverage data for this file.</p>\n");
    }
    let coverage = f.coverage.as_deref();
    let last_line = match &text {
        Some(t) => t.line_count() as u32,
        None => {
            let cov_last = coverage.and_then(|c| c.lines.last()).map_or(0, |l| l.line);
            let chg_last = f
                .changed
                .as_ref()
                .and_then(|c| c.lines.last().copied())
                .unwrap_or(0);
            cov_last.max(chg_last)
        }
    };
    let java = f.language == Some(SourceLanguage::Java);
    let overlay = Style::new().add_modifier(Modifier::UNDERLINED);
    out.push_str("<table class=\"src\" id=\"source\"><tbody>\n");
    for n in 1..=last_line {
        let lc = coverage.and_then(|c| c.line(n));
        let status = lc.map_or(LineStatus::NotCoverable, |l| l.status);
        let changed = f.changed.as_ref().is_some_and(|c| c.contains(n));
        let carried = view.carried.status(&f.path, n);
        let category = view.baseline.as_ref().and_then(|b| b.category(&f.path, n));
        let _ = write!(
            out,
            "<tr id=\"L{n}\" class=\"{}{}{}\"",
            status_class(status),
            if changed { " changed" } else { "" },
            if carried.is_some() { " carried" } else { "" }
        );
        if let Some(c) = category {
            let _ = write!(out, " data-category=\"{}\"", c.code());
        }
        let _ = write!(
            out,
            "><td class=\"ln\"><a href=\"#L{n}\">{n}</a></td><td class=\"hits\">"
        );
        // Go knows counts; JaCoCo only knows whether a probe ran: never invent a count.
        if let Some(l) = lc {
            out.push_str(&hits_mark(l, java, false));
        }
        out.push_str("</td><td class=\"st\"");
        if let Some(was) = carried {
            let _ = write!(
                out,
                " title=\"{} by an older build (carried); not yet by this one\">{}",
                status_words(was),
                CARRIED_GLYPH
            );
        } else if status.is_coverable() {
            let _ = write!(
                out,
                " title=\"{}\">{}",
                status_words(status),
                status_glyph(status)
            );
        } else {
            out.push('>');
        }
        out.push_str("</td><td class=\"chg\"");
        if changed {
            out.push_str(" title=\"changed since the base\">+");
        } else {
            out.push('>');
        }
        out.push_str("</td><td class=\"code\">");
        if let Some(t) = &text {
            let line = t.line(n);
            let uncovered = match (status, coverage) {
                (LineStatus::Partial, Some(c)) if !c.spans.is_empty() => {
                    uncovered_ranges(&c.spans, n, line.len())
                }
                _ => Vec::new(),
            };
            let syntax = highlighted
                .as_ref()
                .and_then(|h| h.lines.get(n as usize - 1))
                .map(|v| v.as_slice());
            for (piece, style) in styled_pieces(line, Style::new(), syntax, &uncovered, overlay) {
                push_styled(out, piece, style);
            }
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n</main></body></html>\n");
    match (text, unreadable) {
        (Some(_), _) => PageSource::Shown,
        (None, Some(e)) => PageSource::Unreadable(e),
        (None, None) => PageSource::Missing,
    }
}

/// What a file's page could show of its source.
pub(crate) enum PageSource {
    Shown,
    /// The revision has no such file.
    Missing,
    /// The store could not read it (why): too large, not a regular file, a damaged object.
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_are_distinct_and_plain() {
        let a = page_name("a/b.go");
        let b = page_name("a_2Fb.go");
        let c = page_name("a_b.go");
        assert_eq!(a, "a_2Fb.go.html");
        assert_ne!(a, b);
        assert_ne!(b, c);
        let weird = page_name("x/a<b>&\"c'.go");
        assert!(
            weird
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{weird}"
        );
        let long = "d/".repeat(200) + "f.go";
        let other = "d/".repeat(200) + "g.go";
        assert!(page_name(&long).len() < 255);
        assert_ne!(page_name(&long), page_name(&other));
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("</script><img src=x onerror='a'>&\"\u{1}"),
            "&lt;/script&gt;&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;\u{fffd}"
        );
    }
}
