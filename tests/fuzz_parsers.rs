//! Seeded mutation fuzzing of every parser of what covtop reads from the network, a file or a
//! config: Go cover profiles (and their projection), goc's JSON answers and watch frames, JaCoCo
//! exec data and agent replies, class files (parsed, analysed and projected), archives, unified
//! diffs, the configuration, the session folder's dump files, checkpoint and saved build files
//! (line statuses and class ids). Each parser gets a fixed number of
//! cases from a fixed seed (all of them together a few seconds in a debug build), then, under
//! `CI=true`, more cases from the same generator for a fixed time budget of its own
//! ([`CI_SECONDS`]). Inputs are mutated from real ones: bit flips, interesting bytes, tokens of
//! the format, cut and repeated ranges, numbers replaced by huge or negative ones. Properties:
//! never a panic (the failing input is printed), an error names the input it is about, and no
//! single allocation above 256 MiB on the thread that runs the parser (a length read from the
//! input and trusted), seen by this binary's allocator.
//!
//! `FUZZ_SEED=n` runs another seed; `FUZZ_SCALE=k` runs k times the fixed cases; `FUZZ_SECONDS=s`
//! sets the time budget of each parser (0: the fixed cases only, the default outside CI).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

/// The system allocator, noting the largest single allocation each thread asks for: a length
/// read from the input and trusted shows as one huge allocation.
struct NotingLargest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is passed on to `System` unchanged; `note` neither allocates nor panics.
unsafe impl GlobalAlloc for NotingLargest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: NotingLargest = NotingLargest;

/// What one case may allocate at once: the budget covtop keeps above its normal use.
const MAX_ALLOCATION: usize = 256 << 20;

/// Runs `f` on one input, asserting that no single allocation it makes on this thread passes
/// [`MAX_ALLOCATION`].
fn bounded<R>(what: &str, input: &[u8], f: impl FnOnce() -> R) -> R {
    LARGEST.with(|l| l.set(0));
    let r = f();
    let largest = LARGEST.with(|l| l.get());
    assert!(
        largest <= MAX_ALLOCATION,
        "{what} allocated {largest} bytes at once on {}",
        shown(input)
    );
    r
}

struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Self {
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_C0DE_u64);
        Rng((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// How long each parser is fuzzed under `CI=true` after its fixed cases, unless `FUZZ_SECONDS`
/// says otherwise.
const CI_SECONDS: u64 = 5;

/// The time budget of each parser: `FUZZ_SECONDS`, else [`CI_SECONDS`] under `CI=true`, else
/// none (the fixed cases only, for a quick local run).
fn time_budget() -> Duration {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::var_os("CI").is_some_and(|v| v == "true") {
            CI_SECONDS
        } else {
            0
        });
    Duration::from_secs(seconds)
}

/// The cases of one parser: the fixed ones first (`base` times `FUZZ_SCALE`, always run, the
/// same inputs from the same seed), then more from the same generator until the parser's time
/// budget is spent. The budget only decides how many inputs are tried, never what passes: a
/// failing input is printed whole, so it is reproduced without the clock.
struct Cases {
    what: &'static str,
    fixed: usize,
    budget: Duration,
    started: Instant,
    done: usize,
}

impl Cases {
    fn new(what: &'static str, base: usize) -> Cases {
        let scale: usize = std::env::var("FUZZ_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        Cases {
            what,
            fixed: base * scale,
            budget: time_budget(),
            started: Instant::now(),
            done: 0,
        }
    }

    /// Whether to run one more case (and counts it).
    fn next(&mut self) -> bool {
        let more = self.done < self.fixed || self.started.elapsed() < self.budget;
        if more {
            self.done += 1;
        } else {
            eprintln!(
                "{}: {} cases ({} fixed) in {:.1?}",
                self.what,
                self.done,
                self.fixed,
                self.started.elapsed()
            );
        }
        more
    }
}

const NUMBERS: &[&[u8]] = &[
    b"0",
    b"-1",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"2147483648",
    b"99999999999999999999999",
];

/// One to four mutations of `seed`, using the format's `tokens`.
fn mutate(rng: &mut Rng, seed: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = [0x00, 0xFF, 0x7F, 0x80, b'\n', b':', b',', 0xC0][rng.below(8)];
            }
            2 if !tokens.is_empty() => {
                let t = tokens[rng.below(tokens.len())];
                let i = rng.below(len + 1);
                b.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1).min(64);
                b.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1).min(256);
                let copy = b[i..i + n].to_vec();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, copy.iter().copied());
                }
            }
            5 => {
                let cut = rng.below(len + 1);
                b.truncate(cut);
            }
            6 => {
                // A run of digits becomes a huge, negative or zero number.
                let starts: Vec<usize> = (0..len)
                    .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
                    .collect();
                if !starts.is_empty() {
                    let s = starts[rng.below(starts.len())];
                    let e = (s..len).find(|&i| !b[i].is_ascii_digit()).unwrap_or(len);
                    b.splice(s..e, NUMBERS[rng.below(NUMBERS.len())].iter().copied());
                }
            }
            7 if len >= 4 => {
                // A big-endian length field becomes huge.
                let i = rng.below(len - 3);
                let v = [0xFFu8, 0x7F, 0x80][rng.below(3)];
                b[i..i + 4].fill(v);
            }
            _ => {
                let i = rng.below(len + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
        }
    }
    b
}

fn shown(input: &[u8]) -> String {
    let head: String = String::from_utf8_lossy(&input[..input.len().min(2000)])
        .escape_debug()
        .collect();
    format!("{} bytes: \"{head}\"", input.len())
}

/// Runs `f` on one input: a panic fails the test with the input; an error must name `origin`;
/// no single allocation on this thread passes [`MAX_ALLOCATION`] ([`bounded`]). Returns whether
/// the input was accepted.
fn check<T, E: Display>(
    what: &str,
    input: &[u8],
    origin: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> bool {
    match bounded(what, input, || catch_unwind(AssertUnwindSafe(f))) {
        Err(_) => panic!("{what} panicked on {}", shown(input)),
        Ok(Err(e)) => {
            let text = e.to_string();
            assert!(
                text.contains(origin),
                "{what}: the error does not name the input {origin:?}: {text}\non {}",
                shown(input)
            );
            false
        }
        Ok(Ok(_)) => true,
    }
}

/// The mutations reach both sides: some inputs are accepted (the parser's depth is exercised),
/// some refused.
fn assert_mixed(what: &str, accepted: usize, total: usize) {
    eprintln!("{what}: {accepted} of {total} accepted");
    assert!(
        accepted >= total / 50 && accepted < total,
        "{what}: {accepted} of {total} inputs accepted"
    );
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn go_profiles() {
    use covtop::go::modules::ModuleMap;
    let seeds = [
        read("tests/fixtures/goc/dump1.cov"),
        read("tests/fixtures/goc/unit_count.cov"),
        b"mode: atomic\na/b.go:1.1,2.2 1 1\na/b.go:1.1,2.2 1 3\nc:d/e f.go:3.4,3.9 2 0\n".to_vec(),
    ];
    let tokens: &[&[u8]] = &[
        b"mode: set\n",
        b"mode: count\n",
        b".go:",
        b",",
        b".",
        b" 1 1\n",
        b"\r\n",
        b" ",
    ];
    let modules = ModuleMap::new([(String::new(), "example.com/shop".to_owned())]);
    let src: std::sync::Arc<[u8]> =
        std::sync::Arc::from(&b"package p\n\nfunc f() {\n\tx()\n}\n"[..]);
    let mut rng = Rng::new(1);
    let mut accepted = 0;
    let mut run = Cases::new("go profiles", 20000);
    while run.next() {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        accepted += usize::from(check("go::profile::parse", &input, "fuzz.cov", || {
            let p = covtop::go::profile::parse(&input, "fuzz.cov")?;
            // What parses is projected, with and without sources, and written back.
            let with = rng.next().is_multiple_of(2);
            let proj = covtop::go::project(&p, &modules, &|_| with.then(|| src.clone()));
            let lines: usize = proj.files.iter().map(|f| f.lines.len()).sum();
            assert!(lines <= (1 << 21), "{lines} lines projected");
            let _ = covtop::go::layout::profile_fits(&p, &|_| Some(src.clone()));
            let mut out = Vec::new();
            p.write(&mut out).expect("a parsed profile writes");
            Ok::<_, covtop::go::profile::ProfileError>(())
        }));
    }
    assert_mixed("go profiles", accepted, run.done);
}

#[test]
fn goc_watch_frames_and_clear_bodies_and_urls() {
    let seeds: [&[u8]; 4] = [
        b"example.com/shop/cart/cart.go:25.19,27.2 1 1",
        b"{\"clear\":\"ok\"}\nhttp://10.0.0.5:7778 clear ok",
        b"http://user:pw@127.0.0.1:7777/path?x=1",
        b"[::1]:7777",
    ];
    let tokens: &[&[u8]] = &[
        b":", b",", b".", b" ", b"http://", b"@", b"%", b"[", b"]", b"\n",
    ];
    let mut rng = Rng::new(2);
    let mut run = Cases::new("goc watch frames, clear bodies and urls", 10_000);
    while run.next() {
        let seed = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        let text = String::from_utf8_lossy(&input).into_owned();
        check("WatchHint::parse", &input, "", || {
            Ok::<_, String>(covtop::agent::goc_v2::WatchHint::parse(&text))
        });
        check("parse_clear_body", &input, "", || {
            Ok::<_, String>(covtop::agent::goc_v1::parse_clear_body(&text))
        });
        check("normalize_url", &input, "", || {
            covtop::agent::goc_v1::normalize_url(&text)
        });
    }
}

/// A one-connection-at-a-time HTTP server answering every request with the next body given.
struct Replies {
    url: String,
    next: std::sync::mpsc::Sender<Vec<u8>>,
}

fn reply_server() -> Replies {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (next, bodies) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut body = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            while let Ok(b) = bodies.try_recv() {
                body = b;
            }
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = stream.write_all(&body);
        }
    });
    Replies { url, next }
}

#[test]
fn goc_json_answers() {
    use covtop::agent::goc_v1::GocV1Target;
    use covtop::agent::goc_v2::GocV2Target;
    let server = reply_server();
    let timeout = std::time::Duration::from_secs(5);
    let v1 = GocV1Target::new(&server.url, vec![], vec![], timeout).unwrap();
    let v2 = GocV2Target::new(&server.url, vec![], None, timeout).unwrap();
    let seeds: [&[u8]; 4] = [
        br#"{"shop":["http://127.0.0.1:7778","http://10.0.0.5:7778"],"other":[]}"#,
        br#"{"items":[{"id":"1","rpc_remoteip":"10.0.0.5","hostname":"h","pid":"12","cmdline":"./shop","extra":"ns=x","status":1}]}"#,
        br#"{"profile":"mode: count\nexample.com/shop/a.go:1.1,2.2 1 1\n"}"#,
        br#"{"items":null}"#,
    ];
    let tokens: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"\\u0000", b"1e999", b"\\ud800",
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rng = Rng::new(3);
    let mut accepted = 0;
    let mut run = Cases::new("goc v2 agent lists", 300);
    while run.next() {
        let seed = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        server.next.send(input.clone()).unwrap();
        let name = server.url.trim_start_matches("http://");
        check("goc v1 list", &input, name, || rt.block_on(v1.list()));
        accepted += usize::from(check("goc v2 agents", &input, name, || {
            rt.block_on(v2.agents())
        }));
        check("goc v2 fetch", &input, name, || rt.block_on(v2.fetch("1")));
    }
    assert_mixed("goc v2 agent lists", accepted, run.done);
}

#[test]
fn jacoco_exec_and_agent_replies() {
    use covtop::java::exec;
    let mut seeds = vec![read("tests/java-corpus/fixtures/dump1.exec")];
    let mut reply = seeds[0].clone();
    reply.push(exec::BLOCK_CMDOK);
    seeds.push(reply);
    let tokens: &[&[u8]] = &[
        &exec::HEADER,
        &[exec::BLOCK_SESSIONINFO, 0, 1, b's'],
        &[exec::BLOCK_EXECUTIONDATA],
        &[exec::BLOCK_CMDOK],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x07],
        &[0xED, 0xA0, 0x80],
        &[0xC0, 0x80],
    ];
    let mut rng = Rng::new(4);
    let mut accepted = 0;
    let mut run = Cases::new("exec data", 20000);
    while run.next() {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        accepted += usize::from(check("exec::parse", &input, "fuzz.exec", || {
            let data = exec::parse(&input, "fuzz.exec")?;
            let bytes = data.to_bytes().expect("parsed data writes");
            let again = exec::parse(&bytes, "rewritten").expect("what covtop writes parses");
            assert_eq!(
                again.classes.len(),
                data.classes.iter().filter(|(_, c)| c.any_hit()).count()
            );
            Ok::<_, exec::ExecError>(())
        }));
        check("exec::scan_reply", &input, "agent", || {
            let resume = rng.below(input.len() + 1).min(5);
            exec::scan_reply(&input, "agent", if resume == 5 { 5 } else { 0 })
        });
    }
    assert_mixed("exec data", accepted, run.done);
}

#[test]
fn class_files_analysis_and_projection() {
    use covtop::java::analysis::analyze_class;
    let seeds = [read("tests/java-corpus/fixtures/Tiny.class")];
    let tokens: &[&[u8]] = &[
        &[0xCA, 0xFE, 0xBA, 0xBE],
        &[0, 0],
        &[0xFF, 0xFF],
        &[1, 0, 4],
        b"Code",
        b"LineNumberTable",
    ];
    let mut rng = Rng::new(5);
    let mut accepted = 0;
    let mut run = Cases::new("class files", 8000);
    while run.next() {
        let input = mutate(&mut rng, &seeds[0], tokens);
        accepted += usize::from(check("class analysis", &input, "", || {
            covtop::java::classfile::parse_class(&input).map_err(|e| e.to_string())?;
            if let Some(a) = analyze_class(&input).map_err(|e| e.to_string())? {
                let probes: covtop::java::exec::Probes = (0..a.probe_count() + rng.below(3))
                    .map(|_| rng.next().is_multiple_of(2))
                    .collect();
                let _ = a.project(Some(&probes));
                let _ = a.project(None);
            }
            Ok::<_, String>(())
        }));
    }
    assert_mixed("class files", accepted, run.done);
}

#[test]
fn archives() {
    use covtop::java::archive::load_classes;
    use std::io::Write;
    let tiny = read("tests/java-corpus/fixtures/Tiny.class");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, deflate) in [
        ("META-INF/MANIFEST.MF", true),
        ("a/Tiny.class", true),
        ("b/Tiny.class", false),
    ] {
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        w.start_file(
            name,
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        if name.ends_with(".MF") {
            w.write_all(b"Manifest-Version: 1.0\r\nMulti-Release: true\r\n")
                .unwrap();
        } else {
            w.write_all(&tiny).unwrap();
        }
    }
    let jar = w.finish().unwrap().into_inner();
    let tokens: &[&[u8]] = &[
        b"PK\x03\x04",
        b"PK\x01\x02",
        b"PK\x05\x06",
        &[0xFF, 0xFF, 0xFF, 0xFF],
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.jar");
    let mut rng = Rng::new(6);
    let mut accepted = 0;
    let mut run = Cases::new("archives", 1000);
    while run.next() {
        let input = mutate(&mut rng, &jar, tokens);
        std::fs::write(&path, &input).unwrap();
        accepted += usize::from(check("archive", &input, "", || {
            let (classes, problems) = load_classes(std::slice::from_ref(&path), &[]);
            for p in &problems {
                assert!(p.to_string().contains("fuzz.jar"), "{p}");
            }
            assert!(classes.len() <= 2);
            if classes.is_empty() {
                return Err("no class loaded".to_string());
            }
            Ok(())
        }));
    }
    assert_mixed("archives", accepted, run.done);
}

#[test]
fn unified_diffs() {
    let seed = b"diff --git a/cart/cart.go b/cart/cart.go\nindex 1111111..2222222 100644\n--- a/cart/cart.go\n+++ b/cart/cart.go\n@@ -3,0 +4,2 @@ func f() {\n+\tx()\n+\ty()\n@@ -10 +12 @@\n-old\n+new\n\\ No newline at end of file\ndiff --git a/new.go b/new.go\nnew file mode 100644\n--- /dev/null\n+++ b/new.go\n@@ -0,0 +1 @@\n+package p\n";
    let tokens: &[&[u8]] = &[
        b"@@ -",
        b" +",
        b" @@\n",
        b"+++ b/",
        b"--- a/",
        b"diff --git ",
        b"\n+",
        b"\n-",
        b"\n ",
        b"rename to x\n",
    ];
    let mut rng = Rng::new(7);
    let mut accepted = 0;
    let mut run = Cases::new("unified diffs", 20000);
    while run.next() {
        let input = mutate(&mut rng, seed, tokens);
        let text = String::from_utf8_lossy(&input).into_owned();
        accepted += usize::from(check("parse_unified_diff", &input, "fuzz.diff", || {
            covtop::vcs::parse_unified_diff(&text, "fuzz.diff")
        }));
    }
    assert_mixed("unified diffs", accepted, run.done);
}

#[test]
fn configs() {
    let example = covtop::config::example(
        &[(String::new(), "example.com/shop".into())],
        &[],
        "main",
        ".",
    );
    let seeds = [
        example.into_bytes(),
        b"[repo]\nbase = \"main\"\n[poll]\ninterval = \"2s\"\ntimeout = \"1500ms\"\n[[target]]\nname = \"a\"\nkind = \"goc-v2\"\nurl = \"http://u:p@h:1\"\nids = [\"1\"]\nextra = \"a.*\"\n[[target]]\nname = \"j\"\nkind = \"jacoco\"\naddresses = [\"h:6300\"]\nclasses = [\"a.jar\"]\n[keys]\nquit = [\"q\"]\n".to_vec(),
    ];
    let tokens: &[&[u8]] = &[
        b"[[target]]\n",
        b" = ",
        b"\"",
        b"\n",
        b"[",
        b"]",
        b"\"99999999999h\"",
        b"-1",
        b"0s",
        b"1.5",
    ];
    let path = Path::new("fuzz/covtop.toml");
    let mut rng = Rng::new(8);
    let mut accepted = 0;
    let mut run = Cases::new("configs", 3000);
    while run.next() {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        let text = String::from_utf8_lossy(&input).into_owned();
        accepted += usize::from(check("config::parse", &input, "covtop.toml", || {
            covtop::config::parse(&text, path)
        }));
    }
    assert_mixed("configs", accepted, run.done);
}

#[test]
fn session_dump_files() {
    use covtop::session::{DumpMeta, PayloadKind, SessionStore};
    let dir = tempfile::tempdir().unwrap();
    let mut store = SessionStore::open(dir.path(), "fuzz").unwrap();
    let meta = DumpMeta::new(
        "shop",
        "http://10.0.0.5:7778",
        None,
        1,
        "HEAD",
        PayloadKind::GoProfile,
    );
    let payload = b"mode: count\na/b.go:1.1,2.2 1 1\n";
    let written = store.persist(&meta, payload).unwrap();
    // The stored file names its payload in the store's blobs; the older format holds it inline.
    let blob_format = std::fs::read(&written).unwrap();
    let mut inline = b"COVTOP-DUMP 1\n".to_vec();
    inline.extend_from_slice(
        &blob_format[blob_format.iter().position(|&b| b == b'\n').unwrap() + 1..],
    );
    inline.extend_from_slice(payload);
    let seeds = [blob_format, inline];
    let tokens: &[&[u8]] = &[
        b"COVTOP-DUMP 1\n",
        b"COVTOP-DUMP 2\n",
        b"\"len\":",
        b"\"blob\":\"",
        b"\"crc32\":",
        b"\n",
        b"{",
        b"}",
    ];
    let path = store.dir().join("00000009-shop-fuzz.dump");
    let mut rng = Rng::new(9);
    let mut accepted = 0;
    let mut run = Cases::new("session dump files", 3000);
    while run.next() {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, tokens);
        std::fs::write(&path, &input).unwrap();
        accepted += usize::from(check("read_dump_file", &input, "", || {
            covtop::session::read_dump_file(&path)
        }));
    }
    assert_mixed("session dump files", accepted, run.done);
}

/// A real checkpoint of a session holding Go dumps (two replicas, a restart, a reset) and a real
/// JaCoCo agent's dump, as the folder store writes it (header line, then the engine's bytes).
fn checkpoint_seed(dir: &Path) -> Vec<u8> {
    use covtop::engine::checkpoint::Folded;
    use covtop::session::{DumpMeta, DumpStore, PayloadKind, SessionStore};
    let mut store = SessionStore::open(dir, "fuzz").unwrap();
    for (n, replica, instance, count) in [(1, "r1", "p1", 5), (2, "r1", "p2", 1), (3, "r2", "q", 7)]
    {
        let m = DumpMeta::new(
            "svc",
            replica,
            Some(instance.into()),
            n,
            "rev",
            PayloadKind::GoProfile,
        );
        let profile = format!("mode: count\nm/a.go:1.1,2.2 1 {count}\nm/b.go:3.1,4.2 2 0\n");
        store.append(&m, profile.as_bytes()).unwrap();
    }
    store
        .append_reset("svc", "r2", "rev", PayloadKind::GoProfile, 4)
        .unwrap();
    let m = DumpMeta::new("jvm", "j", None, 5, "rev", PayloadKind::JacocoExec);
    // A real agent's dump.
    let exec = read("tests/java-corpus/fixtures/dump1.exec");
    store.append(&m, &exec).unwrap();
    let mut folded = Folded::new("rev");
    let judge = &mut covtop::engine::core::Trusting;
    folded.fold(store.stream_after(0).unwrap(), judge, &store);
    store
        .write_checkpoint("rev", folded.upto, &folded.encode().unwrap())
        .unwrap();
    std::fs::read(dir.join("sessions/fuzz/checkpoint.rev")).unwrap()
}

/// The session folder's checkpoint: read by the store (header line), decoded by the engine.
/// Mutations mostly break the CRC-32; those of the header line and of the deflated body's
/// stream are reached too, and so are the decoded parts when a case leaves the CRC right (the
/// CRC is recomputed for half the cases).
#[test]
fn checkpoint_files() {
    use covtop::engine::checkpoint::Folded;
    use covtop::session::SessionStore;
    let dir = tempfile::tempdir().unwrap();
    let seed = checkpoint_seed(dir.path());
    let store = SessionStore::open(dir.path(), "fuzz").unwrap();
    let path = store.dir().join("checkpoint.rev");
    let header_end = seed.iter().position(|&b| b == b'\n').unwrap() + 1;
    // The engine's bytes: magic line, format, CRC-32, zlib body.
    let magic_end = header_end + seed[header_end..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let body = magic_end + 8;
    // The body inflated, to mutate what the CRC and zlib protect.
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::ZlibDecoder::new(&seed[body..]),
        &mut plain,
    )
    .unwrap();
    let tokens: &[&[u8]] = &[
        b"COVTOP-CHECKPOINT-FILE ",
        b"\n",
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b",",
        b":",
        &[0xFF; 8],
        &[0; 8],
        b"18446744073709551615",
    ];
    let mut rng = Rng::new(10);
    let mut accepted = 0;
    let mut run = Cases::new("checkpoint files", 1000);
    while run.next() {
        let input = match rng.below(3) {
            // The whole file as it lies on disk.
            0 => mutate(&mut rng, &seed, tokens),
            // The inflated body, deflated again behind a right CRC: the decoder's depth.
            _ => {
                let mutated = mutate(&mut rng, &plain, tokens);
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut z, &mutated).unwrap();
                let deflated = z.finish().unwrap();
                let mut out = seed[..magic_end + 4].to_vec();
                out.extend_from_slice(&crc32fast::hash(&deflated).to_le_bytes());
                out.extend_from_slice(&deflated);
                out
            }
        };
        std::fs::write(&path, &input).unwrap();
        let ok = check("read_checkpoint", &input, "", || {
            store.read_checkpoint("rev")
        }) && check("Folded::decode", &input, "fuzz-checkpoint", || {
            let cp = store.read_checkpoint("rev").unwrap().unwrap();
            Folded::decode(&cp.bytes, "fuzz-checkpoint")
        });
        accepted += usize::from(ok);
    }
    assert_mixed("checkpoint files", accepted, run.done);
}

/// The saved build files of a session folder: a JaCoCo build's line statuses (`.lines`, JSON)
/// and its class ids (`.ids`, text).
#[test]
fn saved_build_files() {
    use covtop::model::LineStatus;
    use covtop::session::builds::{BuildIds, BuildLines};
    let mut lines = BuildLines {
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        ..Default::default()
    };
    for (path, statuses) in [
        (
            "src/main/java/a/B.java",
            [LineStatus::Covered, LineStatus::Missed, LineStatus::Partial],
        ),
        (
            "src/main/java/a/C.java",
            [LineStatus::Missed, LineStatus::Missed, LineStatus::Covered],
        ),
    ] {
        let file = lines.files.entry(path.into()).or_default();
        for (i, s) in statuses.into_iter().enumerate() {
            file.insert(10 + 3 * i as u32, s);
        }
    }
    let ids = BuildIds {
        revision: lines.revision.clone(),
        ids: [7u64, u64::MAX, 0x1234_5678_9abc_def0]
            .into_iter()
            .collect(),
    };
    let seeds = [lines.encode("shop"), ids.encode()];
    let tokens: &[&[u8]] = &[
        b"covtop-build-lines 1",
        b"covtop-build-ids 1 ",
        b"\n",
        b"{",
        b"}",
        b"\"",
        b",",
        b":",
        b" ",
        b"c",
        b"p",
        b"m",
        b"4294967296c",
        b"ffffffffffffffff",
        b"10000000000000000",
    ];
    let path = Path::new("sessions/fuzz/builds/build-shop.lines");
    let mut rng = Rng::new(11);
    let (mut accepted, mut total) = ([0usize; 2], [0usize; 2]);
    let mut run = Cases::new("saved build files", 6000);
    while run.next() {
        let which = rng.below(seeds.len());
        let input = mutate(&mut rng, &seeds[which], tokens);
        let ok = match which {
            0 => check("BuildLines::decode", &input, "build-shop.lines", || {
                BuildLines::decode(&input, path, &lines.revision)
            }),
            _ => check("BuildIds::decode", &input, "build-shop.lines", || {
                BuildIds::decode(&input, path)
            }),
        };
        total[which] += 1;
        accepted[which] += usize::from(ok);
    }
    assert_mixed("saved build lines", accepted[0], total[0]);
    assert_mixed("saved build ids", accepted[1], total[1]);
}

/// [`bounded`] sees an allocation of a trusted length (not touched: no memory is used).
#[test]
fn a_trusted_length_is_caught_by_the_allocation_bound() {
    bounded("small", b"", || Vec::<u8>::with_capacity(MAX_ALLOCATION));
    let caught = catch_unwind(|| {
        bounded("trusting", b"\xff\xff\xff\xff", || {
            Vec::<u8>::with_capacity(MAX_ALLOCATION + 1)
        })
    });
    let message = caught.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("trusting allocated 268435457 bytes at once"),
        "{message}"
    );
}
