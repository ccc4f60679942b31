//! Export speed on a large View: 2,000 files of 300 coverable lines (600k lines), every text
//! format, whole and changed-only.

use covtop::model::{
    ChangeKind, ChangedFile, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, View,
};
use covtop::report::{ExportOptions, render_export};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn big_view() -> View {
    let files = (0..2000u32)
        .map(|f| {
            let path = format!("svc{}/pkg{}/file{f}.go", f % 7, f % 31);
            let lines: Vec<LineCoverage> = (1..=300u32)
                .map(|l| {
                    let status = match (l + f) % 5 {
                        0 => LineStatus::Missed,
                        1 => LineStatus::Partial,
                        _ => LineStatus::Covered,
                    };
                    LineCoverage {
                        line: l * 2,
                        status,
                        hits: Some(u64::from((l * f) % 9)),
                        units: (2, u32::from(status != LineStatus::Covered)),
                        branches: if l % 10 == 0 { (1, 1) } else { (0, 0) },
                    }
                })
                .collect();
            let cov = FileCoverage {
                path: path.clone(),
                lines,
                spans: vec![],
                units: (0, 0),
            };
            let whole_counts = cov.counts();
            FileView {
                path: path.clone(),
                language: Some(SourceLanguage::Go),
                changed: Some(Arc::new(ChangedFile {
                    path,
                    kind: ChangeKind::Modified,
                    lines: (1..=600).step_by(7).collect(),
                    deletions_before: vec![],
                })),
                coverage: Some(Arc::new(cov)),
                changed_counts: Counts::default(),
                whole_counts,
                newly_hit: vec![],
                hit_since_mark: None,
            }
        })
        .collect();
    View {
        files,
        ..View::default()
    }
}

fn bench(c: &mut Criterion) {
    let view = big_view();
    for changed_only in [false, true] {
        let opts = ExportOptions {
            changed_only,
            ..ExportOptions::default()
        };
        let scope = if changed_only { "changed" } else { "whole" };
        for format in ["lcov", "cobertura", "jacoco-xml", "sonar", "codecov"] {
            c.bench_function(&format!("export {format} {scope} 600k lines"), |b| {
                b.iter(|| {
                    render_export(black_box(&view), format, &opts)
                        .unwrap()
                        .len()
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
