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
    #[error("cannot read `{path}` at {rev}: {}", plain_git_error(source))]
    ReadPath {
        path: String,
        rev: String,
        #[source]
        source: git2::Error,
    },
    #[error("git failed while {doing} in {repo}: {}", plain_git_error(source))]
    Git {
        doing: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
}

/// A libgit2 error in plain words: its message, without the `class=Reference (4); code=NotFound
/// (-3)` libgit2 appends, and with what the code means when the message does not say it.
pub fn plain_git_error(e: &git2::Error) -> String {
    use git2::ErrorCode as C;
    let message = e.message().trim_end_matches('.').to_string();
    let meaning = match e.code() {
        C::NotFound => "not found",
        C::Exists => "already exists",
        C::Ambiguous => "ambiguous: give more characters of the commit",
        C::BareRepo => "the repository is bare (it has no working tree)",
        C::UnbornBranch => "the branch has no commit yet",
        C::Locked => "locked by another git process (a stale .lock file?)",
        C::Auth => "authentication failed",
        C::Certificate => "the server's certificate was refused",
        C::Owner => "the repository belongs to another user (see git's safe.directory)",
        _ => return message,
    };
    if message
        .to_ascii_lowercase()
        .contains(meaning.split(':').next().unwrap_or(meaning))
    {
        message
    } else {
        format!("{message} ({meaning})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_errors_read_without_library_internals() {
        let e = git2::Error::new(
            git2::ErrorCode::NotFound,
            git2::ErrorClass::Reference,
            "reference 'refs/heads/nosuch' not found",
        );
        assert!(
            e.to_string().contains("class=Reference"),
            "what libgit2 says"
        );
        assert_eq!(
            plain_git_error(&e),
            "reference 'refs/heads/nosuch' not found"
        );
        let e = git2::Error::new(
            git2::ErrorCode::Locked,
            git2::ErrorClass::Index,
            "failed to lock file",
        );
        assert_eq!(
            plain_git_error(&e),
            "failed to lock file (locked by another git process (a stale .lock file?))"
        );
        let err = VcsError::ReadPath {
            path: "a.go".into(),
            rev: "4f2a9c1".into(),
            source: git2::Error::new(
                git2::ErrorCode::NotFound,
                git2::ErrorClass::Odb,
                "object not found - no match for id",
            ),
        };
        let text = err.to_string();
        assert!(
            !text.contains("class=") && !text.contains("code="),
            "{text}"
        );
    }
}
