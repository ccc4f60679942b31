//! Source files for the source pane: read from the [`SourceStore`] and syntax-highlighted on a
//! background thread (never on the UI thread) by the one highlighter (`present::source`, which
//! the HTML report uses too), with highlights cached by (path, content hash).
//! The UI shows the plain text with its gutters as soon as it is read and swaps in the colours
//! when they arrive.

use crate::model::SourceStore;
pub use crate::present::source::{
    Highlighted, SourceText, highlight_now, styled_pieces, uncovered_ranges,
};
use crate::present::source::{SyntaxTheme, highlight};
use ratatui::style::Style;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// The worker thread's name; the terminal's panic hook leaves the screen alone for panics there,
/// since the worker catches them and carries on.
pub const WORKER_THREAD: &str = "covtop-source";
/// Highlighted files kept in the cache.
const CACHE_FILES: usize = 32;

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
    pub fn spawn(store: Arc<dyn SourceStore>, syntax: Option<&'static SyntaxTheme>) -> Self {
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (event_tx, events) = std::sync::mpsc::channel();
        let latest = Arc::new(AtomicU64::new(0));
        let latest_in_worker = latest.clone();
        let spawned = std::thread::Builder::new()
            .name("covtop-source".into())
            .spawn(move || worker_loop(store, syntax, job_rx, event_tx, latest_in_worker));
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

fn worker_loop(
    store: Arc<dyn SourceStore>,
    syntax: Option<&'static SyntaxTheme>,
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
            None => syntax
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

/// A map from path to the lines to flash, and until when.
pub type Flashes = HashMap<String, (Vec<u32>, Instant)>;

#[cfg(test)]
mod tests {
    use super::*;

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
        let red = Style::new().fg(ratatui::style::Color::Red);
        let out = expand_for_terminal(vec![("\tab", Style::new()), ("cdef", red)], 4, 5, 3);
        assert_eq!(
            out,
            vec![("b".to_string(), Style::new()), ("cd".to_string(), red)]
        );
        let mid_tab = expand_for_terminal(vec![("\tx", Style::new())], 4, 2, 10);
        assert_eq!(mid_tab[0].0, "  x");
    }
}
