//! Where each line of an old revision is in a new one, so coverage of an older build carries over
//! to the unchanged lines of the new build.

use super::changed::{RENAME_LIMIT, diff_options, path_of};
use super::hunks::{Hunk, added_lines, map_old_line};
use super::{Repo, Revision, VcsError};
use std::collections::{HashMap, HashSet};

/// Line maps from one revision to another, per old path.
///
/// Unchanged lines map 1:1 with the offsets of earlier edits; edited and deleted lines, lines of
/// deleted files and of changed binary files map nowhere; renames are followed. A path the diff
/// does not touch maps every line to itself (the maps do not know which paths exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineMaps {
    files: HashMap<String, FileMap>,
    /// New-side paths whose every line is new: added files, and changed binary files.
    added_files: HashSet<String>,
    /// Added or modified new-side lines per new path of a modified or renamed file.
    added_lines: HashMap<String, Vec<u32>>,
}

/// Which lines of a new-side file have no preimage in the old revision (lcov's "new code").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewCode<'a> {
    /// The file is unchanged (or only moved): no line is new.
    None,
    /// These lines (sorted) were added or modified; every other line maps back.
    Lines(&'a [u32]),
    /// The file did not exist in the old revision: every line is new.
    Whole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FileMap {
    /// Deleted, or a binary file that changed: no line has an image.
    Gone,
    Moved {
        new_path: String,
        hunks: Vec<Hunk>,
    },
}

impl LineMaps {
    /// The new path and line of `old_line` (1-based) of `old_path`, if that line is unchanged.
    pub fn map(&self, old_path: &str, old_line: u32) -> Option<(String, u32)> {
        if old_line == 0 {
            return None;
        }
        match self.files.get(old_path) {
            None => Some((old_path.to_string(), old_line)),
            Some(FileMap::Gone) => None,
            Some(FileMap::Moved { new_path, hunks }) => {
                map_old_line(hunks, old_line).map(|line| (new_path.clone(), line))
            }
        }
    }

    /// The path `old_path` has in the new revision, `None` when it was deleted.
    pub fn new_path<'a>(&'a self, old_path: &'a str) -> Option<&'a str> {
        match self.files.get(old_path) {
            None => Some(old_path),
            Some(FileMap::Gone) => None,
            Some(FileMap::Moved { new_path, .. }) => Some(new_path),
        }
    }

    /// True when no file changed between the two revisions.
    pub fn is_identity(&self) -> bool {
        self.files.is_empty() && self.added_files.is_empty()
    }

    /// The lines of `new_path` (a path of the new revision) that are new code.
    pub fn new_code(&self, new_path: &str) -> NewCode<'_> {
        if self.added_files.contains(new_path) {
            return NewCode::Whole;
        }
        match self.added_lines.get(new_path) {
            Some(lines) if !lines.is_empty() => NewCode::Lines(lines),
            _ => NewCode::None,
        }
    }

    /// True when `new_line` of `new_path` has no preimage in the old revision.
    pub fn is_new(&self, new_path: &str, new_line: u32) -> bool {
        match self.new_code(new_path) {
            NewCode::None => false,
            NewCode::Lines(lines) => lines.binary_search(&new_line).is_ok(),
            NewCode::Whole => true,
        }
    }
}

impl Repo {
    /// Line maps from `old` to `new` (tip to tip, renames followed, whitespace significant).
    pub fn line_map(&self, old: &Revision, new: &Revision) -> Result<LineMaps, VcsError> {
        let old_tree = self.tree_of(old)?;
        let new_tree = self.tree_of(new)?;
        let mut options = diff_options(false);
        let mut diff = self
            .git()
            .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut options))
            .map_err(|source| {
                self.error(
                    format!("diffing {} against {}", old.short, new.short),
                    source,
                )
            })?;
        let mut find = git2::DiffFindOptions::new();
        find.renames(true).rename_limit(RENAME_LIMIT);
        diff.find_similar(Some(&mut find))
            .map_err(|source| self.error("detecting renames".into(), source))?;

        let mut maps = LineMaps::default();
        for index in 0..diff.deltas().len() {
            let Some(delta) = diff.get_delta(index) else {
                continue;
            };
            let old_path = path_of(&delta.old_file());
            let new_path = path_of(&delta.new_file());
            let map = match delta.status() {
                git2::Delta::Deleted => FileMap::Gone,
                git2::Delta::Added | git2::Delta::Copied => {
                    maps.added_files.insert(new_path);
                    continue;
                }
                git2::Delta::Modified | git2::Delta::Renamed | git2::Delta::Typechange => {
                    if delta.old_file().id() == delta.new_file().id() {
                        FileMap::Moved {
                            new_path,
                            hunks: Vec::new(),
                        }
                    } else {
                        match self.text_hunks(&diff, index, &old_path)? {
                            Some(hunks) => {
                                maps.added_lines
                                    .insert(new_path.clone(), added_lines(&hunks));
                                FileMap::Moved { new_path, hunks }
                            }
                            None => {
                                maps.added_files.insert(new_path);
                                FileMap::Gone
                            }
                        }
                    }
                }
                // Nothing else occurs in a tree-to-tree diff.
                _ => continue,
            };
            maps.files.insert(old_path, map);
        }
        Ok(maps)
    }
}
