//! A file's source as every surface shows it: its lines ([`SourceText`]), its syntax colours
//! from the one highlighter ([`super::lexer`], a linear hand-written lexer for Go and the JVM
//! languages; plain text for other files) in a [`SyntaxTheme`], the Go byte ranges of a partial
//! line that did not run, and the pieces a line is drawn in. The screen (`tui`) and the HTML
//! report (`report::html`) both draw from here, so a file is cut and coloured the same in both
//! (the screen's light theme and the HTML page use [`LIGHT_SYNTAX`]). Styles are ratatui's plain
//! `Style` values; HTML turns them into CSS.

use super::lexer::{LineScanner, Token, language_for};
use ratatui::style::{Color, Modifier, Style};
use std::hash::Hasher;
use std::ops::Range;

/// The colour of each token kind. Code outside every token keeps the surface's text colour.
#[derive(Debug)]
pub struct SyntaxTheme {
    pub name: &'static str,
    /// In the order of [`Token::ALL`].
    styles: [Style; 8],
}

impl SyntaxTheme {
    pub fn style(&self, token: Token) -> Style {
        self.styles[token as usize]
    }
}

const fn rgb(r: u8, g: u8, b: u8) -> Style {
    Style::new().fg(Color::Rgb(r, g, b))
}

/// Dark backgrounds (the screen's dark theme): base16-ocean's colours (types in its yellow, apart
/// from keywords).
pub const DARK_SYNTAX: SyntaxTheme = SyntaxTheme {
    name: "base16-ocean.dark",
    styles: [
        rgb(101, 115, 126), // comment
        rgb(163, 190, 140), // string
        rgb(208, 135, 112), // number
        rgb(180, 142, 173), // keyword
        rgb(235, 203, 139), // type
        rgb(208, 135, 112), // constant
        rgb(143, 161, 179), // function name
        rgb(180, 142, 173), // annotation
    ],
};

/// Light backgrounds: the screen's light theme and the HTML report's pages, so a file is
/// coloured the same in both (InspiredGitHub's colours).
pub const LIGHT_SYNTAX: SyntaxTheme = SyntaxTheme {
    name: "InspiredGitHub",
    styles: [
        rgb(150, 152, 150).add_modifier(Modifier::ITALIC), // comment
        rgb(24, 54, 145),                                  // string
        rgb(0, 134, 179),                                  // number
        rgb(167, 29, 93).add_modifier(Modifier::BOLD),     // keyword
        rgb(0, 134, 179).add_modifier(Modifier::BOLD),     // type
        rgb(0, 134, 179),                                  // constant
        rgb(121, 93, 163).add_modifier(Modifier::BOLD),    // function name
        rgb(167, 29, 93).add_modifier(Modifier::BOLD),     // annotation
    ],
};

/// Files larger than this are shown without syntax colours (the colours of a generated
/// multi-megabyte file would cost more memory than they are worth).
pub const HIGHLIGHT_MAX_BYTES: usize = 4 << 20;

/// The text of one file, split into lines.
#[derive(Debug)]
pub struct SourceText {
    pub path: String,
    pub hash: u64,
    pub text: String,
    /// Byte ranges of the lines in `text`, without their line terminators.
    pub lines: Vec<Range<usize>>,
}

impl SourceText {
    pub fn new(path: &str, bytes: &[u8]) -> Self {
        let mut hasher = rustc_hash::FxHasher::default();
        hasher.write(bytes);
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut lines = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
            let stop = if end > start && text.as_bytes()[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            lines.push(start..stop);
            start = end + 1;
        }
        if start < text.len() {
            lines.push(start..text.len());
        }
        SourceText {
            path: path.to_string(),
            hash: hasher.finish(),
            text,
            lines,
        }
    }

    /// Line `n` (1-based), or "" past the end.
    pub fn line(&self, n: u32) -> &str {
        (n as usize)
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .and_then(|r| self.text.get(r.clone()))
            .unwrap_or("")
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }
}

/// Syntax colours of a file: per line, (byte range within the line, style), in order, not
/// overlapping, on char boundaries.
#[derive(Debug)]
pub struct Highlighted {
    pub lines: Vec<Vec<(Range<u32>, Style)>>,
}

/// Highlights a whole file; `None` when it is not code of a known language, too large, or
/// `cancelled()` turns true.
pub fn highlight(
    text: &SourceText,
    theme: &SyntaxTheme,
    cancelled: impl Fn() -> bool,
) -> Option<Highlighted> {
    if text.text.len() > HIGHLIGHT_MAX_BYTES {
        return None;
    }
    let mut scanner = LineScanner::new(language_for(&text.path)?);
    let mut lines = Vec::with_capacity(text.lines.len());
    let mut tokens = Vec::new();
    for (i, range) in text.lines.iter().enumerate() {
        if i % 4096 == 0 && cancelled() {
            return None;
        }
        tokens.clear();
        scanner.line(&text.text[range.clone()], &mut tokens);
        lines.push(
            tokens
                .iter()
                .map(|(r, t)| (r.clone(), theme.style(*t)))
                .collect(),
        );
    }
    Some(Highlighted { lines })
}

/// Splits a line into styled pieces: syntax colours, then `overlay` (the Go byte ranges that did
/// not run) on top. Ranges are byte offsets within the line; they are moved to char boundaries so
/// a multi-byte character is never split.
pub fn styled_pieces<'a>(
    line: &'a str,
    base: Style,
    syntax: Option<&[(Range<u32>, Style)]>,
    overlay: &[Range<usize>],
    overlay_style: Style,
) -> Vec<(&'a str, Style)> {
    let len = line.len();
    // Column spans are bytes and may fall inside a multi-byte character: snap them first.
    let overlay: Vec<Range<usize>> = overlay
        .iter()
        .map(|r| {
            line.floor_char_boundary(r.start.min(len))..line.floor_char_boundary(r.end.min(len))
        })
        .filter(|r| r.start < r.end)
        .collect();
    let mut cuts: Vec<usize> = vec![0, len];
    if let Some(syntax) = syntax {
        for (r, _) in syntax {
            cuts.push((r.start as usize).min(len));
            cuts.push((r.end as usize).min(len));
        }
    }
    for r in &overlay {
        cuts.push(r.start);
        cuts.push(r.end);
    }
    for c in &mut cuts {
        *c = line.floor_char_boundary(*c);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len());
    let mut syntax_at = 0usize;
    for w in cuts.windows(2) {
        let (start, end) = (w[0], w[1]);
        let mut style = base;
        if let Some(syntax) = syntax {
            while syntax_at < syntax.len() && (syntax[syntax_at].0.end as usize) <= start {
                syntax_at += 1;
            }
            if let Some((r, s)) = syntax.get(syntax_at)
                && (r.start as usize) <= start
            {
                style = style.patch(*s);
            }
        }
        if overlay.iter().any(|r| r.start <= start && end <= r.end) {
            style = style.patch(overlay_style);
        }
        pieces.push((&line[start..end], style));
    }
    pieces
}

/// Converts Go column spans (1-based bytes, end exclusive, `None` to the end of the line) of one
/// line into the byte ranges that did not run: inside an uncovered span and outside every
/// covered one.
pub fn uncovered_ranges(
    spans: &[crate::model::ColumnSpan],
    line: u32,
    line_len: usize,
) -> Vec<Range<usize>> {
    let to_range = |s: &crate::model::ColumnSpan| {
        let start = (s.start_col.max(1) as usize - 1).min(line_len);
        let end = s
            .end_col
            .map_or(line_len, |e| (e.max(1) as usize - 1).min(line_len));
        start..end.max(start)
    };
    // Spans are sorted by (line, start_col): take this line's slice without scanning the file.
    let from = spans.partition_point(|s| s.line < line);
    let to = from + spans[from..].partition_point(|s| s.line == line);
    let on_line = spans[from..to].iter();
    let covered: Vec<Range<usize>> = on_line
        .clone()
        .filter(|s| s.covered)
        .map(to_range)
        .collect();
    let mut out = Vec::new();
    for s in on_line.filter(|s| !s.covered) {
        let r = to_range(s);
        // Subtract covered ranges (blocks do not overlap in Go profiles, but merged profiles of
        // two builds might).
        let mut pieces = vec![r];
        for c in &covered {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    if c.end <= p.start || p.end <= c.start {
                        vec![p]
                    } else {
                        [p.start..c.start, c.end..p.end]
                            .into_iter()
                            .filter(|x| x.start < x.end)
                            .collect()
                    }
                })
                .collect();
        }
        out.extend(pieces.into_iter().filter(|p| p.start < p.end));
    }
    out.sort_by_key(|r| r.start);
    out
}

/// Highlights on the calling thread: the HTML report's pages (the screen highlights on its
/// worker thread with [`highlight`]), benches and tests.
pub fn highlight_now(text: &SourceText, theme: &SyntaxTheme) -> Option<Highlighted> {
    highlight(text, theme, || false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnSpan;

    #[test]
    fn splits_lines_and_strips_carriage_returns() {
        let t = SourceText::new("a.go", b"one\r\ntwo\n\nfour");
        assert_eq!(t.line_count(), 4);
        assert_eq!(t.line(1), "one");
        assert_eq!(t.line(3), "");
        assert_eq!(t.line(4), "four");
        assert_eq!(t.line(9), "");
        assert_eq!(t.line(0), "");
    }

    #[test]
    fn uncovered_ranges_convert_one_based_columns_and_subtract_covered() {
        // `if x { a() } else { b() }` with the else block missed.
        let spans = [
            ColumnSpan {
                line: 3,
                start_col: 1,
                end_col: Some(13),
                covered: true,
            },
            ColumnSpan {
                line: 3,
                start_col: 13,
                end_col: None,
                covered: false,
            },
            ColumnSpan {
                line: 4,
                start_col: 1,
                end_col: None,
                covered: false,
            },
        ];
        assert_eq!(uncovered_ranges(&spans, 3, 25), vec![12..25]);
        assert_eq!(uncovered_ranges(&spans, 5, 25), Vec::<Range<usize>>::new());
        // Columns past the end of a changed line are clamped.
        assert_eq!(
            uncovered_ranges(&spans[1..2], 3, 5),
            Vec::<Range<usize>>::new()
        );
    }

    #[test]
    fn pieces_respect_char_boundaries() {
        let line = "héllo wörld";
        // Byte 2 is inside "é" (bytes 1..3): the cut moves back to 1; byte 8 starts "ö".
        let pieces = styled_pieces(
            line,
            Style::new(),
            None,
            std::slice::from_ref(&(2..8)),
            Style::new().fg(Color::Red),
        );
        let text: String = pieces.iter().map(|(t, _)| *t).collect();
        assert_eq!(text, line);
        assert_eq!(pieces[0].0, "h");
        assert_eq!(pieces[1].0, "éllo w");
        assert_eq!(pieces[1].1.fg, Some(Color::Red));
    }

    #[test]
    fn highlights_go_and_the_jvm_languages_and_leaves_other_files_plain() {
        for (path, code) in [
            ("a.go", "package main\nfunc main() {}\n"),
            ("A.java", "class A { int x = 1; }\n"),
            ("A.kt", "fun main() { val x = 1 }\n"),
            ("A.scala", "object A { val x = 1 }\n"),
            ("b.groovy", "def x = 'abc' // c\n"),
        ] {
            let t = SourceText::new(path, code.as_bytes());
            let h = highlight_now(&t, &DARK_SYNTAX).expect("highlighted");
            let colours: std::collections::HashSet<_> = h
                .lines
                .iter()
                .flatten()
                .map(|(_, s)| format!("{:?}", s.fg))
                .collect();
            assert!(colours.len() > 1, "{path}: one colour only");
        }
        let plain = SourceText::new("notes.yaml", b"a: 1 # c\n");
        assert!(highlight_now(&plain, &LIGHT_SYNTAX).is_none());
        // Every token kind has its own entry in both themes (the order of Token::ALL).
        for (i, t) in Token::ALL.into_iter().enumerate() {
            assert_eq!(t as usize, i);
        }
        assert_eq!(
            LIGHT_SYNTAX.style(Token::Keyword).fg,
            Some(Color::Rgb(167, 29, 93))
        );
    }

    #[test]
    fn a_cancelled_highlight_gives_nothing() {
        let t = SourceText::new("a.go", b"package main\n");
        assert!(highlight(&t, &LIGHT_SYNTAX, || true).is_none());
    }
}
