//! Differential test on randomly edited repositories: for every seed, the changed lines computed
//! with git2 must equal `git diff -U0` from the git CLI parsed with `parse_unified_diff`, for the
//! three-dot range, with `-w`, two-dot, and against the working tree. Seeds are fixed, so a
//! failure reproduces; the repository of a failing seed is described in the assertion message.

mod common;
mod vcs_fixture;

use covtop::model::ChangedLines;
use covtop::vcs::{DiffSpec, RangeMode, Repo, parse_unified_diff};
use vcs_fixture::Fixture;

/// xorshift64*: small, deterministic, good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Lines that repeat a lot (braces, blanks, similar statements) make edits ambiguous, which is
/// where diff implementations could disagree.
const VOCABULARY: &[&str] = &[
    "{",
    "}",
    "",
    "    return x;",
    "\tif (a) {",
    "    a = 1;",
    "  a = 1;",
    "a=1;",
    "    call(x);",
    "// note",
    "\t}",
];

fn random_line(rng: &mut Rng, counter: &mut u32) -> String {
    if rng.chance(40) {
        *counter += 1;
        format!("    unique {counter};")
    } else {
        VOCABULARY[rng.below(VOCABULARY.len())].to_string()
    }
}

fn whitespace_variant(rng: &mut Rng, line: &str) -> String {
    match rng.below(4) {
        0 => format!("  {line}"),
        1 => line.trim_start().to_string(),
        2 => line.replace(' ', "  "),
        _ => format!("{line} "),
    }
}

struct SourceFile {
    lines: Vec<String>,
    crlf: bool,
    final_newline: bool,
}

impl SourceFile {
    fn render(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut text = self.lines.join(eol);
        if self.final_newline && !self.lines.is_empty() {
            text.push_str(eol);
        }
        text
    }
}

fn edit(rng: &mut Rng, file: &mut SourceFile, counter: &mut u32) {
    for _ in 0..1 + rng.below(6) {
        let len = file.lines.len();
        let at = rng.below(len + 1);
        match rng.below(5) {
            0 => {
                for _ in 0..1 + rng.below(3) {
                    let line = random_line(rng, counter);
                    file.lines.insert(at.min(file.lines.len()), line);
                }
            }
            1 if len > 2 => {
                let n = (1 + rng.below(3)).min(len - at.min(len));
                file.lines.drain(at.min(len)..at.min(len) + n);
            }
            2 if len > 0 => {
                let i = at.min(len - 1);
                file.lines[i] = random_line(rng, counter);
            }
            3 if len > 0 => {
                let i = at.min(len - 1);
                file.lines[i] = whitespace_variant(rng, &file.lines[i]);
            }
            _ => file.final_newline = !file.final_newline,
        }
    }
}

fn write_all(fixture: &Fixture, files: &[(String, Option<SourceFile>)]) {
    for (path, file) in files {
        match file {
            Some(file) => fixture.write(path, file.render()),
            None => {
                let _ = std::fs::remove_file(fixture.path().join(path));
            }
        }
    }
}

fn build(seed: u64) -> Fixture {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut counter = 0;
    let fixture = Fixture::empty();
    let mut files: Vec<(String, Option<SourceFile>)> = (0..6)
        .map(|i| {
            let n = 5 + rng.below(40);
            let lines = (0..n)
                .map(|_| random_line(&mut rng, &mut counter))
                .collect();
            let file = SourceFile {
                lines,
                crlf: i == 5,
                final_newline: rng.chance(80),
            };
            (format!("src/file{i}.c"), Some(file))
        })
        .collect();
    write_all(&fixture, &files);
    fixture.commit_all("base", 1);
    let mut main_files: Vec<(String, Option<SourceFile>)> = files
        .iter()
        .map(|(p, f)| {
            let f = f.as_ref().map(|f| SourceFile {
                lines: f.lines.clone(),
                crlf: f.crlf,
                final_newline: f.final_newline,
            });
            (p.clone(), f)
        })
        .collect();

    fixture.git(&["checkout", "-q", "-b", "feature"]);
    for day in 2..4 {
        for (_, file) in files.iter_mut() {
            if let Some(file) = file.as_mut().filter(|_| rng.chance(70)) {
                edit(&mut rng, file, &mut counter);
            }
        }
        if rng.chance(30) {
            let i = rng.below(files.len());
            files[i].1 = None;
        }
        // A clear rename: a long file moved with a one-line edit (far above git's 50%
        // similarity threshold, where git and libgit2 score similarity differently).
        if day == 2 && rng.chance(70) {
            let long = files
                .iter()
                .rposition(|(_, f)| f.as_ref().is_some_and(|f| f.lines.len() >= 24))
                .unwrap_or(0);
            if let Some(mut file) = files[long].1.take().filter(|f| f.lines.len() >= 24) {
                let at = rng.below(file.lines.len());
                file.lines[at] = random_line(&mut rng, &mut counter);
                files.push((format!("lib/moved{seed}.c"), Some(file)));
            }
        }
        if rng.chance(50) {
            let lines = (0..1 + rng.below(8))
                .map(|_| random_line(&mut rng, &mut counter))
                .collect();
            let file = SourceFile {
                lines,
                crlf: false,
                final_newline: true,
            };
            files.push((format!("src/added{day}.c"), Some(file)));
        }
        write_all(&fixture, &files);
        fixture.commit_all(&format!("feature {day}"), day as u32);
    }

    fixture.git(&["checkout", "-q", "main"]);
    for (_, file) in main_files.iter_mut() {
        if let Some(file) = file.as_mut().filter(|_| rng.chance(40)) {
            edit(&mut rng, file, &mut counter);
        }
    }
    write_all(&fixture, &main_files);
    fixture.commit_all("main after fork", 5);

    fixture.git(&["checkout", "-q", "feature"]);
    for (_, file) in files.iter_mut() {
        if let Some(file) = file.as_mut().filter(|_| rng.chance(50)) {
            edit(&mut rng, file, &mut counter);
        }
    }
    write_all(&fixture, &files);
    if rng.chance(50) {
        fixture.git(&["add", "-A", "src"]);
        // Unstaged edits on top of the staged ones.
        for (_, file) in files.iter_mut() {
            if let Some(file) = file.as_mut().filter(|_| rng.chance(30)) {
                edit(&mut rng, file, &mut counter);
            }
        }
        write_all(&fixture, &files);
    }
    fixture
}

fn cli(fixture: &Fixture, args: &[&str]) -> ChangedLines {
    let mut full = vec!["diff", "--no-color", "--no-ext-diff", "-U0"];
    if !args.contains(&"-M") {
        full.push("--no-renames");
    }
    full.extend_from_slice(args);
    let text = fixture.git(&full);
    parse_unified_diff(&text, "git diff").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn random_histories_match_git_diff() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let mut lines_compared = 0;
    let mut renames_compared = 0;
    for seed in 1..=12u64 {
        let fixture = build(seed);
        let repo = Repo::open(fixture.path()).unwrap();
        let merge_base = fixture.git(&["merge-base", "main", "feature"]);
        let base = DiffSpec {
            detect_renames: false,
            ..DiffSpec::new("main", "feature")
        };
        let cases: Vec<(&str, DiffSpec, Vec<&str>)> = vec![
            ("three-dot", base.clone(), vec!["main...feature"]),
            (
                "three-dot renames",
                DiffSpec {
                    detect_renames: true,
                    ..base.clone()
                },
                vec!["-M", "main...feature"],
            ),
            (
                "three-dot -w",
                DiffSpec {
                    ignore_whitespace: true,
                    ..base.clone()
                },
                vec!["-w", "main...feature"],
            ),
            (
                "two-dot",
                DiffSpec {
                    range: RangeMode::TwoDot,
                    ..base.clone()
                },
                vec!["main", "feature"],
            ),
            (
                "working tree",
                DiffSpec {
                    working_tree: true,
                    ..base.clone()
                },
                vec![merge_base.trim()],
            ),
            (
                "working tree -w",
                DiffSpec {
                    working_tree: true,
                    ignore_whitespace: true,
                    ..base.clone()
                },
                vec!["-w", merge_base.trim()],
            ),
        ];
        for (name, spec, args) in cases {
            let ours = repo.changed_lines(&spec).unwrap();
            let theirs = cli(&fixture, &args);
            lines_compared += ours.files.values().map(|f| f.lines.len()).sum::<usize>();
            renames_compared += ours
                .files
                .values()
                .filter(|f| matches!(f.kind, covtop::model::ChangeKind::Renamed { .. }))
                .count();
            assert_eq!(ours, theirs, "seed {seed}, {name}: git diff {args:?}");
        }
        // Every changed line must exist in the file it names.
        let ours = repo.changed_lines(&base).unwrap();
        let feature = repo.resolve("feature").unwrap();
        for file in ours.files.values() {
            let text = repo.read_file(&feature, &file.path).unwrap().unwrap();
            let count = text.split(|b| *b == b'\n').count() as u32;
            assert!(
                file.lines.iter().all(|l| *l >= 1 && *l <= count),
                "seed {seed}: {file:?}"
            );
        }
    }
    // The histories must actually change things for the comparison to mean anything.
    assert!(
        lines_compared > 200,
        "only {lines_compared} changed lines compared"
    );
    assert!(
        renames_compared > 3,
        "only {renames_compared} renames compared"
    );
}
