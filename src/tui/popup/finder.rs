//! The fuzzy file finder (`/`).

use super::ctrl_or_alt;
use crate::tui::component::{CommandInfo, Component, Ctx, Outcome, popup_area, popup_frame};
use crate::tui::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The fuzzy file finder.
pub struct Finder {
    pub query: String,
    /// Every path of the View, in View order.
    paths: Vec<String>,
    /// Matches, best first: (index into `paths`, matched char positions).
    pub matches: Vec<(usize, Vec<u32>)>,
    pub selected: usize,
    matcher: Matcher,
}

impl std::fmt::Debug for Finder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finder")
            .field("query", &self.query)
            .field("matches", &self.matches.len())
            .finish()
    }
}

/// Matches shown at most (the list is a jump aid, not a browser).
const FINDER_MAX: usize = 200;

impl Finder {
    pub fn new(paths: Vec<String>) -> Self {
        let mut f = Finder {
            query: String::new(),
            paths,
            matches: Vec::new(),
            selected: 0,
            matcher: Matcher::new(Config::DEFAULT.match_paths()),
        };
        f.refresh();
        f
    }

    pub fn path(&self, index: usize) -> &str {
        self.paths.get(index).map_or("", String::as_str)
    }

    fn refresh(&mut self) {
        self.selected = 0;
        self.matches.clear();
        if self.query.is_empty() {
            self.matches = (0..self.paths.len().min(FINDER_MAX))
                .map(|i| (i, Vec::new()))
                .collect();
            return;
        }
        let pattern = Pattern::parse(&self.query, CaseMatching::Smart, Normalization::Smart);
        let mut scored: Vec<(u32, usize, Vec<u32>)> = Vec::new();
        let mut buf = Vec::new();
        for (i, path) in self.paths.iter().enumerate() {
            let hay = Utf32Str::new(path, &mut buf);
            let mut indices = Vec::new();
            if let Some(score) = pattern.indices(hay, &mut self.matcher, &mut indices) {
                indices.sort_unstable();
                indices.dedup();
                scored.push((score, i, indices));
            }
        }
        // Best score first; ties in path order so the list is stable while typing.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        self.matches = scored
            .into_iter()
            .take(FINDER_MAX)
            .map(|(_, i, idx)| (i, idx))
            .collect();
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter => match self.matches.get(self.selected) {
                Some((i, _)) => Outcome::JumpTo(self.path(*i).to_string()),
                None => Outcome::Consumed,
            },
            KeyCode::Up => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Consumed
            }
            KeyCode::Char('p') if ctrl => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Consumed
            }
            KeyCode::Down | KeyCode::Tab => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                Outcome::Consumed
            }
            KeyCode::Char('n') if ctrl => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                Outcome::Consumed
            }
            KeyCode::Backspace => {
                self.query.pop();
                self.refresh();
                Outcome::Consumed
            }
            KeyCode::Char(c) if !ctrl_or_alt(key) => {
                self.query.push(c);
                self.refresh();
                Outcome::Consumed
            }
            _ => Outcome::Consumed,
        }
    }
}

impl Component for Finder {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        vec![
            CommandInfo::fixed("enter", "open", "Show the chosen file"),
            CommandInfo::fixed("↑/↓", "choose", "Move among the matches"),
            CommandInfo::fixed("esc", "cancel", "Close the finder"),
        ]
    }

    fn on_key(&mut self, key: &KeyEvent, _action: Option<Action>, _ctx: &Ctx) -> Outcome {
        self.handle_key(key)
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, outer: Rect) {
        let p = ctx.palette;
        let height = outer.height.saturating_sub(4).clamp(5, 24);
        let area = popup_area(outer, 80, height);
        let inner = popup_frame(p, frame, area, "find a file");
        let mut lines = vec![Line::from(vec![
            Span::styled("/ ", p.key),
            Span::styled(format!("{}▏", self.query), p.text),
            Span::styled(format!("  {} files", self.matches.len()), p.dim),
        ])];
        let visible = inner.height.saturating_sub(1) as usize;
        let first = self.selected.saturating_sub(visible.saturating_sub(1));
        for (i, (index, matched)) in self.matches.iter().enumerate().skip(first).take(visible) {
            let path = self.path(*index);
            let mut spans = vec![Span::raw(if i == self.selected { "▸ " } else { "  " })];
            for (ci, ch) in path.chars().enumerate() {
                let hit = matched.binary_search(&(ci as u32)).is_ok();
                spans.push(Span::styled(
                    crate::escape::field(ch.encode_utf8(&mut [0; 4])).into_owned(),
                    if hit { p.key } else { p.text },
                ));
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
