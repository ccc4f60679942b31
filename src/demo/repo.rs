//! The demo repository: the bookstore's base commit on `main`, then the coupon feature on
//! branch `feature`, checked out. Written with std::fs and committed with git2, so it needs
//! neither the `git` command nor a git configuration.

use std::path::Path;

use git2::{IndexAddOption, Repository, RepositoryInitOptions, Signature, Time};

use super::DemoError;

/// `assets/demo/base`: the Go bookstore and the Java inventory service before the feature
/// (path in the repository, content).
pub const BASE: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../assets/demo/base/go.mod")),
    ("main.go", include_str!("../../assets/demo/base/main.go")),
    (
        "catalog/catalog.go",
        include_str!("../../assets/demo/base/catalog/catalog.go"),
    ),
    (
        "orders/orders.go",
        include_str!("../../assets/demo/base/orders/orders.go"),
    ),
    (
        "inventory/src/main/java/bookstore/inventory/InventoryServer.java",
        include_str!(
            "../../assets/demo/base/inventory/src/main/java/bookstore/inventory/InventoryServer.java"
        ),
    ),
    (
        "inventory/src/main/java/bookstore/inventory/StockLedger.java",
        include_str!(
            "../../assets/demo/base/inventory/src/main/java/bookstore/inventory/StockLedger.java"
        ),
    ),
];

/// `assets/demo/feature`: coupons in orders.go, passed through by main.go; reservations with
/// per-tier limits in the Java inventory service.
pub const FEATURE: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../assets/demo/feature/go.mod")),
    ("main.go", include_str!("../../assets/demo/feature/main.go")),
    (
        "catalog/catalog.go",
        include_str!("../../assets/demo/feature/catalog/catalog.go"),
    ),
    (
        "orders/orders.go",
        include_str!("../../assets/demo/feature/orders/orders.go"),
    ),
    (
        "inventory/src/main/java/bookstore/inventory/InventoryServer.java",
        include_str!(
            "../../assets/demo/feature/inventory/src/main/java/bookstore/inventory/InventoryServer.java"
        ),
    ),
    (
        "inventory/src/main/java/bookstore/inventory/ReservationRule.java",
        include_str!(
            "../../assets/demo/feature/inventory/src/main/java/bookstore/inventory/ReservationRule.java"
        ),
    ),
    (
        "inventory/src/main/java/bookstore/inventory/StockLedger.java",
        include_str!(
            "../../assets/demo/feature/inventory/src/main/java/bookstore/inventory/StockLedger.java"
        ),
    ),
];

/// Fixed commit times (2025-11-21 09:00 and 10:30 UTC): the commit ids are the same in every
/// demo, whatever the machine.
const BASE_TIME: i64 = 1_763_715_600;
const FEATURE_TIME: i64 = BASE_TIME + 90 * 60;

fn git<'a>(path: &'a Path, step: &'static str) -> impl Fn(git2::Error) -> DemoError + 'a {
    move |source| DemoError::Git {
        path: path.to_path_buf(),
        step,
        source,
    }
}

fn write_files(root: &Path, files: &[(&str, &str)]) -> Result<(), DemoError> {
    for (rel, content) in files {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DemoError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, content).map_err(|source| DemoError::Write { path, source })?;
    }
    Ok(())
}

/// Stages the whole work tree (new, changed and deleted files) and commits it on HEAD.
fn commit_all(
    repo: &Repository,
    path: &Path,
    time: i64,
    message: &str,
    parents: &[&git2::Commit<'_>],
) -> Result<git2::Oid, DemoError> {
    let mut index = repo.index().map_err(git(path, "opening the index"))?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .map_err(git(path, "staging the files"))?;
    index
        .update_all(["*"], None)
        .map_err(git(path, "staging removed files"))?;
    index.write().map_err(git(path, "writing the index"))?;
    let tree_id = index.write_tree().map_err(git(path, "writing the tree"))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(git(path, "reading the tree back"))?;
    let who = Signature::new("covtop demo", "demo@covtop.invalid", &Time::new(time, 0))
        .map_err(git(path, "making the signature"))?;
    repo.commit(Some("HEAD"), &who, &who, message, &tree, parents)
        .map_err(git(path, "committing"))
}

/// Creates the repository at `path` (an empty or missing directory) and returns the ids of the
/// base and the feature commit.
pub fn create(path: &Path) -> Result<(git2::Oid, git2::Oid), DemoError> {
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(path, &opts).map_err(git(path, "initialising"))?;
    write_files(path, BASE)?;
    let base = commit_all(
        &repo,
        path,
        BASE_TIME,
        "bookstore: catalog search and orders; inventory service",
        &[],
    )?;
    let base_commit = repo
        .find_commit(base)
        .map_err(git(path, "reading the base commit"))?;
    repo.branch("feature", &base_commit, false)
        .map_err(git(path, "creating branch feature"))?;
    repo.set_head("refs/heads/feature")
        .map_err(git(path, "checking out feature"))?;
    for (rel, _) in BASE {
        if !FEATURE.iter().any(|(f, _)| f == rel) {
            let gone = path.join(rel);
            std::fs::remove_file(&gone)
                .map_err(|source| DemoError::Write { path: gone, source })?;
        }
    }
    write_files(path, FEATURE)?;
    let feature = commit_all(
        &repo,
        path,
        FEATURE_TIME,
        "orders: coupon codes (WELCOME10, STUDENT, STAFF); inventory: reservations",
        &[&base_commit],
    )?;
    Ok((base, feature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files_under(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![PathBuf::new()];
        while let Some(rel) = dirs.pop() {
            for e in std::fs::read_dir(root.join(&rel)).unwrap() {
                let e = e.unwrap();
                let r = rel.join(e.file_name());
                if e.path().is_dir() {
                    dirs.push(r);
                } else {
                    out.push(r.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        out
    }

    /// A file added to assets/demo must be embedded too, or the demo repository misses it.
    #[test]
    fn every_asset_file_is_embedded() {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        for (dir, list) in [("base", BASE), ("feature", FEATURE)] {
            let mut embedded: Vec<String> = list.iter().map(|(p, _)| p.to_string()).collect();
            embedded.sort();
            assert_eq!(
                files_under(&assets.join(dir)),
                embedded,
                "assets/demo/{dir}"
            );
        }
    }

    #[test]
    fn commits_are_reproducible_and_feature_is_checked_out() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ids_a = create(a.path()).unwrap();
        let ids_b = create(b.path()).unwrap();
        assert_eq!(ids_a, ids_b);
        let repo = Repository::open(a.path()).unwrap();
        assert_eq!(repo.head().unwrap().name().unwrap(), "refs/heads/feature");
        let main = repo.find_branch("main", git2::BranchType::Local).unwrap();
        assert_eq!(main.get().target(), Some(ids_a.0));
        let statuses = repo.statuses(None).unwrap();
        assert!(statuses.is_empty(), "the work tree is clean");
    }

    #[test]
    fn a_non_directory_path_is_a_git_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("occupied");
        std::fs::write(&file, "x").unwrap();
        let err = create(&file).unwrap_err().to_string();
        assert!(err.contains("occupied"), "{err}");
    }
}
