//! Key press to finished frame, through ratatui's TestBackend, on a 10,000-file tree and a
//! 20,000-line source file. Criterion reports mean and confidence interval; before it runs, a
//! plain loop measures every iteration and prints p50/p99/max, since the target (16 ms) is a p99.
//!
//! It also measures key → frame while an HTML export of a 5,000-file project, started with the
//! screen's `e`, is written beside the screen by the same writer and on a thread of its own, as
//! the engine writes it (the footer counting its pages).
//!
//! `cargo bench --bench tui_frame -- --warm-up-time 1 --measurement-time 3`

use covtop::model::{
    ChangeKind, ChangedFile, ColumnSpan, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, SourceStore, View,
};
use covtop::tui::{App, Clock, Theme, UiConfig};
use criterion::{Criterion, criterion_group};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const FILES: usize = 10_000;
const BIG_LINES: u32 = 20_000;
const BIG: &str = "service/big/generated.go";
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;

/// Every file is small except the big one.
struct Sources {
    big: Arc<[u8]>,
    small: Arc<[u8]>,
}

impl SourceStore for Sources {
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
        Ok(Some(if path == BIG {
            self.big.clone()
        } else {
            self.small.clone()
        }))
    }
}

/// Four lines per function: a covered signature, a partial `if` with column spans, a missed
/// line, and a closing brace.
fn big_source() -> (String, FileView) {
    let mut text = String::new();
    let mut lines = Vec::new();
    let mut spans = Vec::new();
    let mut changed = Vec::new();
    let mut n = 1u32;
    let mut i = 0u32;
    while n + 3 <= BIG_LINES {
        text.push_str(&format!("func f{i}(x int) int {{\n"));
        let body = format!("\tif x > {i} {{ return x * 2 }} else {{ return x - 1 }}\n");
        let else_col = body.find("return x - 1").map_or(1, |c| c as u32 + 1);
        text.push_str(&body);
        text.push_str("\tpanic(\"unreachable\")\n}\n");
        lines.push(LineCoverage {
            line: n,
            status: LineStatus::Covered,
            hits: Some(7),
            units: (1, 0),
            branches: (0, 0),
        });
        lines.push(LineCoverage {
            line: n + 1,
            status: LineStatus::Partial,
            hits: Some(7),
            units: (1, 1),
            branches: (0, 0),
        });
        lines.push(LineCoverage {
            line: n + 2,
            status: LineStatus::Missed,
            hits: Some(0),
            units: (0, 1),
            branches: (0, 0),
        });
        spans.push(ColumnSpan {
            line: n + 1,
            start_col: 2,
            end_col: Some(else_col),
            covered: true,
        });
        spans.push(ColumnSpan {
            line: n + 1,
            start_col: else_col,
            end_col: None,
            covered: false,
        });
        if i.is_multiple_of(3) {
            changed.extend([n, n + 1, n + 2]);
        }
        n += 4;
        i += 1;
    }
    let coverage = FileCoverage {
        path: BIG.into(),
        lines,
        spans,
        units: (0, 0),
    };
    (text, file_view(BIG, coverage, changed))
}

fn file_view(path: &str, coverage: FileCoverage, changed: Vec<u32>) -> FileView {
    let mut changed_counts = Counts::default();
    for &l in &changed {
        changed_counts.add(coverage.status(l));
    }
    FileView {
        path: path.into(),
        language: Some(SourceLanguage::Go),
        whole_counts: coverage.counts(),
        coverage: Some(Arc::new(coverage)),
        changed: Some(Arc::new(ChangedFile {
            path: path.into(),
            kind: ChangeKind::Modified,
            lines: changed,
            deletions_before: vec![],
        })),
        changed_counts,
        newly_hit: vec![],
        hit_since_mark: None,
        targets: Default::default(),
    }
}

fn view(generation: u64, big: &FileView) -> Arc<View> {
    view_of(FILES, generation, big)
}

/// `count` files, the big one among them.
fn view_of(count: usize, generation: u64, big: &FileView) -> Arc<View> {
    let mut files = Vec::with_capacity(count);
    for i in 0..count - 1 {
        let path = format!("service/pkg{:03}/sub{}/file{:05}.go", i / 100, i % 7, i);
        let status = if i.is_multiple_of(4) {
            LineStatus::Missed
        } else {
            LineStatus::Covered
        };
        let coverage = FileCoverage {
            path: path.clone(),
            lines: vec![
                LineCoverage {
                    line: 3,
                    status: LineStatus::Covered,
                    hits: Some(1),
                    units: (1, 0),
                    branches: (0, 0),
                },
                LineCoverage {
                    line: 4,
                    status,
                    hits: Some(0),
                    units: (0, 1),
                    branches: (0, 0),
                },
            ],
            spans: vec![],
            units: (1, 2),
        };
        let mut f = file_view(&path, coverage, vec![3, 4]);
        if generation.is_multiple_of(2) && i.is_multiple_of(50) {
            f.newly_hit = vec![3];
        }
        files.push(f);
    }
    files.push(big.clone());
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut totals = covtop::model::Totals::default();
    for f in &files {
        totals.changed.merge(f.changed_counts);
        totals.whole.merge(f.whole_counts);
    }
    Arc::new(View {
        generation,
        revision: "4f2a9c1e7b3d".into(),
        base: "origin/main".into(),
        files,
        totals,
        history: (0..100).map(|i| i as f64).collect(),
        interval: Duration::from_secs(1),
        ..View::default()
    })
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

struct Bench {
    app: App,
    terminal: Terminal<TestBackend>,
    big: FileView,
    sources: Arc<Sources>,
}

fn setup() -> Bench {
    let (text, big) = big_source();
    let sources = Arc::new(Sources {
        big: Arc::from(text.into_bytes()),
        small: Arc::from(&b"package x\n\nfunc a() {\n\tb()\n\tc()\n}\n"[..]),
    });
    let app_sources = sources.clone();
    let config = UiConfig {
        theme: Theme::Dark,
        clock: Clock::Fixed(SystemTime::UNIX_EPOCH),
        ..UiConfig::default()
    };
    let mut app = App::new(config, app_sources);
    app.on_view(view(1, &big));
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    app.resize(WIDTH, HEIGHT);
    terminal.draw(|f| app.draw(f)).expect("draw");
    Bench {
        app,
        terminal,
        big,
        sources,
    }
}

/// Files of the project exported to HTML from the screen.
const EXPORT_FILES: usize = 5_000;

/// `e`, enter: an HTML export of a 5,000-file project (the 20,000-line file among them) written
/// beside the screen, on a thread of its own as the engine's `spawn_blocking` does, by the one
/// writer (`report::write`), while keys are pressed in the tree. Prints key → frame while it
/// runs, how long it took and what the footer said.
fn export_beside_the_screen(b: &mut Bench) {
    let project = view_of(EXPORT_FILES, 1, &b.big);
    b.app.on_view(project.clone());
    b.terminal.draw(|f| b.app.draw(f)).expect("draw");
    b.app.handle_event(key(KeyCode::Char('e')));
    let sent = b.app.handle_event(key(KeyCode::Enter));
    let Some(covtop::engine::Command::Export {
        format,
        path: _,
        progress,
    }) = sent.into_iter().next()
    else {
        panic!("e, enter sends an export");
    };
    assert_eq!(format, covtop::report::Format::Html);
    let out = tempfile::tempdir().expect("a temporary directory");
    let dest = out.path().join("covtop-html");
    let sources = b.sources.clone();
    let opts = covtop::report::WriteOptions {
        progress: progress.clone(),
        ..covtop::report::WriteOptions::default()
    };
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        let raw = covtop::report::RawData::default();
        let inputs = covtop::report::Inputs {
            view: &project,
            raw: &raw,
            sources: Some(&*sources as &dyn SourceStore),
        };
        covtop::report::write(format, &inputs, &opts, &dest).map(|_| started.elapsed())
    });
    let mut footer_counts = Vec::new();
    measure_while(
        &format!("tree j/k while an HTML export of {EXPORT_FILES} files runs beside"),
        |_| !writer.is_finished(),
        |i| {
            let code = if (i / 10) % 2 == 0 {
                KeyCode::Char('j')
            } else {
                KeyCode::Char('k')
            };
            frame(b, key(code));
            if i.is_multiple_of(200) {
                let footer: String = (0..WIDTH)
                    .map(|x| {
                        b.terminal.backend().buffer()[(x, HEIGHT - 1)]
                            .symbol()
                            .to_string()
                    })
                    .collect();
                if let Some(at) = footer.find("exporting html") {
                    footer_counts.push(footer[at..].trim_end().to_string());
                }
            }
        },
    );
    let took = writer
        .join()
        .expect("the writer thread")
        .expect("the export is written");
    println!(
        "  the export took {took:.2?} ({:?} files written); the footer said, in turn: {}",
        progress.get(),
        footer_counts
            .iter()
            .step_by((footer_counts.len() / 4).max(1))
            .cloned()
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

/// Opens the big file in the source pane, highlighted.
fn open_big(b: &mut Bench) {
    b.app.handle_event(key(KeyCode::Char('/')));
    for c in "service/big/generated.go".chars() {
        b.app.handle_event(key(KeyCode::Char(c)));
    }
    b.app.handle_event(key(KeyCode::Enter));
    assert!(
        b.app.settle(Duration::from_secs(300)),
        "highlighting the big file took over 5 minutes"
    );
}

fn frame(b: &mut Bench, ev: Event) {
    black_box(b.app.handle_event(ev));
    b.app.tick(Instant::now());
    b.terminal.draw(|f| b.app.draw(f)).expect("draw");
}

/// Nanoseconds this thread has run on a CPU. On a shared machine the wall time's tail is mostly
/// time spent waiting for a core; this is the work itself.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

fn report(name: &str, wall: &mut [Duration], cpu: &mut [Duration]) {
    fn at(v: &[Duration], q: f64) -> Duration {
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
    }
    wall.sort();
    cpu.sort();
    print!(
        "{name}: n={} wall p50={:.3?} p99={:.3?} max={:.3?}",
        wall.len(),
        at(wall, 0.5),
        at(wall, 0.99),
        wall[wall.len() - 1]
    );
    if cpu.is_empty() {
        println!();
    } else {
        println!(
            " | on-CPU p50={:.3?} p99={:.3?} max={:.3?}",
            at(cpu, 0.5),
            at(cpu, 0.99),
            cpu[cpu.len() - 1]
        );
    }
}

/// Runs `step` `iterations` times and prints wall and on-CPU percentiles.
fn measure(name: &str, iterations: usize, step: impl FnMut(usize)) {
    measure_while(name, |i| i < iterations, step);
}

/// Runs `step` while `more` says so and prints wall and on-CPU percentiles.
fn measure_while(name: &str, mut more: impl FnMut(usize) -> bool, mut step: impl FnMut(usize)) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    let mut i = 0;
    while more(i) {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        step(i);
        wall.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            cpu.push(Duration::from_nanos(b.saturating_sub(a)));
        }
        i += 1;
    }
    report(name, &mut wall, &mut cpu);
}

/// Alternates `a` and `z` in runs of ten so the state never runs into an edge.
fn percentiles(name: &str, b: &mut Bench, a: KeyCode, z: KeyCode, iterations: usize) {
    measure(name, iterations, |i| {
        frame(b, key(if (i / 10) % 2 == 0 { a } else { z }))
    });
}

fn p99_report() {
    let mut b = setup();
    percentiles(
        "tree j/k over 10,000 files",
        &mut b,
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        2000,
    );
    percentiles(
        "tree pgdown/pgup over 10,000 files",
        &mut b,
        KeyCode::PageDown,
        KeyCode::PageUp,
        2000,
    );
    percentiles(
        "tree c (filter toggle: rebuilds 10,000 rows)",
        &mut b,
        KeyCode::Char('c'),
        KeyCode::Char('c'),
        200,
    );
    open_big(&mut b);
    percentiles(
        "source j/k in 20,000 lines",
        &mut b,
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        2000,
    );
    percentiles(
        "source pgdown/pgup in 20,000 lines",
        &mut b,
        KeyCode::PageDown,
        KeyCode::PageUp,
        2000,
    );
    percentiles(
        "source n/N (next missed) in 20,000 lines",
        &mut b,
        KeyCode::Char('n'),
        KeyCode::Char('N'),
        2000,
    );
    percentiles(
        "source end/home (sideways scroll) in 20,000 lines",
        &mut b,
        KeyCode::End,
        KeyCode::Home,
        2000,
    );
    percentiles(
        "z (zoom the source and back) in 20,000 lines",
        &mut b,
        KeyCode::Char('z'),
        KeyCode::Char('z'),
        2000,
    );
    let views: Vec<Arc<View>> = (2..202).map(|g| view(g, &b.big)).collect();
    let mut views = views.into_iter();
    measure("new View of 10,000 files to frame", 200, |_| {
        if let Some(v) = views.next() {
            b.app.on_view(v);
        }
        b.terminal.draw(|f| b.app.draw(f)).expect("draw");
    });
    percentiles(
        "tree t (language filter: rebuilds the rows)",
        &mut b,
        KeyCode::Char('t'),
        KeyCode::Char('t'),
        200,
    );
    b.app.handle_event(key(KeyCode::Char('1')));
    export_beside_the_screen(&mut b);
}

fn criterion_benches(c: &mut Criterion) {
    let mut b = setup();
    let mut down = true;
    c.bench_function("tree_key_to_frame_10k_files", |bench| {
        bench.iter(|| {
            down = !down;
            frame(
                &mut b,
                key(if down {
                    KeyCode::Char('j')
                } else {
                    KeyCode::Char('k')
                }),
            )
        })
    });
    open_big(&mut b);
    c.bench_function("source_key_to_frame_20k_lines", |bench| {
        bench.iter(|| {
            down = !down;
            frame(
                &mut b,
                key(if down {
                    KeyCode::PageDown
                } else {
                    KeyCode::PageUp
                }),
            )
        })
    });
    let big = b.big.clone();
    let mut generation = 2;
    c.bench_function("new_view_to_frame_10k_files", |bench| {
        bench.iter_batched(
            || {
                generation += 1;
                view(generation, &big)
            },
            |v| {
                b.app.on_view(v);
                b.terminal.draw(|f| b.app.draw(f)).expect("draw");
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, criterion_benches);

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: keep that quick.
    if std::env::args().any(|a| a == "--bench") {
        p99_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
