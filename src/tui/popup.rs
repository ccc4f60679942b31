//! Popups. They stack above the main screen (help above a confirm dialog, say); the top one gets
//! every key. Their own keys (y, esc, enter, typing) are fixed and written inside the popup.

use crate::engine::Command;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use super::keymap::Action;

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
pub enum Popup {
    Help { scroll: u16 },
    ConfirmReset { targets: Vec<ResetTarget> },
    Export(ExportForm),
    Finder(Finder),
    Diagnostics { scroll: u16 },
    Notices { scroll: u16 },
}

/// What a key did to the top popup.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Close,
    /// Close and send this command to the engine.
    Send(Command),
    /// Close and show this file.
    JumpTo(String),
}

impl Popup {
    pub fn title(&self) -> &'static str {
        match self {
            Popup::Help { .. } => "help",
            Popup::ConfirmReset { .. } => "reset coverage?",
            Popup::Export(_) => "export a report",
            Popup::Finder(_) => "find a file",
            Popup::Diagnostics { .. } => "diagnostics",
            Popup::Notices { .. } => "messages",
        }
    }

    /// `action` is what the key means in the key map (so `?` closes help and `D` diagnostics,
    /// whatever they are bound to).
    pub fn handle_key(&mut self, key: &KeyEvent, action: Option<Action>) -> Outcome {
        match self {
            Popup::Help { scroll } | Popup::Diagnostics { scroll } | Popup::Notices { scroll } => {
                // Help, diagnostics and messages close on any key that does not scroll them.
                match action {
                    Some(Action::Down) => *scroll = scroll.saturating_add(1),
                    Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                    Some(Action::PageDown) => *scroll = scroll.saturating_add(10),
                    Some(Action::PageUp) => *scroll = scroll.saturating_sub(10),
                    Some(Action::Top) => *scroll = 0,
                    _ => return Outcome::Close,
                }
                Outcome::Keep
            }
            Popup::ConfirmReset { .. } => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) && !ctrl_or_alt(key)
                {
                    // The dialog named every target: reset them all.
                    Outcome::Send(Command::Reset {
                        targets: Vec::new(),
                    })
                } else {
                    Outcome::Close
                }
            }
            Popup::Export(form) => form.handle_key(key),
            Popup::Finder(finder) => finder.handle_key(key),
        }
    }
}

fn ctrl_or_alt(key: &KeyEvent) -> bool {
    key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// The export dialog: a format among those the engine offers, and a path.
#[derive(Debug)]
pub struct ExportForm {
    pub formats: Vec<String>,
    pub selected: usize,
    pub path: String,
    /// Once the user typed a path, changing the format no longer rewrites it.
    pub path_edited: bool,
}

impl ExportForm {
    pub fn new(formats: Vec<String>) -> Self {
        let mut form = ExportForm {
            formats,
            selected: 0,
            path: String::new(),
            path_edited: false,
        };
        form.path = form.default_path();
        form
    }

    pub fn format(&self) -> &str {
        self.formats
            .get(self.selected)
            .map_or("text", String::as_str)
    }

    pub fn default_path(&self) -> String {
        let ext = match self.format() {
            "text" => "txt",
            "markdown" => "md",
            "cobertura" | "jacoco-xml" => "xml",
            "lcov" => "lcov",
            other => other,
        };
        format!("covtop-report.{ext}")
    }

    fn handle_key(&mut self, key: &KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter => {
                if self.path.trim().is_empty() {
                    Outcome::Keep
                } else {
                    Outcome::Send(Command::Export {
                        format: self.format().to_string(),
                        path: self.path.trim().to_string(),
                    })
                }
            }
            KeyCode::Up | KeyCode::BackTab => {
                self.select(
                    (self.selected + self.formats.len().max(1) - 1) % self.formats.len().max(1),
                );
                Outcome::Keep
            }
            KeyCode::Down | KeyCode::Tab => {
                self.select((self.selected + 1) % self.formats.len().max(1));
                Outcome::Keep
            }
            KeyCode::Backspace => {
                self.path.pop();
                self.path_edited = true;
                Outcome::Keep
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.path.clear();
                self.path_edited = true;
                Outcome::Keep
            }
            KeyCode::Char(c) if !ctrl_or_alt(key) => {
                self.path.push(c);
                self.path_edited = true;
                Outcome::Keep
            }
            _ => Outcome::Keep,
        }
    }

    fn select(&mut self, i: usize) {
        self.selected = i;
        if !self.path_edited {
            self.path = self.default_path();
        }
    }
}

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

    fn handle_key(&mut self, key: &KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Enter => match self.matches.get(self.selected) {
                Some((i, _)) => Outcome::JumpTo(self.path(*i).to_string()),
                None => Outcome::Keep,
            },
            KeyCode::Up => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Keep
            }
            KeyCode::Char('p') if ctrl => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Keep
            }
            KeyCode::Down | KeyCode::Tab => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                Outcome::Keep
            }
            KeyCode::Char('n') if ctrl => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                Outcome::Keep
            }
            KeyCode::Backspace => {
                self.query.pop();
                self.refresh();
                Outcome::Keep
            }
            KeyCode::Char(c) if !ctrl_or_alt(key) => {
                self.query.push(c);
                self.refresh();
                Outcome::Keep
            }
            _ => Outcome::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn finder_ranks_fuzzy_matches() {
        let mut f = Finder::new(vec![
            "api/api.go".into(),
            "cart/cart.go".into(),
            "pricing/pricing.go".into(),
            "src/main/java/shop/Cart.java".into(),
        ]);
        for c in "crtjava".chars() {
            f.handle_key(&key(KeyCode::Char(c)));
        }
        assert_eq!(f.matches.len(), 1);
        assert_eq!(
            f.handle_key(&key(KeyCode::Enter)),
            Outcome::JumpTo("src/main/java/shop/Cart.java".into())
        );
    }

    #[test]
    fn export_path_follows_the_format_until_edited() {
        let mut form = ExportForm::new(vec!["text".into(), "json".into(), "markdown".into()]);
        assert_eq!(form.path, "covtop-report.txt");
        form.handle_key(&key(KeyCode::Down));
        assert_eq!(form.path, "covtop-report.json");
        form.handle_key(&key(KeyCode::Backspace));
        form.handle_key(&key(KeyCode::Down));
        assert_eq!(form.path, "covtop-report.jso");
        assert_eq!(
            form.handle_key(&key(KeyCode::Enter)),
            Outcome::Send(Command::Export {
                format: "markdown".into(),
                path: "covtop-report.jso".into()
            })
        );
    }
}
