//! The reset confirmation: names every target and its replicas, warns that a JaCoCo reset is
//! global to the JVM, and resets only on `y`.

use super::ctrl_or_alt;
use crate::engine::Command;
use crate::tui::component::{CommandInfo, Component, Ctx, Outcome, popup_area, popup_frame};
use crate::tui::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// A target as the reset dialog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetTarget {
    pub name: String,
    pub kind: String,
    pub replicas: Vec<String>,
}

impl ResetTarget {
    /// JaCoCo's reset clears the probes of the whole JVM, for every user of it.
    pub fn reset_is_global(&self) -> bool {
        self.kind.eq_ignore_ascii_case("jacoco")
    }
}

#[derive(Debug)]
pub(crate) struct ConfirmReset {
    pub targets: Vec<ResetTarget>,
}

impl Component for ConfirmReset {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        vec![
            CommandInfo::fixed("y", "reset", "Dump, store, then reset these targets"),
            CommandInfo::fixed("any other key", "cancel", "Close without resetting"),
        ]
    }

    fn on_key(&mut self, key: &KeyEvent, _action: Option<Action>, _ctx: &Ctx) -> Outcome {
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) && !ctrl_or_alt(key) {
            // The dialog named every target: reset them all.
            Outcome::Send(Command::Reset {
                targets: Vec::new(),
            })
        } else {
            Outcome::Close
        }
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, outer: Rect) {
        let p = ctx.palette;
        let mut lines = vec![
            Line::styled(
                "Dump and store the coverage now, then reset the agents of:",
                p.text,
            ),
            Line::raw(""),
        ];
        if self.targets.is_empty() {
            lines.push(Line::styled("  (no targets configured)", p.dim));
        }
        for t in &self.targets {
            let replicas = if t.replicas.is_empty() {
                "no replicas seen".to_string()
            } else {
                crate::escape::field(&t.replicas.join(", ")).into_owned()
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {} ", crate::escape::field(&t.name)), p.title),
                Span::styled(format!("({}): ", t.kind), p.dim),
                Span::styled(replicas, p.text),
            ]));
            if t.reset_is_global() {
                lines.push(Line::styled(
                    "    ⚠ JaCoCo's reset is global to the JVM: everyone testing",
                    p.warn,
                ));
                lines.push(Line::styled(
                    "      against it loses the coverage not dumped yet",
                    p.warn,
                ));
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(" y ", p.key),
            Span::styled("reset  ", p.text),
            Span::styled(" any other key ", p.key),
            Span::styled("cancel", p.text),
        ]));
        let area = popup_area(outer, 76, lines.len() as u16 + 2);
        let inner = popup_frame(p, frame, area, "reset coverage?");
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}
