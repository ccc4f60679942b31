//! Go to a line of the source (`:`): type its number, enter.

use super::ctrl_or_alt;
use crate::tui::component::{CommandInfo, Component, Ctx, Outcome, popup_area, popup_frame};
use crate::tui::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

#[derive(Debug, Default)]
pub(crate) struct GotoLine {
    pub input: String,
}

impl Component for GotoLine {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        vec![
            CommandInfo::fixed("enter", "go", "Move the cursor to that line"),
            CommandInfo::fixed("esc", "cancel", "Close"),
        ]
    }

    fn on_key(&mut self, key: &KeyEvent, _action: Option<Action>, _ctx: &Ctx) -> Outcome {
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter => match self.input.parse::<u32>() {
                Ok(n) if n > 0 => Outcome::GotoLine(n),
                _ => Outcome::Close,
            },
            KeyCode::Backspace => {
                self.input.pop();
                Outcome::Consumed
            }
            // Digits only, and no more than a line number can have.
            KeyCode::Char(c) if c.is_ascii_digit() && !ctrl_or_alt(key) && self.input.len() < 9 => {
                self.input.push(c);
                Outcome::Consumed
            }
            _ => Outcome::Consumed,
        }
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, outer: Rect) {
        let p = ctx.palette;
        let area = popup_area(outer, 30, 3);
        let inner = popup_frame(p, frame, area, "go to line");
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(": ", p.key),
                Span::styled(format!("{}▏", self.input), p.text),
            ])),
            inner,
        );
    }
}
