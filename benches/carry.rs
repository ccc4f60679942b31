//! Speed of carrying an older build: mapping 120,000 line statuses (300 files of 400 lines,
//! every third file edited) through the line maps, and saving/reading a build's lines file.

use covtop::engine::carry::{BuildLines, LineStatuses};
use covtop::model::LineStatus;
use covtop::vcs::Repo;
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
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
    index.write().expect("write index");
    let tree = git
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::now("bench", "bench@example.com").expect("signature");
    let parents: Vec<&git2::Commit<'_>> = parent.into_iter().collect();
    git.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
}

fn path(file: usize) -> String {
    format!("pkg{}/file{file}.go", file % 10)
}

fn file_text(file: usize, edited: bool) -> String {
    (0..LINES)
        .map(|line| {
            if edited && line % 25 == file % 25 {
                format!("    edited {file} {line};\n    inserted;\n")
            } else {
                format!("    statement {file} {line};\n")
            }
        })
        .collect()
}

fn build(dir: &Path) -> (git2::Oid, git2::Oid) {
    let git = git2::Repository::init(dir).expect("init");
    for file in 0..FILES {
        let p = dir.join(path(file));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, file_text(file, false)).expect("write");
    }
    let base = commit_all(&git, "old build", None);
    for file in (0..FILES).step_by(3) {
        std::fs::write(dir.join(path(file)), file_text(file, true)).expect("write");
    }
    let base_commit = git.find_commit(base).expect("base");
    let head = commit_all(&git, "new build", Some(&base_commit));
    (base, head)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = build(dir.path());
    let repo = Repo::open(dir.path()).expect("open");
    let old = repo.resolve(&old.to_string()).expect("old");
    let new = repo.resolve(&new.to_string()).expect("new");
    let maps = repo.line_map(&old, &new).expect("line map");
    let statuses = [LineStatus::Covered, LineStatus::Missed, LineStatus::Partial];
    let lines = BuildLines {
        revision: old.oid.clone(),
        files: (0..FILES)
            .map(|f| {
                let per_line: BTreeMap<u32, LineStatus> = (1..=LINES as u32)
                    .map(|l| (l, statuses[l as usize % 3]))
                    .collect();
                (path(f), per_line)
            })
            .collect(),
    };

    c.bench_function(
        "carry: map 120k line statuses, 100 of 300 files edited",
        |b| {
            b.iter(|| {
                let mut out = LineStatuses::new();
                lines.map_onto(&maps, true, &mut out);
                out
            })
        },
    );
    let bytes = lines.encode("bench");
    c.bench_function("carry: encode a 120k-line build", |b| {
        b.iter(|| lines.encode("bench"))
    });
    c.bench_function("carry: decode a 120k-line build", |b| {
        b.iter(|| BuildLines::decode(&bytes, Path::new("bench.lines"), &old.oid).expect("decode"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
