//! The file tree pane: owns the [`FileTree`], the selection and the scroll; moves, opens and
//! folds rows, changes the filter and the sort, and draws the visible rows only.

use super::app::Focus;
use super::component::{CommandInfo, Component, Ctx, Outcome, pane_block, scope_commands};
use super::keymap::{Action, Scope};
use super::text::cut_left;
use super::theme::{CARRIED_GLYPH, carried_style};
use super::tree::{FileFilter, FileTree, RowKind, SortOrder};
use crate::model::{FileView, LineStatus, View};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

const BAR_CELLS: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct TreePane {
    pub tree: FileTree,
    pub selected: usize,
    /// The first row on screen.
    pub scroll: usize,
    /// Rows visible at the last layout (for page moves and keeping the selection in sight).
    height: usize,
}

/// Changed lines of `file` with code that did not run (missed, or partial), ascending.
pub(crate) fn missed_changed_lines(file: &FileView) -> Vec<u32> {
    let (Some(changed), Some(cov)) = (&file.changed, &file.coverage) else {
        return Vec::new();
    };
    changed
        .lines
        .iter()
        .copied()
        .filter(|&l| matches!(cov.status(l), LineStatus::Missed | LineStatus::Partial))
        .collect()
}

impl TreePane {
    /// The key of the selected row (file path, or folder path with a trailing `/`).
    pub fn selected_key(&self, view: &View) -> Option<String> {
        self.tree.rows().get(self.selected).map(|r| r.key(view))
    }

    /// The selected row's file, if it is a file.
    pub fn selected_file<'v>(&self, view: &'v View) -> Option<&'v str> {
        match self.tree.rows().get(self.selected)?.kind {
            RowKind::File { index } => view.files.get(index).map(|f| f.path.as_str()),
            RowKind::Folder { .. } => None,
        }
    }

    /// Sets the rows on screen (from the layout) and keeps the selection in sight.
    pub fn set_height(&mut self, rows: usize) {
        self.height = rows;
        self.keep_visible();
    }

    pub fn page(&self) -> usize {
        self.height.max(2) - 1
    }

    fn keep_visible(&mut self) {
        let h = self.height.max(1);
        if self.selected < self.scroll {
            self.scroll = self.selected;
        } else if self.selected >= self.scroll + h {
            self.scroll = self.selected + 1 - h;
        }
        self.scroll = self.scroll.min(self.tree.rows().len().saturating_sub(h));
    }

    /// Rebuilds the rows from `view`, keeping the selection on `key` when it is still listed.
    pub fn rebuild(&mut self, view: &View, key: Option<&str>) {
        self.tree.rebuild(view);
        self.restore(view, key);
    }

    fn restore(&mut self, view: &View, key: Option<&str>) {
        let len = self.tree.rows().len();
        if let Some(i) = key.and_then(|k| self.tree.position(k, view)) {
            self.selected = i;
        } else {
            self.selected = self.selected.min(len.saturating_sub(1));
        }
        self.keep_visible();
    }

    /// Selects the first file row (the first data of a session starts on a file, not a folder).
    pub fn select_first_file(&mut self) {
        if let Some(i) = self
            .tree
            .rows()
            .iter()
            .position(|r| matches!(r.kind, RowKind::File { .. }))
        {
            self.selected = i;
            self.keep_visible();
        }
    }

    /// Moves the selection; a file under it is shown in the source pane.
    pub fn move_by(&mut self, delta: i64, view: &View) -> Outcome {
        let len = self.tree.rows().len();
        if len == 0 {
            return Outcome::Consumed;
        }
        let next = (self.selected as i64)
            .saturating_add(delta)
            .clamp(0, len as i64 - 1) as usize;
        if next == self.selected {
            return Outcome::Consumed;
        }
        self.selected = next;
        self.keep_visible();
        self.show_selected(view, false)
    }

    fn show_selected(&self, view: &View, focus: bool) -> Outcome {
        match self.selected_file(view) {
            Some(path) => Outcome::Show {
                path: path.to_string(),
                focus,
            },
            None => Outcome::Consumed,
        }
    }

    /// Enter on a row: a folder folds or unfolds, a file opens with the focus on the source.
    pub fn activate(&mut self, view: &View) -> Outcome {
        let Some(row) = self.tree.rows().get(self.selected) else {
            return Outcome::Consumed;
        };
        match &row.kind {
            RowKind::Folder { path, .. } => {
                let path = path.clone();
                self.tree.toggle_collapsed(&path, view);
                self.keep_visible();
                Outcome::Consumed
            }
            RowKind::File { .. } => self.show_selected(view, true),
        }
    }

    /// Left: an open folder folds; anything else selects the folder it is in.
    pub fn left(&mut self, view: &View) -> Outcome {
        let rows = self.tree.rows();
        let Some(row) = rows.get(self.selected) else {
            return Outcome::Consumed;
        };
        if let RowKind::Folder {
            path,
            collapsed: false,
        } = &row.kind
        {
            let path = path.clone();
            self.tree.toggle_collapsed(&path, view);
        } else if row.depth > 0
            && let Some(parent) = rows[..self.selected]
                .iter()
                .rposition(|r| r.depth < row.depth)
        {
            self.selected = parent;
        }
        self.keep_visible();
        Outcome::Consumed
    }

    /// Right: a folded folder unfolds, an open one goes to its first row, a file is shown with
    /// the focus on the source.
    pub fn right(&mut self, view: &View) -> Outcome {
        let Some(row) = self.tree.rows().get(self.selected) else {
            return Outcome::Consumed;
        };
        match &row.kind {
            RowKind::Folder {
                path,
                collapsed: true,
            } => {
                let path = path.clone();
                self.tree.toggle_collapsed(&path, view);
                Outcome::Consumed
            }
            RowKind::Folder { .. } => self.move_by(1, view),
            RowKind::File { .. } => self.show_selected(view, true),
        }
    }

    /// A click on the `row`-th row on screen: selects it, or activates it when already selected.
    pub fn click(&mut self, row: usize, view: &View) -> Outcome {
        let row = row + self.scroll;
        if row >= self.tree.rows().len() {
            return Outcome::Consumed;
        }
        if row == self.selected {
            return self.activate(view);
        }
        self.selected = row;
        self.keep_visible();
        self.show_selected(view, false)
    }

    /// Lists all files if `path` is not listed, unfolds its folders and selects it; false if the
    /// tree does not have it at all.
    pub fn reveal(&mut self, path: &str, view: &View) -> bool {
        let listed = view
            .files
            .iter()
            .find(|f| f.path == path)
            .is_some_and(|f| FileTree::is_listed(f, self.tree.filter));
        let in_language = view
            .files
            .iter()
            .find(|f| f.path == path)
            .is_some_and(|f| self.tree.in_language(f));
        if !listed && self.tree.filter == FileFilter::Changed {
            self.tree.filter = FileFilter::All;
            self.tree.rebuild(view);
        }
        if !in_language {
            // Another language: every language is listed again.
            self.tree.language = None;
            self.tree.rebuild(view);
        }
        let in_target = view
            .files
            .iter()
            .find(|f| f.path == path)
            .is_some_and(|f| self.tree.in_target(f, view));
        if !in_target {
            // Not this target's: every target is listed again.
            self.tree.target = None;
            self.tree.rebuild(view);
        }
        self.tree.reveal(path, view);
        match self.tree.position(path, view) {
            Some(i) => {
                self.selected = i;
                self.keep_visible();
                true
            }
            None => false,
        }
    }

    /// Selects the next (or previous) file with missed changed lines, from the selection round
    /// the tree; also says whether it went past the end (or the start).
    pub fn file_with_misses(&mut self, view: &View, forward: bool) -> Option<(String, bool)> {
        let rows = self.tree.rows();
        let n = rows.len();
        let at = |k: usize| {
            if forward {
                (self.selected + k) % n.max(1)
            } else {
                (self.selected + n * 2 - k) % n.max(1)
            }
        };
        let found = (1..=n).map(at).find(|&i| {
            matches!(rows[i].kind, RowKind::File { index }
                if view.files.get(index).is_some_and(|f| !missed_changed_lines(f).is_empty()))
        })?;
        let wrapped = if forward {
            found <= self.selected
        } else {
            found >= self.selected
        };
        self.selected = found;
        self.keep_visible();
        self.selected_file(view).map(|p| (p.to_string(), wrapped))
    }

    fn refilter(&mut self, view: &View, open: Option<&str>) -> Outcome {
        let key = self.selected_key(view).or_else(|| open.map(str::to_string));
        self.rebuild(view, key.as_deref());
        self.show_selected(view, false)
    }

    /// The tree's own actions; `open` is the file in the source pane (kept selected when the
    /// selected row goes away).
    pub fn on_action(&mut self, action: Action, view: &View, open: Option<&str>) -> Outcome {
        match action {
            Action::Up => self.move_by(-1, view),
            Action::Down => self.move_by(1, view),
            Action::PageUp => self.move_by(-(self.page() as i64), view),
            Action::PageDown => self.move_by(self.page() as i64, view),
            Action::Top => self.move_by(i64::MIN / 2, view),
            Action::Bottom => self.move_by(i64::MAX / 2, view),
            Action::Open => self.activate(view),
            Action::ToggleAllFiles => {
                self.tree.filter = match self.tree.filter {
                    FileFilter::All => FileFilter::Changed,
                    _ => FileFilter::All,
                };
                self.refilter(view, open)
            }
            Action::CycleSort => {
                self.tree.sort = self.tree.sort.next();
                self.refilter(view, open)
            }
            Action::ReverseSort => {
                self.tree.reverse = !self.tree.reverse;
                self.refilter(view, open)
            }
            Action::CycleLanguage => {
                self.tree.cycle_language(view);
                self.refilter(view, open)
            }
            Action::CycleTarget => {
                self.tree.cycle_target(view);
                self.refilter(view, open)
            }
            Action::MissesOnly => {
                self.tree.filter = match self.tree.filter {
                    FileFilter::Misses => FileFilter::Changed,
                    _ => FileFilter::Misses,
                };
                self.refilter(view, open)
            }
            _ => Outcome::Ignored,
        }
    }
}

impl Component for TreePane {
    fn commands(&self, ctx: &Ctx) -> Vec<CommandInfo> {
        scope_commands(ctx.keymap, Scope::Tree)
    }

    fn on_key(&mut self, _key: &KeyEvent, action: Option<Action>, ctx: &Ctx) -> Outcome {
        match action {
            Some(a) => self.on_action(a, ctx.view, None),
            None => Outcome::Ignored,
        }
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect) {
        let p = ctx.palette;
        let view = ctx.view;
        let filter = self.tree.filter.label();
        let reversed = if self.tree.reverse { ", reversed" } else { "" };
        let mut title = vec![Span::styled(format!(" {filter} "), p.title)];
        if let Some(language) = &self.tree.language {
            // Said right after the filter, so a narrow tree still shows it.
            title.push(Span::styled(
                format!("· {} only ", super::tree::language_label(language)),
                p.warn,
            ));
        }
        if let Some(target) = &self.tree.target {
            title.push(Span::styled(
                format!("· target {} only ", crate::escape::field(target)),
                p.warn,
            ));
        }
        title.push(Span::styled(
            format!("· {}{reversed} ", self.tree.sort.label()),
            p.dim,
        ));
        let title = Line::from(title);
        let block = pane_block(p, title, ctx.focus == Focus::Tree);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let rows = self.tree.rows();
        if rows.is_empty() {
            let msg = match (&self.tree.language, self.tree.filter) {
                (None, _) if self.tree.target.is_some() => format!(
                    "No {} of target {}. Press {} for the next target.",
                    self.tree.filter.label(),
                    crate::escape::field(self.tree.target.as_deref().unwrap_or_default()),
                    ctx.keymap.keys_label(Action::CycleTarget)
                ),
                (Some(language), _) => format!(
                    "No {} files among the {}. Press {} for the next language.",
                    super::tree::language_label(language),
                    self.tree.filter.label(),
                    ctx.keymap.keys_label(Action::CycleLanguage)
                ),
                (None, filter) => match filter {
                    FileFilter::Changed if view.files.is_empty() => {
                        "Waiting for coverage…".to_string()
                    }
                    FileFilter::Changed => format!(
                        "No changed lines between {} and the deployed revision. Press {} to list all files.",
                        if view.base.is_empty() {
                            "the base"
                        } else {
                            &view.base
                        },
                        ctx.keymap.keys_label(Action::ToggleAllFiles)
                    ),
                    FileFilter::All => "No files with coverage yet.".to_string(),
                    FileFilter::Misses => format!(
                        "Every changed line ran. Press {} to list all changed files.",
                        ctx.keymap.keys_label(Action::MissesOnly)
                    ),
                },
            };
            frame.render_widget(
                Paragraph::new(msg).style(p.dim).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
        let width = inner.width as usize;
        // Marker (2), percent (5), then the counts (10) and the bar (1 + 8) when there is room:
        // the bar goes first, the counts next, before a file name on screen has to be cut
        // (folders are cut from the left, keeping their last part).
        let needed = rows
            .iter()
            .skip(self.scroll)
            .take(inner.height as usize)
            .filter(|r| matches!(r.kind, RowKind::File { .. }))
            .map(|r| 2 * r.depth as usize + r.label(view).chars().count())
            .max()
            .unwrap_or(0);
        let fits = |right: usize| width.saturating_sub(right) >= needed;
        let show_bar = width >= 40 && fits(2 + 5 + 10 + BAR_CELLS + 1);
        let show_counts = width >= 28 && (fits(2 + 5 + 10) || width >= 2 + 5 + 10 + 16);
        let right_width =
            2 + 5 + if show_bar { BAR_CELLS + 1 } else { 0 } + if show_counts { 10 } else { 0 };
        let rule = view.rule;
        let mut lines = Vec::with_capacity(inner.height as usize);
        for (i, row) in rows
            .iter()
            .enumerate()
            .skip(self.scroll)
            .take(inner.height as usize)
        {
            let indent = "  ".repeat(row.depth as usize);
            let (arrow, name_style) = match &row.kind {
                RowKind::Folder {
                    collapsed: true, ..
                } => ("▸ ", p.title),
                RowKind::Folder {
                    collapsed: false, ..
                } => ("▾ ", p.title),
                RowKind::File { .. } => ("", p.text),
            };
            let left_width = width.saturating_sub(right_width);
            let lead = indent.chars().count() + arrow.chars().count();
            // Cut from the left: the end of a folder chain and the file name are what tell rows apart.
            let name = format!(
                "{indent}{arrow}{}",
                cut_left(
                    &crate::escape::field(row.label(view)),
                    left_width.saturating_sub(lead)
                )
            );
            let pad = left_width.saturating_sub(name.chars().count());
            let pct = rule.percent(&row.counts);
            let no_data = row.counts.coverable() == 0 && row.counts.no_data > 0;
            let mut spans = vec![Span::styled(name, name_style), Span::raw(" ".repeat(pad))];
            let carried = match &row.kind {
                RowKind::File { index } => view
                    .files
                    .get(*index)
                    .and_then(|f| view.carried.file(&f.path))
                    .is_some_and(|c| c.changed > 0),
                RowKind::Folder { .. } => false,
            };
            let marker = if row.newly_hit {
                Span::styled(" ●", p.newly)
            } else if carried {
                Span::styled(format!(" {CARRIED_GLYPH}"), carried_style(p))
            } else {
                Span::raw("  ")
            };
            // Bar, percent and counts; a row without coverable lines says why instead of `– 0/0`
            // (over the marker's cells too: nothing ran there).
            let figures =
                (if show_bar { BAR_CELLS + 1 } else { 0 }) + 5 + if show_counts { 10 } else { 0 };
            if row.counts.coverable() == 0 {
                let figures = figures + 2;
                let (text, style) = if no_data {
                    ("no data", p.warn)
                } else {
                    ("no code", p.dim)
                };
                spans.push(Span::styled(format!("{text:>figures$}"), style));
            } else {
                spans.push(marker);
                if show_bar {
                    let filled = rule.bar_cells(&row.counts, BAR_CELLS);
                    spans.push(Span::raw(" "));
                    spans.push(Span::styled("█".repeat(filled), p.percent(pct)));
                    spans.push(Span::styled("░".repeat(BAR_CELLS - filled), p.dim));
                }
                let pct_text = if self.tree.sort == SortOrder::MostMissed && !show_counts {
                    // Too narrow for the counts: the number the tree is sorted by, in place of
                    // the percent (`4✗`: four changed lines missed).
                    format!("{}✗", row.counts.missed)
                } else {
                    pct.map_or("   –".to_string(), |v| {
                        format!("{:>3}%", v.floor() as u64)
                    })
                };
                spans.push(Span::styled(format!("{pct_text:>5}"), p.percent(pct)));
                if show_counts {
                    // Sorted by misses, the count it sorts by; else covered/coverable.
                    let counts = if self.tree.sort == SortOrder::MostMissed {
                        format!("{} missed", row.counts.missed)
                    } else {
                        format!("{}/{}", rule.covered(&row.counts), row.counts.coverable())
                    };
                    spans.push(Span::styled(format!("{counts:>10}"), p.dim));
                }
            }
            let mut line = Line::from(spans);
            if i == self.selected {
                line = line.patch_style(p.selected);
            }
            lines.push(line);
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
