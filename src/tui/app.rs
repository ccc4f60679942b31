//! The screen: a header, the file tree, the source and the footer, with popups above them. Each is
//! a component ([`super::component`]) that owns its state, handles its keys and draws itself from
//! `&self`; the App routes events to them, wires what one asks of another and lays them out. It
//! does no I/O (sources are read on a background thread), so it runs headless in tests; [`run`](super::run)
//! is the terminal loop around it.

use super::component::{CommandInfo, Component, Ctx, Outcome, scope_commands};
use super::footer::Footer;
use super::header::Header;
use super::keymap::{Action, KeyMap, Scope};
use super::popup::{
    ConfirmReset, ExportForm, Finder, GotoLine, Message, Popup, ResetTarget, Scrolled, Text,
};
use super::source_pane::SourcePane;
use super::text::format_interval;
use super::theme::{Palette, Theme};
use super::tree::{FileFilter, SortOrder};
use super::tree_pane::TreePane;
use crate::engine::{Command, Notice};
use crate::model::{SourceStore, View};
use crossterm::event::{Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Constraint, Layout, Position, Rect};
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
    /// The formats the export dialog offers.
    pub export_formats: Vec<crate::report::Format>,
    pub clock: Clock,
    /// How long newly hit lines stay highlighted.
    pub flash: Duration,
    pub tab_width: usize,
    /// Where the filter, sort and pane sizes are remembered across restarts (none in tests).
    pub state_file: Option<std::path::PathBuf>,
    /// The repository's working tree, where `o` opens files (none: a bare repository).
    pub workdir: Option<std::path::PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            keymap: KeyMap::defaults(),
            theme: Theme::Dark,
            targets: Vec::new(),
            export_formats: crate::report::Format::ALL.to_vec(),
            clock: Clock::System,
            flash: Duration::from_millis(1500),
            tab_width: 4,
            state_file: None,
            workdir: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Source,
}

/// What the screen remembers across restarts.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ScreenState {
    filter: String,
    /// The language filter (an extension); absent in files saved before it existed.
    #[serde(default)]
    language: Option<String>,
    /// The target filter (a target's name); absent in files saved before it existed.
    #[serde(default)]
    target: Option<String>,
    sort: String,
    reverse: bool,
    tree_share: u16,
    zoomed: bool,
}

/// Where each component is on a screen of a given size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Areas {
    pub header: Rect,
    pub tree: Rect,
    pub source: Rect,
    pub footer: Rect,
}

/// Below this width only the focused pane is shown.
const TWO_PANES_MIN_WIDTH: u16 = 50;
/// The tree's share of the width (percent) at start, and its bounds for `<` and `>`.
const TREE_SHARE: u16 = 40;
const TREE_SHARE_MIN: u16 = 16;
const TREE_SHARE_MAX: u16 = 84;
const TREE_SHARE_STEP: u16 = 4;
/// The narrowest tree and source panes when both are shown.
const TREE_MIN_WIDTH: u16 = 28;
const SOURCE_MIN_WIDTH: u16 = 40;
/// Messages kept in the log (`L`).
const MESSAGES_KEPT: usize = 500;

pub struct App {
    config: UiConfig,
    palette: Palette,
    view: Arc<View>,
    /// While frozen, the newest View waits here.
    frozen: Option<Option<Arc<View>>>,
    header: Header,
    tree: TreePane,
    source: SourcePane,
    footer: Footer,
    popups: Vec<Popup>,
    messages: Vec<Message>,
    /// Sources already named in the messages as unreadable.
    unreadable_sources: std::collections::HashSet<String>,
    focus: Focus,
    /// The focused pane takes the whole width.
    zoomed: bool,
    /// The tree's share of the width, in percent.
    tree_share: u16,
    /// Sent but not yet reflected in a View.
    requested_pause: Option<bool>,
    requested_interval: Option<Duration>,
    /// A mark is set (this App is what sets and clears it).
    marked: bool,
    quit: bool,
    /// The screen size of the last [`App::resize`].
    screen: Rect,
    /// Text for the terminal's clipboard, taken by the terminal loop (OSC 52).
    clipboard: Option<String>,
    /// A file and line to open in the editor (`o`), taken by the terminal loop.
    edit: Option<(String, u32)>,
    wall_now: SystemTime,
    last_age_second: u64,
}

/// What every component may read: built from the App's fields one by one, so a component of the
/// App can be borrowed mutably beside it.
macro_rules! ctx {
    ($app:expr) => {
        Ctx {
            view: &$app.view,
            palette: &$app.palette,
            keymap: &$app.config.keymap,
            config: &$app.config,
            now: $app.wall_now,
            focus: $app.focus,
            paused: $app.requested_pause.unwrap_or($app.view.paused),
            interval: $app.requested_interval.unwrap_or($app.view.interval),
            frozen: $app.frozen.is_some(),
            screen: $app.screen,
            messages: &$app.messages,
        }
    };
}

impl App {
    pub fn new(config: UiConfig, sources: Arc<dyn SourceStore>) -> Self {
        let palette = config.theme.palette();
        let source = SourcePane::new(sources, palette.syntax);
        let wall_now = config.clock.now();
        let mut app = App {
            config,
            palette,
            view: Arc::new(View::default()),
            frozen: None,
            header: Header,
            tree: TreePane::default(),
            source,
            footer: Footer::default(),
            popups: Vec::new(),
            messages: Vec::new(),
            unreadable_sources: Default::default(),
            focus: Focus::Tree,
            zoomed: false,
            tree_share: TREE_SHARE,
            requested_pause: None,
            requested_interval: None,
            marked: false,
            quit: false,
            screen: Rect::new(0, 0, 120, 40),
            clipboard: None,
            edit: None,
            wall_now,
            last_age_second: 0,
        };
        app.load_state();
        app.fit();
        app
    }

    /// The filter, sort and pane sizes of the last session, from [`UiConfig::state_file`]. A file
    /// that cannot be read is named in the messages and left for the next save to replace.
    fn load_state(&mut self) {
        let Some(path) = self.config.state_file.clone() else {
            return;
        };
        let text = match crate::bounded_read::read_regular_text(&path, 1 << 20) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return,
            Err(e) => {
                self.notify(
                    format!("cannot read the saved screen state {}: {e}", path.display()),
                    true,
                );
                return;
            }
        };
        match serde_json::from_str::<ScreenState>(&text) {
            Ok(state) => {
                let tree = &mut self.tree.tree;
                tree.filter = FileFilter::from_name(&state.filter).unwrap_or_default();
                tree.language = state.language;
                tree.target = state.target;
                tree.sort = SortOrder::from_name(&state.sort).unwrap_or_default();
                tree.reverse = state.reverse;
                self.tree_share = state.tree_share.clamp(TREE_SHARE_MIN, TREE_SHARE_MAX);
                self.zoomed = state.zoomed;
            }
            Err(e) => self.notify(
                format!(
                    "ignored the saved screen state {}: {e}; it is replaced when covtop quits",
                    path.display()
                ),
                true,
            ),
        }
    }

    /// Remembers the filter, sort and pane sizes in [`UiConfig::state_file`] (the terminal loop
    /// calls it on quitting).
    pub fn save_state(&self) -> Result<(), String> {
        let Some(path) = &self.config.state_file else {
            return Ok(());
        };
        let tree = &self.tree.tree;
        let state = ScreenState {
            filter: tree.filter.name().to_string(),
            language: tree.language.clone(),
            target: tree.target.clone(),
            sort: tree.sort.name().to_string(),
            reverse: tree.reverse,
            tree_share: self.tree_share,
            zoomed: self.zoomed,
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
        crate::atomic_file::write_creating_dirs(path, &json)
            .map_err(|e| format!("cannot save the screen state to {}: {e}", path.display()))
    }

    /// Text a key asked to put on the clipboard (`y`), once.
    pub fn take_clipboard(&mut self) -> Option<String> {
        self.clipboard.take()
    }

    /// The file and line `o` asked to open in the editor, once. The terminal loop suspends the
    /// screen and runs the editor ([`super::editor::plan`] decides how).
    pub fn take_edit(&mut self) -> Option<(String, u32)> {
        self.edit.take()
    }

    /// The repository's working tree, where the editor opens files.
    pub fn workdir(&self) -> Option<&std::path::Path> {
        self.config.workdir.as_deref()
    }

    /// The terminal's size: the panes lay out their rows and keep the selection in sight.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.screen = Rect::new(0, 0, width, height);
        self.fit();
    }

    /// A new View: the selection and the scroll stay on the same paths, newly hit lines flash.
    pub fn on_view(&mut self, view: Arc<View>) {
        if let Some(pending) = &mut self.frozen {
            *pending = Some(view);
            return;
        }
        self.apply_view(view);
        self.fit();
    }

    fn apply_view(&mut self, view: Arc<View>) {
        let selected_key = self.tree.selected_key(&self.view);
        self.source.on_view(&self.view, &view, self.config.flash);
        self.requested_pause = None;
        self.requested_interval = None;
        self.view = view;
        self.tree.rebuild(&self.view, selected_key.as_deref());
        if self.source.path().is_none() {
            // First data: start on the first file rather than its folder.
            if selected_key.is_none() {
                self.tree.select_first_file();
            }
            if let Some(path) = self.tree.selected_file(&self.view).map(str::to_string) {
                self.source.show(&path, &self.view);
            }
        }
    }

    /// A notice from the engine: on the status line for a few seconds and in the log for good.
    pub fn on_notice(&mut self, n: Notice) {
        let (text, error) = match n {
            Notice::Info(t) => (t, false),
            Notice::Error(t) => (t, true),
        };
        self.notify(text, error);
    }

    /// Every message of the footer and the log comes through here: text from agents and file
    /// names in it is shown escaped (ratatui would drop a control character silently).
    fn notify(&mut self, text: String, error: bool) {
        let message = Message {
            at: self.config.clock.now(),
            text: crate::escape::field(&text).into_owned(),
            error,
        };
        self.footer.push(message.clone());
        self.messages.push(message);
        if self.messages.len() > MESSAGES_KEPT {
            self.messages.remove(0);
        }
    }

    /// Keys and mouse in, commands for the engine out.
    pub fn handle_event(&mut self, ev: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match ev {
            // Release events (Windows, kitty protocol) would act twice.
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(&key, &mut out),
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize(w, h) => self.resize(w, h),
            _ => {}
        }
        self.fit();
        out
    }

    /// Expires flashes and messages and takes background results; true if the screen changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let mut redraw = self.footer.expire(now);
        redraw |= self.footer.progress_moved();
        redraw |= self.source.tick(now);
        redraw |= self.name_unreadable_sources();
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
        let settled = self.source.settle(timeout);
        self.name_unreadable_sources();
        settled
    }

    /// A source the store could not read (too large, not a regular file, a damaged object) is
    /// named in the messages log once per file, beside the pane's own word on it; true if a
    /// message was added.
    fn name_unreadable_sources(&mut self) -> bool {
        let mut added = false;
        for (path, e) in self.source.take_failures() {
            if self.unreadable_sources.insert(path.clone()) {
                self.notify(format!("cannot read the source {path}: {e}"), true);
                added = true;
            }
        }
        added
    }

    /// True while the source worker owes the open file its text or colours: the terminal loop
    /// then polls [`App::tick`] faster so they show as soon as they are ready.
    pub fn awaiting_background(&self) -> bool {
        self.source.awaiting()
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Draws every component; reads only. The layout follows the frame's size; the panes' scroll
    /// follows the size given to [`App::resize`] (the terminal loop gives each new size).
    pub fn draw(&self, frame: &mut ratatui::Frame) {
        let screen = frame.area();
        let areas = self.layout(screen);
        let ctx = Ctx {
            screen,
            ..ctx!(self)
        };
        self.header.draw(&ctx, frame, areas.header);
        if areas.tree.area() > 0 {
            self.tree.draw(&ctx, frame, areas.tree);
        }
        if areas.source.area() > 0 {
            self.source.draw(&ctx, frame, areas.source);
        }
        self.footer.draw(&ctx, frame, areas.footer);
        for popup in &self.popups {
            popup.draw(&ctx, frame, screen);
        }
    }

    /// Where the components go on a screen of `area`.
    pub(crate) fn layout(&self, area: Rect) -> Areas {
        let ctx = Ctx {
            screen: area,
            ..ctx!(self)
        };
        let header_height = self.header.height(&ctx);
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(header_height),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        let (tree, source) = if body.width < TWO_PANES_MIN_WIDTH || self.zoomed {
            match self.focus {
                Focus::Tree => (body, Rect::default()),
                Focus::Source => (Rect::default(), body),
            }
        } else {
            let share = (u32::from(body.width) * u32::from(self.tree_share) / 100) as u16;
            let tree_width = share.max(TREE_MIN_WIDTH).min(
                body.width
                    .saturating_sub(SOURCE_MIN_WIDTH)
                    .max(TREE_MIN_WIDTH),
            );
            let [t, s] = Layout::horizontal([Constraint::Length(tree_width), Constraint::Min(10)])
                .areas(body);
            (t, s)
        };
        Areas {
            header,
            tree,
            source,
            footer,
        }
    }

    /// After anything changed: the panes learn their size, the footer what has the keys.
    fn fit(&mut self) {
        let areas = self.layout(self.screen);
        self.tree
            .set_height(areas.tree.height.saturating_sub(2) as usize);
        // A hidden pane keeps the size it will have when shown.
        let source = if areas.source.area() > 0 {
            areas.source
        } else {
            areas.tree
        };
        self.source.set_size(
            source.height.saturating_sub(2) as usize,
            source.width as usize,
        );
        let ctx = ctx!(self);
        self.footer.commands = match self.popups.last() {
            Some(popup) => popup.commands(&ctx),
            None => {
                let pane = match self.focus {
                    Focus::Tree => self.tree.commands(&ctx),
                    Focus::Source => self.source.commands(&ctx),
                };
                let pane_count = pane.len();
                let mut commands: Vec<(u8, CommandInfo)> = pane
                    .into_iter()
                    .chain(scope_commands(&self.config.keymap, Scope::Global))
                    .enumerate()
                    .map(|(i, c)| (if i < pane_count { 2 } else { 3 }, c))
                    .collect();
                for (rank, c) in &mut commands {
                    // The key that pauses resumes, the one that marks clears the mark: say so,
                    // early, so a narrow footer still shows it.
                    if ctx.paused && c.name == Some(Action::Pause.spec().name) {
                        c.label = Some("resume");
                        *rank = 1;
                    }
                    if self.marked && c.name == Some(Action::Mark.spec().name) {
                        c.label = Some("unmark");
                        *rank = 1;
                    }
                    // Help (where everything else is) and quit come first at any width.
                    if [Action::Help, Action::Quit]
                        .iter()
                        .any(|a| c.name == Some(a.spec().name))
                    {
                        *rank = 0;
                    }
                }
                // Then the focused pane's commands, then the rest: an 80-column footer keeps
                // what matters here.
                commands.sort_by_key(|(rank, _)| *rank);
                commands.into_iter().map(|(_, c)| c).collect()
            }
        };
    }

    // ---- state queries used by tests ----

    pub fn view(&self) -> &Arc<View> {
        &self.view
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// The key of the selected tree row (file path, or folder path with a trailing `/`).
    pub fn selected_key(&self) -> Option<String> {
        self.tree.selected_key(&self.view)
    }

    /// The file in the source pane and its cursor line.
    pub fn source_cursor(&self) -> Option<(&str, u32)> {
        self.source.cursor()
    }

    /// The first code column shown in the source pane (0 unless scrolled sideways).
    pub fn source_column(&self) -> usize {
        self.source.column
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

    pub fn is_zoomed(&self) -> bool {
        self.zoomed
    }

    pub fn keymap(&self) -> &KeyMap {
        &self.config.keymap
    }

    /// The messages log, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The status messages on the footer now, oldest first.
    pub fn status(&self) -> Vec<&str> {
        self.footer.status().map(|m| m.text.as_str()).collect()
    }

    /// The exports sent and not answered yet: (format, path).
    pub fn exports_running(&self) -> Vec<(String, String)> {
        self.footer.running().cloned().collect()
    }

    /// The footer's hints, in order: the commands of what has the keys (the focused pane and the
    /// global ones, or the open popup's). They are taken from the key map, as the help is.
    pub fn footer_hints(&self) -> Vec<(String, &'static str)> {
        self.footer.hints()
    }

    // ---- events ----

    fn on_key(&mut self, key: &KeyEvent, out: &mut Vec<Command>) {
        let action = self.config.keymap.action(key);
        // Help opens above the read-only panels (the dialogs and text prompts keep their keys).
        if action == Some(Action::Help)
            && self
                .popups
                .last()
                .is_some_and(|p| p.is_text() && p.title() != "help")
        {
            self.open_help();
            return;
        }
        if let Some(popup) = self.popups.last_mut() {
            let outcome = popup.on_key(key, action, &ctx!(self));
            match outcome {
                Outcome::Ignored | Outcome::Consumed => {}
                Outcome::Close => {
                    self.popups.pop();
                }
                other => {
                    self.popups.pop();
                    self.apply(other, out);
                }
            }
            return;
        }
        if let Some(action) = action {
            self.on_action(action, out);
        }
    }

    /// Carries out what a component asked for.
    fn apply(&mut self, outcome: Outcome, out: &mut Vec<Command>) {
        match outcome {
            Outcome::Ignored | Outcome::Consumed | Outcome::Close => {}
            Outcome::Send(cmd) => {
                if let Command::Export {
                    format,
                    path,
                    progress,
                } = &cmd
                {
                    // Shown, with the files written so far, until the engine says it is
                    // written (or why not).
                    self.footer.exporting(format.name(), path, progress.clone());
                }
                if matches!(cmd, Command::Reset { .. }) {
                    self.notify("reset requested: dumping first…".into(), false);
                }
                out.push(cmd);
            }
            Outcome::Show { path, focus } => {
                self.source.show(&path, &self.view);
                if focus {
                    self.focus = Focus::Source;
                }
            }
            Outcome::JumpTo(path) => self.jump_to_file(&path),
            Outcome::Notify(text) => self.notify(text, false),
            Outcome::GotoLine(n) => {
                self.source.goto_line(n);
                self.focus = Focus::Source;
            }
            Outcome::Copy(text) => {
                self.notify(format!("copied {text}"), false);
                self.clipboard = Some(text);
            }
        }
    }

    fn on_action(&mut self, action: Action, out: &mut Vec<Command>) {
        let open = self.source.path().map(str::to_string);
        let outcome = match (action.spec().scope, action) {
            (Scope::Tree, _) => self.tree.on_action(action, &self.view, open.as_deref()),
            (Scope::Source, _) => self.source.on_action(action, &ctx!(self)),
            (
                _,
                Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::LineStart
                | Action::LineEnd,
            ) => match self.focus {
                Focus::Tree => {
                    let action = match action {
                        Action::LineStart => Action::Top,
                        Action::LineEnd => Action::Bottom,
                        a => a,
                    };
                    self.tree.on_action(action, &self.view, open.as_deref())
                }
                Focus::Source => self.source.on_action(action, &ctx!(self)),
            },
            (_, Action::Left | Action::Right) => match self.focus {
                Focus::Tree if action == Action::Left => self.tree.left(&self.view),
                Focus::Tree => self.tree.right(&self.view),
                Focus::Source => match self.source.on_action(action, &ctx!(self)) {
                    // At the first column, left goes back to the tree.
                    Outcome::Ignored if action == Action::Left => {
                        self.focus = Focus::Tree;
                        Outcome::Consumed
                    }
                    other => other,
                },
            },
            _ => {
                self.on_global(action, out);
                Outcome::Consumed
            }
        };
        self.apply(outcome, out);
    }

    fn on_global(&mut self, action: Action, out: &mut Vec<Command>) {
        match action {
            Action::Quit => {
                self.quit = true;
                out.push(Command::Quit);
            }
            Action::Help => self.open_help(),
            Action::SwitchPane => {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Source,
                    Focus::Source => Focus::Tree,
                }
            }
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::WiderTree | Action::NarrowerTree => {
                let share = if action == Action::WiderTree {
                    self.tree_share + TREE_SHARE_STEP
                } else {
                    self.tree_share.saturating_sub(TREE_SHARE_STEP)
                };
                self.tree_share = share.clamp(TREE_SHARE_MIN, TREE_SHARE_MAX);
                self.zoomed = false;
            }
            Action::Find => {
                let paths = self.view.files.iter().map(|f| f.path.clone()).collect();
                self.popups.push(Popup::Finder(Finder::new(paths)));
            }
            Action::Edit => match self.edit_target() {
                Some(target) => self.edit = Some(target),
                None => self.notify("select a file to open it in the editor".into(), false),
            },
            Action::Dump => {
                self.notify("dump requested…".into(), false);
                out.push(Command::Dump);
            }
            Action::Reset => {
                let targets = self.reset_targets();
                self.popups
                    .push(Popup::ConfirmReset(ConfirmReset { targets }));
            }
            // A second press clears the mark.
            Action::Mark if self.marked => {
                self.marked = false;
                self.notify("mark cleared".into(), false);
                out.push(Command::Unmark);
            }
            Action::Mark => {
                self.marked = true;
                self.notify(
                    "mark set: \"newly hit\" now counts from here (m again clears it)".into(),
                    false,
                );
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
                let bound = if next == MIN_INTERVAL {
                    " (the fastest)"
                } else if next == MAX_INTERVAL {
                    " (the slowest)"
                } else {
                    ""
                };
                self.notify(
                    format!("polling every {}{bound}", format_interval(next)),
                    false,
                );
            }
            Action::Export => {
                self.popups.push(Popup::Export(ExportForm::new(
                    self.config.export_formats.clone(),
                )));
            }
            Action::NextFileWithMisses | Action::PrevFileWithMisses => {
                let forward = action == Action::NextFileWithMisses;
                match self.tree.file_with_misses(&self.view, forward) {
                    Some((path, wrapped)) => {
                        self.source.show(&path, &self.view);
                        self.source.cursor_to_first_miss(&self.view);
                        if wrapped {
                            self.notify(
                                format!(
                                    "wrapped around to the {} file with misses",
                                    if forward { "first" } else { "last" }
                                ),
                                false,
                            );
                        }
                    }
                    None => self.notify("every changed line in the tree ran".into(), false),
                }
            }
            Action::GotoLine => self.popups.push(Popup::GotoLine(GotoLine::default())),
            Action::FocusTree => self.focus = Focus::Tree,
            Action::FocusSource => self.focus = Focus::Source,
            Action::Diagnostics => self
                .popups
                .push(Popup::Scrolled(Scrolled::new(Text::Diagnostics))),
            Action::Notices => self
                .popups
                .push(Popup::Scrolled(Scrolled::new(Text::Messages))),
            Action::Freeze => match self.frozen.take() {
                Some(pending) => {
                    if let Some(view) = pending {
                        self.apply_view(view);
                    }
                }
                None => self.frozen = Some(None),
            },
            // Pane actions are routed to the panes.
            _ => {}
        }
    }

    /// The help lists the commands of every component, by section.
    fn open_help(&mut self) {
        let ctx = ctx!(self);
        let sections = vec![
            (
                Scope::Global.title(),
                scope_commands(ctx.keymap, Scope::Global),
            ),
            (Scope::Tree.title(), self.tree.commands(&ctx)),
            (Scope::Source.title(), self.source.commands(&ctx)),
        ];
        self.popups.push(Popup::Scrolled(Scrolled::help(sections)));
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        if !self.popups.is_empty() {
            return;
        }
        let at = Position {
            x: mouse.column,
            y: mouse.row,
        };
        let areas = self.layout(self.screen);
        let in_tree = areas.tree.contains(at);
        let in_source = areas.source.contains(at);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if in_tree {
                    self.focus = Focus::Tree;
                    if inside_border(areas.tree, at) {
                        // Inside the border: the first row is at y + 1.
                        let row = (at.y - areas.tree.y - 1) as usize;
                        let outcome = self.tree.click(row, &self.view);
                        self.apply(outcome, &mut Vec::new());
                    }
                } else if in_source {
                    self.focus = Focus::Source;
                    if inside_border(areas.source, at) {
                        self.source.click((at.y - areas.source.y - 1) as usize);
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
                    let outcome = self.tree.move_by(delta, &self.view);
                    self.apply(outcome, &mut Vec::new());
                } else if in_source {
                    self.source.move_cursor(delta);
                }
            }
            _ => {}
        }
    }

    fn jump_to_file(&mut self, path: &str) {
        if self.tree.reveal(path, &self.view) {
            self.source.show(path, &self.view);
        } else {
            // Not in the tree (a file without coverage or changes): show it anyway.
            self.source.open_file(path);
        }
        self.focus = Focus::Source;
    }

    /// What `o` opens: in the source, the file at the cursor's line; in the tree, the selected
    /// file, at the cursor's line when it is the one open in the source (else its first line).
    fn edit_target(&self) -> Option<(String, u32)> {
        let open = self.source.cursor();
        match self.focus {
            Focus::Source => open.map(|(path, line)| (path.to_string(), line)),
            Focus::Tree => {
                let path = self.tree.selected_file(&self.view)?;
                let line = open.filter(|(p, _)| *p == path).map_or(1, |(_, l)| l);
                Some((path.to_string(), line))
            }
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
}

/// True if `at` is inside `area`'s border (on a row or line, not on the frame).
fn inside_border(area: Rect, at: Position) -> bool {
    at.y > area.y && at.y + 1 < area.y + area.height
}
