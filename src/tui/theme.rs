//! Colours. Every status is also shown by a glyph (`✓ ~ ✗ ·`), so with [`Theme::NoColor`] (the
//! `NO_COLOR` convention) nothing is lost: that theme uses no colour at all, only modifiers.

use crate::model::LineStatus;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Dark,
    Light,
    NoColor,
}

impl Theme {
    /// `NO_COLOR` set and non-empty wins over the configured theme (https://no-color.org).
    pub fn honour_no_color(self, no_color_env: Option<&str>) -> Theme {
        match no_color_env {
            Some(v) if !v.is_empty() => Theme::NoColor,
            _ => self,
        }
    }

    pub fn palette(self) -> Palette {
        match self {
            Theme::Dark => Palette {
                colored: true,
                text: Style::new(),
                dim: Style::new().fg(Color::DarkGray),
                title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                focus_border: Style::new().fg(Color::Cyan),
                border: Style::new().fg(Color::DarkGray),
                selected: Style::new()
                    .bg(Color::Rgb(50, 60, 80))
                    .add_modifier(Modifier::BOLD),
                covered: Style::new().fg(Color::Green),
                partial: Style::new().fg(Color::Yellow),
                missed: Style::new().fg(Color::Red),
                uncovered_code: Style::new()
                    .bg(Color::Rgb(90, 20, 20))
                    .add_modifier(Modifier::UNDERLINED),
                flash: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
                newly: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                changed: Style::new().fg(Color::Magenta),
                cursor_line: Style::new().bg(Color::Rgb(40, 40, 50)),
                key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                warn: Style::new().fg(Color::Yellow),
                popup: Style::new().bg(Color::Rgb(25, 25, 35)),
                demo: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Magenta)
                    .add_modifier(Modifier::BOLD),
                syntax: Some(&crate::present::source::DARK_SYNTAX),
            },
            Theme::Light => Palette {
                colored: true,
                text: Style::new().fg(Color::Black),
                dim: Style::new().fg(Color::Gray),
                title: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                focus_border: Style::new().fg(Color::Blue),
                border: Style::new().fg(Color::Gray),
                selected: Style::new()
                    .bg(Color::Rgb(200, 215, 240))
                    .add_modifier(Modifier::BOLD),
                covered: Style::new().fg(Color::Rgb(0, 120, 0)),
                partial: Style::new().fg(Color::Rgb(160, 110, 0)),
                missed: Style::new().fg(Color::Rgb(190, 0, 0)),
                uncovered_code: Style::new()
                    .bg(Color::Rgb(255, 205, 205))
                    .add_modifier(Modifier::UNDERLINED),
                flash: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Rgb(255, 230, 120))
                    .add_modifier(Modifier::BOLD),
                newly: Style::new()
                    .fg(Color::Rgb(170, 90, 0))
                    .add_modifier(Modifier::BOLD),
                changed: Style::new().fg(Color::Rgb(150, 0, 150)),
                cursor_line: Style::new().bg(Color::Rgb(235, 235, 245)),
                key: Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                error: Style::new()
                    .fg(Color::Rgb(190, 0, 0))
                    .add_modifier(Modifier::BOLD),
                warn: Style::new().fg(Color::Rgb(160, 110, 0)),
                popup: Style::new().bg(Color::Rgb(245, 245, 250)),
                demo: Style::new()
                    .fg(Color::White)
                    .bg(Color::Magenta)
                    .add_modifier(Modifier::BOLD),
                syntax: Some(&crate::present::source::LIGHT_SYNTAX),
            },
            Theme::NoColor => Palette {
                colored: false,
                text: Style::new(),
                dim: Style::new().add_modifier(Modifier::DIM),
                title: Style::new().add_modifier(Modifier::BOLD),
                focus_border: Style::new().add_modifier(Modifier::BOLD),
                border: Style::new(),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                covered: Style::new(),
                partial: Style::new(),
                missed: Style::new().add_modifier(Modifier::BOLD),
                uncovered_code: Style::new().add_modifier(Modifier::UNDERLINED),
                flash: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                newly: Style::new().add_modifier(Modifier::BOLD),
                changed: Style::new().add_modifier(Modifier::BOLD),
                cursor_line: Style::new().add_modifier(Modifier::BOLD),
                key: Style::new().add_modifier(Modifier::BOLD),
                error: Style::new().add_modifier(Modifier::BOLD),
                warn: Style::new().add_modifier(Modifier::BOLD),
                popup: Style::new(),
                demo: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                syntax: None,
            },
        }
    }
}

impl std::str::FromStr for Theme {
    type Err = String;

    /// Reads `theme = "dark" | "light" | "no-color"` from covtop.toml.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => Ok(Theme::Dark),
            "light" => Ok(Theme::Light),
            "no-color" | "nocolor" | "none" => Ok(Theme::NoColor),
            other => Err(format!(
                "unknown theme {other:?}: use \"dark\", \"light\" or \"no-color\""
            )),
        }
    }
}

/// The styles the screen is drawn with.
#[derive(Debug, Clone)]
pub struct Palette {
    pub colored: bool,
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub focus_border: Style,
    pub border: Style,
    pub selected: Style,
    pub covered: Style,
    pub partial: Style,
    pub missed: Style,
    /// Go byte ranges of a partial line that did not run.
    pub uncovered_code: Style,
    /// Lines newly hit by the last View, for a moment.
    pub flash: Style,
    /// The tree marker of files with newly hit lines.
    pub newly: Style,
    pub changed: Style,
    pub cursor_line: Style,
    pub key: Style,
    pub error: Style,
    pub warn: Style,
    pub popup: Style,
    pub demo: Style,
    /// The colours of the one highlighter's tokens; `None` draws the code in the text colour.
    pub syntax: Option<&'static crate::present::source::SyntaxTheme>,
}

impl Palette {
    pub fn status(&self, status: LineStatus) -> Style {
        match status {
            LineStatus::Covered => self.covered,
            LineStatus::Partial => self.partial,
            LineStatus::Missed => self.missed,
            LineStatus::NotCoverable => self.dim,
        }
    }

    /// Style for a coverage percentage: green from 80 %, yellow from 50 %, red below.
    pub fn percent(&self, percent: Option<f64>) -> Style {
        match percent {
            None => self.dim,
            Some(p) if p >= 80.0 => self.covered,
            Some(p) if p >= 50.0 => self.partial,
            Some(_) => self.missed,
        }
    }
}

/// Carried coverage: the covered colour, dimmed, beside its own glyph.
pub(crate) fn carried_style(p: &Palette) -> ratatui::style::Style {
    p.covered.add_modifier(ratatui::style::Modifier::DIM)
}

pub use crate::present::{CARRIED_GLYPH, status_glyph};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_names_parse_and_bad_ones_say_what_to_use() {
        assert_eq!("Light".parse::<Theme>(), Ok(Theme::Light));
        assert_eq!("no-color".parse::<Theme>(), Ok(Theme::NoColor));
        let e = "solarized".parse::<Theme>().unwrap_err();
        assert!(e.contains("\"solarized\"") && e.contains("no-color"), "{e}");
    }

    #[test]
    fn no_color_palette_has_no_colour() {
        let p = Theme::NoColor.palette();
        for s in [
            p.text,
            p.dim,
            p.covered,
            p.partial,
            p.missed,
            p.flash,
            p.uncovered_code,
            p.selected,
        ] {
            assert_eq!((s.fg, s.bg), (None, None));
        }
        assert!(p.syntax.is_none());
    }
}
