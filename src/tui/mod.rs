//! The interactive monitor: a live tree of changed-line coverage beside the highlighted source
//! with hit/miss gutters.
//!
//! The screen is made of components ([`component`]): the header, the tree pane, the source pane,
//! the footer and the popups (help, diagnostics, messages, reset, export, finder). Each owns its
//! state, handles its keys, draws itself from `&self` and lists its commands for the footer and
//! the `?` help. [`App`] routes events to them and does no I/O (sources are read and highlighted
//! on a background thread), so it runs headless in tests; [`run`] is the terminal loop around it.
//! Keys are data ([`KeyMap`]).

mod app;
mod component;
pub mod editor;
mod footer;
mod header;
pub mod keymap;
mod popup;
mod run;
pub mod source;
mod source_pane;
mod text;
mod theme;
mod tree;
mod tree_pane;

pub use app::{App, Clock, Focus, MAX_INTERVAL, MIN_INTERVAL, TargetInfo, UiConfig};
pub use keymap::{Action, KeyMap, KeyMapError};
pub use popup::{Message, ResetTarget};
pub use run::run;
pub use theme::{CARRIED_GLYPH, Palette, Theme, status_glyph};
pub use tree::{FileFilter, SortOrder};
