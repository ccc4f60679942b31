//! A generated Go service for the session benchmarks: a repository of `files` files of 15
//! functions (1,500 blocks for 100 files, 80 KB a profile), committed on `main` with an edit on
//! branch `feature`, and its profile.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.com")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.com")
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git {args:?}");
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Commits everything on `main`, then `edit` on branch `feature`.
pub fn commit_with_feature(repo: &Path, edit: impl FnOnce(&Path)) {
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "base"]);
    git(repo, &["checkout", "-qb", "feature"]);
    edit(repo);
    git(repo, &["commit", "-qam", "feature"]);
}

/// A generated module: `files` files of 15 functions of 4 lines, and its profile.
pub fn service_repo(repo: &Path, files: usize) -> String {
    std::fs::create_dir_all(repo).unwrap();
    std::fs::write(repo.join("go.mod"), "module example.com/svc\n\ngo 1.19\n").unwrap();
    let mut profile = String::from("mode: count\n");
    for f in 0..files {
        let dir = repo.join(format!("pkg{}", f % 10));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = format!("package pkg{}\n\n", f % 10);
        for b in 0..15 {
            let start = 3 + b * 5;
            let head = format!("func F{f}_{b}(x int) int {{");
            writeln!(src, "{head}\n\tx += {b}\n\treturn x * 2\n}}\n").unwrap();
            // The body's block starts at its `{` and ends after `return x * 2`, as `go tool
            // cover` cuts it (so the layout fits the source).
            writeln!(
                profile,
                "example.com/svc/pkg{}/file{f}.go:{start}.{},{}.14 2 1",
                f % 10,
                head.len(),
                start + 2
            )
            .unwrap();
        }
        std::fs::write(dir.join(format!("file{f}.go")), src).unwrap();
    }
    profile
}
