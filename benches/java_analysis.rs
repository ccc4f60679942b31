//! Native JaCoCo analysis speed on real jars: the first analysis of every class of guava and
//! commons-lang3, and the re-projection of all of them onto a new dump (what the engine does
//! after every poll).

use std::io::Read;

use covtop::java::analysis::{ClassAnalysis, analyze_class};
use criterion::{Criterion, criterion_group};

const JARS: &[&str] = &[
    "/usr/share/java/guava.jar",
    "/usr/share/java/commons-lang3.jar",
];

fn class_files(jars: &[String]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for jar in jars {
        let Ok(f) = std::fs::File::open(jar) else {
            eprintln!(
                "skipping {jar}: not installed (apt-get install libguava-java libcommons-lang3-java)"
            );
            continue;
        };
        let mut z = zip::ZipArchive::new(f).expect("readable jar");
        for i in 0..z.len() {
            let mut e = z.by_index(i).expect("jar entry");
            if e.is_file() && e.name().is_ok_and(|n| n.ends_with(".class")) {
                let mut b = Vec::new();
                e.read_to_end(&mut b).expect("jar entry bytes");
                out.push(b);
            }
        }
    }
    out
}

/// A deterministic pseudo-random probe array per class, like a dump with mixed coverage.
fn dump(analyses: &[ClassAnalysis], seed: u64) -> Vec<covtop::java::exec::Probes> {
    let mut x = seed | 1;
    analyses
        .iter()
        .map(|a| {
            (0..a.probe_count())
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x & 3 != 0
                })
                .collect()
        })
        .collect()
}

fn default_jars() -> Vec<String> {
    JARS.iter().map(|s| s.to_string()).collect()
}

fn bench(c: &mut Criterion) {
    let classes = class_files(&default_jars());
    if classes.is_empty() {
        return;
    }
    let analyses: Vec<ClassAnalysis> = classes
        .iter()
        .filter_map(|b| analyze_class(b).ok().flatten())
        .collect();
    let insns: u32 = analyses
        .iter()
        .map(|a| {
            let c = a.project(None);
            c.instructions.0 + c.instructions.1
        })
        .sum();
    eprintln!(
        "{} class files, {} analysed, {} instructions",
        classes.len(),
        analyses.len(),
        insns
    );
    c.bench_function("analyze guava+commons-lang3", |b| {
        b.iter(|| {
            classes
                .iter()
                .filter_map(|b| analyze_class(b).ok().flatten())
                .count()
        })
    });
    let probes = dump(&analyses, 0x5eed);
    c.bench_function("project guava+commons-lang3 onto a new dump", |b| {
        b.iter(|| {
            analyses
                .iter()
                .zip(&probes)
                .map(|(a, p)| a.project(Some(p)).lines.len())
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench);

/// `COVTOP_ANALYZE_ONCE=1 java_analysis-<hash> JAR...` analyses and projects every class once
/// and exits: the whole-process figure benches/compare_jacoco.sh measures against JaCoCo.
fn main() {
    if let Some(step) = std::env::var_os("COVTOP_REPORT_FIXTURE") {
        report_fixture(
            &step.to_string_lossy(),
            &std::env::args().skip(1).collect::<Vec<_>>(),
        );
        return;
    }
    if std::env::var_os("COVTOP_ANALYZE_PHASES").is_some() {
        phases();
        return;
    }
    if std::env::var_os("COVTOP_ANALYZE_ONCE").is_some() {
        let jars: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a.ends_with(".jar"))
            .collect();
        let jars = if jars.is_empty() {
            default_jars()
        } else {
            jars
        };
        let t0 = std::time::Instant::now();
        // The product path: covtop's own archive loader, then the analysis on every core.
        let paths: Vec<std::path::PathBuf> = jars.iter().map(std::path::PathBuf::from).collect();
        let (entries, _problems) = covtop::java::archive::load_classes(&paths, &[]);
        let bytes: Vec<&[u8]> = entries.iter().map(|e| &e.bytes[..]).collect();
        let analyses: Vec<ClassAnalysis> = covtop::java::analysis::analyze_many(&bytes)
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        let t1 = t0.elapsed();
        let lines: usize = analyses.iter().map(|a| a.project(None).lines.len()).sum();
        println!(
            "covtop: {} classes analysed in {:.1} ms (jar reading included), {} lines, projection {:.1} ms",
            analyses.len(),
            t1.as_secs_f64() * 1e3,
            lines,
            (t0.elapsed() - t1).as_secs_f64() * 1e3
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// `COVTOP_ANALYZE_PHASES=1 java_analysis-<hash>`: each phase of the first analysis alone, on one
/// core, to see where the whole-process time goes.
fn phases() {
    // CPU time of the process (all threads), not wall time: the shared machine's load does not
    // distort it, and the parallel loader's worker threads count.
    #[derive(Clone, Copy)]
    struct Instant(f64);
    impl Instant {
        fn now() -> Instant {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes into the timespec we own.
            unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
            Instant(ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6)
        }
    }
    let ms = |t: Instant| Instant::now().0 - t.0;
    let t = Instant::now();
    let raw: Vec<Vec<u8>> = JARS.iter().filter_map(|j| std::fs::read(j).ok()).collect();
    eprintln!("read jars      {:7.1} ms", ms(t));
    let t = Instant::now();
    let mut classes = Vec::new();
    for r in &raw {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(&r[..])).expect("jar");
        for i in 0..z.len() {
            let mut e = z.by_index(i).expect("entry");
            if e.name().is_ok_and(|n| n.ends_with(".class")) {
                let mut b = Vec::with_capacity(e.size() as usize);
                e.read_to_end(&mut b).expect("inflate");
                classes.push(b);
            }
        }
    }
    eprintln!(
        "inflate        {:7.1} ms ({} classes, {} bytes)",
        ms(t),
        classes.len(),
        classes.iter().map(Vec::len).sum::<usize>()
    );
    let t = Instant::now();
    let ids: u64 = classes
        .iter()
        .map(|c| covtop::java::crc64::class_id(c))
        .fold(0, |a, b| a ^ b);
    eprintln!("crc64          {:7.1} ms ({ids:x})", ms(t));
    let t = Instant::now();
    let parsed: Vec<_> = classes
        .iter()
        .filter_map(|c| covtop::java::classfile::parse_class(c).ok())
        .collect();
    eprintln!("parse          {:7.1} ms", ms(t));
    let t = Instant::now();
    let analyses: Vec<ClassAnalysis> = parsed
        .iter()
        .filter_map(|c| covtop::java::analysis::analyze_parsed(c).ok().flatten())
        .collect();
    eprintln!("analyse        {:7.1} ms", ms(t));
    let t = Instant::now();
    drop(parsed);
    eprintln!("drop parsed    {:7.1} ms", ms(t));
    let t = Instant::now();
    let lines: usize = analyses.iter().map(|a| a.project(None).lines.len()).sum();
    eprintln!("project        {:7.1} ms ({lines} lines)", ms(t));
    let t = Instant::now();
    let (entries, _) = covtop::java::archive::load_classes(
        &JARS
            .iter()
            .map(std::path::PathBuf::from)
            .collect::<Vec<_>>(),
        &[],
    );
    eprintln!(
        "load_classes   {:7.1} ms ({} entries)",
        ms(t),
        entries.len()
    );
}

/// The input of benches/compare_jacoco_report.sh, in two steps:
///
/// - `COVTOP_REPORT_FIXTURE=sources java_analysis-<hash> JAR DIR`: analyses every class of the jar
///   and writes `DIR/repo/src/main/java/<package>/<SourceFile>`, one stub line per source line
///   up to the last line any class of the file has code on (so every class maps to a file and
///   is projected, as with the real sources), and `DIR/dump.exec`: one agent dump holding every
///   class that has probes, with pseudo-random probes (seeded: some classes not run, some fully,
///   most partly, as in a real dump), the ids and probe counts of covtop's analysis (equal to
///   JaCoCo's by the oracle tests; JaCoCo's Analyzer also fails on a count it disagrees with).
/// - `COVTOP_REPORT_FIXTURE=dump java_analysis-<hash> DIR SESSION_ROOT TARGET REVISION`: stores
///   `DIR/dump.exec` as the one dump of session `default` under SESSION_ROOT, as `covtop dump`
///   does (`SessionStore::persist`).
fn report_fixture(step: &str, args: &[String]) {
    use covtop::java::exec::{ClassProbes, ExecData, SessionInfo};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    match step {
        "sources" => {
            let [jar, dir] = args else {
                panic!("usage: COVTOP_REPORT_FIXTURE=sources java_analysis JAR DIR")
            };
            let dir = Path::new(dir);
            let (entries, problems) =
                covtop::java::archive::load_classes(&[PathBuf::from(jar)], &[]);
            assert!(problems.is_empty(), "{problems:?}");
            let bytes: Vec<&[u8]> = entries.iter().map(|e| &e.bytes[..]).collect();
            let mut files: BTreeMap<String, u32> = BTreeMap::new();
            let mut exec = ExecData::default();
            exec.sessions.push(SessionInfo {
                id: "bench-jdt".into(),
                start: 1_700_000_000_000,
                dump: 1_700_000_060_000,
            });
            let mut x: u64 = 0x5eed_1234_abcd;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for (e, r) in entries
                .iter()
                .zip(covtop::java::analysis::analyze_many(&bytes))
            {
                let Ok(Some(a)) = r else { continue };
                if let Some(src) = a.source_file() {
                    let last = a
                        .project(None)
                        .lines
                        .iter()
                        .map(|l| l.line)
                        .max()
                        .unwrap_or(1);
                    let path = if a.package().is_empty() {
                        src.to_string()
                    } else {
                        format!("{}/{src}", a.package())
                    };
                    let m = files.entry(path).or_insert(1);
                    *m = (*m).max(last);
                }
                if a.probe_count() == 0 {
                    continue; // the agent records nothing for a class without probes
                }
                // One class in 8 did not run, one in 8 ran fully, the rest partly (each probe
                // hit with a probability drawn per class).
                let kind = next() % 8;
                let rate = next() % 100;
                let mut probes: Vec<bool> = (0..a.probe_count())
                    .map(|_| match kind {
                        0 => false,
                        1 => true,
                        _ => next() % 100 < rate,
                    })
                    .collect();
                if kind == 0 {
                    continue;
                }
                probes[0] = true;
                exec.classes.insert(
                    e.id,
                    ClassProbes {
                        name: a.name().to_string(),
                        probes: probes.into(),
                    },
                );
            }
            let root = dir.join("repo/src/main/java");
            for (path, last) in &files {
                let p = root.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "//\n".repeat(*last as usize)).unwrap();
            }
            let mut out = Vec::new();
            exec.write(&mut out).unwrap();
            std::fs::write(dir.join("dump.exec"), &out).unwrap();
            eprintln!(
                "fixture: {} source files, {} classes with data, exec {} bytes",
                files.len(),
                exec.classes.len(),
                out.len()
            );
        }
        "dump" => {
            let [dir, root, target, revision] = args else {
                panic!(
                    "usage: COVTOP_REPORT_FIXTURE=dump java_analysis DIR SESSION_ROOT TARGET REVISION"
                )
            };
            let payload = std::fs::read(Path::new(dir).join("dump.exec")).unwrap();
            let mut store =
                covtop::session::SessionStore::open(Path::new(root), "default").unwrap();
            let meta = covtop::session::DumpMeta::new(
                target,
                "127.0.0.1:6300",
                Some("bench-jdt start=1700000000000".into()),
                1_700_000_060_000,
                revision,
                covtop::session::PayloadKind::JacocoExec,
            );
            let path = store.persist(&meta, &payload).unwrap();
            eprintln!("stored {}", path.display());
        }
        _ => panic!("COVTOP_REPORT_FIXTURE is `sources` or `dump`"),
    }
}
