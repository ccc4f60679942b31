//! Speed of carrying an older build: mapping 120,000 line statuses (300 files of 400 lines,
//! every third file edited) through the line maps, and saving/reading a build's lines file.

use covtop::engine::carry::{BuildLines, LineStatuses};
use covtop::model::LineStatus;
use covtop::vcs::Repo;
use criterion::{Criterion, criterion_group, criterion_main};
#[path = "support/history.rs"]
mod history;
use history::{FILES, LINES, path};
use std::collections::BTreeMap;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = history::build(dir.path(), true);
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
