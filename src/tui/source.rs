//! Source files for the source pane: read from the [`SourceStore`] and syntax-highlighted on a
//! background thread (never on the UI thread), with highlights cached by (path, content hash).
//! The UI shows the plain text with its gutters as soon as it is read and swaps in the colours
//! when they arrive.

use crate::model::SourceStore;
use ratatui::style::{Color, Modifier, Style};
use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme as SyntaxTheme, ThemeSet};
use syntect::parsing::SyntaxSet;

/// Files larger than this are shown without syntax colours (highlighting is line-by-line regex
/// work; a generated multi-megabyte file would keep the worker busy for minutes).
const HIGHLIGHT_MAX_BYTES: usize = 4 << 20;
/// A single line longer than this (minified code) also turns colours off for the file.
const HIGHLIGHT_MAX_LINE: usize = 16 << 10;
/// The worker thread's name; the terminal's panic hook leaves the screen alone for panics there,
/// since the worker catches them and carries on.
pub const WORKER_THREAD: &str = "covtop-source";
/// Highlighted files kept in the cache.
const CACHE_FILES: usize = 32;

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

/// Syntax colours of a file: per line, (byte range within the line, style).
#[derive(Debug)]
pub struct Highlighted {
    pub lines: Vec<Vec<(Range<u32>, Style)>>,
}

/// What the worker sends back.
#[derive(Debug)]
pub enum SourceEvent {
    Loaded {
        request: u64,
        path: String,
        result: Result<Option<Arc<SourceText>>, String>,
    },
    Highlighted {
        request: u64,
        path: String,
        hash: u64,
        highlight: Arc<Highlighted>,
    },
    /// Highlighting was skipped (no theme, file too large, cancelled by a newer request).
    NoHighlight { request: u64 },
}

struct Job {
    request: u64,
    path: String,
}

/// The handle of the background thread that reads and highlights sources.
pub struct SourceWorker {
    jobs: Sender<Job>,
    events: Receiver<SourceEvent>,
    latest: Arc<AtomicU64>,
    next_request: u64,
}

impl SourceWorker {
    pub fn spawn(store: Arc<dyn SourceStore>, syntax_theme: Option<&'static str>) -> Self {
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (event_tx, events) = std::sync::mpsc::channel();
        let latest = Arc::new(AtomicU64::new(0));
        let latest_in_worker = latest.clone();
        let spawned = std::thread::Builder::new()
            .name("covtop-source".into())
            .spawn(move || worker_loop(store, syntax_theme, job_rx, event_tx, latest_in_worker));
        if let Err(e) = spawned {
            tracing::error!(
                "cannot start the source reader thread: {e}; sources will not be shown"
            );
        }
        SourceWorker {
            jobs,
            events,
            latest,
            next_request: 0,
        }
    }

    /// Asks for `path`; any older request still running is abandoned. Returns the request id.
    pub fn request(&mut self, path: &str) -> u64 {
        self.next_request += 1;
        let request = self.next_request;
        self.latest.store(request, Ordering::SeqCst);
        // A dead worker only means no source: the error is shown when no answer comes.
        let _ = self.jobs.send(Job {
            request,
            path: path.to_string(),
        });
        request
    }

    pub fn try_next(&self) -> Option<SourceEvent> {
        self.events.try_recv().ok()
    }

    pub fn next_timeout(&self, timeout: Duration) -> Option<SourceEvent> {
        self.events.recv_timeout(timeout).ok()
    }
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(two_face::syntax::extra_newlines)
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

fn worker_loop(
    store: Arc<dyn SourceStore>,
    syntax_theme: Option<&'static str>,
    jobs: Receiver<Job>,
    events: Sender<SourceEvent>,
    latest: Arc<AtomicU64>,
) {
    let mut cache: VecDeque<((String, u64), Arc<Highlighted>)> = VecDeque::new();
    while let Ok(mut job) = jobs.recv() {
        // Only the newest request matters: the tester moved on.
        while let Ok(newer) = jobs.try_recv() {
            job = newer;
        }
        // A store or grammar that panics costs this file, not the screen (see WORKER_THREAD).
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.source(&job.path)));
        let result = match read {
            Ok(Ok(Some(bytes))) => Ok(Some(Arc::new(SourceText::new(&job.path, &bytes)))),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the source store failed (panicked) reading this file".to_string()),
        };
        let text = result.as_ref().ok().and_then(|t| t.clone());
        if events
            .send(SourceEvent::Loaded {
                request: job.request,
                path: job.path.clone(),
                result,
            })
            .is_err()
        {
            return;
        }
        let Some(text) = text else {
            let _ = events.send(SourceEvent::NoHighlight {
                request: job.request,
            });
            continue;
        };
        let key = (job.path.clone(), text.hash);
        let cached = cache
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| h.clone());
        let highlight = match cached {
            Some(h) => Some(h),
            None => syntax_theme
                .and_then(|name| themes().themes.get(name))
                .and_then(|theme| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        highlight(&text, theme, || {
                            latest.load(Ordering::SeqCst) != job.request
                        })
                    }))
                    .ok()
                    .flatten()
                })
                .map(Arc::new),
        };
        let event = match highlight {
            Some(h) => {
                if !cache.iter().any(|(k, _)| *k == key) {
                    if cache.len() >= CACHE_FILES {
                        cache.pop_front();
                    }
                    cache.push_back((key, h.clone()));
                }
                SourceEvent::Highlighted {
                    request: job.request,
                    path: job.path,
                    hash: text.hash,
                    highlight: h,
                }
            }
            None => SourceEvent::NoHighlight {
                request: job.request,
            },
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// Highlights a whole file; `None` when it is too large or `cancelled()` turns true.
fn highlight(
    text: &SourceText,
    theme: &SyntaxTheme,
    cancelled: impl Fn() -> bool,
) -> Option<Highlighted> {
    if text.text.len() > HIGHLIGHT_MAX_BYTES
        || text.lines.iter().any(|r| r.len() > HIGHLIGHT_MAX_LINE)
    {
        return None;
    }
    let set = syntaxes();
    let ext = text.path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let syntax = set
        .find_syntax_by_extension(ext)
        .or_else(|| set.find_syntax_by_first_line(text.line(1)))
        .unwrap_or_else(|| set.find_syntax_plain_text());
    let mut h = HighlightLines::new(syntax, theme);
    let mut lines = Vec::with_capacity(text.lines.len());
    let mut buf = String::new();
    for (i, range) in text.lines.iter().enumerate() {
        if i % 256 == 0 && cancelled() {
            return None;
        }
        buf.clear();
        buf.push_str(&text.text[range.clone()]);
        buf.push('\n');
        // A grammar error leaves the line plain rather than failing the file.
        let regions = h.highlight_line(&buf, set).unwrap_or_default();
        let mut out = Vec::with_capacity(regions.len());
        let mut at = 0u32;
        for (style, piece) in regions {
            let end = (at as usize + piece.len()).min(range.len()) as u32;
            if end > at {
                out.push((at..end, to_style(style)));
            }
            at += piece.len() as u32;
        }
        lines.push(out);
    }
    Some(Highlighted { lines })
}

fn to_style(s: syntect::highlighting::Style) -> Style {
    let mut style = Style::new().fg(Color::Rgb(s.foreground.r, s.foreground.g, s.foreground.b));
    if s.font_style.contains(FontStyle::BOLD) {
        style = style.add_modifier(Modifier::BOLD);
    }
    if s.font_style.contains(FontStyle::ITALIC) {
        style = style.add_modifier(Modifier::ITALIC);
    }
    style
}

/// The state of the file shown in the source pane.
#[derive(Debug)]
pub struct OpenSource {
    pub path: String,
    pub request: u64,
    pub state: LoadState,
    pub highlight: Option<Arc<Highlighted>>,
    /// Waiting for colours from the worker.
    pub highlight_pending: bool,
    /// The cursor line (1-based) and the first line on screen (1-based).
    pub cursor: u32,
    pub scroll: u32,
}

#[derive(Debug)]
pub enum LoadState {
    Loading { since: Instant },
    Ready(Arc<SourceText>),
    Missing,
    Failed(String),
}

impl OpenSource {
    pub fn new(path: &str, request: u64) -> Self {
        OpenSource {
            path: path.to_string(),
            request,
            state: LoadState::Loading {
                since: Instant::now(),
            },
            highlight: None,
            highlight_pending: true,
            cursor: 1,
            scroll: 1,
        }
    }

    pub fn text(&self) -> Option<&Arc<SourceText>> {
        match &self.state {
            LoadState::Ready(t) => Some(t),
            _ => None,
        }
    }

    /// Applies a worker event; true if it was for this file (and the screen changes).
    pub fn apply(&mut self, event: SourceEvent) -> bool {
        match event {
            SourceEvent::Loaded {
                request, result, ..
            } if request == self.request => {
                self.state = match result {
                    Ok(Some(t)) => LoadState::Ready(t),
                    Ok(None) => {
                        self.highlight_pending = false;
                        LoadState::Missing
                    }
                    Err(e) => {
                        self.highlight_pending = false;
                        LoadState::Failed(e)
                    }
                };
                true
            }
            SourceEvent::Highlighted {
                request,
                hash,
                highlight,
                ..
            } if request == self.request => {
                self.highlight_pending = false;
                if self.text().is_some_and(|t| t.hash == hash) {
                    self.highlight = Some(highlight);
                    true
                } else {
                    false
                }
            }
            SourceEvent::NoHighlight { request } if request == self.request => {
                self.highlight_pending = false;
                false
            }
            _ => false,
        }
    }

    pub fn settled(&self) -> bool {
        !matches!(self.state, LoadState::Loading { .. }) && !self.highlight_pending
    }
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

/// Expands tabs (Go code is tab-indented; a terminal cell cannot show a tab) and replaces other
/// control characters, keeping styles. Drops the first `skip` cells (horizontal scroll) and stops
/// after `max_cols` cells.
pub fn expand_for_terminal(
    pieces: Vec<(&str, Style)>,
    tab_width: usize,
    skip: usize,
    max_cols: usize,
) -> Vec<(String, Style)> {
    let mut out = Vec::with_capacity(pieces.len());
    let end = skip.saturating_add(max_cols);
    let mut col = 0usize;
    for (text, style) in pieces {
        if col >= end {
            break;
        }
        let mut s = String::with_capacity(text.len());
        // A cell is kept when it lands in skip..end (a tab cut by the edge keeps its cells).
        let put = |s: &mut String, c: char, col: usize| {
            if col >= skip && col < end {
                s.push(c);
            }
        };
        for ch in text.chars() {
            if col >= end {
                break;
            }
            match ch {
                '\t' => {
                    let n = tab_width - col % tab_width;
                    for _ in 0..n {
                        put(&mut s, ' ', col);
                        col += 1;
                    }
                }
                c if c.is_control() => {
                    put(&mut s, '�', col);
                    col += 1;
                }
                c => {
                    put(&mut s, c, col);
                    col += 1;
                }
            }
        }
        if !s.is_empty() {
            out.push((s, style));
        }
    }
    out
}

/// The width in cells of a line once its tabs are expanded.
pub fn display_width(line: &str, tab_width: usize) -> usize {
    line.chars().fold(0, |col, ch| match ch {
        '\t' => col + tab_width - col % tab_width,
        _ => col + 1,
    })
}

/// Highlights synchronously; for benches and tests that want colours without the worker.
#[doc(hidden)]
pub fn highlight_now(text: &SourceText, syntax_theme: &str) -> Option<Highlighted> {
    themes()
        .themes
        .get(syntax_theme)
        .and_then(|t| highlight(text, t, || false))
}

/// A map from path to the lines to flash, and until when.
pub type Flashes = HashMap<String, (Vec<u32>, Instant)>;

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
    fn tabs_expand_to_the_next_stop() {
        let out = expand_for_terminal(vec![("\tx\ty", Style::new())], 4, 0, 100);
        assert_eq!(out[0].0, "    x   y");
        let cut = expand_for_terminal(vec![("abcdef", Style::new())], 4, 0, 3);
        assert_eq!(cut[0].0, "abc");
        assert_eq!(display_width("\tx\ty", 4), 9);
    }

    #[test]
    fn horizontal_scroll_drops_the_first_cells_across_pieces_and_tabs() {
        let red = Style::new().fg(Color::Red);
        let out = expand_for_terminal(vec![("\tab", Style::new()), ("cdef", red)], 4, 5, 3);
        assert_eq!(
            out,
            vec![("b".to_string(), Style::new()), ("cd".to_string(), red)]
        );
        let mid_tab = expand_for_terminal(vec![("\tx", Style::new())], 4, 2, 10);
        assert_eq!(mid_tab[0].0, "  x");
    }

    #[test]
    fn highlights_go_java_kotlin_scala() {
        for (path, code) in [
            ("a.go", "package main\nfunc main() {}\n"),
            ("A.java", "class A { int x = 1; }\n"),
            ("A.kt", "fun main() { val x = 1 }\n"),
            ("A.scala", "object A { val x = 1 }\n"),
        ] {
            let set = syntaxes();
            let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            assert!(
                set.find_syntax_by_extension(ext).is_some(),
                "no syntax for {path}"
            );
            let t = SourceText::new(path, code.as_bytes());
            let h = highlight_now(&t, "base16-ocean.dark").expect("highlighted");
            let colours: std::collections::HashSet<_> = h.lines[0]
                .iter()
                .map(|(_, s)| format!("{:?}", s.fg))
                .collect();
            assert!(colours.len() > 1, "{path}: one colour only");
        }
    }
}
