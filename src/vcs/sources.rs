//! Sources of one revision, read from the object database, for the engine and the screens.

use super::repo::read_blob;
use super::{Repo, Revision, VcsError};
use crate::model::SourceStore;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many files [`GitSources`] keeps: the screens re-read the same few files on every frame.
const CACHED_FILES: usize = 64;

/// [`SourceStore`] over one revision. The repository handle is not `Sync`, so it sits behind a
/// mutex; blob reads are short, and repeated reads hit the cache.
pub struct GitSources {
    git: Mutex<git2::Repository>,
    tree: git2::Oid,
    revision: Revision,
    cache: Mutex<SourceCache>,
}

#[derive(Default)]
struct SourceCache {
    files: HashMap<String, Option<Arc<[u8]>>>,
    order: VecDeque<String>,
}

impl SourceCache {
    fn insert(&mut self, path: String, bytes: Option<Arc<[u8]>>) {
        if self.files.insert(path.clone(), bytes).is_none() {
            self.order.push_back(path);
        }
        while self.order.len() > CACHED_FILES {
            if let Some(oldest) = self.order.pop_front() {
                self.files.remove(&oldest);
            }
        }
    }
}

impl std::fmt::Debug for GitSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSources")
            .field("revision", &self.revision)
            .finish()
    }
}

impl GitSources {
    /// Sources of `revision` in `repo` (opens its own handle on the same repository).
    pub fn new(repo: &Repo, revision: &Revision) -> Result<GitSources, VcsError> {
        let tree = repo.tree_of(revision)?.id();
        let git = git2::Repository::open(repo.git_dir())
            .map_err(|source| repo.error("opening a second handle".into(), source))?;
        Ok(GitSources {
            git: Mutex::new(git),
            tree,
            revision: revision.clone(),
            cache: Mutex::new(SourceCache::default()),
        })
    }

    pub fn revision(&self) -> &Revision {
        &self.revision
    }

    fn read(&self, path: &str) -> Result<Option<Arc<[u8]>>, git2::Error> {
        let git = lock(&self.git);
        let tree = git.find_tree(self.tree)?;
        Ok(read_blob(&git, &tree, path)?.map(|blob| Arc::from(blob.content())))
    }
}

impl SourceStore for GitSources {
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
        if let Some(hit) = lock(&self.cache).files.get(path) {
            return Ok(hit.clone());
        }
        let bytes = self.read(path).map_err(|e| {
            format!(
                "cannot read `{path}` at {} from git: {}",
                self.revision.short,
                super::error::plain_git_error(&e)
            )
        })?;
        lock(&self.cache).insert(path.to_string(), bytes.clone());
        Ok(bytes)
    }
}

/// A panic while holding the lock leaves the data usable (a cache and a read-only handle).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Repo {
    /// A [`SourceStore`] for `revision`.
    pub fn sources(&self, revision: &Revision) -> Result<GitSources, VcsError> {
        GitSources::new(self, revision)
    }
}

/// [`SourceStore`] over the checkout's files, for when the working tree is part of the changed
/// lines (its line numbers are the working tree's, not the commit's).
#[derive(Debug, Clone)]
pub struct WorktreeSources {
    root: std::path::PathBuf,
}

impl WorktreeSources {
    /// Sources under `root`, the repository's working directory ([`Repo::workdir`]).
    pub fn new(root: impl Into<std::path::PathBuf>) -> WorktreeSources {
        WorktreeSources { root: root.into() }
    }
}

impl SourceStore for WorktreeSources {
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
        use std::path::Component;
        let relative = std::path::Path::new(path);
        // Repository paths are relative and stay inside the checkout.
        if path.is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!(
                "`{path}` is not a repository path (relative, without `..`)"
            ));
        }
        let full = self.root.join(relative);
        match std::fs::read(&full) {
            Ok(bytes) => Ok(Some(Arc::from(bytes))),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::IsADirectory =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("cannot read {}: {e}", full.display())),
        }
    }
}
