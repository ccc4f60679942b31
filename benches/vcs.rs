//! Speed of the vcs room: changed lines and line maps on a generated repository (300 files of
//! 400 lines, every third file edited), and parsing the equivalent `git diff -U0` text.

use covtop::vcs::{DiffSpec, Repo, parse_unified_diff};
use criterion::{Criterion, criterion_group, criterion_main};
#[path = "support/history.rs"]
mod history;
use history::{FILES, LINES, is_edited, path};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (base, head) = history::build(dir.path(), false);
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
        let path = path(file);
        text.push_str(&format!(
            "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        ));
        for line in (0..LINES).filter(|&l| is_edited(file, l)) {
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
