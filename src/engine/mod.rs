//! The engine owns the live state: it schedules polls, persists and applies dumps, builds Views
//! and executes commands from the UI or the headless commands.

use std::time::Duration;

/// What the UI (or a headless loop) asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Poll every target now.
    PollNow,
    /// Take a snapshot: poll, persist, and tell where it was stored.
    Dump,
    /// Dump and persist first, then reset these targets (all when empty).
    Reset {
        targets: Vec<String>,
    },
    /// From now on "newly hit" is measured from this moment.
    Mark,
    Pause(bool),
    SetInterval(Duration),
    /// Write a report in `format` to `path`.
    Export {
        format: String,
        path: String,
    },
    Quit,
}

/// What the engine tells the UI besides new Views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Info(String),
    Error(String),
}
