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
        // Never through a link: a link in the checkout is shown as git stores it, its target's
        // text (a link to /etc/shadow shows "/etc/shadow"), and a linked folder is not entered.
        let mut full = self.root.clone();
        let parts: Vec<_> = relative.components().collect();
        for (k, part) in parts.iter().enumerate() {
            full.push(part);
            let meta = match std::fs::symlink_metadata(&full) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(format!("cannot read {}: {e}", full.display())),
            };
            let last = k + 1 == parts.len();
            if meta.file_type().is_symlink() {
                if !last {
                    return Err(format!(
                        "`{path}`: {} is a symbolic link; covtop does not read through links",
                        full.display()
                    ));
                }
                return std::fs::read_link(&full)
                    .map(|target| Some(Arc::from(target.as_os_str().as_encoded_bytes().to_vec())))
                    .map_err(|e| format!("cannot read the link {}: {e}", full.display()));
            }
            if last && meta.is_dir() {
                return Ok(None);
            }
            if last && !meta.is_file() {
                return Err(format!(
                    "`{path}` is not a regular file (a FIFO, socket or device); not read"
                ));
            }
        }
        // Checked again on the open file: it may have changed since it was looked at.
        match crate::bounded_read::read_regular(&full, super::MAX_SOURCE_BYTES) {
            Ok(bytes) => Ok(Some(Arc::from(bytes))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(format!("`{path}` in the working tree: {e}")),
        }
    }
}

#[cfg(test)]
mod worktree_tests {
    use super::*;

    #[test]
    fn links_are_shown_as_links_never_read_through() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("secret");
        std::fs::write(&outside, "root:$6$hash:19000::::::\n").unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/a.go"), "package pkg\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("pkg/shadow.go")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
        let fifo = root.join("pkg/pipe.go");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates that node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let store = WorktreeSources::new(&root);

        assert_eq!(
            store.source("pkg/a.go").unwrap().as_deref(),
            Some(&b"package pkg\n"[..])
        );
        // The link's own text, as git stores a link.
        let link = store.source("pkg/shadow.go").unwrap().unwrap();
        assert_eq!(&*link, outside.as_os_str().as_encoded_bytes());
        // A linked folder is not entered.
        let e = store.source("up/secret").unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        // A FIFO would block a read forever.
        let e = store.source("pkg/pipe.go").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        // Sparse: refused by its size, never read.
        std::fs::File::create(root.join("pkg/huge.go"))
            .unwrap()
            .set_len(crate::vcs::MAX_SOURCE_BYTES + 1)
            .unwrap();
        let e = store.source("pkg/huge.go").unwrap_err();
        assert!(
            e.contains("`pkg/huge.go` in the working tree: 33554433 bytes, more than covtop reads"),
            "{e}"
        );
        assert_eq!(store.source("pkg/none.go").unwrap(), None);
        assert_eq!(store.source("pkg").unwrap(), None);
    }
}

#[cfg(test)]
mod git_tests {
    use super::*;

    #[test]
    fn a_blob_larger_than_any_source_is_named_not_inflated() {
        let tmp = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(tmp.path()).unwrap();
        // Zeros: the object is a few kilobytes on disk, 32 MiB and one byte inflated.
        let huge = git
            .blob(&vec![0u8; crate::vcs::MAX_SOURCE_BYTES as usize + 1])
            .unwrap();
        let small = git.blob(b"package a\n").unwrap();
        let mut tree = git.treebuilder(None).unwrap();
        tree.insert("huge.go", huge, 0o100644).unwrap();
        tree.insert("a.go", small, 0o100644).unwrap();
        let tree = git.find_tree(tree.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        git.commit(Some("HEAD"), &sig, &sig, "one", &tree, &[])
            .unwrap();
        let repo = Repo::open(tmp.path()).unwrap();
        let rev = repo.resolve("HEAD").unwrap();
        let store = repo.sources(&rev).unwrap();
        assert_eq!(
            store.source("a.go").unwrap().as_deref(),
            Some(&b"package a\n"[..])
        );
        let e = store.source("huge.go").unwrap_err();
        assert!(
            e.contains("`huge.go`")
                && e.contains("33554433 bytes, more than covtop reads as a source"),
            "{e}"
        );
        let e = repo.read_file(&rev, "huge.go").unwrap_err().to_string();
        assert!(e.contains("33554433 bytes"), "{e}");
    }
}
