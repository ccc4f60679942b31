//! Projects a Go cover profile onto repository lines: per line covered / partial / missed, the
//! largest count, statements, and the column spans of the blocks for precise highlighting.
//!
//! Rules:
//! * A block touches the lines `start_line..=end_line`, except the end line when `end_col` is 1
//!   (the end is exclusive, so such a block stops at the end of the previous line).
//! * A line is Covered when every block touching it ran (count > 0), Missed when none did,
//!   Partial otherwise. `hits` is the largest count of the blocks on it.
//! * `LineCoverage::units` = (statements of the blocks touching the line that ran, statements of
//!   those that did not). A block's statements count on every line it touches, so these do not
//!   add up to the file's statements. Go has no branch data: `branches` stays (0, 0).
//! * `FileCoverage::units` = (covered, total) statements of the file as `go tool cover -func`
//!   counts them ([`file_statements`](super::funcs::file_statements)): with the source, only blocks inside function
//!   declarations (a package-level `var F = func() {..}` is left out, though its lines are still
//!   projected); without it, every block. Summed over files this is the project's `total:`.
//! * With the source text, lines inside a block that are blank or hold only comments are not
//!   coverable (a comment in a changed region is never "missed"), and lines past the end of the
//!   file are dropped (a profile of another build). Without it every touched line counts, up to
//!   [`MAX_LINE`].
//! * Column spans are kept for every coverable line a block touches: the first line from
//!   `start_col`, middle lines whole (`end_col: None`), the last line up to `end_col`.

use super::modules::ModuleMap;
use super::profile::{Block, Profile};
use crate::model::{ColumnSpan, FileCoverage, LineCoverage, LineStatus};
use std::sync::Arc;

/// The highest line projected when the source is unknown: bounds the memory a bogus profile
/// line (a block ending at line 4 billion) can claim. No real Go file comes near it.
pub const MAX_LINE: u32 = 1 << 20;

/// Coverage of the repository's files, and the profile files that map to no module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Sorted by path.
    pub files: Vec<FileCoverage>,
    /// Profile (import-path) file names that are in no module of the repository, sorted.
    pub external: Vec<String>,
    /// Repository paths of files without a source whose lines were cut at
    /// [`SOURCELESS_LINES`] (a profile claiming more lines than any real build has).
    pub cut: Vec<String>,
}

/// The most lines projected for all the files of one profile whose source is unknown together:
/// without a source nothing bounds a block's end, so a small hostile profile of many such files
/// could otherwise claim millions of lines each.
pub const SOURCELESS_LINES: u32 = MAX_LINE;

/// What is left of [`SOURCELESS_LINES`] while the files of one profile are projected.
#[derive(Debug, Clone, Copy)]
pub struct SourcelessBudget(u32);

impl Default for SourcelessBudget {
    fn default() -> Self {
        SourcelessBudget(SOURCELESS_LINES)
    }
}

impl SourcelessBudget {
    /// The most lines the next file without a source may project.
    pub fn cap(&self) -> u32 {
        self.0
    }

    /// Takes what `file`, projected without a source under [`SourcelessBudget::cap`], used;
    /// true when its blocks reach past the cap (its lines were cut).
    pub fn take(&mut self, file: &FileCoverage, blocks: &[Block]) -> bool {
        let used = file.lines.last().map_or(0, |l| l.line);
        let wanted = blocks.iter().map(|b| b.end_line).max().unwrap_or(0);
        let cut = wanted > self.0;
        self.0 = self
            .0
            .saturating_sub(used.max(u32::from(!file.lines.is_empty())));
        cut
    }
}

/// Projects every file of `profile`. `source` returns a file's text at the deployed revision by
/// repository path, or `None` when it is unknown (then every touched line counts).
pub fn project(
    profile: &Profile,
    modules: &ModuleMap,
    source: &dyn Fn(&str) -> Option<Arc<[u8]>>,
) -> Projection {
    let mut out = Projection::default();
    let mut budget = SourcelessBudget::default();
    for (name, blocks) in profile.files() {
        match modules.resolve(name) {
            Some(path) => match source(&path) {
                Some(text) => out.files.push(project_file(path, blocks, Some(&text))),
                None => {
                    let file = project_file_within(path, blocks, None, budget.cap());
                    if budget.take(&file, blocks) {
                        out.cut.push(file.path.clone());
                    }
                    out.files.push(file);
                }
            },
            None => out.external.push(name.to_owned()),
        }
    }
    // Module directories can reorder files relative to their import paths.
    if !out.files.is_sorted_by(|a, b| a.path <= b.path) {
        out.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    out
}

/// What projecting blocks onto a Go source needs to know of the source: which lines hold code
/// ([`code_lines`]) and where its function declarations are ([`func_extents`]). The source of a
/// revision never changes, so a caller projecting a file again and again (the live View)
/// computes this once.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// Index = line - 1: the line holds code.
    pub code: Vec<bool>,
    pub funcs: Vec<crate::go::funcs::FuncExtent>,
}

impl SourceFacts {
    pub fn of(src: &[u8]) -> Self {
        SourceFacts {
            code: code_lines(src),
            funcs: crate::go::funcs::func_extents(src),
        }
    }

    /// Whether 1-based `line` holds code (lines past the end hold none).
    pub fn is_code(&self, line: u32) -> bool {
        line.checked_sub(1)
            .and_then(|i| self.code.get(i as usize))
            .copied()
            .unwrap_or(false)
    }
}

/// The last line the blocks are projected on: the file's end (its `code` lines, when the source
/// is known), or without a source at most `max_lines` (and [`MAX_LINE`]).
fn max_line_of(blocks: &[Block], code: Option<&[bool]>, max_lines: u32) -> u32 {
    let limit = code.map_or(max_lines.min(MAX_LINE), |c| c.len() as u32);
    blocks
        .iter()
        .map(|b| b.end_line)
        .max()
        .unwrap_or(0)
        .min(limit)
}

/// What the blocks touching a line add to it, kept as differences: the entry of a line holds
/// what starts there minus what ended on the line before, so a block spanning a million lines
/// costs two entries, not a million.
#[derive(Debug, Clone, Copy, Default)]
struct LineDiff {
    ran: i64,
    missed: i64,
    covered_stmts: i64,
    missed_stmts: i64,
    /// Blocks for which this is a middle line (neither first nor last): one whole-line span.
    whole_ran: i64,
    whole_missed: i64,
}

/// Projects the blocks of one file (sorted by position, as [`Profile::files`] gives them).
///
/// Memory and time are linear in the blocks plus the lines of the file, whatever the blocks
/// span: blocks whose lines add up to more than a few times the file are projected through
/// differences, their middle lines sharing one whole-line span per line and outcome, so a
/// hostile profile of a few thousand blocks each spanning the whole file costs no more than the
/// file.
pub fn project_file(path: String, blocks: &[Block], source: Option<&[u8]>) -> FileCoverage {
    project_file_within(path, blocks, source, MAX_LINE)
}

/// [`project_file`] projecting at most `max_lines` lines when the source is unknown (with the
/// source, its end is the bound).
pub fn project_file_within(
    path: String,
    blocks: &[Block],
    source: Option<&[u8]>,
    max_lines: u32,
) -> FileCoverage {
    let facts = source.map(SourceFacts::of);
    project_with_facts(path, blocks, facts.as_ref(), max_lines)
}

/// [`project_file_within`] with the facts of the source computed beforehand ([`SourceFacts::of`];
/// `None`: the source is unknown).
pub fn project_with_facts(
    path: String,
    blocks: &[Block],
    facts: Option<&SourceFacts>,
    max_lines: u32,
) -> FileCoverage {
    let code = facts.map(|f| f.code.as_slice());
    let max_line = max_line_of(blocks, code, max_lines);
    let is_code = |line: u32| code.is_none_or(|c| c[line as usize - 1]);
    // Line by line while the blocks touch a few lines each, as in every real profile; through
    // differences when their lines add up to more than a few times the file (a hostile one).
    let touched_total: u64 = blocks
        .iter()
        .map(|b| match touched(b, max_line) {
            (first, last) if first <= last => u64::from(last - first) + 1,
            _ => 0,
        })
        .sum();
    let (lines, spans) = if touched_total <= 4 * (u64::from(max_line) + blocks.len() as u64) {
        by_lines(blocks, &is_code, max_line)
    } else {
        by_differences(blocks, &is_code, max_line)
    };
    FileCoverage {
        path,
        lines,
        spans: sorted_spans(spans),
        units: match facts {
            Some(f) => crate::go::funcs::statements_in_funcs(blocks, &f.funcs),
            None => crate::go::funcs::all_statements(blocks),
        },
    }
}

/// The lines a block touches: `first..=last` (empty when first > last), within `max_line`.
fn touched(b: &Block, max_line: u32) -> (u32, u32) {
    let last = if b.end_col <= 1 {
        b.end_line.saturating_sub(1)
    } else {
        b.end_line
    };
    // Line 0 does not exist (parse rejects it; a hand-made Block might not).
    (b.start_line.max(1), last.min(max_line))
}

/// Column spans sorted by line and position, each once.
fn sorted_spans(mut spans: Vec<ColumnSpan>) -> Vec<ColumnSpan> {
    let span_key = |s: &ColumnSpan| {
        (
            s.line,
            s.start_col,
            s.end_col.unwrap_or(u32::MAX),
            s.covered,
        )
    };
    if !spans.is_sorted_by_key(span_key) {
        spans.sort_unstable_by_key(span_key);
    }
    spans.dedup();
    spans
}

#[derive(Debug, Clone, Copy, Default)]
struct LineTally {
    ran: bool,
    missed: bool,
    hits: u64,
    covered_stmts: u32,
    missed_stmts: u32,
}

/// The lines and spans of `blocks`, one touched line of one block at a time: time and memory in
/// the sum of the blocks' lengths.
fn by_lines(
    blocks: &[Block],
    is_code: &dyn Fn(u32) -> bool,
    max_line: u32,
) -> (Vec<LineCoverage>, Vec<ColumnSpan>) {
    let mut tally = vec![LineTally::default(); max_line as usize + 1];
    let mut spans = Vec::with_capacity(blocks.len() * 2);
    for b in blocks {
        let ran = b.count > 0;
        let (first, last) = touched(b, max_line);
        for line in first..=last {
            if !is_code(line) {
                continue;
            }
            let t = &mut tally[line as usize];
            if ran {
                t.ran = true;
                t.covered_stmts = t.covered_stmts.saturating_add(b.num_stmt);
            } else {
                t.missed = true;
                t.missed_stmts = t.missed_stmts.saturating_add(b.num_stmt);
            }
            t.hits = t.hits.max(b.count);
            spans.push(ColumnSpan {
                line,
                start_col: if line == b.start_line { b.start_col } else { 1 },
                end_col: (line == b.end_line).then_some(b.end_col),
                covered: ran,
            });
        }
    }
    let lines = tally
        .iter()
        .enumerate()
        .filter(|(_, t)| t.ran || t.missed)
        .map(|(line, t)| LineCoverage {
            line: line as u32,
            status: match (t.ran, t.missed) {
                (true, false) => LineStatus::Covered,
                (false, true) => LineStatus::Missed,
                _ => LineStatus::Partial,
            },
            hits: Some(t.hits),
            units: (t.covered_stmts, t.missed_stmts),
            branches: (0, 0),
        })
        .collect();
    (lines, spans)
}

/// The lines and spans of `blocks` through differences: time and memory in the blocks plus the
/// lines of the file, however many lines each block spans.
fn by_differences(
    blocks: &[Block],
    is_code: &dyn Fn(u32) -> bool,
    max_line: u32,
) -> (Vec<LineCoverage>, Vec<ColumnSpan>) {
    let mut diff = vec![LineDiff::default(); max_line as usize + 2];
    let mut spans = Vec::with_capacity(blocks.len() * 2);
    // Blocks by first line, for the running maximum of the counts.
    let mut by_first: Vec<(u32, u32, u64)> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let (first, last) = touched(b, max_line);
        if first > last {
            continue;
        }
        let ran = b.count > 0;
        let stmts = i64::from(b.num_stmt);
        let (f, l) = (first as usize, last as usize + 1);
        if ran {
            diff[f].ran += 1;
            diff[l].ran -= 1;
            diff[f].covered_stmts += stmts;
            diff[l].covered_stmts -= stmts;
        } else {
            diff[f].missed += 1;
            diff[l].missed -= 1;
            diff[f].missed_stmts += stmts;
            diff[l].missed_stmts -= stmts;
        }
        if last > first + 1 {
            let (mf, ml) = (f + 1, l - 1);
            if ran {
                diff[mf].whole_ran += 1;
                diff[ml].whole_ran -= 1;
            } else {
                diff[mf].whole_missed += 1;
                diff[ml].whole_missed -= 1;
            }
        }
        for line in [first, last] {
            if is_code(line) {
                spans.push(ColumnSpan {
                    line,
                    start_col: if line == b.start_line { b.start_col } else { 1 },
                    end_col: (line == b.end_line).then_some(b.end_col),
                    covered: ran,
                });
            }
            if last == first {
                break;
            }
        }
        by_first.push((first, last, b.count));
    }
    by_first.sort_unstable_by_key(|&(first, _, _)| first);

    let mut lines = Vec::new();
    let mut running = LineDiff::default();
    // The largest count of the blocks touching the line: a max-heap of (count, last line),
    // entries whose block ended are dropped when they reach the top.
    let mut active = std::collections::BinaryHeap::new();
    let mut next = 0;
    for line in 1..=max_line {
        let d = diff[line as usize];
        running.ran += d.ran;
        running.missed += d.missed;
        running.covered_stmts += d.covered_stmts;
        running.missed_stmts += d.missed_stmts;
        running.whole_ran += d.whole_ran;
        running.whole_missed += d.whole_missed;
        while next < by_first.len() && by_first[next].0 == line {
            active.push((by_first[next].2, by_first[next].1));
            next += 1;
        }
        while active.peek().is_some_and(|&(_, last)| last < line) {
            active.pop();
        }
        if (running.ran == 0 && running.missed == 0) || !is_code(line) {
            continue;
        }
        let stmts = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        lines.push(LineCoverage {
            line,
            status: match (running.ran > 0, running.missed > 0) {
                (true, false) => LineStatus::Covered,
                (false, true) => LineStatus::Missed,
                _ => LineStatus::Partial,
            },
            hits: Some(active.peek().map_or(0, |&(count, _)| count)),
            units: (stmts(running.covered_stmts), stmts(running.missed_stmts)),
            branches: (0, 0),
        });
        for (n, covered) in [(running.whole_ran, true), (running.whole_missed, false)] {
            if n > 0 {
                spans.push(ColumnSpan {
                    line,
                    start_col: 1,
                    end_col: None,
                    covered,
                });
            }
        }
    }
    (lines, spans)
}

/// `(covered, total)` statements of the blocks that touch a changed line holding code.
///
/// A block touches `start_line..=end_line`, except the end line when the block ends at column 1
/// (or 0) of a later line. It counts when at least one changed line it touches is a code line of
/// `source` ([`code_lines`]: not blank, not only comments), so a changed comment or blank line in
/// a block does not make the block's statements "changed". Changed lines past the end of the
/// source hold no code. Without the source every changed line counts. `changed` holds 1-based
/// line numbers (sorted, as `ChangedFile::lines`; any order is accepted).
pub fn changed_statements(blocks: &[Block], changed: &[u32], source: Option<&[u8]>) -> (u64, u64) {
    let facts = source.map(|src| SourceFacts {
        code: code_lines(src),
        funcs: Vec::new(),
    });
    changed_statements_with(blocks, changed, facts.as_ref())
}

/// [`changed_statements`] with the facts of the source computed beforehand (only its code lines
/// are read; `None`: the source is unknown).
pub fn changed_statements_with(
    blocks: &[Block],
    changed: &[u32],
    facts: Option<&SourceFacts>,
) -> (u64, u64) {
    let is_code = |line: u32| facts.is_none_or(|f| f.is_code(line));
    let mut lines: Vec<u32> = changed.iter().copied().filter(|&l| is_code(l)).collect();
    if !lines.is_sorted() {
        lines.sort_unstable();
    }
    let (mut covered, mut total) = (0u64, 0u64);
    if lines.is_empty() {
        return (covered, total);
    }
    for b in blocks {
        let last = if b.end_col <= 1 && b.end_line > b.start_line {
            b.end_line - 1
        } else {
            b.end_line
        };
        let first = lines.partition_point(|&l| l < b.start_line);
        if lines.get(first).is_some_and(|&l| l <= last) {
            total += u64::from(b.num_stmt);
            if b.count > 0 {
                covered += u64::from(b.num_stmt);
            }
        }
    }
    (covered, total)
}

/// The lexical state carried from one line of Go source to the next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LexState {
    Code,
    BlockComment,
    RawString,
}

/// For each line of Go source (index = line - 1), whether it holds code: anything but blanks
/// and comments. Lines inside a raw string literal are code (they are part of an expression).
pub fn code_lines(src: &[u8]) -> Vec<bool> {
    let n = src.len();
    let mut out = Vec::with_capacity(n / 32 + 1);
    let mut state = LexState::Code;
    let mut pos = 0;
    while pos < n {
        let end = memchr::memchr(b'\n', &src[pos..]).map_or(n, |k| pos + k);
        let line = &src[pos..end];
        // Only `/*` and a backquote carry state to the next line, and a comment needs a `/`:
        // a line without either (most lines) is code exactly when it is not blank.
        let has_code = if state == LexState::Code && memchr::memchr2(b'/', b'`', line).is_none() {
            !line.trim_ascii().is_empty()
        } else {
            lex_line(line, &mut state)
        };
        out.push(has_code);
        pos = end + 1;
    }
    out
}

/// Lexes one line (without its newline) from `state`, leaving the state the next line starts
/// in. Returns whether the line holds code.
fn lex_line(line: &[u8], state: &mut LexState) -> bool {
    let n = line.len();
    let mut has_code = false;
    let mut i = 0;
    while i < n {
        match *state {
            LexState::BlockComment => match memchr::memmem::find(&line[i..], b"*/") {
                Some(k) => {
                    *state = LexState::Code;
                    i += k + 2;
                }
                None => return has_code,
            },
            LexState::RawString => {
                has_code = true;
                match memchr::memchr(b'`', &line[i..]) {
                    Some(k) => {
                        *state = LexState::Code;
                        i += k + 1;
                    }
                    None => return true,
                }
            }
            LexState::Code => match line[i] {
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
                b'/' if line.get(i + 1) == Some(&b'/') => return has_code,
                b'/' if line.get(i + 1) == Some(&b'*') => {
                    *state = LexState::BlockComment;
                    i += 2;
                }
                quote @ (b'"' | b'\'') => {
                    // An interpreted string or rune ends at its quote or, if broken, the line.
                    has_code = true;
                    i += 1;
                    while i < n && line[i] != quote {
                        i += if line[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'`' => {
                    has_code = true;
                    *state = LexState::RawString;
                    i += 1;
                }
                _ => {
                    has_code = true;
                    i += 1;
                }
            },
        }
    }
    has_code || *state == LexState::RawString
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::go::profile::parse;

    fn block(sl: u32, sc: u32, el: u32, ec: u32, n: u32, count: u64) -> Block {
        Block {
            start_line: sl,
            start_col: sc,
            end_line: el,
            end_col: ec,
            num_stmt: n,
            count,
        }
    }

    #[test]
    fn code_lines_skip_blanks_and_comments() {
        let src =
            b"package p\n\n// doc\nfunc f() { /* a\nb */ x := `raw\n\nend` // c\n\t/* x */ y()\n}";
        assert_eq!(
            code_lines(src),
            vec![true, false, false, true, true, true, true, true, true]
        );
        // "//" inside a string is not a comment; an escaped quote does not end the string.
        assert_eq!(code_lines(b"s := \"a\\\"//b\"\n"), vec![true]);
        assert_eq!(code_lines(b"/* x */\n\t\n"), vec![false, false]);
        assert_eq!(code_lines(b"r := '/'\n// c\n"), vec![true, false]);
        assert!(code_lines(b"").is_empty());
        // A backslash before the newline of a broken string does not swallow the line.
        assert_eq!(
            code_lines(b"s := \"a\\\n\n// c\n"),
            vec![true, false, false]
        );
        assert_eq!(
            code_lines(b"x := 1 /* open\n still */\n`\n\n`\n"),
            vec![true, false, true, true, true]
        );
        assert_eq!(code_lines(b"a /* x */ /* y\n*/ b"), vec![true, true]);
        assert_eq!(code_lines(b"/* x **/\n"), vec![false]);
    }

    /// The lexer written the slow, obvious way, to check the fast one against.
    fn code_lines_reference(src: &[u8]) -> Vec<bool> {
        let (mut out, mut has_code, mut i) = (Vec::new(), false, 0);
        let (mut block, mut raw) = (false, false);
        while i < src.len() {
            let (c, next) = (src[i], src.get(i + 1).copied());
            if c == b'\n' {
                out.push(has_code || raw);
                has_code = false;
            } else if block {
                if c == b'*' && next == Some(b'/') {
                    block = false;
                    i += 1;
                }
            } else if raw {
                has_code = true;
                raw = c != b'`';
            } else if c == b'/' && next == Some(b'/') {
                while i + 1 < src.len() && src[i + 1] != b'\n' {
                    i += 1;
                }
            } else if c == b'/' && next == Some(b'*') {
                block = true;
                i += 1;
            } else if c == b'"' || c == b'\'' {
                has_code = true;
                let mut j = i + 1;
                while j < src.len() && src[j] != c && src[j] != b'\n' {
                    j += if src[j] == b'\\' && src.get(j + 1).is_some_and(|&d| d != b'\n') {
                        2
                    } else {
                        1
                    };
                }
                i = if j < src.len() && src[j] == c {
                    j
                } else {
                    j - 1
                };
            } else if c == b'`' {
                has_code = true;
                raw = true;
            } else if !c.is_ascii_whitespace() {
                has_code = true;
            }
            i += 1;
        }
        if src.last().is_some_and(|&c| c != b'\n') {
            out.push(has_code || raw);
        }
        out
    }

    #[test]
    fn fast_lexer_agrees_with_the_reference() {
        let alphabet = b"ab /*\n\n\t\"'`\\x";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..50_000 {
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let len = (next() % 40) as usize;
            let src: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(
                code_lines(&src),
                code_lines_reference(&src),
                "{:?}",
                String::from_utf8_lossy(&src)
            );
        }
    }

    #[test]
    fn statuses_hits_units_and_spans() {
        // func f() {         line 1  block A 1.10,3.5 (2 stmts, ran 3 times)
        //     if x {         line 3  A ends at col 5 (`if`), block B 3.5,5.3 covers the body
        //         y()        line 4  B (1 stmt, never ran)
        //     }              line 5  B ends at 5.3
        // `if` line 3: A ran and B did not → Partial.
        let blocks = [block(1, 10, 3, 5, 2, 3), block(3, 5, 5, 3, 1, 0)];
        let fc = project_file("f.go".into(), &blocks, None);
        let st: Vec<_> = fc.lines.iter().map(|l| (l.line, l.status)).collect();
        use LineStatus::*;
        assert_eq!(
            st,
            vec![
                (1, Covered),
                (2, Covered),
                (3, Partial),
                (4, Missed),
                (5, Missed)
            ]
        );
        let l3 = fc.line(3).unwrap();
        assert_eq!(l3.hits, Some(3));
        assert_eq!(l3.units, (2, 1));
        assert_eq!(l3.branches, (0, 0));
        assert_eq!(fc.line(4).unwrap().hits, Some(0));
        assert_eq!(fc.units, (2, 3));
        let spans: Vec<_> = fc
            .spans
            .iter()
            .map(|s| (s.line, s.start_col, s.end_col, s.covered))
            .collect();
        assert_eq!(
            spans,
            vec![
                (1, 10, None, true),
                (2, 1, None, true),
                (3, 1, Some(5), true),
                (3, 5, None, false),
                (4, 1, None, false),
                (5, 1, Some(3), false),
            ]
        );
    }

    #[test]
    fn end_col_one_excludes_the_end_line() {
        let fc = project_file("f.go".into(), &[block(2, 3, 4, 1, 1, 1)], None);
        assert_eq!(
            fc.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(fc.spans.iter().all(|s| s.line < 4));
        // A zero-width block touches nothing but still counts its statements.
        let fc = project_file("f.go".into(), &[block(5, 1, 5, 1, 1, 0)], None);
        assert!(fc.lines.is_empty());
        assert_eq!(fc.units, (0, 1));
    }

    #[test]
    fn source_drops_comment_and_blank_lines_and_lines_past_the_end() {
        let src: Arc<[u8]> = Arc::from(&b"func f() {\n\t// why\n\n\tx()\n}\n"[..]);
        let blocks = [block(1, 10, 5, 2, 1, 0), block(7, 1, 9, 2, 1, 1)];
        let with = project_file("f.go".into(), &blocks, Some(&src[..]));
        assert_eq!(
            with.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![1, 4, 5]
        );
        assert!(with.spans.iter().all(|s| [1, 4, 5].contains(&s.line)));
        // The second block lies past the end of the source, outside every function: only the
        // source's function counts (as in `go tool cover -func`); without the source both do.
        assert_eq!(with.units, (0, 1));
        let without = project_file("f.go".into(), &blocks, None);
        assert_eq!(without.lines.len(), 8);
        assert_eq!(without.units, (1, 2));
    }

    #[test]
    fn package_level_literals_are_projected_but_not_in_the_file_statements() {
        let src = b"package p\n\nvar Ping = func() {\n\tx()\n}\n\nfunc F() {\n\ty()\n}\n";
        let blocks = [block(3, 19, 5, 2, 1, 0), block(7, 10, 9, 2, 1, 1)];
        let fc = project_file("f.go".into(), &blocks, Some(src));
        use LineStatus::*;
        assert_eq!(
            fc.lines
                .iter()
                .map(|l| (l.line, l.status))
                .collect::<Vec<_>>(),
            vec![
                (3, Missed),
                (4, Missed),
                (5, Missed),
                (7, Covered),
                (8, Covered),
                (9, Covered)
            ]
        );
        assert_eq!(fc.units, (1, 1));
    }

    #[test]
    fn changed_statements_need_a_changed_code_line() {
        // line 1  package p
        // line 2  (blank)
        // line 3  func F() {        block A 3.10,7.2 (2 stmts, ran)
        // line 4  \t// why
        // line 5  (blank)
        // line 6  \tx()
        // line 7  }
        // line 8  func G() {        block B 8.10,10.2 (1 stmt, not run)
        // line 9  \t/* only */ y()
        // line 10 }
        let src =
            b"package p\n\nfunc F() {\n\t// why\n\n\tx()\n}\nfunc G() {\n\t/* only */ y()\n}\n";
        let blocks = [block(3, 10, 7, 2, 2, 1), block(8, 10, 10, 2, 1, 0)];
        let s = |changed: &[u32]| changed_statements(&blocks, changed, Some(src));
        // Only a comment line or a blank line of A changed: A is not a changed block.
        assert_eq!(s(&[4]), (0, 0));
        assert_eq!(s(&[4, 5]), (0, 0));
        // A changed code line of A counts it once, however many lines changed.
        assert_eq!(s(&[6]), (2, 2));
        assert_eq!(s(&[4, 5, 6, 7]), (2, 2));
        // A line with a comment and code is code.
        assert_eq!(s(&[9]), (0, 1));
        assert_eq!(s(&[2, 4, 9]), (0, 1));
        // Lines past the source hold no code; line 0 does not exist.
        assert_eq!(s(&[0, 40]), (0, 0));
        // Without the source every changed line counts.
        assert_eq!(changed_statements(&blocks, &[4], None), (2, 2));
        // Any order of changed lines.
        assert_eq!(s(&[9, 6]), (2, 3));
        // A block ending at column 1 of a later line does not touch that line.
        let b = [block(1, 5, 3, 1, 1, 1)];
        assert_eq!(changed_statements(&b, &[3], None), (0, 0));
        assert_eq!(changed_statements(&b, &[2], None), (1, 1));
        // A block on one line ending at column 1 still touches its line.
        let b = [block(2, 1, 2, 1, 1, 0)];
        assert_eq!(changed_statements(&b, &[2], None), (0, 1));
    }

    #[test]
    fn bogus_huge_line_numbers_are_bounded() {
        let blocks = [block(1, 1, u32::MAX, 2, 1, 1)];
        let fc = project_file("f.go".into(), &blocks, None);
        assert_eq!(fc.lines.len(), MAX_LINE as usize);
        let fc = project_file("f.go".into(), &blocks, Some(b"a\nb\n"));
        assert_eq!(fc.lines.len(), 2);
    }

    #[test]
    fn projection_through_differences_agrees_with_line_by_line() {
        let src = b"package p\n\nfunc f() {\n\t// c\n\tx()\n\n\ty()\n}\n\nfunc g() { z() }\n";
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..3_000 {
            let blocks: Vec<Block> = (0..next(6))
                .map(|_| {
                    let sl = next(14) as u32;
                    let el = sl + next(5) as u32;
                    let count = [0, 0, 1, 7, u64::MAX][next(5) as usize];
                    block(
                        sl,
                        1 + next(12) as u32,
                        el,
                        next(12) as u32,
                        next(4) as u32,
                        count,
                    )
                })
                .collect();
            let source = (case % 2 == 0).then_some(&src[..]);
            // The line-by-line projection (the obvious one: a tally and a span per touched line
            // per block) is the reference for the sweep through differences.
            let code = source.map(code_lines);
            let max_line = max_line_of(&blocks, code.as_deref(), MAX_LINE);
            let is_code = |line: u32| code.as_ref().is_none_or(|c| c[line as usize - 1]);
            let (lines, spans) = by_lines(&blocks, &is_code, max_line);
            let want = (lines, sorted_spans(spans));
            let (lines, spans) = by_differences(&blocks, &is_code, max_line);
            assert_eq!((lines, sorted_spans(spans)), want, "{blocks:?}");
            let got = project_file("f.go".into(), &blocks, source);
            assert_eq!((got.lines, got.spans), want, "{blocks:?}");
        }
    }

    #[test]
    fn hostile_blocks_spanning_whole_files_cost_the_file_not_blocks_times_lines() {
        // 3,000 blocks each claiming lines 1..MAX_LINE: one span per block and line would be
        // three billion spans (the 5 GB abort of a 93 KB goc profile).
        let blocks: Vec<Block> = (0..3_000u32)
            .map(|i| block(1, 1 + i, u32::MAX, 2, 1, u64::from(i % 2)))
            .collect();
        let fc = project_file("f.go".into(), &blocks, None);
        assert_eq!(fc.lines.len(), MAX_LINE as usize);
        assert!(fc.lines.iter().all(|l| l.status == LineStatus::Partial));
        assert!(
            fc.spans.len() <= 2 * blocks.len() + 2 * MAX_LINE as usize,
            "{} spans",
            fc.spans.len()
        );
        // With the source, the file's end bounds every block.
        let fc = project_file("f.go".into(), &blocks, Some(b"a()\nb()\n"));
        assert_eq!(fc.lines.len(), 2);
        assert!(fc.spans.len() <= 2 * blocks.len() + 4);
    }

    #[test]
    fn files_without_a_source_share_one_line_budget() {
        // Many files outside the repository, each claiming a million lines.
        let text: String = std::iter::once("mode: set\n".to_string())
            .chain(
                (0..40).map(|i| format!("example.com/shop/gen/g{i}.go:1.1,{}.2 1 1\n", u32::MAX)),
            )
            .collect();
        let p = parse(text.as_bytes(), "hostile").unwrap();
        let m = ModuleMap::new([(String::new(), "example.com/shop".to_owned())]);
        let proj = project(&p, &m, &|_| None);
        let lines: usize = proj.files.iter().map(|f| f.lines.len()).sum();
        assert!(lines <= SOURCELESS_LINES as usize, "{lines} lines");
        assert_eq!(proj.files.len(), 40);
        assert_eq!(proj.cut.len(), 40, "every file claims more than it got");
        assert!(proj.cut.contains(&"gen/g0.go".to_string()));
        // A real-sized file without a source is projected whole and not named.
        let p = parse(
            b"mode: set\nexample.com/shop/gen/a.go:1.1,300.2 1 1\n",
            "ok",
        )
        .unwrap();
        let proj = project(&p, &m, &|_| None);
        assert_eq!(proj.files[0].lines.len(), 300);
        assert!(proj.cut.is_empty());
    }

    #[test]
    fn projects_through_modules_and_lists_external_files() {
        let p = parse(
            b"mode: set\nexample.com/shop/z.go:1.1,1.5 1 1\nexample.com/shop/sub/a.go:1.1,2.2 1 0\ngithub.com/dep/d.go:1.1,1.2 1 1\n",
            "test",
        )
        .unwrap();
        let m = ModuleMap::new([
            (String::new(), "example.com/shop".to_owned()),
            ("aaa".to_owned(), "example.com/shop/sub".to_owned()),
        ]);
        let seen = std::sync::Mutex::new(Vec::new());
        let proj = project(&p, &m, &|path| {
            seen.lock().unwrap().push(path.to_owned());
            None
        });
        assert_eq!(
            proj.files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            vec!["aaa/a.go", "z.go"]
        );
        assert_eq!(proj.external, vec!["github.com/dep/d.go".to_owned()]);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, vec!["aaa/a.go", "z.go"]);
    }
}
