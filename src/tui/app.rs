//! All UI state, without I/O: events in, engine commands out, frames drawn on any backend. The
//! terminal loop ([`super::run`]) is a thin shell around it, and the tests drive it headless.

use super::keymap::{Action, KeyMap, Scope};
use super::popup::{ExportForm, Finder, Outcome, Popup, ResetTarget};
use super::source::{Flashes, OpenSource, SourceWorker};
use super::theme::{Palette, Theme};
use super::tree::{FileFilter, FileTree, RowKind};
use crate::engine::{Command, Notice};
use crate::model::{FileView, LineStatus, SourceStore, View};
use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The poll interval range the `+`/`-` keys move in.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
pub const MAX_INTERVAL: Duration = Duration::from_secs(600);

/// Where the header's replica ages (`up 3s`) are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    /// A fixed wall clock, for snapshot tests.
    Fixed(SystemTime),
}

impl Clock {
    pub fn now(self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Fixed(t) => t,
        }
    }
}

/// A configured target, for the reset dialog (the View adds its replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    /// `goc`, `goc-v2` or `jacoco`.
    pub kind: String,
}

/// What the UI is configured with.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub keymap: KeyMap,
    /// The caller resolves `NO_COLOR` (see [`Theme::honour_no_color`]).
    pub theme: Theme,
    pub targets: Vec<TargetInfo>,
    /// The report formats the engine can export.
    pub export_formats: Vec<String>,
    pub clock: Clock,
    /// How long newly hit lines stay highlighted.
    pub flash: Duration,
    pub tab_width: usize,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            keymap: KeyMap::defaults(),
            theme: Theme::Dark,
            targets: Vec::new(),
            export_formats: vec!["text".into(), "json".into(), "markdown".into()],
            clock: Clock::System,
            flash: Duration::from_millis(1500),
            tab_width: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Source,
}

/// Screen areas of the last frame, for the mouse.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Areas {
    pub tree: Rect,
    pub source: Rect,
}

/// A short message shown over the bottom of the screen.
#[derive(Debug, Clone)]
pub(crate) struct Toast {
    pub text: String,
    pub error: bool,
    pub until: Instant,
}

const TOAST_INFO: Duration = Duration::from_secs(4);
const TOAST_ERROR: Duration = Duration::from_secs(8);
/// Notices kept for the messages popup.
const NOTICES_KEPT: usize = 200;

pub struct App {
    pub(crate) config: UiConfig,
    pub(crate) palette: Palette,
    worker: SourceWorker,
    pub(crate) view: Arc<View>,
    /// While frozen, the newest View waits here.
    pub(crate) frozen: Option<Option<Arc<View>>>,
    pub(crate) tree: FileTree,
    pub(crate) selected: usize,
    pub(crate) tree_scroll: usize,
    pub(crate) open: Option<OpenSource>,
    pub(crate) focus: Focus,
    pub(crate) popups: Vec<Popup>,
    pub(crate) flashes: Flashes,
    pub(crate) notices: Vec<Notice>,
    pub(crate) toast: Option<Toast>,
    /// Sent but not yet reflected in a View.
    requested_pause: Option<bool>,
    requested_interval: Option<Duration>,
    quit: bool,
    pub(crate) areas: Areas,
    /// Rows visible in the tree and the source pane at the last draw (for page moves).
    pub(crate) tree_height: usize,
    pub(crate) source_height: usize,
    pub(crate) wall_now: SystemTime,
    last_age_second: u64,
}

impl App {
    pub fn new(config: UiConfig, sources: Arc<dyn SourceStore>) -> Self {
        let palette = config.theme.palette();
        let worker = SourceWorker::spawn(sources, palette.syntax_theme);
        let wall_now = config.clock.now();
        App {
            config,
            palette,
            worker,
            view: Arc::new(View::default()),
            frozen: None,
            tree: FileTree::default(),
            selected: 0,
            tree_scroll: 0,
            open: None,
            focus: Focus::Tree,
            popups: Vec::new(),
            flashes: Flashes::new(),
            notices: Vec::new(),
            toast: None,
            requested_pause: None,
            requested_interval: None,
            quit: false,
            areas: Areas::default(),
            tree_height: 20,
            source_height: 20,
            wall_now,
            last_age_second: 0,
        }
    }

    /// A new View: the selection and the scroll stay on the same paths, newly hit lines flash.
    pub fn on_view(&mut self, view: Arc<View>) {
        if let Some(pending) = &mut self.frozen {
            *pending = Some(view);
            return;
        }
        self.apply_view(view);
    }

    fn apply_view(&mut self, view: Arc<View>) {
        let until = Instant::now() + self.config.flash;
        for file in &view.files {
            if file.newly_hit.is_empty() {
                continue;
            }
            // Flash what is new in this View: if the engine measures "newly hit" from a mark,
            // the same lines come again in every View and must not flash forever.
            let before = self
                .file_view(&file.path)
                .map_or(&[][..], |f| f.newly_hit.as_slice());
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
        let selected_key = self.selected_key();
        let revision_changed = view.revision != self.view.revision;
        self.requested_pause = None;
        self.requested_interval = None;
        self.view = view;
        self.tree.rebuild(&self.view);
        self.restore_selection(selected_key.as_deref());
        match &self.open {
            Some(open) if revision_changed => {
                // A new deployed revision: the file's text may have changed.
                let (path, cursor, scroll) = (open.path.clone(), open.cursor, open.scroll);
                self.open_file(&path);
                if let Some(o) = &mut self.open {
                    o.cursor = cursor;
                    o.scroll = scroll;
                }
            }
            Some(_) => {}
            None => {
                // First data: start on the first file rather than its folder.
                if selected_key.is_none()
                    && let Some(i) = self
                        .tree
                        .rows()
                        .iter()
                        .position(|r| matches!(r.kind, RowKind::File { .. }))
                {
                    self.selected = i;
                }
                self.open_selected();
            }
        }
    }

    pub fn on_notice(&mut self, n: Notice) {
        let (text, error) = match &n {
            Notice::Info(t) => (t.clone(), false),
            Notice::Error(t) => (t.clone(), true),
        };
        let shown = if error { TOAST_ERROR } else { TOAST_INFO };
        self.toast = Some(Toast {
            text,
            error,
            until: Instant::now() + shown,
        });
        self.notices.push(n);
        if self.notices.len() > NOTICES_KEPT {
            self.notices.remove(0);
        }
    }

    /// Keys and mouse in, commands for the engine out.
    pub fn handle_event(&mut self, ev: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match ev {
            // Release events (Windows, kitty protocol) would act twice.
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(&key, &mut out),
            Event::Mouse(mouse) => self.on_mouse(mouse),
            _ => {}
        }
        out
    }

    /// Expires flashes and messages and takes background results; true if the screen changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let mut redraw = false;
        let before = self.flashes.len();
        self.flashes.retain(|_, (_, until)| *until > now);
        redraw |= self.flashes.len() != before;
        if self.toast.as_ref().is_some_and(|t| t.until <= now) {
            self.toast = None;
            redraw = true;
        }
        while let Some(event) = self.worker.try_next() {
            if let Some(open) = &mut self.open {
                redraw |= open.apply(event);
            }
        }
        self.wall_now = self.config.clock.now();
        // The header shows ages in whole seconds.
        let second = self
            .wall_now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.last_age_second {
            self.last_age_second = second;
            redraw |= !self.view.targets.is_empty();
        }
        redraw
    }

    /// Blocks until the open file is read and highlighted (or `timeout` passes); true if settled.
    /// For tests and benches, which need deterministic frames.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match &self.open {
                None => return true,
                Some(o) if o.settled() => return true,
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(event) = self.worker.next_timeout(left)
                && let Some(open) = &mut self.open
            {
                open.apply(event);
            }
        }
    }

    /// True while the source worker owes the open file its text or colours: the terminal loop
    /// then polls [`App::tick`] faster so they show as soon as they are ready.
    pub fn awaiting_background(&self) -> bool {
        self.open.as_ref().is_some_and(|o| !o.settled())
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn draw(&mut self, frame: &mut ratatui::Frame) {
        super::draw::draw(self, frame);
    }

    // ---- state queries used by drawing and tests ----

    pub fn view(&self) -> &Arc<View> {
        &self.view
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// The key of the selected tree row (file path, or folder path with a trailing `/`).
    pub fn selected_key(&self) -> Option<String> {
        self.tree
            .rows()
            .get(self.selected)
            .map(|r| r.key(&self.view))
    }

    /// The file in the source pane and its cursor line.
    pub fn source_cursor(&self) -> Option<(&str, u32)> {
        self.open.as_ref().map(|o| (o.path.as_str(), o.cursor))
    }

    pub fn popup_titles(&self) -> Vec<&'static str> {
        self.popups.iter().map(Popup::title).collect()
    }

    pub fn is_paused(&self) -> bool {
        self.requested_pause.unwrap_or(self.view.paused)
    }

    pub fn interval(&self) -> Duration {
        self.requested_interval.unwrap_or(self.view.interval)
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    pub fn keymap(&self) -> &KeyMap {
        &self.config.keymap
    }

    /// The footer's hints, in order: the actions of the focused pane and the global ones. They are
    /// taken from the key map, as the help overlay is.
    pub fn footer_hints(&self) -> Vec<(String, &'static str)> {
        let scope = match self.focus {
            Focus::Tree => Scope::Tree,
            Focus::Source => Scope::Source,
        };
        super::keymap::ACTIONS
            .iter()
            .filter(|s| s.scope == scope)
            .chain(
                super::keymap::ACTIONS
                    .iter()
                    .filter(|s| s.scope == Scope::Global),
            )
            .filter_map(|s| self.config.keymap.hint(s.action))
            .collect()
    }

    pub(crate) fn file_view(&self, path: &str) -> Option<&FileView> {
        self.view
            .files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .and_then(|i| self.view.files.get(i))
            .or_else(|| self.view.files.iter().find(|f| f.path == path))
    }

    /// Changed lines of `file` with code that did not run (missed, or partial), ascending.
    pub fn missed_changed_lines(file: &FileView) -> Vec<u32> {
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

    // ---- events ----

    fn on_key(&mut self, key: &KeyEvent, out: &mut Vec<Command>) {
        let action = self.config.keymap.action(key);
        // Help opens above the read-only panels (the dialogs and text prompts keep their keys).
        if action == Some(Action::Help)
            && matches!(
                self.popups.last(),
                Some(Popup::Diagnostics { .. } | Popup::Notices { .. })
            )
        {
            self.popups.push(Popup::Help { scroll: 0 });
            return;
        }
        if let Some(popup) = self.popups.last_mut() {
            // The key that opened an overlay closes it, even when it is not a scroll key.
            match popup.handle_key(key, action) {
                Outcome::Keep => {}
                Outcome::Close => {
                    self.popups.pop();
                }
                Outcome::Send(cmd) => {
                    self.popups.pop();
                    if let Command::Export { path, .. } = &cmd {
                        self.toast(format!("exporting to {path}…"), false);
                    }
                    if matches!(cmd, Command::Reset { .. }) {
                        self.toast("reset requested: dumping first…".into(), false);
                    }
                    out.push(cmd);
                }
                Outcome::JumpTo(path) => {
                    self.popups.pop();
                    self.jump_to_file(&path);
                }
            }
            return;
        }
        if let Some(action) = action {
            self.on_action(action, out);
        }
    }

    fn on_action(&mut self, action: Action, out: &mut Vec<Command>) {
        match action {
            Action::Quit => {
                self.quit = true;
                out.push(Command::Quit);
            }
            Action::Help => self.popups.push(Popup::Help { scroll: 0 }),
            Action::SwitchPane => {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Source,
                    Focus::Source => Focus::Tree,
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as i64)),
            Action::PageDown => self.move_by(self.page() as i64),
            Action::Top => self.move_by(i64::MIN / 2),
            Action::Bottom => self.move_by(i64::MAX / 2),
            Action::Open => self.open_or_toggle(),
            Action::Find => {
                let paths = self.view.files.iter().map(|f| f.path.clone()).collect();
                self.popups.push(Popup::Finder(Finder::new(paths)));
            }
            Action::Dump => {
                self.toast("dump requested…".into(), false);
                out.push(Command::Dump);
            }
            Action::Reset => {
                let targets = self.reset_targets();
                self.popups.push(Popup::ConfirmReset { targets });
            }
            Action::Mark => {
                self.toast("mark set: \"newly hit\" now counts from here".into(), false);
                out.push(Command::Mark);
            }
            Action::Pause => {
                let pause = !self.is_paused();
                self.requested_pause = Some(pause);
                out.push(Command::Pause(pause));
            }
            Action::Faster | Action::Slower => {
                let current = self.interval();
                let current = if current.is_zero() {
                    Duration::from_secs(1)
                } else {
                    current
                };
                let next = if action == Action::Slower {
                    current.saturating_mul(2)
                } else {
                    current / 2
                };
                let next = next.clamp(MIN_INTERVAL, MAX_INTERVAL);
                if next != current || self.view.interval.is_zero() {
                    self.requested_interval = Some(next);
                    out.push(Command::SetInterval(next));
                }
                self.toast(
                    format!("polling every {}", super::draw::format_interval(next)),
                    false,
                );
            }
            Action::ToggleAllFiles => {
                self.tree.filter = match self.tree.filter {
                    FileFilter::Changed => FileFilter::All,
                    FileFilter::All => FileFilter::Changed,
                };
                self.rebuild_keep_selection();
            }
            Action::CycleSort => {
                self.tree.sort = self.tree.sort.next();
                self.rebuild_keep_selection();
            }
            Action::Export => {
                self.popups.push(Popup::Export(ExportForm::new(
                    self.config.export_formats.clone(),
                )));
            }
            Action::NextMissed => self.jump_missed(true),
            Action::PrevMissed => self.jump_missed(false),
            Action::NextFileWithMisses => self.next_file_with_misses(),
            Action::Diagnostics => self.popups.push(Popup::Diagnostics { scroll: 0 }),
            Action::Notices => self.popups.push(Popup::Notices { scroll: 0 }),
            Action::Freeze => match self.frozen.take() {
                Some(pending) => {
                    if let Some(view) = pending {
                        self.apply_view(view);
                    }
                }
                None => self.frozen = Some(None),
            },
        }
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        if !self.popups.is_empty() {
            return;
        }
        let at = Position {
            x: mouse.column,
            y: mouse.row,
        };
        let in_tree = self.areas.tree.contains(at);
        let in_source = self.areas.source.contains(at);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if in_tree {
                    self.focus = Focus::Tree;
                    // Inside the border: the first row is at y + 1.
                    let row =
                        at.y.saturating_sub(self.areas.tree.y + 1) as usize + self.tree_scroll;
                    if inside_border(self.areas.tree, at) && row < self.tree.rows().len() {
                        let was = self.selected;
                        self.selected = row;
                        if was == row {
                            self.open_or_toggle();
                        } else {
                            self.open_selected();
                        }
                    }
                } else if in_source {
                    self.focus = Focus::Source;
                    if let Some(open) = &mut self.open
                        && inside_border(self.areas.source, at)
                    {
                        let line = open.scroll + u32::from(at.y - self.areas.source.y - 1);
                        open.cursor = line.min(source_len(open));
                    }
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let delta = if mouse.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                };
                if in_tree {
                    self.move_tree(delta);
                } else if in_source {
                    self.move_source(delta);
                }
            }
            _ => {}
        }
    }

    // ---- moves ----

    fn page(&self) -> usize {
        match self.focus {
            Focus::Tree => self.tree_height.max(2) - 1,
            Focus::Source => self.source_height.max(2) - 1,
        }
    }

    fn move_by(&mut self, delta: i64) {
        match self.focus {
            Focus::Tree => self.move_tree(delta),
            Focus::Source => self.move_source(delta),
        }
    }

    fn move_tree(&mut self, delta: i64) {
        let len = self.tree.rows().len();
        if len == 0 {
            return;
        }
        let next = (self.selected as i64)
            .saturating_add(delta)
            .clamp(0, len as i64 - 1) as usize;
        if next != self.selected {
            self.selected = next;
            self.open_selected();
        }
    }

    fn move_source(&mut self, delta: i64) {
        if let Some(open) = &mut self.open {
            let len = source_len(open);
            open.cursor = (i64::from(open.cursor))
                .saturating_add(delta)
                .clamp(1, i64::from(len)) as u32;
        }
    }

    fn open_or_toggle(&mut self) {
        let Some(row) = self.tree.rows().get(self.selected) else {
            return;
        };
        match &row.kind {
            RowKind::Folder { path, .. } => {
                let path = path.clone();
                self.tree.toggle_collapsed(&path, &self.view);
            }
            RowKind::File { .. } => {
                self.open_selected();
                self.focus = Focus::Source;
            }
        }
    }

    /// Shows the selected row's file in the source pane (folders keep the current file).
    fn open_selected(&mut self) {
        let Some(row) = self.tree.rows().get(self.selected) else {
            return;
        };
        let RowKind::File { index } = row.kind else {
            return;
        };
        let Some(path) = self.view.files.get(index).map(|f| f.path.clone()) else {
            return;
        };
        if self.open.as_ref().is_some_and(|o| o.path == path) {
            return;
        }
        self.open_file(&path);
        // Start where the work is: the first changed line that did not run, else the first change.
        let first = self.file_view(&path).and_then(|f| {
            Self::missed_changed_lines(f)
                .first()
                .copied()
                .or_else(|| f.changed.as_ref().and_then(|c| c.lines.first().copied()))
        });
        if let (Some(open), Some(line)) = (&mut self.open, first) {
            open.cursor = line;
            open.scroll = line.saturating_sub(3).max(1);
        }
    }

    fn open_file(&mut self, path: &str) {
        let request = self.worker.request(path);
        self.open = Some(OpenSource::new(path, request));
    }

    fn restore_selection(&mut self, key: Option<&str>) {
        let len = self.tree.rows().len();
        if let Some(i) = key.and_then(|k| self.tree.position(k, &self.view)) {
            self.selected = i;
        } else {
            self.selected = self.selected.min(len.saturating_sub(1));
        }
    }

    fn rebuild_keep_selection(&mut self) {
        let key = self
            .selected_key()
            .or_else(|| self.open.as_ref().map(|o| o.path.clone()));
        self.tree.rebuild(&self.view);
        self.restore_selection(key.as_deref());
        self.open_selected();
    }

    fn jump_to_file(&mut self, path: &str) {
        let listed = self
            .file_view(path)
            .is_some_and(|f| FileTree::is_listed(f, self.tree.filter));
        if !listed && self.tree.filter == FileFilter::Changed {
            self.tree.filter = FileFilter::All;
            self.tree.rebuild(&self.view);
        }
        self.tree.reveal(path, &self.view);
        if let Some(i) = self.tree.position(path, &self.view) {
            self.selected = i;
            self.open_selected();
        } else {
            // Not in the tree (a file without coverage or changes): show it anyway.
            self.open_file(path);
        }
        self.focus = Focus::Source;
    }

    fn jump_missed(&mut self, forward: bool) {
        let Some(open) = &self.open else {
            return;
        };
        let Some(file) = self.file_view(&open.path) else {
            return;
        };
        let lines = Self::missed_changed_lines(file);
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
                if wrapped && line != cursor {
                    self.toast("wrapped around".into(), false);
                }
            }
            None => self.toast("no missed changed lines in this file".into(), false),
        }
    }

    fn next_file_with_misses(&mut self) {
        let rows = self.tree.rows();
        let n = rows.len();
        let found = (1..=n).map(|k| (self.selected + k) % n.max(1)).find(|&i| {
            matches!(rows[i].kind, RowKind::File { index }
                if self.view.files.get(index).is_some_and(|f| !Self::missed_changed_lines(f).is_empty()))
        });
        match found {
            Some(i) => {
                self.selected = i;
                self.open_selected();
                if let Some(first) = self
                    .open
                    .as_ref()
                    .and_then(|o| self.file_view(&o.path))
                    .and_then(|f| Self::missed_changed_lines(f).first().copied())
                    && let Some(open) = &mut self.open
                {
                    open.cursor = first;
                }
            }
            None => self.toast("every changed line in the tree ran".into(), false),
        }
    }

    fn reset_targets(&self) -> Vec<ResetTarget> {
        let mut targets: Vec<ResetTarget> = self
            .view
            .targets
            .iter()
            .map(|t| ResetTarget {
                name: t.name.clone(),
                kind: t.kind.clone(),
                replicas: t.replicas.iter().map(|r| r.id.clone()).collect(),
            })
            .collect();
        for t in &self.config.targets {
            if !targets.iter().any(|x| x.name == t.name) {
                targets.push(ResetTarget {
                    name: t.name.clone(),
                    kind: t.kind.clone(),
                    replicas: Vec::new(),
                });
            }
        }
        targets
    }

    fn toast(&mut self, text: String, error: bool) {
        let shown = if error { TOAST_ERROR } else { TOAST_INFO };
        self.toast = Some(Toast {
            text,
            error,
            until: Instant::now() + shown,
        });
    }
}

/// True if `at` is inside `area`'s border (on a row or line, not on the frame).
fn inside_border(area: Rect, at: Position) -> bool {
    at.y > area.y && at.y + 1 < area.y + area.height
}

/// The number of lines the cursor can move over: the text once read, else the last covered or
/// changed line.
fn source_len(open: &OpenSource) -> u32 {
    open.text().map_or(1, |t| t.line_count().max(1) as u32)
}
