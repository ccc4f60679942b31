//! The source pane: owns the open file (read and coloured by the [`SourceWorker`]), its cursor,
//! vertical and horizontal scroll and the lines flashing as newly hit; draws the gutters and the
//! visible part of the visible lines only.

use super::app::Focus;
use super::component::{CommandInfo, Component, Ctx, Outcome, pane_block, scope_commands};
use super::keymap::{Action, Scope};
use super::source::{
    Flashes, LoadState, OpenSource, SourceEvent, SourceWorker, display_width, expand_for_terminal,
    styled_pieces, uncovered_ranges,
};
use super::text::{cut_left, short};
use super::theme::{CARRIED_GLYPH, carried_style, status_glyph};
use super::tree_pane::missed_changed_lines;
use crate::model::{FileView, LineStatus, SourceLanguage, SourceStore, View};
use crate::present::source::SyntaxTheme;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Columns one ←/→ moves the source sideways.
const SIDE_STEP: usize = 8;

pub(crate) struct SourcePane {
    worker: SourceWorker,
    pub open: Option<OpenSource>,
    pub flashes: Flashes,
    /// The first code column on screen (horizontal scroll, in cells after tab expansion).
    pub column: usize,
    /// Lines and code columns visible at the last layout.
    height: usize,
    code_width: usize,
    /// Files the store could not read since the App last asked (path, why), for the messages.
    failures: Vec<(String, String)>,
}

/// The file `path` of `view`, if it has one.
pub(crate) fn file_view<'v>(view: &'v View, path: &str) -> Option<&'v FileView> {
    view.files
        .binary_search_by(|f| f.path.as_str().cmp(path))
        .ok()
        .and_then(|i| view.files.get(i))
        .or_else(|| view.files.iter().find(|f| f.path == path))
}

impl SourcePane {
    pub fn new(sources: Arc<dyn SourceStore>, syntax: Option<&'static SyntaxTheme>) -> Self {
        SourcePane {
            worker: SourceWorker::spawn(sources, syntax),
            failures: Vec::new(),
            open: None,
            flashes: Flashes::new(),
            column: 0,
            height: 20,
            code_width: 80,
        }
    }

    /// The file shown and its cursor line.
    pub fn cursor(&self) -> Option<(&str, u32)> {
        self.open.as_ref().map(|o| (o.path.as_str(), o.cursor))
    }

    pub fn path(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.path.as_str())
    }

    /// A new View: newly hit lines flash (only those new since `old`), and a new deployed revision
    /// reads the file again at the same place.
    pub fn on_view(&mut self, old: &View, new: &View, flash: Duration) {
        let until = Instant::now() + flash;
        for file in &new.files {
            if file.newly_hit.is_empty() {
                continue;
            }
            // If the engine measures "newly hit" from a mark, the same lines come again in every
            // View and must not flash forever.
            let before = file_view(old, &file.path).map_or(&[][..], |f| f.newly_hit.as_slice());
            let fresh: Vec<u32> = file
                .newly_hit
                .iter()
                .copied()
                .filter(|l| !before.contains(l))
                .collect();
            if !fresh.is_empty() {
                self.flashes.insert(file.path.clone(), (fresh, until));
            }
        }
        if new.revision != old.revision
            && let Some(open) = &self.open
        {
            let (path, cursor, scroll) = (open.path.clone(), open.cursor, open.scroll);
            self.open_file(&path);
            if let Some(o) = &mut self.open {
                o.cursor = cursor;
                o.scroll = scroll;
            }
        }
    }

    /// Shows `path`, starting where the work is: the first changed line that did not run, else
    /// the first change. The file already shown stays where it is.
    pub fn show(&mut self, path: &str, view: &View) {
        if self.path() == Some(path) {
            return;
        }
        self.open_file(path);
        let first = file_view(view, path).and_then(|f| {
            missed_changed_lines(f)
                .first()
                .copied()
                .or_else(|| f.changed.as_ref().and_then(|c| c.lines.first().copied()))
        });
        if let (Some(open), Some(line)) = (&mut self.open, first) {
            open.cursor = line;
            open.scroll = line.saturating_sub(3).max(1);
        }
        self.keep_visible();
    }

    /// Reads `path` (in the background) with the cursor on its first line.
    pub fn open_file(&mut self, path: &str) {
        let request = self.worker.request(path);
        self.open = Some(OpenSource::new(path, request));
        self.column = 0;
    }

    /// Moves the cursor to the first missed changed line of the open file.
    pub fn cursor_to_first_miss(&mut self, view: &View) {
        let first = self
            .path()
            .and_then(|p| file_view(view, p))
            .and_then(|f| missed_changed_lines(f).first().copied());
        if let (Some(open), Some(line)) = (&mut self.open, first) {
            open.cursor = line;
        }
        self.keep_visible();
    }

    /// Takes what the worker finished; true if the screen changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let before = self.flashes.len();
        self.flashes.retain(|_, (_, until)| *until > now);
        let mut redraw = self.flashes.len() != before;
        while let Some(event) = self.worker.try_next() {
            redraw |= self.apply(event);
        }
        if redraw {
            self.keep_visible();
        }
        redraw
    }

    /// Applies a worker event to the open file; a file the store could not read is also kept
    /// for [`SourcePane::take_failures`].
    fn apply(&mut self, event: SourceEvent) -> bool {
        if let SourceEvent::Loaded {
            path,
            result: Err(e),
            ..
        } = &event
        {
            self.failures.push((path.clone(), e.clone()));
        }
        self.open.as_mut().is_some_and(|open| open.apply(event))
    }

    /// The files the store could not read since the last call (path, why).
    pub fn take_failures(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.failures)
    }

    /// Blocks until the open file is read and coloured or `timeout` passes; true if settled.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match &self.open {
                None => return true,
                Some(o) if o.settled() => {
                    self.keep_visible();
                    return true;
                }
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(event) = self.worker.next_timeout(left) {
                self.apply(event);
            }
        }
    }

    pub fn awaiting(&self) -> bool {
        self.open.as_ref().is_some_and(|o| !o.settled())
    }

    /// Sets the lines and code columns on screen (from the layout).
    pub fn set_size(&mut self, rows: usize, pane_width: usize) {
        self.height = rows;
        self.code_width = pane_width.saturating_sub(2 + self.gutter_width(false));
        self.keep_visible();
    }

    fn page(&self) -> usize {
        self.height.max(2) - 1
    }

    fn line_count(&self) -> u32 {
        self.open
            .as_ref()
            .and_then(OpenSource::text)
            .map_or(1, |t| t.line_count().max(1) as u32)
    }

    /// Gutter cells before the code: number, hits, glyph, changed, flash, bar (and the baseline
    /// category).
    fn gutter_width(&self, categories: bool) -> usize {
        let lines = self.line_count();
        let number_width = (lines.max(1).ilog10() as usize + 1).max(3);
        number_width + 1 + 5 + 1 + 3 + 2 + if categories { 4 } else { 0 }
    }

    /// Keeps the cursor on screen with a little context, and the scroll inside the file.
    fn keep_visible(&mut self) {
        let sh = self.height.max(1) as u32;
        let len = self.line_count();
        let Some(open) = &mut self.open else {
            return;
        };
        let margin = if sh > 10 { 3 } else { 0 };
        if open.cursor < open.scroll + margin {
            open.scroll = open.cursor.saturating_sub(margin).max(1);
        } else if open.cursor + margin >= open.scroll + sh {
            open.scroll = (open.cursor + margin + 1).saturating_sub(sh).max(1);
        }
        if open.text().is_some() {
            let last_scroll = len.saturating_sub(sh - 1).max(1);
            open.scroll = open.scroll.min(last_scroll).max(1);
        }
    }

    pub fn move_cursor(&mut self, delta: i64) {
        let len = self.line_count();
        if let Some(open) = &mut self.open {
            open.cursor = (i64::from(open.cursor))
                .saturating_add(delta)
                .clamp(1, i64::from(len)) as u32;
        }
        self.keep_visible();
    }

    /// Puts the cursor on line `n` (the last line if the file is shorter).
    pub fn goto_line(&mut self, n: u32) {
        let len = self.line_count();
        if let Some(open) = &mut self.open {
            open.cursor = n.clamp(1, len);
        }
        self.keep_visible();
    }

    /// A click on the `row`-th line on screen puts the cursor there.
    pub fn click(&mut self, row: usize) {
        let len = self.line_count();
        if let Some(open) = &mut self.open {
            open.cursor = (open.scroll + row as u32).min(len);
        }
        self.keep_visible();
    }

    /// The widest line on screen, in cells: how far right the source can scroll.
    fn widest_visible(&self, tab_width: usize) -> usize {
        let Some(open) = &self.open else { return 0 };
        let Some(text) = open.text() else { return 0 };
        (open.scroll..open.scroll.saturating_add(self.height as u32))
            .map(|n| display_width(text.line(n), tab_width))
            .max()
            .unwrap_or(0)
    }

    /// Scrolls sideways by `delta` columns, no further than the widest line on screen shows its end.
    fn side(&mut self, delta: i64, tab_width: usize) {
        let max = self
            .widest_visible(tab_width)
            .saturating_sub(self.code_width);
        self.column = (self.column as i64 + delta).clamp(0, max as i64) as usize;
    }

    fn jump_missed(&mut self, forward: bool, view: &View) -> Outcome {
        let Some(open) = &self.open else {
            return Outcome::Consumed;
        };
        let Some(file) = file_view(view, &open.path) else {
            return Outcome::Consumed;
        };
        let lines = missed_changed_lines(file);
        let cursor = open.cursor;
        let target = if forward {
            lines
                .iter()
                .copied()
                .find(|&l| l > cursor)
                .map(|l| (l, false))
                .or(lines.first().map(|&l| (l, true)))
        } else {
            lines
                .iter()
                .rev()
                .copied()
                .find(|&l| l < cursor)
                .map(|l| (l, false))
                .or(lines.last().map(|&l| (l, true)))
        };
        match target {
            Some((line, wrapped)) => {
                if let Some(open) = &mut self.open {
                    open.cursor = line;
                }
                self.keep_visible();
                if wrapped && line != cursor {
                    Outcome::Notify("wrapped around".into())
                } else {
                    Outcome::Consumed
                }
            }
            None => Outcome::Notify("no missed changed lines in this file".into()),
        }
    }

    /// The pane's title: the path (cut from the left, so the file name stays) and what the changed
    /// lines did, in the longest form that fits beside the file name — the miss count is never
    /// cut off.
    fn title(
        &self,
        ctx: &Ctx,
        open: &OpenSource,
        file: Option<&FileView>,
        width: usize,
    ) -> Vec<Span<'static>> {
        let p = ctx.palette;
        let view = ctx.view;
        // Longest first.
        let mut counts: Vec<(String, ratatui::style::Style)> = Vec::new();
        if let Some(f) = file
            && f.has_changes()
        {
            let c = &f.changed_counts;
            let changed = f.changed.as_ref().map_or(0, |c| c.lines.len());
            if f.no_data() {
                counts.push((
                    format!("· no data yet for {} changed lines ", c.no_data),
                    p.warn,
                ));
                counts.push((format!("· no data ({}) ", c.no_data), p.warn));
            } else if c.coverable() == 0 {
                counts.push((
                    format!("· none of the {changed} changed lines holds code "),
                    p.dim,
                ));
                counts.push(("· no code changed ".to_string(), p.dim));
            } else {
                let (ran, of) = (view.rule.covered(c), c.coverable());
                counts.push((
                    format!("· {ran}/{of} changed lines covered · {} missed ", c.missed),
                    p.dim,
                ));
                counts.push((
                    format!("· {ran}/{of} covered · {} missed ", c.missed),
                    p.dim,
                ));
                counts.push((format!("· {} missed ", c.missed), p.dim));
            }
        }
        let mut rest = Vec::new();
        if let Some(f) = file
            && let Some(cf) = view.carried.file(&f.path).filter(|c| c.changed > 0)
        {
            rest.push(Span::styled(
                format!("· {} {CARRIED_GLYPH}carried ", cf.changed),
                carried_style(p),
            ));
        }
        if open.highlight_pending && open.text().is_some() && p.syntax.is_some() {
            rest.push(Span::styled("· colouring… ", p.dim));
        }
        if self.column > 0 {
            rest.push(Span::styled(format!("· col {}→ ", self.column + 1), p.dim));
        }
        // Corners (2) and the spaces around the path (2).
        let room = width.saturating_sub(4);
        let name = open.path.rsplit('/').next().unwrap_or(&open.path);
        let path_min = open.path.chars().count().min(name.chars().count() + 1);
        let rest_width: usize = rest.iter().map(Span::width).sum();
        let fits = |path: usize, text: &str| path + text.chars().count() + rest_width <= room;
        let full = open.path.chars().count();
        // The whole path with the long or the medium counts; else the file name with the longest
        // counts that fit; else the shortest.
        let chosen = counts
            .iter()
            .take(2)
            .find(|(text, _)| fits(full, text))
            .or_else(|| counts.iter().find(|(text, _)| fits(path_min, text)))
            .or(counts.last());
        let mut title = Vec::new();
        let counts_width = chosen.map_or(0, |(t, _)| t.chars().count());
        let path_room = room
            .saturating_sub(counts_width + rest_width)
            .max(path_min.min(room));
        title.push(Span::styled(
            format!(
                " {} ",
                cut_left(&crate::escape::field(&open.path), path_room)
            ),
            p.title,
        ));
        if let Some((text, style)) = chosen {
            title.push(Span::styled(text.clone(), *style));
        }
        title.extend(rest);
        title
    }

    pub fn on_action(&mut self, action: Action, ctx: &Ctx) -> Outcome {
        let tab = ctx.config.tab_width;
        match action {
            Action::Up => self.move_cursor(-1),
            Action::Down => self.move_cursor(1),
            Action::PageUp => self.move_cursor(-(self.page() as i64)),
            Action::PageDown => self.move_cursor(self.page() as i64),
            Action::Top => self.move_cursor(i64::MIN / 2),
            Action::Bottom => self.move_cursor(i64::MAX / 2),
            Action::Left if self.column == 0 => return Outcome::Ignored,
            Action::Left => self.side(-(SIDE_STEP as i64), tab),
            Action::Right => self.side(SIDE_STEP as i64, tab),
            Action::LineStart => self.column = 0,
            Action::LineEnd => self.side(i64::MAX / 2, tab),
            Action::CopyLocation => {
                return match &self.open {
                    Some(o) => Outcome::Copy(format!("{}:{}", o.path, o.cursor)),
                    None => Outcome::Notify("no file open to copy from".into()),
                };
            }
            Action::NextMissed => return self.jump_missed(true, ctx.view),
            Action::PrevMissed => return self.jump_missed(false, ctx.view),
            _ => return Outcome::Ignored,
        }
        Outcome::Consumed
    }
}

impl Component for SourcePane {
    fn commands(&self, ctx: &Ctx) -> Vec<CommandInfo> {
        scope_commands(ctx.keymap, Scope::Source)
    }

    fn on_key(&mut self, _key: &KeyEvent, action: Option<Action>, ctx: &Ctx) -> Outcome {
        match action {
            Some(a) => self.on_action(a, ctx),
            None => Outcome::Ignored,
        }
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect) {
        let p = ctx.palette;
        let view = ctx.view;
        let focused = ctx.focus == Focus::Source;
        let Some(open) = &self.open else {
            let block = pane_block(p, Line::styled(" source ", p.title), focused);
            let inner = block.inner(area);
            frame.render_widget(block, area);
            frame.render_widget(
                Paragraph::new("Select a file on the left to see its lines.")
                    .style(p.dim)
                    .wrap(Wrap { trim: true }),
                inner,
            );
            return;
        };
        let file = file_view(view, &open.path);
        let title = self.title(ctx, open, file, area.width as usize);
        let block = pane_block(p, Line::from(title), focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = match &open.state {
            LoadState::Ready(t) => t,
            LoadState::Loading { since } => {
                let msg = if since.elapsed() > Duration::from_secs(2) {
                    "still reading…"
                } else {
                    "reading…"
                };
                frame.render_widget(Paragraph::new(msg).style(p.dim), inner);
                return;
            }
            LoadState::Missing => {
                let msg = format!(
                    "{} is not in the deployed revision {} (a file of another build?).",
                    open.path,
                    short(&view.revision)
                );
                frame.render_widget(
                    Paragraph::new(msg).style(p.warn).wrap(Wrap { trim: true }),
                    inner,
                );
                return;
            }
            LoadState::Failed(e) => {
                let msg = format!(
                    "Cannot read {}: {}",
                    crate::escape::field(&open.path),
                    crate::escape::field(e)
                );
                frame.render_widget(
                    Paragraph::new(msg).style(p.error).wrap(Wrap { trim: true }),
                    inner,
                );
                return;
            }
        };
        let coverage = file.and_then(|f| f.coverage.as_deref());
        let changed = file.and_then(|f| f.changed.as_deref());
        let java = file.and_then(|f| f.language) == Some(SourceLanguage::Java);
        let flash = self
            .flashes
            .get(&open.path)
            .filter(|(_, until)| *until > Instant::now());
        let carried = file.and_then(|f| view.carried.file(&f.path));
        let categories = view
            .baseline
            .as_ref()
            .map(|b| file.and_then(|f| b.files.get(&f.path)));
        let number_width = (text.line_count().max(1).ilog10() as usize + 1).max(3);
        let gutter_width = self.gutter_width(categories.is_some());
        let code_cols = (inner.width as usize).saturating_sub(gutter_width);
        let mut lines = Vec::with_capacity(inner.height as usize);
        for n in open.scroll..open.scroll.saturating_add(u32::from(inner.height)) {
            if n as usize > text.line_count() {
                break;
            }
            let lc = coverage.and_then(|c| c.line(n));
            let status = lc.map_or(LineStatus::NotCoverable, |l| l.status);
            let is_changed = changed.is_some_and(|c| c.contains(n));
            let flashing = flash.is_some_and(|(lines, _)| lines.contains(&n));
            let hits = lc.map_or_else(String::new, |l| crate::present::hits_mark(l, java, true));
            let was = carried.and_then(|c| c.status(n));
            let status_style = if was.is_some() {
                carried_style(p)
            } else {
                p.status(status)
            };
            let glyph = if was.is_some() {
                CARRIED_GLYPH
            } else {
                status_glyph(status)
            };
            let number_style = if flashing { p.flash } else { p.dim };
            let mut spans = vec![
                Span::styled(format!("{n:>number_width$} "), number_style),
                Span::styled(
                    format!("{hits:>5} "),
                    if flashing { p.flash } else { status_style },
                ),
                Span::styled(glyph.to_string(), status_style),
                if is_changed {
                    Span::styled("+", p.changed)
                } else {
                    Span::raw(" ")
                },
                if flashing {
                    Span::styled("»", p.flash)
                } else {
                    Span::raw(" ")
                },
                Span::styled("│ ", p.dim),
            ];
            if let Some(cats) = categories {
                // The baseline category before the bar; the ones to act on stand out.
                let (text, style) = match cats.and_then(|c| c.category(n)) {
                    Some(c) if c.needs_action() => (c.code(), p.missed),
                    Some(c) => (c.code(), p.dim),
                    None => ("", p.dim),
                };
                spans.insert(spans.len() - 1, Span::styled(format!("{text:<3} "), style));
            }
            let line = text.line(n);
            let overlay = if status == LineStatus::Partial {
                coverage
                    .map(|c| uncovered_ranges(&c.spans, n, line.len()))
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let syntax = open
                .highlight
                .as_ref()
                .and_then(|h| h.lines.get(n as usize - 1))
                .map(Vec::as_slice);
            let mut base = p.text;
            if n == open.cursor {
                base = base.patch(p.cursor_line);
            }
            let pieces = styled_pieces(line, base, syntax, &overlay, p.uncovered_code);
            for (s, style) in
                expand_for_terminal(pieces, ctx.config.tab_width, self.column, code_cols)
            {
                spans.push(Span::styled(s, style));
            }
            let mut l = Line::from(spans);
            if n == open.cursor {
                // Fill the rest of the cursor line so it reads as a bar.
                let used = l.width();
                l.spans.push(Span::styled(
                    " ".repeat((inner.width as usize).saturating_sub(used)),
                    base,
                ));
            }
            lines.push(l);
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
