//! Go cover profiles: the text format shared by `go test -coverprofile`, goc v1/v2 agents and
//! `go tool covdata textfmt` (see spec goc.md §0, §1.4).
//!
//! A profile is a `mode: X` line, then one line per block:
//! `importpath/file.go:L0.C0,L1.C1 NUMSTMT COUNT`. Lines are parsed from the right, field by
//! field, like `x/tools/cover`, so file names may contain `:` or spaces. Blocks are kept per
//! file, sorted by position, so merging two profiles is a walk over two sorted lists.

use memchr::memchr;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::fmt;
use std::io::{self, Write};

/// One cover block: a byte range of a source file (1-based lines and byte columns, start
/// inclusive, end exclusive), its number of statements and how often it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
    pub num_stmt: u32,
    pub count: u64,
}

impl Block {
    /// The position that identifies a block within one build of a file.
    pub fn position(&self) -> (u32, u32, u32, u32) {
        (self.start_line, self.start_col, self.end_line, self.end_col)
    }

    fn cmp_position(&self, other: &Block) -> Ordering {
        self.position().cmp(&other.position())
    }

    fn same_position(&self, other: &Block) -> bool {
        self.position() == other.position()
    }
}

/// A field of a block line (or the mode line), named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Mode,
    FileName,
    StartLine,
    StartCol,
    EndLine,
    EndCol,
    NumStmt,
    Count,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Mode => "mode",
            Field::FileName => "file name",
            Field::StartLine => "start line",
            Field::StartCol => "start column",
            Field::EndLine => "end line",
            Field::EndCol => "end column",
            Field::NumStmt => "statement count",
            Field::Count => "execution count",
        })
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The field has no characters.
    Empty,
    /// The separator that precedes the field is missing (the line is too short).
    MissingSeparator(u8),
    /// A byte that is neither a digit nor the expected separator.
    Unexpected { found: u8, separator: u8 },
    /// The number does not fit.
    Overflow { max: u64 },
    /// Line numbers start at 1.
    ZeroLine,
    /// File names must be UTF-8.
    InvalidUtf8,
    /// The mode is one word.
    ContainsBlank,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::Empty => f.write_str("is empty"),
            Problem::MissingSeparator(sep) => {
                write!(f, "is not preceded by {}", Byte(sep))
            }
            Problem::Unexpected { found, separator } => write!(
                f,
                "expected digits preceded by {}, found {}",
                Byte(separator),
                Byte(found)
            ),
            Problem::Overflow { max } => write!(f, "is larger than {max}"),
            Problem::ZeroLine => f.write_str("is 0 (lines start at 1)"),
            Problem::InvalidUtf8 => f.write_str("is not valid UTF-8"),
            Problem::ContainsBlank => f.write_str("is not one word"),
        }
    }
}

/// Shows a byte readably in a message.
struct Byte(u8);

impl fmt::Display for Byte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "byte 0x{:02x}", self.0)
        }
    }
}

/// Why a profile could not be read. Every variant names the input (`origin`) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "{origin}: line {line}: expected the `mode: set|count|atomic` line of a Go cover profile, found {found:?}; check that the source serves a cover profile"
    )]
    MissingMode {
        origin: String,
        line: usize,
        found: String,
    },
    #[error("{origin}: line {line}: {field} {problem} in {text:?}; the profile is malformed")]
    Malformed {
        origin: String,
        line: usize,
        field: Field,
        problem: Problem,
        text: String,
    },
    #[error(
        "{origin}: line {line}: the input ends in the middle of a block line ({field} {problem} in {text:?}); the profile was cut off, fetch it again"
    )]
    Truncated {
        origin: String,
        line: usize,
        field: Field,
        problem: Problem,
        text: String,
    },
    #[error(
        "{origin}: line {line}: the block starts after it ends in {text:?}; the profile is malformed"
    )]
    StartAfterEnd {
        origin: String,
        line: usize,
        text: String,
    },
    #[error(
        "{origin}: lines {first_line} and {second_line}: block {file}:{position} has {first_stmts} statements on one line and {second_stmts} on the other; the profile mixes two builds, fetch each replica on its own"
    )]
    NumStmtConflict {
        origin: String,
        file: String,
        position: String,
        first_line: usize,
        first_stmts: u32,
        second_line: usize,
        second_stmts: u32,
    },
}

impl ProfileError {
    /// The 1-based line the error is about (the first one for a conflict).
    pub fn line(&self) -> usize {
        match self {
            ProfileError::MissingMode { line, .. }
            | ProfileError::Malformed { line, .. }
            | ProfileError::Truncated { line, .. }
            | ProfileError::StartAfterEnd { line, .. } => *line,
            ProfileError::NumStmtConflict { first_line, .. } => *first_line,
        }
    }

    /// The field the error is about, when it is about one field.
    pub fn field(&self) -> Option<Field> {
        match self {
            ProfileError::MissingMode { .. } => Some(Field::Mode),
            ProfileError::Malformed { field, .. } | ProfileError::Truncated { field, .. } => {
                Some(*field)
            }
            ProfileError::NumStmtConflict { .. } => Some(Field::NumStmt),
            ProfileError::StartAfterEnd { .. } => None,
        }
    }
}

/// What a merge found besides summing counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Files in which a block at the same position has a different number of statements in the
    /// two profiles: two builds of different source. Sorted, each file once.
    pub version_skew: Vec<String>,
    /// `(ours, theirs)` when the two profiles have different modes; ours is kept.
    pub mode_mismatch: Option<(String, String)>,
}

impl MergeReport {
    /// True when the merge found nothing to report.
    pub fn is_clean(&self) -> bool {
        self.version_skew.is_empty() && self.mode_mismatch.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileBlocks {
    name: Box<str>,
    blocks: Vec<Block>,
}

/// A parsed (or merged) cover profile: a mode and, per import-path file name, its blocks sorted
/// by position with no two blocks at the same position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    mode: String,
    /// Sorted by name, names unique.
    files: Vec<FileBlocks>,
}

/// Longest line quoted in an error message, in bytes.
const QUOTE_LIMIT: usize = 200;

fn quote(line: &[u8]) -> String {
    let cut = &line[..line.len().min(QUOTE_LIMIT)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > QUOTE_LIMIT {
        s.push('…');
    }
    s
}

/// Splits off the line at `pos`: returns it (without `\n` or `\r\n`), the start of the next
/// line, and whether a newline ended it.
fn next_line(input: &[u8], pos: usize) -> (&[u8], usize, bool) {
    let rest = &input[pos..];
    let (line, next, has_newline) = match memchr(b'\n', rest) {
        Some(i) => (&rest[..i], pos + i + 1, true),
        None => (rest, input.len(), false),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), next, has_newline)
}

/// Reads the digits that end `line[..*end]` back to `separator`, leaving `*end` on the
/// separator. The number must be at most `max`.
#[inline]
fn number_back(
    line: &[u8],
    end: &mut usize,
    separator: u8,
    field: Field,
    max: u64,
) -> Result<u64, (Field, Problem)> {
    let stop = *end;
    let mut i = stop;
    while i > 0 && line[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == 0 {
        return Err((field, Problem::MissingSeparator(separator)));
    }
    let before = line[i - 1];
    if before != separator {
        return Err((
            field,
            Problem::Unexpected {
                found: before,
                separator,
            },
        ));
    }
    let digits = &line[i..stop];
    if digits.is_empty() {
        return Err((field, Problem::Empty));
    }
    let value = if digits.len() <= 19 {
        // 19 digits always fit in a u64.
        digits
            .iter()
            .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'))
    } else {
        let mut v = 0u64;
        for &d in digits {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or((field, Problem::Overflow { max }))?;
        }
        v
    };
    if value > max {
        return Err((field, Problem::Overflow { max }));
    }
    *end = i - 1;
    Ok(value)
}

/// Parses one block line from the right. The file name is returned unchecked (the caller
/// validates each distinct name once).
#[inline]
fn parse_block_line(line: &[u8]) -> Result<(&[u8], Block), (Field, Problem)> {
    const U32: u64 = u32::MAX as u64;
    let mut end = line.len();
    let count = number_back(line, &mut end, b' ', Field::Count, u64::MAX)?;
    let num_stmt = number_back(line, &mut end, b' ', Field::NumStmt, U32)? as u32;
    let end_col = number_back(line, &mut end, b'.', Field::EndCol, U32)? as u32;
    let end_line = number_back(line, &mut end, b',', Field::EndLine, U32)? as u32;
    let start_col = number_back(line, &mut end, b'.', Field::StartCol, U32)? as u32;
    let start_line = number_back(line, &mut end, b':', Field::StartLine, U32)? as u32;
    let name = &line[..end];
    if name.is_empty() {
        return Err((Field::FileName, Problem::Empty));
    }
    if start_line == 0 {
        return Err((Field::StartLine, Problem::ZeroLine));
    }
    if end_line == 0 {
        return Err((Field::EndLine, Problem::ZeroLine));
    }
    Ok((
        name,
        Block {
            start_line,
            start_col,
            end_line,
            end_col,
            num_stmt,
            count,
        },
    ))
}

/// Reads the mode line (blank lines before it are skipped). Returns the mode, the offset of the
/// body and the number of lines consumed.
fn parse_mode(input: &[u8], origin: &str) -> Result<(String, usize, usize), ProfileError> {
    let mut pos = if input.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut line_no = 0;
    loop {
        if pos >= input.len() {
            return Err(ProfileError::MissingMode {
                origin: origin.to_owned(),
                line: line_no.max(1),
                found: String::new(),
            });
        }
        let (line, next, _) = next_line(input, pos);
        line_no += 1;
        pos = next;
        let line = line.trim_ascii_start();
        if line.is_empty() {
            continue;
        }
        let Some(word) = line.strip_prefix(b"mode:") else {
            return Err(ProfileError::MissingMode {
                origin: origin.to_owned(),
                line: line_no,
                found: quote(line),
            });
        };
        let word = word.trim_ascii();
        let malformed = |problem| ProfileError::Malformed {
            origin: origin.to_owned(),
            line: line_no,
            field: Field::Mode,
            problem,
            text: quote(line),
        };
        if word.is_empty() {
            return Err(malformed(Problem::Empty));
        }
        if word.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(malformed(Problem::ContainsBlank));
        }
        let word = std::str::from_utf8(word).map_err(|_| malformed(Problem::InvalidUtf8))?;
        return Ok((word.to_owned(), pos, line_no));
    }
}

/// Parses a cover profile. `origin` names the input in errors ("target shop, replica http://..").
///
/// Duplicate blocks (same file and position) are combined as `go tool cover` does: in `set`
/// mode their counts are OR-ed, otherwise summed; a different statement count for the same
/// position is an error.
pub fn parse(input: &[u8], origin: &str) -> Result<Profile, ProfileError> {
    let (mode, mut pos, mut line_no) = parse_mode(input, origin)?;

    let mut index: FxHashMap<&[u8], usize> = FxHashMap::default();
    let mut files: Vec<(&str, Vec<Block>)> = Vec::new();
    // Block lines of one file usually come together: skip the hash lookup for them.
    let mut last: Option<(&[u8], usize)> = None;

    while pos < input.len() {
        let (line, next, has_newline) = next_line(input, pos);
        pos = next;
        line_no += 1;
        if line.first().is_none_or(|b| b.is_ascii_whitespace()) && line.trim_ascii().is_empty() {
            continue;
        }
        let fail = |(field, problem): (Field, Problem)| {
            let origin = origin.to_owned();
            let text = quote(line);
            if has_newline {
                ProfileError::Malformed {
                    origin,
                    line: line_no,
                    field,
                    problem,
                    text,
                }
            } else {
                ProfileError::Truncated {
                    origin,
                    line: line_no,
                    field,
                    problem,
                    text,
                }
            }
        };
        let (name, block) = parse_block_line(line).map_err(fail)?;
        if (block.start_line, block.start_col) > (block.end_line, block.end_col) {
            return Err(ProfileError::StartAfterEnd {
                origin: origin.to_owned(),
                line: line_no,
                text: quote(line),
            });
        }
        let slot = match last {
            Some((last_name, slot)) if last_name == name => slot,
            _ => {
                let slot = match index.get(name) {
                    Some(&slot) => slot,
                    None => {
                        let text = std::str::from_utf8(name)
                            .map_err(|_| fail((Field::FileName, Problem::InvalidUtf8)))?;
                        files.push((text, Vec::new()));
                        index.insert(name, files.len() - 1);
                        files.len() - 1
                    }
                };
                last = Some((name, slot));
                slot
            }
        };
        files[slot].1.push(block);
    }

    let set_mode = mode == "set";
    let mut out = Vec::with_capacity(files.len());
    for (name, mut blocks) in files {
        if !blocks.is_sorted_by(|a, b| a.cmp_position(b).is_le()) {
            blocks.sort_unstable_by(Block::cmp_position);
        }
        if let Some(conflict) = combine_duplicates(&mut blocks, set_mode) {
            return Err(num_stmt_conflict(input, origin, name, conflict));
        }
        out.push(FileBlocks {
            name: name.into(),
            blocks,
        });
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Profile { mode, files: out })
}

/// Combines adjacent blocks at the same position in a sorted list. Returns the position of the
/// first pair whose statement counts differ.
fn combine_duplicates(blocks: &mut Vec<Block>, set_mode: bool) -> Option<Block> {
    if blocks.windows(2).all(|w| !w[0].same_position(&w[1])) {
        return None;
    }
    let mut kept = 0;
    for read in 1..blocks.len() {
        let b = blocks[read];
        let k = &mut blocks[kept];
        if k.same_position(&b) {
            if k.num_stmt != b.num_stmt {
                return Some(b);
            }
            k.count = if set_mode {
                k.count | b.count
            } else {
                k.count.saturating_add(b.count)
            };
        } else {
            kept += 1;
            blocks[kept] = b;
        }
    }
    blocks.truncate(kept + 1);
    None
}

/// Builds the conflict error by finding the two lines again: only on this error path do we
/// need line numbers per block.
fn num_stmt_conflict(input: &[u8], origin: &str, file: &str, at: Block) -> ProfileError {
    let mut found: Vec<(usize, u32)> = Vec::new();
    if let Ok((_, mut pos, mut line_no)) = parse_mode(input, origin) {
        while pos < input.len() {
            let (line, next, _) = next_line(input, pos);
            pos = next;
            line_no += 1;
            if let Ok((name, b)) = parse_block_line(line)
                && name == file.as_bytes()
                && b.same_position(&at)
                && found.first().is_none_or(|&(_, n)| n != b.num_stmt)
            {
                found.push((line_no, b.num_stmt));
                if found.len() == 2 {
                    break;
                }
            }
        }
    }
    let (first_line, first_stmts) = found.first().copied().unwrap_or((0, at.num_stmt));
    let (second_line, second_stmts) = found.get(1).copied().unwrap_or((0, at.num_stmt));
    ProfileError::NumStmtConflict {
        origin: origin.to_owned(),
        file: file.to_owned(),
        position: format!(
            "{}.{},{}.{}",
            at.start_line, at.start_col, at.end_line, at.end_col
        ),
        first_line,
        first_stmts,
        second_line,
        second_stmts,
    }
}

/// Sums `theirs` into `mine` (both sorted by position). Returns true on version skew.
/// The blocks of one file in several profiles, merged as [`Profile::merge`] merges them (in
/// the order given).
pub fn merged_blocks<'a>(lists: impl IntoIterator<Item = &'a [Block]>) -> Vec<Block> {
    let mut lists = lists.into_iter();
    let mut out = lists.next().map(<[Block]>::to_vec).unwrap_or_default();
    for l in lists {
        merge_blocks(&mut out, l);
    }
    out
}

fn merge_blocks(mine: &mut Vec<Block>, theirs: &[Block]) -> bool {
    let mut skew = false;
    let mut combine = |a: &mut Block, b: &Block| {
        if a.num_stmt == b.num_stmt {
            a.count = a.count.saturating_add(b.count);
        } else {
            skew = true;
            if b.count > a.count {
                *a = *b;
            }
        }
    };
    // Replicas of one build have identical layouts: add in place while positions agree.
    let common = mine.len().min(theirs.len());
    let mut i = 0;
    while i < common && mine[i].same_position(&theirs[i]) {
        combine(&mut mine[i], &theirs[i]);
        i += 1;
    }
    if i == mine.len() && i == theirs.len() {
        return skew;
    }
    let rest = mine.split_off(i);
    mine.reserve(rest.len() + theirs.len() - i);
    let (mut a, mut b) = (rest.into_iter().peekable(), theirs[i..].iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.cmp_position(y) {
                Ordering::Less => mine.extend(a.next()),
                Ordering::Greater => mine.extend(b.next().copied()),
                Ordering::Equal => {
                    if let (Some(mut x), Some(y)) = (a.next(), b.next()) {
                        combine(&mut x, y);
                        mine.push(x);
                    }
                }
            },
            (Some(_), None) => mine.extend(a.by_ref()),
            (None, Some(_)) => mine.extend(b.by_ref().copied()),
            (None, None) => break,
        }
    }
    skew
}

impl Profile {
    /// An empty profile with the given mode.
    pub fn new(mode: &str) -> Self {
        Profile {
            mode: mode.to_owned(),
            files: Vec::new(),
        }
    }

    /// The mode word (`set`, `count`, `atomic`, goc's `cover`, ...); empty for a default profile
    /// that has not merged anything yet.
    pub fn mode(&self) -> &str {
        &self.mode
    }

    /// Files with their blocks sorted by position, sorted by file name.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[Block])> {
        self.files.iter().map(|f| (&*f.name, f.blocks.as_slice()))
    }

    /// The blocks of one import-path file name.
    pub fn file(&self, name: &str) -> Option<&[Block]> {
        self.files
            .binary_search_by(|f| (*f.name).cmp(name))
            .ok()
            .map(|i| self.files[i].blocks.as_slice())
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    pub fn block_count(&self) -> usize {
        self.files.iter().map(|f| f.blocks.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Adds `other` into this profile: counts are summed per (file, exact block position),
    /// whatever the mode (as goc's center does). Never fails: blocks of two builds at different
    /// positions coexist; at the same position with a different statement count the file is
    /// reported as version skew and the block with the larger count is kept. A profile without
    /// a mode takes the other's; otherwise the mode stays ours.
    pub fn merge(&mut self, other: &Profile) -> MergeReport {
        let mut report = MergeReport::default();
        if self.mode.is_empty() {
            self.mode.clone_from(&other.mode);
        } else if !other.mode.is_empty() && other.mode != self.mode {
            report.mode_mismatch = Some((self.mode.clone(), other.mode.clone()));
        }
        let mine = std::mem::take(&mut self.files);
        let mut merged = Vec::with_capacity(mine.len().max(other.files.len()));
        let (mut a, mut b) = (mine.into_iter().peekable(), other.files.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.name.cmp(&y.name) {
                    Ordering::Less => merged.extend(a.next()),
                    Ordering::Greater => merged.extend(b.next().cloned()),
                    Ordering::Equal => {
                        if let (Some(mut x), Some(y)) = (a.next(), b.next()) {
                            if merge_blocks(&mut x.blocks, &y.blocks) {
                                report.version_skew.push(x.name.to_string());
                            }
                            merged.push(x);
                        }
                    }
                },
                (Some(_), None) => merged.extend(a.by_ref()),
                (None, Some(_)) => merged.extend(b.by_ref().cloned()),
                (None, None) => break,
            }
        }
        self.files = merged;
        report
    }

    /// True when some block has a lower count than the same block (file and position) in
    /// `earlier`: the agent restarted or was reset in between.
    pub fn counts_decreased_from(&self, earlier: &Profile) -> bool {
        let (mut a, mut b) = (
            self.files.iter().peekable(),
            earlier.files.iter().peekable(),
        );
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            match x.name.cmp(&y.name) {
                Ordering::Less => {
                    a.next();
                }
                Ordering::Greater => {
                    b.next();
                }
                Ordering::Equal => {
                    if blocks_decreased(&x.blocks, &y.blocks) {
                        return true;
                    }
                    a.next();
                    b.next();
                }
            }
        }
        false
    }

    /// `(covered, total)` statements: Σ num_stmt of blocks that ran, Σ num_stmt. This is what
    /// `go tool cover -func` prints as `total:` only when every block lies in a function
    /// declaration; with the sources, [`func_statements`](super::funcs::func_statements) per file
    /// gives its exact figure.
    pub fn statements(&self) -> (u64, u64) {
        let (mut covered, mut total) = (0u64, 0u64);
        for b in self.files.iter().flat_map(|f| &f.blocks) {
            total += u64::from(b.num_stmt);
            if b.count > 0 {
                covered += u64::from(b.num_stmt);
            }
        }
        (covered, total)
    }

    /// Writes the profile in the text format (`mode:` line, then blocks by file and position).
    /// A profile without a mode is written as `count`, since merged counts are sums.
    pub fn write<W: Write>(&self, mut w: W) -> io::Result<()> {
        const FLUSH_AT: usize = 60 * 1024;
        let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
        buf.extend_from_slice(b"mode: ");
        buf.extend_from_slice(if self.mode.is_empty() {
            b"count"
        } else {
            self.mode.as_bytes()
        });
        buf.push(b'\n');
        for f in &self.files {
            for b in &f.blocks {
                buf.extend_from_slice(f.name.as_bytes());
                buf.push(b':');
                crate::digits::push_decimal(&mut buf, b.start_line.into());
                buf.push(b'.');
                crate::digits::push_decimal(&mut buf, b.start_col.into());
                buf.push(b',');
                crate::digits::push_decimal(&mut buf, b.end_line.into());
                buf.push(b'.');
                crate::digits::push_decimal(&mut buf, b.end_col.into());
                buf.push(b' ');
                crate::digits::push_decimal(&mut buf, b.num_stmt.into());
                buf.push(b' ');
                crate::digits::push_decimal(&mut buf, b.count);
                buf.push(b'\n');
                if buf.len() >= FLUSH_AT {
                    w.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
        w.write_all(&buf)?;
        w.flush()
    }

    /// The profile as text (see [`Profile::write`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write(&mut out);
        out
    }
}

fn blocks_decreased(now: &[Block], earlier: &[Block]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < now.len() && j < earlier.len() {
        match now[i].cmp_position(&earlier[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                if now[i].count < earlier[j].count {
                    return true;
                }
                i += 1;
                j += 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP1: &[u8] = include_bytes!("../../tests/fixtures/goc/dump1.cov");
    const DUMP2: &[u8] = include_bytes!("../../tests/fixtures/goc/dump2.cov");
    const UNIT: &[u8] = include_bytes!("../../tests/fixtures/goc/unit.cov");
    const UNIT_COUNT: &[u8] = include_bytes!("../../tests/fixtures/goc/unit_count.cov");
    const T122: &[u8] = include_bytes!("../../tests/fixtures/goc/t122.cov");

    fn p(text: &str) -> Profile {
        parse(text.as_bytes(), "test").unwrap()
    }

    fn err(text: &[u8]) -> ProfileError {
        parse(text, "target shop, replica http://a:1").unwrap_err()
    }

    fn blk(sl: u32, sc: u32, el: u32, ec: u32, n: u32, count: u64) -> Block {
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
    fn parses_the_real_fixtures() {
        let d1 = parse(DUMP1, "dump1").unwrap();
        assert_eq!(d1.mode(), "atomic");
        // covdata lists main first; files come out sorted by name.
        let names: Vec<_> = d1.files().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![
                "example.com/demo/calc/calc.go",
                "example.com/demo/hooks.go",
                "example.com/demo/main.go"
            ]
        );
        assert_eq!(d1.block_count(), 21);
        assert_eq!(d1.statements(), (16, 24));
        // unit.cov lists blocks out of order; parsing sorts them.
        let u = parse(UNIT, "unit").unwrap();
        let calc = u.file("example.com/demo/calc/calc.go").unwrap();
        assert!(calc.is_sorted_by(|a, b| a.position() <= b.position()));
        assert_eq!(calc[1], blk(5, 11, 7, 3, 1, 0));
        assert_eq!(u, parse(T122, "t122").unwrap());
        let c = parse(UNIT_COUNT, "unit_count").unwrap();
        assert_eq!(c.mode(), "count");
        assert_eq!(c.statements(), (3, 5));
        let d2 = parse(DUMP2, "dump2").unwrap();
        assert_eq!(d2.statements(), (17, 24));
    }

    #[test]
    fn accepts_any_mode_blank_lines_crlf_and_no_final_newline() {
        let prof = p("\nmode: cover\r\n\na/b.go:1.2,3.4 5 6\r\n  \n\na/b.go:4.1,4.9 1 0");
        assert_eq!(prof.mode(), "cover");
        assert_eq!(
            prof.file("a/b.go").unwrap(),
            &[blk(1, 2, 3, 4, 5, 6), blk(4, 1, 4, 9, 1, 0)][..]
        );
        assert_eq!(p("mode: set\n").block_count(), 0);
        assert!(p("mode: set").is_empty());
        // File names may hold ':' and spaces: the line is read from the right.
        let odd = p("mode: set\nC:/my dir/x:y.go:1.1,2.2 1 1\n");
        assert_eq!(odd.files().next().unwrap().0, "C:/my dir/x:y.go");
    }

    #[test]
    fn missing_or_bad_mode_line() {
        for input in [
            &b""[..],
            b"\n\n",
            b"a/b.go:1.1,2.2 1 1\nmode: set\n",
            b"mode set\n",
        ] {
            let e = err(input);
            assert!(matches!(e, ProfileError::MissingMode { .. }), "{e}");
            assert_eq!(e.field(), Some(Field::Mode));
            assert!(
                e.to_string()
                    .starts_with("target shop, replica http://a:1: line ")
            );
        }
        assert_eq!(err(b"\n\nnope\n").line(), 3);
        let e = err(b"mode: \n");
        assert!(matches!(
            e,
            ProfileError::Malformed {
                field: Field::Mode,
                problem: Problem::Empty,
                line: 1,
                ..
            }
        ));
        let e = err(b"mode: set count\n");
        assert_eq!(e.field(), Some(Field::Mode));
        let e = err(b"mode: \xff\n");
        assert!(matches!(
            e,
            ProfileError::Malformed {
                problem: Problem::InvalidUtf8,
                ..
            }
        ));
    }

    #[test]
    fn every_malformed_field_is_named() {
        use Field::*;
        use Problem::*;
        let cases: &[(&str, Field, Problem)] = &[
            (
                "a.go:1.2,3.4 5 x",
                Count,
                Unexpected {
                    found: b'x',
                    separator: b' ',
                },
            ),
            ("a.go:1.2,3.4 5 ", Count, Empty),
            (
                "a.go:1.2,3.4 5 -1",
                Count,
                Unexpected {
                    found: b'-',
                    separator: b' ',
                },
            ),
            (
                "a.go:1.2,3.4 x 6",
                NumStmt,
                Unexpected {
                    found: b'x',
                    separator: b' ',
                },
            ),
            ("a.go:1.2,3.4  6", NumStmt, Empty),
            (
                "a.go:1.2,3.x 5 6",
                EndCol,
                Unexpected {
                    found: b'x',
                    separator: b'.',
                },
            ),
            ("a.go:1.2,3. 5 6", EndCol, Empty),
            (
                "a.go:1.2,3 5 6",
                EndCol,
                Unexpected {
                    found: b',',
                    separator: b'.',
                },
            ),
            (
                "a.go:1.2,x.4 5 6",
                EndLine,
                Unexpected {
                    found: b'x',
                    separator: b',',
                },
            ),
            ("a.go:1.2,.4 5 6", EndLine, Empty),
            (
                "a.go:1.x,3.4 5 6",
                StartCol,
                Unexpected {
                    found: b'x',
                    separator: b'.',
                },
            ),
            ("a.go:1.,3.4 5 6", StartCol, Empty),
            (
                "a.go:x.2,3.4 5 6",
                StartLine,
                Unexpected {
                    found: b'x',
                    separator: b':',
                },
            ),
            ("a.go:.2,3.4 5 6", StartLine, Empty),
            ("1.2,3.4 5 6", StartLine, MissingSeparator(b':')),
            (":1.2,3.4 5 6", FileName, Empty),
            ("a.go:0.2,3.4 5 6", StartLine, ZeroLine),
            ("a.go:1.2,0.4 5 6", EndLine, ZeroLine),
            ("123", Count, MissingSeparator(b' ')),
            (
                "garbage",
                Count,
                Unexpected {
                    found: b'e',
                    separator: b' ',
                },
            ),
        ];
        for &(line, field, problem) in cases {
            let text = format!("mode: set\na.go:1.1,1.2 1 1\n{line}\nb.go:1.1,1.2 1 1\n");
            let e = err(text.as_bytes());
            assert_eq!(
                e,
                ProfileError::Malformed {
                    origin: "target shop, replica http://a:1".into(),
                    line: 3,
                    field,
                    problem,
                    text: line.into(),
                },
                "{line}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains("line 3") && msg.contains(&field.to_string()),
                "{msg}"
            );
        }
    }

    #[test]
    fn overflow_is_reported_per_field() {
        let big32 = "4294967296"; // u32::MAX + 1
        let fields = [
            (format!("a.go:{big32}.2,3.4 5 6"), Field::StartLine),
            (format!("a.go:1.{big32},3.4 5 6"), Field::StartCol),
            (format!("a.go:1.2,{big32}.4 5 6"), Field::EndLine),
            (format!("a.go:1.2,3.{big32} 5 6"), Field::EndCol),
            (format!("a.go:1.2,3.4 {big32} 6"), Field::NumStmt),
            (
                "a.go:1.2,3.4 5 18446744073709551616".to_owned(),
                Field::Count,
            ),
            (
                "a.go:1.2,3.4 5 99999999999999999999999999".to_owned(),
                Field::Count,
            ),
        ];
        for (line, field) in fields {
            let e = err(format!("mode: count\n{line}\n").as_bytes());
            assert!(
                matches!(e, ProfileError::Malformed { field: f, problem: Problem::Overflow { .. }, line: 2, .. } if f == field),
                "{line}: {e}"
            );
        }
        // The largest values fit.
        let max = p(
            "mode: count\na.go:4294967295.4294967295,4294967295.4294967295 4294967295 18446744073709551615\n",
        );
        let b = max.file("a.go").unwrap()[0];
        assert_eq!(
            (b.end_col, b.num_stmt, b.count),
            (u32::MAX, u32::MAX, u64::MAX)
        );
    }

    #[test]
    fn start_after_end_utf8_and_truncation() {
        let e = err(b"mode: set\na.go:3.1,2.9 1 1\n");
        assert!(
            matches!(e, ProfileError::StartAfterEnd { line: 2, .. }),
            "{e}"
        );
        let e = err(b"mode: set\na.go:3.5,3.4 1 1\n");
        assert!(matches!(e, ProfileError::StartAfterEnd { .. }));
        // An empty block (start == end) is allowed.
        p("mode: set\na.go:3.4,3.4 0 1\n");

        let e = err(b"mode: set\nexample.com/\xffbad.go:1.1,2.2 1 1\n");
        assert!(matches!(
            e,
            ProfileError::Malformed {
                field: Field::FileName,
                problem: Problem::InvalidUtf8,
                line: 2,
                ..
            }
        ));

        let e = err(b"mode: set\na.go:1.1,2.2 1 1\na.go:3.1,4");
        assert!(
            matches!(
                e,
                ProfileError::Truncated {
                    line: 3,
                    field: Field::Count,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("cut off"));
    }

    #[test]
    fn every_truncation_of_a_real_profile_is_handled() {
        for real in [DUMP1, UNIT] {
            let complete_lines = |n: usize| real[..n].iter().filter(|&&b| b == b'\n').count();
            for cut in 0..=real.len() {
                let prefix = &real[..cut];
                match parse(prefix, "cut") {
                    Ok(prof) => {
                        // Whole lines, or a cut inside the last count, parse.
                        let full = complete_lines(cut).saturating_sub(1);
                        assert!(prof.block_count() >= full, "cut {cut}");
                        if cut > 0 && real[cut - 1] == b'\n' {
                            assert_eq!(prof.block_count(), full, "cut {cut}");
                        }
                    }
                    Err(ProfileError::Truncated { line, .. }) => {
                        assert_ne!(real[cut - 1], b'\n');
                        assert_eq!(line, complete_lines(cut) + 1, "cut {cut}");
                    }
                    Err(ProfileError::MissingMode { .. } | ProfileError::Malformed { .. }) => {
                        // Inside the mode line ("mod", "mode: ").
                        assert!(cut <= b"mode: atomic".len(), "cut {cut}");
                    }
                    Err(e) => panic!("cut {cut}: {e}"),
                }
            }
        }
    }

    /// xorshift: a reproducible stream without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"0123456789.,: \n\r\tmode:setcount/abc.go\xff\xfe-+";
        for _ in 0..20_000 {
            let len = rng.below(120);
            let mut input: Vec<u8> = if rng.below(2) == 0 {
                b"mode: set\n".to_vec()
            } else {
                Vec::new()
            };
            input.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
            let _ = parse(&input, "fuzz");
        }
        // Mutations of a real profile: flip, insert and delete bytes.
        for _ in 0..20_000 {
            let mut input = DUMP1.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len());
                match rng.below(3) {
                    0 => input[at] = rng.next() as u8,
                    1 => input.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            if let Ok(prof) = parse(&input, "fuzz") {
                // Whatever parses must write and parse back to the same thing.
                assert_eq!(parse(&prof.to_bytes(), "rewrite").unwrap(), prof);
            }
        }
    }

    #[test]
    fn duplicates_are_combined_like_go_tool_cover() {
        let set = p(
            "mode: set\na.go:1.1,2.2 1 0\nb.go:1.1,1.5 1 1\na.go:1.1,2.2 1 1\na.go:1.1,2.2 1 0\n",
        );
        assert_eq!(set.file("a.go").unwrap(), &[blk(1, 1, 2, 2, 1, 1)][..]);
        let count = p("mode: count\na.go:1.1,2.2 1 2\na.go:1.1,2.2 1 3\na.go:0003.1,4.1 1 1\n");
        assert_eq!(
            count.file("a.go").unwrap(),
            &[blk(1, 1, 2, 2, 1, 5), blk(3, 1, 4, 1, 1, 1)][..]
        );
        let e = err(b"mode: set\na.go:1.1,2.2 1 1\nb.go:1.1,2.2 1 1\na.go:1.1,2.2 2 1\n");
        assert_eq!(
            e,
            ProfileError::NumStmtConflict {
                origin: "target shop, replica http://a:1".into(),
                file: "a.go".into(),
                position: "1.1,2.2".into(),
                first_line: 2,
                first_stmts: 1,
                second_line: 4,
                second_stmts: 2,
            }
        );
        assert!(e.to_string().contains("lines 2 and 4"));
    }

    #[test]
    fn merge_sums_replicas_of_one_build() {
        let mut a = parse(DUMP1, "1").unwrap();
        let b = parse(DUMP2, "2").unwrap();
        let report = a.merge(&b);
        assert!(report.is_clean());
        assert_eq!(a.block_count(), 21);
        let calc = a.file("example.com/demo/calc/calc.go").unwrap();
        // 4.29,5.11: 2 + 3; 8.12,10.3: 0 + 1.
        assert_eq!(calc[0].count, 5);
        assert_eq!(calc[3], blk(8, 12, 10, 3, 1, 1));
        // Set mode is summed too, like goc's center.
        let mut s = p("mode: set\na.go:1.1,2.2 1 1\n");
        s.merge(&p("mode: set\na.go:1.1,2.2 1 1\n"));
        assert_eq!(s.file("a.go").unwrap()[0].count, 2);
    }

    #[test]
    fn merge_of_two_builds_keeps_both_and_reports_skew() {
        let mut old = p(
            "mode: count\na.go:1.1,2.2 1 4\na.go:3.1,4.2 2 1\na.go:5.1,6.2 1 0\nc.go:1.1,1.9 1 1\n",
        );
        let new = p(
            "mode: count\na.go:1.1,2.2 1 1\na.go:3.1,4.2 3 7\na.go:3.5,3.9 1 2\nb.go:1.1,1.9 1 0\n",
        );
        let mut reversed = new.clone();
        let report = old.merge(&new);
        assert_eq!(report.version_skew, vec!["a.go".to_owned()]);
        assert_eq!(report.mode_mismatch, None);
        assert_eq!(
            old.file("a.go").unwrap(),
            &[
                blk(1, 1, 2, 2, 1, 5),
                blk(3, 1, 4, 2, 3, 7), // larger count wins
                blk(3, 5, 3, 9, 1, 2),
                blk(5, 1, 6, 2, 1, 0),
            ][..]
        );
        assert_eq!(
            old.files().map(|(n, _)| n).collect::<Vec<_>>(),
            vec!["a.go", "b.go", "c.go"]
        );
        // Order does not matter except for the kept mode.
        let report = reversed.merge(&p(
            "mode: count\na.go:1.1,2.2 1 4\na.go:3.1,4.2 2 1\na.go:5.1,6.2 1 0\nc.go:1.1,1.9 1 1\n",
        ));
        assert_eq!(report.version_skew, vec!["a.go".to_owned()]);
        assert_eq!(reversed, old);
    }

    #[test]
    fn merged_blocks_of_one_file_equal_the_merged_profiles() {
        let a = p("mode: count\na.go:1.1,2.2 1 4\na.go:3.1,4.2 2 1\nb.go:1.1,1.9 1 1\n");
        let b = p("mode: count\na.go:1.1,2.2 1 1\na.go:3.1,4.2 3 7\na.go:3.5,3.9 1 2\n");
        let c = p("mode: count\na.go:1.1,2.2 1 2\n");
        let mut whole = a.clone();
        whole.merge(&b);
        whole.merge(&c);
        let lists = [&a, &b, &c].map(|x| x.file("a.go").unwrap());
        assert_eq!(merged_blocks(lists), whole.file("a.go").unwrap());
        assert_eq!(merged_blocks(lists)[0].count, 7);
    }

    #[test]
    fn merge_modes() {
        let mut empty = Profile::default();
        assert_eq!(empty.mode(), "");
        assert!(
            empty
                .merge(&p("mode: atomic\na.go:1.1,1.2 1 1\n"))
                .is_clean()
        );
        assert_eq!(empty.mode(), "atomic");
        let r = empty.merge(&p("mode: set\na.go:1.1,1.2 1 1\n"));
        assert_eq!(r.mode_mismatch, Some(("atomic".into(), "set".into())));
        assert_eq!(empty.mode(), "atomic");
        assert_eq!(empty.file("a.go").unwrap()[0].count, 2);
        assert!(empty.merge(&Profile::default()).is_clean());
        assert_eq!(Profile::new("set").mode(), "set");
    }

    #[test]
    fn counts_decreased_detects_resets() {
        let before = parse(DUMP2, "2").unwrap();
        let after = parse(DUMP1, "1").unwrap();
        assert!(after.counts_decreased_from(&before));
        assert!(!before.counts_decreased_from(&after));
        assert!(!before.counts_decreased_from(&before));
        // Blocks the other profile does not have are not a decrease.
        let other = p("mode: count\nx.go:1.1,1.2 1 9\n");
        assert!(!p("mode: count\nx.go:1.1,1.3 1 0\n").counts_decreased_from(&other));
        assert!(p("mode: count\nx.go:1.1,1.2 1 8\n").counts_decreased_from(&other));
    }

    #[test]
    fn write_round_trips() {
        let mut prof = parse(DUMP1, "1").unwrap();
        prof.merge(&parse(UNIT, "u").unwrap());
        let text = prof.to_bytes();
        assert!(text.starts_with(b"mode: atomic\nexample.com/demo/calc/calc.go:4.29,5.11 1 3\n"));
        assert_eq!(parse(&text, "again").unwrap(), prof);
        let max = p(
            "mode: count\na.go:4294967295.0,4294967295.4294967295 4294967295 18446744073709551615\n",
        );
        assert_eq!(
            max.to_bytes(),
            b"mode: count\na.go:4294967295.0,4294967295.4294967295 4294967295 18446744073709551615\n"
        );
        assert_eq!(Profile::default().to_bytes(), b"mode: count\n");
    }
}
