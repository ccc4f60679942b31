//! The read-only popups that scroll: help (`?`), diagnostics (`D`) and the messages log (`L`).
//! Each builds its wrapped rows from what it shows, so drawing and scrolling agree on the count.

use crate::model::{DiagnosticKind, LineStatus};
use crate::tui::component::{
    CommandInfo, Component, Ctx, Outcome, clamp_scroll, draw_scrolled, scrolled_height, wrap_line,
};
use crate::tui::keymap::Action;
use crate::tui::text::clock_time;
use crate::tui::theme::{CARRIED_GLYPH, carried_style, status_glyph};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use std::time::SystemTime;

/// A line of the messages log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub at: SystemTime,
    pub text: String,
    pub error: bool,
}

/// Which read-only text the popup shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Help,
    Diagnostics,
    Messages,
}

#[derive(Debug)]
pub(crate) struct Scrolled {
    pub text: Text,
    scroll: usize,
    /// Help only: the commands of every component, by section.
    sections: Vec<(&'static str, Vec<CommandInfo>)>,
}

const WIDTH: u16 = 96;

impl Scrolled {
    pub fn help(sections: Vec<(&'static str, Vec<CommandInfo>)>) -> Self {
        Scrolled {
            text: Text::Help,
            scroll: 0,
            sections,
        }
    }

    pub fn new(text: Text) -> Self {
        Scrolled {
            text,
            scroll: 0,
            sections: Vec::new(),
        }
    }

    pub fn title(&self) -> &'static str {
        match self.text {
            Text::Help => "help",
            Text::Diagnostics => "diagnostics",
            Text::Messages => "messages",
        }
    }

    fn inner_width(outer: Rect) -> usize {
        WIDTH.min(outer.width).saturating_sub(2) as usize
    }

    fn rows(&self, ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
        let raw = match self.text {
            Text::Help => self.help_rows(ctx),
            Text::Diagnostics => diagnostics_rows(ctx),
            Text::Messages => messages_rows(ctx),
        };
        raw.into_iter()
            .flat_map(|l| wrap_line(l, width, 4))
            .collect()
    }

    fn help_rows(&self, ctx: &Ctx) -> Vec<Line<'static>> {
        let p = ctx.palette;
        let mut lines = Vec::new();
        for (title, commands) in &self.sections {
            lines.push(Line::styled(*title, p.title));
            for c in commands {
                let mut spans = vec![
                    Span::styled(format!("  {:<16}", c.keys), p.key),
                    Span::styled(c.description, p.text),
                ];
                if let Some(name) = c.name {
                    // The name `[keys]` in covtop.toml takes.
                    spans.push(Span::styled(format!("  [{name}]"), p.dim));
                }
                lines.push(Line::from(spans));
            }
        }
        let text = |s: &str| Line::styled(format!("  {s}"), p.text);
        lines.push(Line::styled("Source gutter: line, hits, mark", p.title));
        // The glyphs come from the theme, the same ones the panes draw.
        let status = |s: LineStatus| format!("  {}", status_glyph(s));
        let marks = [
            (
                status(LineStatus::Covered),
                p.covered,
                " covered: all the code on the line ran",
            ),
            (
                status(LineStatus::Partial),
                p.partial,
                " partial: some of it ran (Go: the part that did not is marked; JaCoCo: a branch not taken)",
            ),
            (
                status(LineStatus::Missed),
                p.missed,
                " missed: code on the line that did not run",
            ),
            (
                status(LineStatus::NotCoverable),
                p.text,
                " no code on the line (blank, comment, declaration)",
            ),
            (
                format!("  {CARRIED_GLYPH}"),
                carried_style(p),
                " carried: an older build ran the line, this build not yet",
            ),
            (
                "  +".to_string(),
                p.changed,
                " the line is changed on this branch",
            ),
            (
                "  »".to_string(),
                p.flash,
                " newly hit: ran since the previous poll (flashes)",
            ),
        ];
        for (glyph, style, meaning) in marks {
            lines.push(Line::from(vec![
                Span::styled(glyph, style),
                Span::styled(meaning, p.text),
            ]));
        }
        lines.push(text(
            "12 · 3k  how often the line ran (Go); hit / - : ran or not (JaCoCo counts no more)",
        ));
        lines.push(text(
            "--baseline: UNC new code not run · LBC lost coverage · GNC GBC CBC UBC",
        ));
        lines.push(Line::styled("File tree", p.title));
        lines.push(Line::from(vec![
            Span::styled("  ●", p.newly),
            Span::styled(" lines of the file ran since the previous poll", p.text),
        ]));
        lines.push(text(&format!(
            "{CARRIED_GLYPH} an older build ran changed lines of the file"
        )));
        lines.push(text(
            "███░ 62% 5/8  changed lines that ran / changed lines with code (all files: every line)",
        ));
        lines.push(text(
            "no data  changed lines in a file no agent reported yet · –  no code among them",
        ));
        lines.push(Line::styled("Header", p.title));
        lines.push(text(
            "● up ◐ slow ✗ down ○ gone: each replica; 3s since it last answered; e1 its epoch",
        ));
        lines.push(text(
            "  (a restart or a reset starts the next epoch; epochs add up)",
        ));
        lines.push(text(
            "⟳ every 2s polling · ⏸ paused · FROZEN screen frozen · ⧗ classes being analysed",
        ));
        lines.push(text(
            "⚠ diagnostics: what did not map (D) · ▁▃▅ changed-line coverage over time",
        ));
        lines.push(text(&format!(
            "Percentages: {} ([report] partial_as_covered), as in `report` and `check`",
            ctx.view.rule.describe()
        )));
        lines.push(Line::styled(
            "j/k scroll · [name]: the action's name for [keys] in covtop.toml · esc closes",
            p.dim,
        ));
        lines
    }
}

fn diagnostics_rows(ctx: &Ctx) -> Vec<Line<'static>> {
    let p = ctx.palette;
    let mut lines = Vec::new();
    if ctx.view.diagnostics.is_empty() {
        lines.push(Line::styled(
            "Nothing to report: all coverage mapped onto the repository.",
            p.dim,
        ));
    }
    for d in &ctx.view.diagnostics {
        let style = if d.kind == DiagnosticKind::TargetError {
            p.error
        } else {
            p.warn
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{}: ", d.kind.label()), style),
            Span::styled(crate::escape::field(&d.subject).into_owned(), p.title),
        ]));
        lines.push(Line::styled(
            format!("  {}", crate::escape::field(&d.message)),
            p.text,
        ));
        lines.push(Line::styled(
            format!("  fix: {}", crate::escape::field(&d.fix)),
            p.dim,
        ));
    }
    lines
}

fn messages_rows(ctx: &Ctx) -> Vec<Line<'static>> {
    let p = ctx.palette;
    if ctx.messages.is_empty() {
        return vec![Line::styled("No messages yet.", p.dim)];
    }
    // Newest first: what just happened is on top.
    ctx.messages
        .iter()
        .rev()
        .map(|m| {
            let (kind, style) = if m.error {
                ("error", p.error)
            } else {
                ("info", p.text)
            };
            Line::from(vec![
                Span::styled(format!("{} ", clock_time(m.at)), p.dim),
                Span::styled(format!("{kind}: {}", m.text), style),
            ])
        })
        .collect()
}

impl Component for Scrolled {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        vec![
            CommandInfo::fixed("j/k", "scroll", "Scroll"),
            CommandInfo::fixed("esc", "close", "Close"),
        ]
    }

    fn on_key(&mut self, _key: &KeyEvent, action: Option<Action>, ctx: &Ctx) -> Outcome {
        let total = self.rows(ctx, Self::inner_width(ctx.screen)).len();
        let height = scrolled_height(ctx.screen, total);
        let page = height.max(2) - 1;
        // Any key that does not scroll closes (the key that opened the popup too).
        self.scroll = match action {
            Some(Action::Down) => self.scroll + 1,
            Some(Action::Up) => self.scroll.saturating_sub(1),
            Some(Action::PageDown) => self.scroll + page,
            Some(Action::PageUp) => self.scroll.saturating_sub(page),
            Some(Action::Top | Action::LineStart) => 0,
            Some(Action::Bottom | Action::LineEnd) => usize::MAX,
            _ => return Outcome::Close,
        };
        self.scroll = clamp_scroll(self.scroll, total, height);
        Outcome::Consumed
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, outer: Rect) {
        let rows = self.rows(ctx, Self::inner_width(outer));
        draw_scrolled(
            ctx.palette,
            frame,
            outer,
            WIDTH,
            self.title(),
            rows,
            self.scroll,
        );
    }
}
