//! The footer row: the commands of what has the keys (the focused pane and the global ones, or
//! the open popup's), and on its right the status messages still fresh — several at once, on
//! their own row, never over a pane's border. Every message also stays in the messages log (`L`).

use super::component::{CommandInfo, Component, Ctx};
use super::popup::Message;
use crate::report::Progress;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::time::{Duration, Instant};

const SHOWN_INFO: Duration = Duration::from_secs(4);
const SHOWN_ERROR: Duration = Duration::from_secs(8);
/// Fresh messages shown at once (the newest); the log has them all.
const SHOWN_AT_ONCE: usize = 3;

#[derive(Debug, Default)]
pub(crate) struct Footer {
    /// The commands to list, set by the app from what has the keys.
    pub commands: Vec<CommandInfo>,
    /// Fresh messages and until when they show.
    status: Vec<(Message, Instant)>,
    /// Exports running beside the screen, until a message names the path.
    exporting: Vec<Running>,
}

/// An export the engine writes beside the screen.
#[derive(Debug)]
struct Running {
    /// (format, path)
    what: (String, String),
    progress: Progress,
    /// The progress on screen, to redraw when it moves.
    shown: (usize, usize),
}

impl Footer {
    /// An export was sent: it shows as running, with the files it has written, until a message
    /// names its path.
    pub fn exporting(&mut self, format: &str, path: &str, progress: Progress) {
        self.exporting.push(Running {
            what: (format.to_string(), path.to_string()),
            shown: progress.get(),
            progress,
        });
    }

    /// The exports still running.
    pub fn running(&self) -> impl Iterator<Item = &(String, String)> {
        self.exporting.iter().map(|r| &r.what)
    }

    /// True if a running export wrote files since the last call (the footer shows how many).
    pub fn progress_moved(&mut self) -> bool {
        let mut moved = false;
        for r in &mut self.exporting {
            let now = r.progress.get();
            moved |= now != r.shown;
            r.shown = now;
        }
        moved
    }

    pub fn push(&mut self, message: Message) {
        // The engine's answer to an export (written, or why not) names its path.
        self.exporting
            .retain(|r| !message.text.contains(r.what.1.as_str()));
        let shown = if message.error {
            SHOWN_ERROR
        } else {
            SHOWN_INFO
        };
        // The same message again (a key pressed at a limit) shows once, for longer; the log
        // keeps each.
        self.status.retain(|(m, _)| m.text != message.text);
        self.status.push((message, Instant::now() + shown));
        if self.status.len() > SHOWN_AT_ONCE {
            self.status.remove(0);
        }
    }

    /// Drops the messages whose time is up; true if one went.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.status.len();
        self.status.retain(|(_, until)| *until > now);
        self.status.len() != before
    }

    /// The status messages on screen, oldest first.
    pub fn status(&self) -> impl Iterator<Item = &Message> {
        self.status.iter().map(|(m, _)| m)
    }

    /// The hints: first key and label of every command that has a label.
    pub fn hints(&self) -> Vec<(String, &'static str)> {
        self.commands.iter().filter_map(CommandInfo::hint).collect()
    }
}

impl Component for Footer {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        Vec::new()
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect) {
        let p = ctx.palette;
        let mut spans = Vec::new();
        for (key, label) in self.hints() {
            spans.push(Span::styled(format!(" {key}"), p.key));
            spans.push(Span::styled(format!(" {label} "), p.dim));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        if self.status.is_empty() && self.exporting.is_empty() {
            return;
        }
        // The messages, newest last, at the right; what does not fit goes from the oldest.
        let mut status: Vec<Span> = Vec::new();
        let running = self.exporting.iter().map(|r| {
            let (format, path) = &r.what;
            // Files written of the total, once the writer knows it.
            let count = match r.progress.get() {
                (_, 0) => String::new(),
                (done, total) => format!(" {done}/{total}"),
            };
            (format!("⧗ exporting {format} to {path}…{count}"), p.warn)
        });
        let fresh = self
            .status
            .iter()
            .map(|(m, _)| (m.text.clone(), if m.error { p.error } else { p.key }));
        for (i, (text, style)) in running.chain(fresh).enumerate() {
            if i > 0 {
                status.push(Span::styled(" · ", p.dim.patch(p.popup)));
            }
            status.push(Span::styled(text, style.patch(p.popup)));
        }
        status.insert(0, Span::styled(" ", p.popup));
        status.push(Span::styled(" ", p.popup));
        let mut line = Line::from(status);
        while line.width() > area.width as usize && line.spans.len() > 3 {
            // Drop the oldest message and its separator.
            line.spans.drain(1..3);
        }
        let width = (line.width() as u16).min(area.width);
        let at = Rect {
            x: area.x + area.width - width,
            width,
            ..area
        };
        frame.render_widget(ratatui::widgets::Clear, at);
        frame.render_widget(Paragraph::new(line), at);
    }
}
