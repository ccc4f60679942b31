//! Writing the HTML report of a 5,000-file View (120-line Go files, every file changed in
//! places, partial lines with column spans), sources from memory. Target: under 5 s.
//!
//! `cargo bench --bench html_report -- --warm-up-time 1 --measurement-time 3`
//!
//! Before criterion, one timed run prints its wall time and the process's CPU time (the machine
//! is shared); with `HTML_REPORT_ONCE=1` that run is all.

use covtop::model::{
    ChangeKind, ChangedFile, ColumnSpan, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, SourceStore, View,
};
use covtop::report::html::{HtmlOptions, write_html};
use criterion::{Criterion, criterion_group};
use std::sync::Arc;
use std::time::Duration;

const FILES: usize = 5_000;
const FUNCS: u32 = 20;

/// Every file has the same text: what is measured is rendering, not reading git.
struct Sources(Arc<[u8]>);

impl SourceStore for Sources {
    fn source(&self, _path: &str) -> Result<Option<Arc<[u8]>>, String> {
        Ok(Some(self.0.clone()))
    }
}

/// 6 lines per function: header, if, body, close, return, close.
fn source() -> String {
    let mut s = String::from("package gen\n\nimport \"fmt\"\n\n");
    for i in 0..FUNCS {
        s.push_str(&format!(
            "func F{i}(x int) string {{\n\tif x > {i} {{\n\t\treturn fmt.Sprintf(\"big %d\", x)\n\t}}\n\treturn \"small\"\n}}\n"
        ));
    }
    s
}

fn view() -> View {
    let mut files = Vec::with_capacity(FILES);
    let mut totals = (Counts::default(), Counts::default());
    for i in 0..FILES {
        let path = format!("svc{}/pkg{}/file{i}.go", i % 17, i % 101);
        let mut lines = Vec::new();
        let mut spans = Vec::new();
        for f in 0..FUNCS {
            let first = 5 + f * 6;
            let ran = !(i as u32 + f).is_multiple_of(3);
            let body = (i as u32 + f).is_multiple_of(2);
            let mut push = |line: u32, status: LineStatus, hits: u64| {
                lines.push(LineCoverage {
                    line,
                    status,
                    hits: Some(hits),
                    units: (1, 0),
                    branches: (0, 0),
                })
            };
            let h = u64::from(ran);
            push(
                first,
                if ran {
                    LineStatus::Covered
                } else {
                    LineStatus::Missed
                },
                h,
            );
            let if_status = match (ran, body) {
                (false, _) => LineStatus::Missed,
                (true, true) => LineStatus::Covered,
                (true, false) => LineStatus::Partial,
            };
            push(first + 1, if_status, h);
            spans.push(ColumnSpan {
                line: first + 1,
                start_col: 2,
                end_col: Some(12),
                covered: ran,
            });
            spans.push(ColumnSpan {
                line: first + 1,
                start_col: 12,
                end_col: None,
                covered: ran && body,
            });
            let bh = u64::from(ran && body);
            push(
                first + 2,
                if bh > 0 {
                    LineStatus::Covered
                } else {
                    LineStatus::Missed
                },
                bh,
            );
            push(first + 4, if_status, h);
        }
        let cov = FileCoverage {
            path: path.clone(),
            lines,
            spans,
            units: (0, 0),
        };
        let changed_lines: Vec<u32> =
            (5 + (i as u32 % 6) * 6..5 + (i as u32 % 6) * 6 + 12).collect();
        let mut changed_counts = Counts::default();
        for &l in &changed_lines {
            changed_counts.add(cov.status(l));
        }
        let whole = cov.counts();
        totals.0.merge(changed_counts);
        totals.1.merge(whole);
        files.push(FileView {
            path: path.clone(),
            language: Some(SourceLanguage::Go),
            coverage: Some(Arc::new(cov)),
            changed: Some(Arc::new(ChangedFile {
                path,
                kind: ChangeKind::Modified,
                lines: changed_lines,
                deletions_before: vec![],
            })),
            changed_counts,
            whole_counts: whole,
            newly_hit: vec![],
            hit_since_mark: None,
            targets: Default::default(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
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

fn bench(c: &mut Criterion) {
    let view = view();
    let sources = Sources(Arc::from(source().into_bytes().into_boxed_slice()));
    let opts = HtmlOptions {
        changed_only: false,
        partial_as_covered: false,
        title: "bench".into(),
        ..HtmlOptions::default()
    };
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let out = tmp.path().join("report");
    let mut g = c.benchmark_group("html_report");
    g.sample_size(10);
    g.bench_function("write_html 5000 files x 124 lines", |b| {
        b.iter(|| write_html(&view, &sources, &opts, &out).expect("report written"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(10));
    targets = bench
}
/// The CPU time of this process (every thread), for a figure that does not count waiting for
/// a core.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn once() {
    let view = view();
    let sources = Sources(Arc::from(source().into_bytes().into_boxed_slice()));
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let (wall, cpu) = (std::time::Instant::now(), process_cpu());
    let summary = write_html(
        &view,
        &sources,
        &HtmlOptions::default(),
        &tmp.path().join("r"),
    )
    .expect("report written");
    println!(
        "one HTML report of {} pages: wall {:.2?}, CPU (all threads) {:.2?}",
        summary.pages,
        wall.elapsed(),
        process_cpu() - cpu
    );
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: keep that quick.
    if std::env::args().any(|a| a == "--bench") {
        once();
        if std::env::var_os("HTML_REPORT_ONCE").is_some() {
            return;
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
