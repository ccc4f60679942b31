//! What every pane and popup of the screen is: a type that owns its state, handles its keys,
//! draws itself from `&self` and lists its commands for the footer and the `?` help (the shape of
//! gitui's components). The [`App`](super::App) routes events to them and wires what one
//! component asks of another ([`Outcome`]); nothing draws by mutating state.

use super::app::{Focus, UiConfig};
use super::keymap::{ACTIONS, Action, KeyMap, Scope};
use super::theme::Palette;
use crate::engine::Command;
use crate::model::View;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear};
use std::time::{Duration, SystemTime};

/// What every component may read while drawing or handling a key.
pub(crate) struct Ctx<'a> {
    pub view: &'a View,
    pub palette: &'a Palette,
    pub keymap: &'a KeyMap,
    pub config: &'a UiConfig,
    /// The wall clock of this frame (replica ages).
    pub now: SystemTime,
    pub focus: Focus,
    pub paused: bool,
    pub interval: Duration,
    pub frozen: bool,
    /// The whole screen (popups size themselves to it).
    pub screen: Rect,
    /// The messages log, oldest first.
    pub messages: &'a [super::popup::Message],
}

/// One command a component offers: its keys, its footer label (none: help only), its help text
/// and, for key-map actions, the name `[keys]` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandInfo {
    pub keys: String,
    pub label: Option<&'static str>,
    pub description: &'static str,
    pub name: Option<&'static str>,
}

impl CommandInfo {
    /// A fixed key of a popup (typing, enter, esc): not in the key map.
    pub fn fixed(keys: &str, label: &'static str, description: &'static str) -> Self {
        CommandInfo {
            keys: keys.to_string(),
            label: Some(label),
            description,
            name: None,
        }
    }

    /// The footer's form: the first key and the label.
    pub fn hint(&self) -> Option<(String, &'static str)> {
        let first = self.keys.split(", ").next().filter(|k| !k.is_empty())?;
        Some((first.to_string(), self.label?))
    }
}

/// The key-map actions of a scope, as commands.
pub(crate) fn scope_commands(keymap: &KeyMap, scope: Scope) -> Vec<CommandInfo> {
    ACTIONS
        .iter()
        .filter(|s| s.scope == scope)
        .map(|s| CommandInfo {
            keys: keymap.keys_label(s.action),
            label: s.hint,
            description: s.description,
            name: Some(s.name),
        })
        .collect()
}

/// What handling an event asks of the rest of the screen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not this component's key.
    Ignored,
    /// Handled; nothing else to do.
    Consumed,
    /// A popup is done.
    Close,
    /// Send this command to the engine (a popup closes first).
    Send(Command),
    /// Show this file in the source pane; `focus` moves the focus there.
    Show { path: String, focus: bool },
    /// Close (a popup) and jump to this file wherever it is.
    JumpTo(String),
    /// A line for the status line and the messages log.
    Notify(String),
    /// Put this text on the terminal's clipboard.
    Copy(String),
    /// Close (a popup) and move the source's cursor to this line.
    GotoLine(u32),
}

/// A component of the screen.
pub(crate) trait Component {
    /// The commands this component offers, for the footer and the help.
    fn commands(&self, ctx: &Ctx) -> Vec<CommandInfo>;
    /// Draws into `area`, reading only.
    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect);
    /// A key: `action` is what the key map makes of it.
    fn on_key(
        &mut self,
        _key: &crossterm::event::KeyEvent,
        _action: Option<Action>,
        _ctx: &Ctx,
    ) -> Outcome {
        Outcome::Ignored
    }
}

/// A pane's frame: the focused one has the bright border.
pub(crate) fn pane_block<'a>(p: &Palette, title: Line<'a>, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { p.focus_border } else { p.border })
        .title(title)
}

/// A centred rectangle of at most `width` × `height` inside `outer`.
pub(crate) fn popup_area(outer: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(outer.width);
    let h = height.min(outer.height);
    Rect {
        x: outer.x + (outer.width - w) / 2,
        y: outer.y + (outer.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Clears `area`, draws a popup frame titled `title` and returns the inside.
pub(crate) fn popup_frame(p: &Palette, frame: &mut Frame, area: Rect, title: &str) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(p.focus_border)
        .style(p.popup)
        .title(Line::styled(format!(" {title} "), p.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// Cuts a line of spans into rows of at most `width` cells, preferring to break after a space;
/// continuation rows start with `indent` spaces.
pub(crate) fn wrap_line(line: Line<'static>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(indent + 8);
    if line.width() <= width {
        return vec![line];
    }
    // Characters with their styles, then cut into rows.
    let cells: Vec<(char, ratatui::style::Style)> = line
        .spans
        .iter()
        .flat_map(|s| {
            let style = line.style.patch(s.style);
            s.content.chars().map(move |c| (c, style))
        })
        .collect();
    let mut rows = Vec::new();
    let mut at = 0;
    let mut first = true;
    while at < cells.len() {
        let room = if first { width } else { width - indent };
        let mut end = (at + room).min(cells.len());
        if end < cells.len()
            && let Some(space) = cells[at..end].iter().rposition(|(c, _)| *c == ' ')
            && space > room / 2
        {
            end = at + space + 1;
        }
        let mut spans: Vec<Span<'static>> = Vec::new();
        for (c, style) in &cells[at..end] {
            match spans.last_mut() {
                Some(last) if last.style == *style => last.content.to_mut().push(*c),
                _ => spans.push(Span::styled(c.to_string(), *style)),
            }
        }
        if !first {
            spans.insert(0, Span::raw(" ".repeat(indent)));
        }
        rows.push(Line::from(spans));
        at = end;
        first = false;
    }
    rows
}

/// The first row to show of `total` rows in `height`: `scroll`, no further than the last page.
pub(crate) fn clamp_scroll(scroll: usize, total: usize, height: usize) -> usize {
    scroll.min(total.saturating_sub(height))
}

/// A popup of wrapped text rows that scrolls: as tall as its text (up to the screen), with
/// `first–last/total` and arrows in its bottom border when it does not all fit.
pub(crate) fn draw_scrolled(
    p: &Palette,
    frame: &mut Frame,
    outer: Rect,
    width: u16,
    title: &str,
    rows: Vec<Line<'static>>,
    scroll: usize,
) {
    let height = (rows.len() as u16 + 2).min(outer.height).max(5);
    let area = popup_area(outer, width, height);
    let inner = popup_frame(p, frame, area, title);
    let h = inner.height as usize;
    let top = clamp_scroll(scroll, rows.len(), h);
    let total = rows.len();
    let shown: Vec<Line<'static>> = rows.into_iter().skip(top).take(h).collect();
    frame.render_widget(ratatui::widgets::Paragraph::new(shown), inner);
    if total > h && area.height > 0 {
        let more_up = if top > 0 { "▲" } else { " " };
        let more_down = if top + h < total { "▼" } else { " " };
        let label = format!(
            " {more_up}{more_down} {}–{}/{total} ",
            top + 1,
            (top + h).min(total)
        );
        let w = (label.chars().count() as u16).min(area.width.saturating_sub(2));
        let at = Rect {
            x: area.x + area.width.saturating_sub(w + 1),
            y: area.y + area.height - 1,
            width: w,
            height: 1,
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Line::styled(label, p.key)),
            at,
        );
    }
}

/// The rows inside a scrolled popup of `width` at this screen size.
pub(crate) fn scrolled_height(outer: Rect, rows: usize) -> usize {
    (rows + 2)
        .min(outer.height as usize)
        .max(5)
        .saturating_sub(2)
}
