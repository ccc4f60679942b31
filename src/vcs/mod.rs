//! Git access: revisions, sources read from the object database at the deployed revision,
//! changed lines against a base (three-dot by default), and line maps between two revisions so
//! coverage of an older build carries over to the unchanged lines of a newer one.
//!
//! Everything is read from git objects, never from the checkout, except when a [`DiffSpec`] asks
//! for the working tree or untracked files. See `docs/rooms/vcs.md`.

mod changed;
mod error;
mod hunks;
mod line_map;
mod repo;
mod sources;
mod unified;

pub use error::{VcsError, plain_git_error};
pub use line_map::{LineMaps, NewCode};
pub use repo::Repo;
pub use sources::{GitSources, WorktreeSources};
pub use unified::{DiffParseError, parse_unified_diff};

/// The largest source file covtop reads (from git or the working tree): a larger one is named
/// and shown as unreadable, never read whole (a blob of zeros compresses to almost nothing).
pub const MAX_SOURCE_BYTES: u64 = 32 << 20;

use serde::Serialize;

/// A resolved commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Revision {
    /// Full commit id, 40 hex digits.
    pub oid: String,
    /// Abbreviated id, unique in the repository (`core.abbrev`, at least 7 digits).
    pub short: String,
    /// First line of the commit message.
    pub summary: String,
}

/// Which commits' changes count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeMode {
    /// `base...revision`: changes since the fork point, `merge-base(base, revision)` → revision.
    /// What diff-cover and SonarQube use; changes made on the base after the fork do not count.
    #[default]
    MergeBase,
    /// `base..revision`: tip to tip, e.g. "this commit vs the last deployed commit".
    TwoDot,
}

/// What to compare for [`Repo::changed_lines`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiffSpec {
    /// Any revision git understands: `origin/main`, a tag, a commit id.
    pub base: String,
    /// The revision the build was made from, usually `HEAD`.
    pub revision: String,
    pub range: RangeMode,
    /// Also count staged and unstaged edits of tracked files; `revision` must be the checked-out
    /// HEAD.
    pub working_tree: bool,
    /// Also count untracked, non-ignored files, whole; `revision` must be the checked-out HEAD.
    pub untracked: bool,
    /// Whitespace-only edits change no line (git's `--ignore-all-space`, `-w`).
    pub ignore_whitespace: bool,
    /// A renamed file counts only its edited lines; off, it counts whole as added.
    pub detect_renames: bool,
}

impl DiffSpec {
    /// Three-dot `base...revision`, committed changes only, renames detected.
    pub fn new(base: impl Into<String>, revision: impl Into<String>) -> Self {
        DiffSpec {
            base: base.into(),
            revision: revision.into(),
            range: RangeMode::MergeBase,
            working_tree: false,
            untracked: false,
            ignore_whitespace: false,
            detect_renames: true,
        }
    }
}
