use std::path::PathBuf;

/// Errors of the vcs room. Messages name the repository or revision involved and what to do.
#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    #[error(
        "{path} is not inside a git repository (searched it and its parents): run covtop from a \
         checkout or point it at one (--repo / [repo].path)"
    )]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error(
        "unknown revision `{rev}` in {repo}: if it is a remote branch or a tag, run `git fetch` \
         (CI checkouts are often shallow or single-branch); otherwise name an existing branch, tag \
         or commit (`git branch -a`, `git log`)"
    )]
    UnknownRevision {
        rev: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error(
        "no merge base between `{base}` and `{revision}`: the clone is probably shallow (run \
         `git fetch --unshallow`, or fetch with enough depth) or the histories are unrelated; a \
         two-dot range (base..revision) needs no merge base"
    )]
    NoMergeBase {
        base: String,
        revision: String,
        #[source]
        source: git2::Error,
    },
    #[error(
        "the working tree can only be included when the revision is the checked-out HEAD, but \
         `{revision}` is {revision_oid} and HEAD is {head}: check out `{revision}` or leave out \
         the working tree and untracked files"
    )]
    WorkingTreeNotHead {
        revision: String,
        revision_oid: String,
        head: String,
    },
    #[error(
        "{repo} has no working tree (bare repository): the working tree and untracked files \
         cannot be included"
    )]
    NoWorkingTree { repo: PathBuf },
    #[error("cannot read `{path}` at {rev}: {source}")]
    ReadPath {
        path: String,
        rev: String,
        #[source]
        source: git2::Error,
    },
    #[error("git failed while {doing} in {repo}: {source}")]
    Git {
        doing: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
}
