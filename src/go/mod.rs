//! Go coverage: cover profiles (read, merge, write), import path → repository path through the
//! repository's go.mod files, and the projection of blocks onto repository lines.
//! See docs/rooms/go.md.

pub mod modules;
pub mod profile;
pub mod project;

pub use modules::{ModuleMap, module_path};
pub use profile::{Block, Field, MergeReport, Problem, Profile, ProfileError, parse};
pub use project::{Projection, project, project_file};
