//! Speed of the Go room on a generated 1,000,000-block profile (2,000 files × 500 blocks):
//! parse, parse + merge of two replicas, projection onto lines, write.
//! Run: `cargo bench --bench go_profile -- --warm-up-time 1 --measurement-time 3`
//!
//! Measured in CPU time of the benchmark thread, not wall time: the figures are "on one core"
//! and stay meaningful on a machine shared with other builds.

#[path = "support/cpu.rs"]
mod cpu;

use covtop::go::project::code_lines;
use covtop::go::{ModuleMap, parse, project};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// CPU time consumed by the calling thread (criterion runs the routine on it).
struct CpuTime(WallTime);

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        cpu::thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        cpu::thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Same unit (nanoseconds) as wall time, so its formatter fits.
        self.0.formatter()
    }
}

const FILES: usize = 2_000;
const BLOCKS_PER_FILE: usize = 500;
const LINES_PER_BLOCK: u32 = 3;

/// A profile in the shape agents produce: files in no particular order, blocks in counter
/// order (a nested block listed after the block that follows it), a third of them never run.
fn generate(seed: u64) -> String {
    let mut out = String::with_capacity(FILES * BLOCKS_PER_FILE * 64);
    out.push_str("mode: count\n");
    let mut rng = seed | 1;
    for f in 0..FILES {
        // A fixed permutation of the files, like Go's map order.
        let f = (f * 7919) % FILES;
        for i in 0..BLOCKS_PER_FILE {
            // Swap neighbours: agents list blocks in counter order, not by position.
            let i = if i % 2 == 0 && i + 1 < BLOCKS_PER_FILE {
                i + 1
            } else if i % 2 == 1 {
                i - 1
            } else {
                i
            };
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let start = 10 + i as u32 * LINES_PER_BLOCK;
            let count = if rng.is_multiple_of(3) { 0 } else { rng % 5000 };
            let _ = writeln!(
                out,
                "example.com/bench/service/internal/pkg{:04}/file{:02}.go:{}.{},{}.{} {} {}",
                f / 10,
                f % 10,
                start,
                20 + (i * 7) % 40,
                start + LINES_PER_BLOCK - 1,
                3,
                1 + rng % 4,
                count
            );
        }
    }
    out
}

/// Go-looking source long enough for every block, with a comment every eighth line.
fn source_text() -> Arc<[u8]> {
    let lines = 10 + BLOCKS_PER_FILE as u32 * LINES_PER_BLOCK + 5;
    let mut s = String::new();
    for l in 1..=lines {
        if l % 8 == 0 {
            s.push_str("\t// explains the next statement\n");
        } else {
            let _ = writeln!(s, "\tx{l} := compute(x, \"value\") + {l}");
        }
    }
    Arc::from(s.into_bytes())
}

fn bench(c: &mut Criterion<CpuTime>) {
    let a = generate(0x1234_5678);
    let b = generate(0x9abc_def0);
    let modules = ModuleMap::new([(String::new(), "example.com/bench/service".to_owned())]);

    let mut g = c.benchmark_group("go_profile");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(a.len() as u64));
    g.bench_function("parse_1m_blocks", |bench| {
        bench.iter(|| parse(black_box(a.as_bytes()), "bench").unwrap())
    });
    g.throughput(Throughput::Bytes((a.len() + b.len()) as u64));
    g.bench_function("parse_two_replicas_and_merge", |bench| {
        bench.iter(|| {
            let mut p = parse(black_box(a.as_bytes()), "a").unwrap();
            let q = parse(black_box(b.as_bytes()), "b").unwrap();
            p.merge(&q)
        })
    });

    let mut merged = parse(a.as_bytes(), "a").unwrap();
    merged.merge(&parse(b.as_bytes(), "b").unwrap());
    assert_eq!(merged.block_count(), FILES * BLOCKS_PER_FILE);
    let replica = parse(b.as_bytes(), "b").unwrap();
    g.throughput(Throughput::Elements(merged.block_count() as u64));
    g.bench_function("merge_parsed_1m_blocks", |bench| {
        bench.iter_batched(
            || merged.clone(),
            |mut p| p.merge(black_box(&replica)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("project_1m_blocks_without_source", |bench| {
        bench.iter(|| project(black_box(&merged), &modules, &|_| None))
    });
    let text = source_text();
    g.bench_function("project_1m_blocks_with_source", |bench| {
        bench.iter(|| project(black_box(&merged), &modules, &|_| Some(text.clone())))
    });
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("code_lines_of_one_source", |bench| {
        bench.iter(|| code_lines(black_box(&text)))
    });
    g.throughput(Throughput::Bytes(a.len() as u64));
    g.bench_function("write_1m_blocks", |bench| {
        bench.iter(|| {
            let mut out = Vec::with_capacity(a.len());
            merged.write(&mut out).unwrap();
            out
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime(WallTime));
    targets = bench
}
criterion_main!(benches);
