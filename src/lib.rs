//! covtop: `top` for code coverage.
//!
//! The flow runs one way: [`target`] collects raw dumps from coverage agents, the [`session`] store
//! persists them, the decoders in [`go`] and [`java`] turn them into language data, the [`engine`]
//! accumulates them per epoch and projects them onto repository lines, and joins that with the
//! changed lines from [`vcs`] into an immutable [`model::View`] that [`tui`] and [`report`] render.
//! See `docs/ARCHITECTURE.md`.

pub mod agent;
pub mod atomic_file;
pub mod bounded_read;
pub mod config;
pub mod demo;
pub mod digits;
pub mod engine;
pub mod escape;
pub mod go;
pub mod guard;
pub mod java;
pub mod model;
pub mod present;
pub mod redact;
pub mod report;
pub mod session;
pub mod tui;
pub mod vcs;
pub mod watch;
