//! Popups. They stack above the main screen (help above the diagnostics, say); the top one gets
//! every key. Each is a component of its own; their fixed keys (y, esc, enter, typing) are listed
//! in the footer while they are open.

mod export;
mod finder;
mod goto;
mod reset;
mod scrolled;

pub(crate) use export::ExportForm;
pub(crate) use finder::Finder;
pub(crate) use goto::GotoLine;
pub(crate) use reset::ConfirmReset;
pub use reset::ResetTarget;
pub use scrolled::Message;
pub(crate) use scrolled::{Scrolled, Text};

use super::component::{CommandInfo, Component, Ctx, Outcome};
use super::keymap::Action;
use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;

/// `$body` with `$c` bound to the popup inside, whatever its kind.
macro_rules! each {
    ($popup:expr, $c:ident => $body:expr) => {
        match $popup {
            Popup::Scrolled($c) => $body,
            Popup::ConfirmReset($c) => $body,
            Popup::Export($c) => $body,
            Popup::Finder($c) => $body,
            Popup::GotoLine($c) => $body,
        }
    };
}

#[derive(Debug)]
pub(crate) enum Popup {
    Scrolled(Scrolled),
    ConfirmReset(ConfirmReset),
    Export(ExportForm),
    Finder(Finder),
    GotoLine(GotoLine),
}

impl Popup {
    pub fn title(&self) -> &'static str {
        match self {
            Popup::Scrolled(s) => s.title(),
            Popup::ConfirmReset(_) => "reset coverage?",
            Popup::Export(_) => "export a report",
            Popup::Finder(_) => "find a file",
            Popup::GotoLine(_) => "go to line",
        }
    }

    /// A read-only text (help, diagnostics, messages): help may open above it.
    pub fn is_text(&self) -> bool {
        matches!(self, Popup::Scrolled(_))
    }

    fn inner(&self) -> &dyn Component {
        each!(self, c => c)
    }

    fn inner_mut(&mut self) -> &mut dyn Component {
        each!(self, c => c)
    }
}

impl Component for Popup {
    fn commands(&self, ctx: &Ctx) -> Vec<CommandInfo> {
        self.inner().commands(ctx)
    }

    fn on_key(&mut self, key: &KeyEvent, action: Option<Action>, ctx: &Ctx) -> Outcome {
        self.inner_mut().on_key(key, action, ctx)
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect) {
        self.inner().draw(ctx, frame, area)
    }
}

fn ctrl_or_alt(key: &KeyEvent) -> bool {
    key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Command;
    use crate::report::Format;
    use crossterm::event::{KeyCode, KeyEventKind, KeyEventState};

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
        let mut form = ExportForm::new(vec![Format::Text, Format::Json, Format::Markdown]);
        assert_eq!(form.path, "covtop-report.txt");
        form.handle_key(&key(KeyCode::Down));
        assert_eq!(form.path, "covtop-report.json");
        form.handle_key(&key(KeyCode::Backspace));
        form.handle_key(&key(KeyCode::Down));
        assert_eq!(form.path, "covtop-report.jso");
        assert_eq!(
            form.handle_key(&key(KeyCode::Enter)),
            Outcome::Send(Command::Export {
                format: Format::Markdown,
                path: "covtop-report.jso".into(),
                progress: crate::report::Progress::default(),
            })
        );
    }
}
