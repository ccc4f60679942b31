//! A generated two-commit repository shared by the vcs and carry benchmarks: 300 files of 400
//! lines in 10 packages; the second commit edits one line in 25 of every third file (and, with
//! `insert`, adds a line after each edit so later lines shift).

use std::path::Path;

pub const FILES: usize = 300;
pub const LINES: usize = 400;

/// The repository path of file number `file`.
pub fn path(file: usize) -> String {
    format!("pkg{}/file{file}.go", file % 10)
}

/// Whether line `line` (0-based) of file `file` is edited by the second commit.
pub fn is_edited(file: usize, line: usize) -> bool {
    line % 25 == file % 25
}

fn file_text(file: usize, edited: bool, insert: bool) -> String {
    (0..LINES)
        .map(|line| match (edited && is_edited(file, line), insert) {
            (true, true) => format!("    edited {file} {line};\n    inserted;\n"),
            (true, false) => format!("    edited {file} {line};\n"),
            (false, _) => format!("    statement {file} {line};\n"),
        })
        .collect()
}

fn commit_all(
    git: &git2::Repository,
    message: &str,
    parent: Option<&git2::Commit<'_>>,
) -> git2::Oid {
    let mut index = git.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write index");
    let tree = git
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::now("bench", "bench@example.com").expect("signature");
    let parents: Vec<&git2::Commit<'_>> = parent.into_iter().collect();
    git.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
}

/// Creates the repository in `dir`; returns (first commit, second commit).
pub fn build(dir: &Path, insert: bool) -> (git2::Oid, git2::Oid) {
    let git = git2::Repository::init(dir).expect("init");
    for file in 0..FILES {
        let p = dir.join(path(file));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, file_text(file, false, insert)).expect("write");
    }
    let base = commit_all(&git, "base", None);
    for file in (0..FILES).step_by(3) {
        std::fs::write(dir.join(path(file)), file_text(file, true, insert)).expect("write");
    }
    let base_commit = git.find_commit(base).expect("base");
    let head = commit_all(&git, "edits", Some(&base_commit));
    (base, head)
}
