//! The interactive monitor: a live tree of changed-line coverage beside the highlighted source
//! with hit/miss gutters.
//!
//! [`App`] holds all UI state and does no I/O (sources are read and highlighted on a background
//! thread), so it runs headless in tests; [`run`] is the terminal loop around it. Keys are data
//! ([`KeyMap`]): the footer and the `?` overlay are drawn from the same table.

mod app;
mod draw;
pub mod keymap;
mod popup;
mod run;
pub mod source;
mod theme;
mod tree;

pub use app::{App, Clock, Focus, MAX_INTERVAL, MIN_INTERVAL, TargetInfo, UiConfig};
pub use keymap::{Action, KeyMap, KeyMapError};
pub use popup::ResetTarget;
pub use run::run;
pub use theme::{CARRIED_GLYPH, Palette, Theme, status_glyph};
pub use tree::{FileFilter, SortOrder};
