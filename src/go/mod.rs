//! Go coverage: cover profiles (read, merge, write), import path → repository path through the
//! repository's go.mod files, and the projection of blocks onto repository lines.
//! See docs/rooms/go.md.

pub mod funcs;
pub mod layout;
pub mod modules;
pub mod profile;
pub mod project;

pub use funcs::{FuncExtent, all_statements, file_statements, func_extents, func_statements};
pub use modules::{ModuleMap, module_path};
pub use profile::{Block, Field, MergeReport, Problem, Profile, ProfileError, parse};
pub use project::{Projection, changed_statements, code_lines, project, project_file};
