//! The export dialog: a format among those the engine writes, and a path.

use super::ctrl_or_alt;
use crate::engine::Command;
use crate::report::Format;
use crate::tui::component::{CommandInfo, Component, Ctx, Outcome, popup_area, popup_frame};
use crate::tui::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The export dialog: a format among those the engine offers, and a path.
#[derive(Debug)]
pub struct ExportForm {
    pub formats: Vec<Format>,
    pub selected: usize,
    pub path: String,
    /// Once the user typed a path, changing the format no longer rewrites it.
    pub path_edited: bool,
}

impl ExportForm {
    pub fn new(formats: Vec<Format>) -> Self {
        let mut form = ExportForm {
            formats,
            selected: 0,
            path: String::new(),
            path_edited: false,
        };
        form.path = form.default_path();
        form
    }

    pub fn format(&self) -> Format {
        self.formats
            .get(self.selected)
            .copied()
            .unwrap_or(Format::Html)
    }

    pub fn default_path(&self) -> String {
        self.format().default_path().to_string()
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter => {
                if self.path.trim().is_empty() {
                    Outcome::Consumed
                } else {
                    Outcome::Send(Command::Export {
                        format: self.format(),
                        path: self.path.trim().to_string(),
                        progress: crate::report::Progress::default(),
                    })
                }
            }
            KeyCode::Up | KeyCode::BackTab => {
                self.select(
                    (self.selected + self.formats.len().max(1) - 1) % self.formats.len().max(1),
                );
                Outcome::Consumed
            }
            KeyCode::Down | KeyCode::Tab => {
                self.select((self.selected + 1) % self.formats.len().max(1));
                Outcome::Consumed
            }
            KeyCode::Backspace => {
                self.path.pop();
                self.path_edited = true;
                Outcome::Consumed
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.path.clear();
                self.path_edited = true;
                Outcome::Consumed
            }
            KeyCode::Char(c) if !ctrl_or_alt(key) => {
                self.path.push(c);
                self.path_edited = true;
                Outcome::Consumed
            }
            _ => Outcome::Consumed,
        }
    }

    fn select(&mut self, i: usize) {
        self.selected = i;
        if !self.path_edited {
            self.path = self.default_path();
        }
    }
}

impl Component for ExportForm {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        vec![
            CommandInfo::fixed("enter", "export", "Write the report to the path"),
            CommandInfo::fixed("↑/↓", "format", "Choose the format"),
            CommandInfo::fixed("esc", "cancel", "Close without exporting"),
        ]
    }

    fn on_key(&mut self, key: &KeyEvent, _action: Option<Action>, _ctx: &Ctx) -> Outcome {
        self.handle_key(key)
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, outer: Rect) {
        let p = ctx.palette;
        let mut lines = vec![Line::styled("Format:", p.text)];
        let name_width = self
            .formats
            .iter()
            .map(|f| f.name().len())
            .max()
            .unwrap_or(0);
        for (i, f) in self.formats.iter().enumerate() {
            let chosen = i == self.selected;
            let line = Line::from(vec![
                Span::raw(format!("  {} ", if chosen { "▸" } else { " " })),
                Span::raw(format!("{:<name_width$}  ", f.name())),
                Span::styled(f.describe(), if chosen { p.text } else { p.dim }),
            ]);
            lines.push(if chosen {
                line.patch_style(p.selected)
            } else {
                line.style(p.text)
            });
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("Path: ", p.text),
            Span::styled(format!("{}▏", self.path), p.key),
        ]));
        lines.push(Line::raw(""));
        // Wrapped to the popup's width (72 with its frame): nothing cut at 80 columns.
        let width = 72usize.min(outer.width as usize).saturating_sub(2);
        lines.extend(crate::tui::component::wrap_line(
            Line::styled(
                "Type to edit the path. The export runs beside the screen; the footer counts \
                 its files until it is written.",
                p.dim,
            ),
            width,
            0,
        ));
        let area = popup_area(outer, 72, lines.len() as u16 + 2);
        let inner = popup_frame(p, frame, area, "export a report");
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
