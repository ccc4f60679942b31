//! Export speed for a 5,000-file project, every format, written the way `covtop report
//! --format F --output PATH` writes it (rendered, written to a temporary file, fsynced,
//! renamed): 5,000 Go files of 120 coverable lines (600k lines, some with branches, a
//! changed-line set in each), the merged Go profile of the same files (60 blocks each) and a
//! JaCoCo exec of 5,000 classes of 60 probes. Target: each under 1 s.
//!
//! `cargo bench --bench export -- --warm-up-time 1 --measurement-time 3`

use covtop::go::profile;
use covtop::java::exec::{ClassProbes, ExecData, SessionInfo};
use covtop::model::{
    ChangeKind, ChangedFile, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, View,
};
use covtop::report::{ExportOptions, RawData, export, render, write_report};
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

const FILES: u32 = 5_000;
const LINES: u32 = 120;

fn path(f: u32) -> String {
    format!("svc{}/pkg{}/file{f}.go", f % 7, f % 31)
}

fn big_view() -> View {
    let mut totals = (Counts::default(), Counts::default());
    let files = (0..FILES)
        .map(|f| {
            let path = path(f);
            let lines: Vec<LineCoverage> = (1..=LINES)
                .map(|l| {
                    let status = match (l + f) % 5 {
                        0 => LineStatus::Missed,
                        1 => LineStatus::Partial,
                        _ => LineStatus::Covered,
                    };
                    LineCoverage {
                        line: l * 2,
                        status,
                        hits: Some(u64::from(
                            (l * f) % 9 + u32::from(status != LineStatus::Missed),
                        )),
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
            let changed: Vec<u32> = (1..=LINES * 2).step_by(7).collect();
            let mut changed_counts = Counts::default();
            for &l in &changed {
                changed_counts.add(cov.status(l));
            }
            let whole_counts = cov.counts();
            totals.0.merge(changed_counts);
            totals.1.merge(whole_counts);
            FileView {
                path: path.clone(),
                language: Some(SourceLanguage::Go),
                changed: Some(Arc::new(ChangedFile {
                    path,
                    kind: ChangeKind::Modified,
                    lines: changed,
                    deletions_before: vec![],
                })),
                coverage: Some(Arc::new(cov)),
                changed_counts,
                whole_counts,
                newly_hit: vec![],
                hit_since_mark: None,
                targets: Default::default(),
            }
        })
        .collect();
    let mut v = View {
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        base: "main".into(),
        files,
        ..View::default()
    };
    v.totals.changed = totals.0;
    v.totals.whole = totals.1;
    v
}

fn raw() -> RawData {
    let mut text = String::from("mode: count\n");
    for f in 0..FILES {
        for b in 0..60u32 {
            let line = 3 + b * 4;
            let _ = writeln!(
                text,
                "example.com/shop/{}:{line}.2,{}.3 {} {}",
                path(f),
                line + 2,
                1 + b % 3,
                (b * f) % 4
            );
        }
    }
    let go = profile::parse(text.as_bytes(), "bench").expect("a valid profile");
    let mut exec = ExecData::default();
    exec.sessions.push(SessionInfo {
        id: "shop-1".into(),
        start: 1_700_000_000_000,
        dump: 1_700_000_100_000,
    });
    for i in 0..5_000u64 {
        exec.classes.insert(
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ClassProbes {
                name: format!("com/example/shop/module{}/Class{i}", i % 40),
                probes: (0..60)
                    .map(|p| (p as u64 * 31 + i).is_multiple_of(3))
                    .collect(),
            },
        );
    }
    RawData {
        go: Some(go),
        java: vec![("orders".into(), exec)],
    }
}

fn bench(c: &mut Criterion) {
    let view = big_view();
    let raw = raw();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut g = c.benchmark_group("export 5000 files");
    g.sample_size(10);
    for changed_only in [false, true] {
        let opts = ExportOptions {
            changed_only,
            ..ExportOptions::default()
        };
        let scope = if changed_only {
            "changed-only"
        } else {
            "whole"
        };
        for format in covtop::report::EXPORT_FORMATS {
            // The raw formats ignore changed_only: measured once.
            if changed_only && matches!(*format, "go-profile" | "jacoco-exec") {
                continue;
            }
            let out = dir.path().join(format!("out.{format}"));
            g.bench_function(format!("{format} {scope}"), |b| {
                b.iter(|| export(black_box(&view), &raw, format, &opts, &out).expect("export"))
            });
        }
    }
    for format in ["json", "markdown"] {
        let out = dir.path().join(format!("out.{format}"));
        g.bench_function(format!("{format} whole"), |b| {
            b.iter(|| {
                let text = render(black_box(&view), format).expect("render");
                write_report(&out, text.as_bytes()).expect("write")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
