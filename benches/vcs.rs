//! Speed of the vcs room: changed lines and line maps on a generated repository (300 files of
//! 400 lines, every third file edited), and parsing the equivalent `git diff -U0` text.

use covtop::vcs::{DiffSpec, Repo, parse_unified_diff};
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;

const FILES: usize = 300;
const LINES: usize = 400;

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

fn file_text(file: usize, edited: bool) -> String {
    (0..LINES)
        .map(|line| {
            if edited && line % 25 == file % 25 {
                format!("    edited {file} {line};\n")
            } else {
                format!("    statement {file} {line};\n")
            }
        })
        .collect()
}

fn build(dir: &Path) -> (git2::Oid, git2::Oid) {
    let git = git2::Repository::init(dir).expect("init");
    for file in 0..FILES {
        let path = dir.join(format!("pkg{}/file{file}.go", file % 10));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, file_text(file, false)).expect("write");
    }
    let base = commit_all(&git, "base", None);
    for file in (0..FILES).step_by(3) {
        let path = dir.join(format!("pkg{}/file{file}.go", file % 10));
        std::fs::write(path, file_text(file, true)).expect("write");
    }
    let base_commit = git.find_commit(base).expect("base");
    let head = commit_all(&git, "edits", Some(&base_commit));
    (base, head)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (base, head) = build(dir.path());
    let repo = Repo::open(dir.path()).expect("open");
    let spec = DiffSpec::new(base.to_string(), head.to_string());
    let old = repo.resolve(&base.to_string()).expect("base");
    let new = repo.resolve(&head.to_string()).expect("head");

    c.bench_function("changed_lines 300 files, 100 edited", |b| {
        b.iter(|| repo.changed_lines(&spec).expect("changed lines"))
    });
    c.bench_function("line_map 300 files, 100 edited", |b| {
        b.iter(|| repo.line_map(&old, &new).expect("line map"))
    });

    // The same changes as a zero-context unified diff.
    let mut text = String::new();
    for file in (0..FILES).step_by(3) {
        let path = format!("pkg{}/file{file}.go", file % 10);
        text.push_str(&format!(
            "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        ));
        for line in (0..LINES).filter(|l| l % 25 == file % 25) {
            let n = line + 1;
            text.push_str(&format!(
                "@@ -{n} +{n} @@\n-    statement {file} {line};\n+    edited {file} {line};\n"
            ));
        }
    }
    c.bench_function("parse_unified_diff 100 files", |b| {
        b.iter(|| parse_unified_diff(&text, "bench.diff").expect("parse"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
