//! Changed lines between a base and a revision, optionally including the working tree.
//!
//! Working tree: rather than composing the committed diff (base side → revision) with a second
//! diff (revision → working tree) and carrying each committed line through the second one, the
//! working-tree case diffs the base side directly against the index + working directory (what
//! `git diff <merge-base>` shows: staged and unstaged edits together). Lines are then numbered on
//! the working-tree side by construction, so a line changed in a commit and shifted by a later
//! working-tree edit sits at its new position; a line changed in a commit and edited back to its
//! base content in the working tree is, correctly, no longer changed.

use super::hunks::{Hunk, added_lines, deletion_markers};
use super::{DiffSpec, RangeMode, Repo, Revision, VcsError};
use crate::model::{ChangeKind, ChangedFile, ChangedLines};

/// git's default `diff.renameLimit`; libgit2 defaults to a smaller one.
pub(crate) const RENAME_LIMIT: usize = 1000;

impl Repo {
    /// The commit the changes of `spec` are counted from: the merge base of base and revision
    /// (three-dot) or the base itself (two-dot). Shown to users as "changes since ...".
    pub fn diff_base(&self, spec: &DiffSpec) -> Result<Revision, VcsError> {
        let revision = self.resolve(&spec.revision)?;
        let base = self.resolve(&spec.base)?;
        let old = self.old_side(spec, &base, &revision)?;
        self.revision_of(&old)
    }

    /// The common ancestor of `a` and `b` (`git merge-base a b`).
    pub fn merge_base(&self, a: &Revision, b: &Revision) -> Result<Revision, VcsError> {
        let spec = DiffSpec::new(a.oid.clone(), b.oid.clone());
        let old = self.old_side(&spec, a, b)?;
        self.revision_of(&old)
    }

    fn old_side(
        &self,
        spec: &DiffSpec,
        base: &Revision,
        revision: &Revision,
    ) -> Result<git2::Commit<'_>, VcsError> {
        let base_commit = self.commit_of(base)?;
        match spec.range {
            RangeMode::TwoDot => Ok(base_commit),
            RangeMode::MergeBase => {
                let revision_commit = self.commit_of(revision)?;
                let oid = self
                    .git()
                    .merge_base(base_commit.id(), revision_commit.id())
                    .map_err(|source| VcsError::NoMergeBase {
                        base: spec.base.clone(),
                        revision: spec.revision.clone(),
                        source,
                    })?;
                self.git()
                    .find_commit(oid)
                    .map_err(|source| self.error(format!("reading merge base {oid}"), source))
            }
        }
    }

    /// The changed lines `spec` describes; see [`DiffSpec`] and `docs/rooms/vcs.md`.
    ///
    /// A file is listed when it has at least one changed line or deletion marker: deleted files,
    /// binary files, symlinks, submodules, pure renames and whitespace-only edits under
    /// `ignore_whitespace` are not.
    pub fn changed_lines(&self, spec: &DiffSpec) -> Result<ChangedLines, VcsError> {
        let revision = self.resolve(&spec.revision)?;
        let base = self.resolve(&spec.base)?;
        let revision_commit = self.commit_of(&revision)?;
        let old_commit = self.old_side(spec, &base, &revision)?;
        let old_tree = old_commit.tree().map_err(|source| {
            self.error(format!("reading the tree of {}", old_commit.id()), source)
        })?;

        if spec.working_tree || spec.untracked {
            self.require_checked_out(spec, &revision.oid)?;
        }

        let mut options = diff_options(spec.ignore_whitespace);
        let mut changed = ChangedLines::default();
        if spec.working_tree {
            options
                .include_untracked(spec.untracked)
                .recurse_untracked_dirs(spec.untracked)
                .show_untracked_content(spec.untracked);
            let mut diff = self
                .git()
                .diff_tree_to_workdir_with_index(Some(&old_tree), Some(&mut options))
                .map_err(|source| {
                    self.error("diffing the base against the working tree".into(), source)
                })?;
            self.collect(&mut diff, spec.detect_renames, false, &mut changed)?;
        } else {
            let new_tree = revision_commit.tree().map_err(|source| {
                self.error(format!("reading the tree of {}", revision.short), source)
            })?;
            let mut diff = self
                .git()
                .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut options))
                .map_err(|source| {
                    self.error(
                        format!("diffing {} against {}", old_commit.id(), revision.short),
                        source,
                    )
                })?;
            self.collect(&mut diff, spec.detect_renames, false, &mut changed)?;
            if spec.untracked {
                let mut options = diff_options(false);
                options
                    .include_untracked(true)
                    .recurse_untracked_dirs(true)
                    .show_untracked_content(true);
                let mut diff = self
                    .git()
                    .diff_index_to_workdir(None, Some(&mut options))
                    .map_err(|source| self.error("listing untracked files".into(), source))?;
                self.collect(&mut diff, false, true, &mut changed)?;
            }
        }
        Ok(changed)
    }

    fn require_checked_out(&self, spec: &DiffSpec, revision_oid: &str) -> Result<(), VcsError> {
        if self.git().workdir().is_none() {
            return Err(VcsError::NoWorkingTree {
                repo: self.display_path(),
            });
        }
        let head = self.head()?;
        if head.oid != revision_oid {
            return Err(VcsError::WorkingTreeNotHead {
                revision: spec.revision.clone(),
                revision_oid: revision_oid.to_string(),
                head: head.oid,
            });
        }
        Ok(())
    }

    /// Adds the changed lines of every delta of `diff` to `changed`.
    fn collect(
        &self,
        diff: &mut git2::Diff<'_>,
        detect_renames: bool,
        untracked_only: bool,
        changed: &mut ChangedLines,
    ) -> Result<(), VcsError> {
        if detect_renames {
            let mut find = git2::DiffFindOptions::new();
            find.renames(true).rename_limit(RENAME_LIMIT);
            diff.find_similar(Some(&mut find))
                .map_err(|source| self.error("detecting renames".into(), source))?;
        }
        for index in 0..diff.deltas().len() {
            let Some(delta) = diff.get_delta(index) else {
                continue;
            };
            let kind = match delta.status() {
                git2::Delta::Untracked => ChangeKind::Untracked,
                _ if untracked_only => continue,
                git2::Delta::Added | git2::Delta::Copied => ChangeKind::Added,
                git2::Delta::Renamed => ChangeKind::Renamed {
                    from: path_of(&delta.old_file()),
                },
                git2::Delta::Modified | git2::Delta::Typechange | git2::Delta::Conflicted => {
                    ChangeKind::Modified
                }
                git2::Delta::Deleted
                | git2::Delta::Unmodified
                | git2::Delta::Ignored
                | git2::Delta::Unreadable => continue,
            };
            // Symlinks and submodules hold no coverable lines.
            if !matches!(
                delta.new_file().mode(),
                git2::FileMode::Blob | git2::FileMode::BlobExecutable
            ) {
                continue;
            }
            let path = path_of(&delta.new_file());
            let Some(hunks) = self.text_hunks(diff, index, &path)? else {
                continue;
            };
            let lines = added_lines(&hunks);
            let deletions_before = deletion_markers(&hunks);
            if lines.is_empty() && deletions_before.is_empty() {
                continue;
            }
            changed.files.insert(
                path.clone(),
                ChangedFile {
                    path,
                    kind,
                    lines,
                    deletions_before,
                },
            );
        }
        Ok(())
    }

    /// The hunks of delta `index`, or `None` for a binary file.
    pub(crate) fn text_hunks(
        &self,
        diff: &git2::Diff<'_>,
        index: usize,
        path: &str,
    ) -> Result<Option<Vec<Hunk>>, VcsError> {
        let patch = git2::Patch::from_diff(diff, index)
            .map_err(|source| self.error(format!("diffing `{path}`"), source))?;
        let Some(patch) = patch else {
            return Ok(None);
        };
        if patch.delta().flags().is_binary() {
            return Ok(None);
        }
        let mut hunks = Vec::with_capacity(patch.num_hunks());
        for h in 0..patch.num_hunks() {
            let (hunk, _) = patch
                .hunk(h)
                .map_err(|source| self.error(format!("reading a hunk of `{path}`"), source))?;
            hunks.push(Hunk {
                old_start: hunk.old_start(),
                old_lines: hunk.old_lines(),
                new_start: hunk.new_start(),
                new_lines: hunk.new_lines(),
            });
        }
        Ok(Some(hunks))
    }
}

/// Zero-context diff options; hunks never merge across unchanged lines.
pub(crate) fn diff_options(ignore_whitespace: bool) -> git2::DiffOptions {
    let mut options = git2::DiffOptions::new();
    options
        .context_lines(0)
        .interhunk_lines(0)
        .ignore_submodules(true)
        // git's default since 2.14 (`diff.indentHeuristic`): where an edit could sit at several
        // places, the same place as `git diff` and diff-cover.
        .indent_heuristic(true)
        .ignore_whitespace(ignore_whitespace);
    options
}

pub(crate) fn path_of(file: &git2::DiffFile<'_>) -> String {
    String::from_utf8_lossy(file.path_bytes().unwrap_or_default()).into_owned()
}
