use super::{Revision, VcsError};
use std::path::{Path, PathBuf};

/// A git repository, found from any directory inside it.
pub struct Repo {
    git: git2::Repository,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("git_dir", &self.git.path())
            .finish()
    }
}

impl Repo {
    /// Opens the repository containing `path`, searching upwards like git does.
    pub fn open(path: &Path) -> Result<Repo, VcsError> {
        let git = git2::Repository::discover(path).map_err(|source| VcsError::NotARepository {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Repo { git })
    }

    /// The checkout's top directory; `None` for a bare repository.
    pub fn workdir(&self) -> Option<PathBuf> {
        self.git.workdir().map(Path::to_path_buf)
    }

    /// The `.git` directory (or the bare repository itself).
    pub fn git_dir(&self) -> PathBuf {
        self.git.path().to_path_buf()
    }

    /// Resolves anything `git rev-parse` understands to a commit.
    pub fn resolve(&self, rev: &str) -> Result<Revision, VcsError> {
        let object = self
            .git
            .revparse_single(rev)
            .map_err(|source| VcsError::UnknownRevision {
                rev: rev.to_string(),
                repo: self.display_path(),
                source,
            })?;
        let commit = object
            .peel_to_commit()
            .map_err(|source| self.error(format!("reading `{rev}` as a commit"), source))?;
        self.revision_of(&commit)
    }

    /// Up to `limit` first-parent ancestors of `rev`, newest first (not `rev` itself): where an
    /// older build of the deployed branch most likely comes from.
    pub fn ancestors(&self, rev: &Revision, limit: usize) -> Result<Vec<Revision>, VcsError> {
        let mut out = Vec::new();
        let mut commit = self.commit_of(rev)?;
        while out.len() < limit {
            let Ok(parent) = commit.parent(0) else { break };
            out.push(self.revision_of(&parent)?);
            commit = parent;
        }
        Ok(out)
    }

    /// The checked-out commit.
    pub fn head(&self) -> Result<Revision, VcsError> {
        self.resolve("HEAD")
    }

    /// The bytes of `path` (`/`-separated, relative to the repository root) at `rev`, read from
    /// the object database whatever the checkout holds. `Ok(None)` when the path does not exist
    /// at `rev` or is not a file (a directory or a submodule).
    pub fn read_file(&self, rev: &Revision, path: &str) -> Result<Option<Vec<u8>>, VcsError> {
        let tree = self.tree_of(rev)?;
        read_blob(&self.git, &tree, path)
            .map(|blob| blob.map(|b| b.content().to_vec()))
            .map_err(|source| VcsError::ReadPath {
                path: path.to_string(),
                rev: rev.short.clone(),
                source,
            })
    }

    /// Every file (blob) path at `rev`, sorted, `/`-separated. Submodules are not files.
    pub fn list_files(&self, rev: &Revision) -> Result<Vec<String>, VcsError> {
        let tree = self.tree_of(rev)?;
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let name = String::from_utf8_lossy(entry.name_bytes());
                paths.push(format!("{dir}{name}"));
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(|source| self.error(format!("listing the files of {}", rev.short), source))?;
        paths.sort_unstable();
        Ok(paths)
    }

    pub(crate) fn git(&self) -> &git2::Repository {
        &self.git
    }

    pub(crate) fn revision_of(&self, commit: &git2::Commit<'_>) -> Result<Revision, VcsError> {
        let short = commit
            .as_object()
            .short_id()
            .map_err(|source| self.error(format!("abbreviating {}", commit.id()), source))?;
        Ok(Revision {
            oid: commit.id().to_string(),
            short: String::from_utf8_lossy(&short).into_owned(),
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
        })
    }

    pub(crate) fn commit_of(&self, rev: &Revision) -> Result<git2::Commit<'_>, VcsError> {
        let oid = git2::Oid::from_str(&rev.oid)
            .map_err(|source| self.error(format!("reading commit id `{}`", rev.oid), source))?;
        self.git
            .find_commit(oid)
            .map_err(|source| self.error(format!("finding commit {}", rev.oid), source))
    }

    pub(crate) fn tree_of(&self, rev: &Revision) -> Result<git2::Tree<'_>, VcsError> {
        self.commit_of(rev)?
            .tree()
            .map_err(|source| self.error(format!("reading the tree of {}", rev.short), source))
    }

    /// The path to name in messages: the checkout, or the git directory when bare.
    pub(crate) fn display_path(&self) -> PathBuf {
        self.git
            .workdir()
            .unwrap_or_else(|| self.git.path())
            .to_path_buf()
    }

    pub(crate) fn error(&self, doing: String, source: git2::Error) -> VcsError {
        VcsError::Git {
            doing,
            repo: self.display_path(),
            source,
        }
    }
}

/// The blob at `path` in `tree`, `None` if absent or not a file.
pub(crate) fn read_blob<'r>(
    git: &'r git2::Repository,
    tree: &git2::Tree<'_>,
    path: &str,
) -> Result<Option<git2::Blob<'r>>, git2::Error> {
    let path = path.trim_start_matches("./");
    if path.is_empty() {
        return Ok(None);
    }
    let entry = match tree.get_path(Path::new(path)) {
        Ok(entry) => entry,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if entry.kind() != Some(git2::ObjectType::Blob) {
        return Ok(None);
    }
    // The size from the object's header, before the object is inflated.
    let (len, _) = git.odb()?.read_header(entry.id())?;
    if len as u64 > super::MAX_SOURCE_BYTES {
        return Err(git2::Error::from_str(&format!(
            "{len} bytes, more than covtop reads as a source ({} at most); not read",
            super::MAX_SOURCE_BYTES
        )));
    }
    git.find_blob(entry.id()).map(Some)
}
