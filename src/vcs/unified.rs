//! Changed lines from a unified diff file (`--diff-file`), so covtop works with any VCS or a
//! patch taken from a review tool.
//!
//! Accepts git's format (`diff --git`, `rename from/to`, `new file mode`, `deleted file mode`,
//! binary markers, quoted paths) and plain `diff -u` output (`---`/`+++` with timestamps), with
//! or without context lines, LF or CRLF. Hunk bodies are counted against their headers, so a
//! `--- ` or `+++ ` line inside a hunk is content, not a new file.

use super::hunks::Hunk;
use crate::model::{ChangeKind, ChangedFile, ChangedLines};
use std::collections::BTreeSet;

/// Why a diff file could not be read. Every variant names the origin (the file name as the user
/// gave it) and, where there is one, the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffParseError {
    #[error(
        "{origin}: not a unified diff (no `diff --git` or `---`/`+++` file header found); \
         produce it with `git diff -U0 BASE...HEAD` or `diff -u`"
    )]
    NotADiff { origin: String },
    #[error(
        "{origin}:{line}: malformed hunk header `{text}`; expected `@@ -START[,COUNT] +START[,COUNT] @@`"
    )]
    MalformedHunkHeader {
        origin: String,
        line: usize,
        text: String,
    },
    #[error("{origin}:{line}: hunk header before any file header (`---`/`+++` or `diff --git`)")]
    HunkWithoutFile { origin: String, line: usize },
    #[error(
        "{origin}:{line}: line `{text}` does not fit the hunk started at line {hunk_line} \
         ({old_left} old and {new_left} new lines still expected); the diff is truncated or was edited by hand"
    )]
    HunkMismatch {
        origin: String,
        line: usize,
        hunk_line: usize,
        old_left: u32,
        new_left: u32,
        text: String,
    },
    #[error(
        "{origin}: the diff ends inside the hunk started at line {hunk_line} \
         ({old_left} old and {new_left} new lines missing); the file is truncated"
    )]
    TruncatedHunk {
        origin: String,
        hunk_line: usize,
        old_left: u32,
        new_left: u32,
    },
    #[error(
        "{origin}:{line}: combined diff (`@@@`, from a merge commit) is not supported; diff against one parent"
    )]
    CombinedDiff { origin: String, line: usize },
}

/// Reads the changed lines of a unified diff. `origin` names the input in errors.
///
/// An empty (or whitespace-only) text is a diff without changes. Deleted and binary files change
/// no line; a file appears in the result only if it has a changed line or a deletion marker, the
/// same rule [`super::Repo::changed_lines`] follows.
pub fn parse_unified_diff(text: &str, origin: &str) -> Result<ChangedLines, DiffParseError> {
    let mut parser = Parser {
        origin,
        files: Vec::new(),
        current: None,
        hunk: None,
        in_binary_patch: false,
    };
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        parser.line(index + 1, line)?;
    }
    parser.finish(text)
}

#[derive(Debug, Default)]
struct FileSection {
    git_header: bool,
    /// From the `diff --git` line: whether paths carry git's `a/`/`b/` (or mnemonic `i/`, `w/`,
    /// ...) prefix; `None` without that line (plain `diff -u`).
    prefixed: Option<bool>,
    /// Paths from `diff --git a/X b/Y`, used when no `---`/`+++` follows (binary, mode-only,
    /// pure renames).
    header_paths: Option<(String, String)>,
    old_path: Option<Option<String>>,
    new_path: Option<Option<String>>,
    rename_from: Option<String>,
    rename_to: Option<String>,
    copy_to: Option<String>,
    new_file: bool,
    deleted_file: bool,
    binary: bool,
    hunks: Vec<Hunk>,
    added: BTreeSet<u32>,
    markers: BTreeSet<u32>,
}

#[derive(Debug)]
struct OpenHunk {
    header_line: usize,
    old_left: u32,
    new_left: u32,
    new_cursor: u32,
    pending_deletion: bool,
}

struct Parser<'a> {
    origin: &'a str,
    files: Vec<FileSection>,
    current: Option<FileSection>,
    hunk: Option<OpenHunk>,
    in_binary_patch: bool,
}

impl Parser<'_> {
    fn line(&mut self, number: usize, line: &str) -> Result<(), DiffParseError> {
        if let Some(hunk) = self.hunk.as_mut() {
            let file = self
                .current
                .as_mut()
                .ok_or_else(|| DiffParseError::HunkWithoutFile {
                    origin: self.origin.to_string(),
                    line: hunk.header_line,
                })?;
            let mismatch = |hunk: &OpenHunk| DiffParseError::HunkMismatch {
                origin: self.origin.to_string(),
                line: number,
                hunk_line: hunk.header_line,
                old_left: hunk.old_left,
                new_left: hunk.new_left,
                text: shorten(line),
            };
            match line.as_bytes().first() {
                // Some tools strip the single space of an empty context line.
                Some(b' ') | None => {
                    if hunk.old_left == 0 || hunk.new_left == 0 {
                        return Err(mismatch(hunk));
                    }
                    if hunk.pending_deletion {
                        file.markers.insert(hunk.new_cursor);
                        hunk.pending_deletion = false;
                    }
                    hunk.old_left -= 1;
                    hunk.new_left -= 1;
                    hunk.new_cursor += 1;
                }
                Some(b'-') => {
                    if hunk.old_left == 0 {
                        return Err(mismatch(hunk));
                    }
                    hunk.old_left -= 1;
                    hunk.pending_deletion = true;
                }
                Some(b'+') => {
                    if hunk.new_left == 0 {
                        return Err(mismatch(hunk));
                    }
                    file.added.insert(hunk.new_cursor);
                    hunk.new_left -= 1;
                    hunk.new_cursor += 1;
                    hunk.pending_deletion = false;
                }
                // `\ No newline at end of file` belongs to the line before it.
                Some(b'\\') => {}
                Some(_) => return Err(mismatch(hunk)),
            }
            if hunk.old_left == 0 && hunk.new_left == 0 {
                if hunk.pending_deletion {
                    file.markers.insert(hunk.new_cursor);
                }
                self.hunk = None;
            }
            return Ok(());
        }

        if let Some(rest) = line.strip_prefix("diff --git ") {
            self.start_file();
            self.in_binary_patch = false;
            let file = self.current.get_or_insert_with(FileSection::default);
            file.git_header = true;
            file.prefixed = Some(has_letter_prefix(rest.trim_start_matches('"')));
            file.header_paths = split_git_header_paths(rest);
            return Ok(());
        }
        if self.in_binary_patch {
            return Ok(());
        }
        if line.starts_with("@@@") {
            return Err(DiffParseError::CombinedDiff {
                origin: self.origin.to_string(),
                line: number,
            });
        }
        if line.starts_with("@@") {
            return self.open_hunk(number, line);
        }
        if let Some(rest) = line.strip_prefix("--- ") {
            // Without `diff --git`, `---` starts the next file once the current one has content.
            let starts_new = match &self.current {
                None => true,
                Some(f) => f.old_path.is_some() || f.new_path.is_some() || !f.hunks.is_empty(),
            };
            if starts_new {
                self.start_file();
            }
            let file = self.current.get_or_insert_with(FileSection::default);
            file.old_path = Some(header_path(rest, file.prefixed, "a/"));
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("+++ ") {
            let file = self.current.get_or_insert_with(FileSection::default);
            file.new_path = Some(header_path(rest, file.prefixed, "b/"));
            return Ok(());
        }
        let Some(file) = self.current.as_mut() else {
            // Preamble: commit message, `git format-patch` mail headers and the like.
            return Ok(());
        };
        if let Some(rest) = line.strip_prefix("rename from ") {
            file.rename_from = Some(unquote(rest));
        } else if let Some(rest) = line.strip_prefix("rename to ") {
            file.rename_to = Some(unquote(rest));
        } else if let Some(rest) = line.strip_prefix("copy to ") {
            file.copy_to = Some(unquote(rest));
        } else if line.starts_with("new file mode") {
            file.new_file = true;
        } else if line.starts_with("deleted file mode") {
            file.deleted_file = true;
        } else if line.starts_with("Binary files ") && line.ends_with(" differ") {
            file.binary = true;
        } else if line == "GIT binary patch" {
            file.binary = true;
            self.in_binary_patch = true;
        }
        Ok(())
    }

    fn open_hunk(&mut self, number: usize, line: &str) -> Result<(), DiffParseError> {
        let malformed = || DiffParseError::MalformedHunkHeader {
            origin: self.origin.to_string(),
            line: number,
            text: shorten(line),
        };
        let (old_start, old_lines, new_start, new_lines) =
            parse_hunk_header(line).ok_or_else(malformed)?;
        let Some(file) = self.current.as_mut() else {
            return Err(DiffParseError::HunkWithoutFile {
                origin: self.origin.to_string(),
                line: number,
            });
        };
        file.hunks.push(Hunk {
            old_start,
            old_lines,
            new_start,
            new_lines,
        });
        // A side with zero lines names the line after which the hunk sits.
        let new_cursor = if new_lines == 0 {
            new_start + 1
        } else {
            new_start
        };
        if old_lines == 0 && new_lines == 0 {
            return Ok(());
        }
        self.hunk = Some(OpenHunk {
            header_line: number,
            old_left: old_lines,
            new_left: new_lines,
            new_cursor,
            pending_deletion: false,
        });
        Ok(())
    }

    fn start_file(&mut self) {
        if let Some(file) = self.current.take() {
            self.files.push(file);
        }
    }

    fn finish(mut self, text: &str) -> Result<ChangedLines, DiffParseError> {
        if let Some(hunk) = self.hunk.take() {
            return Err(DiffParseError::TruncatedHunk {
                origin: self.origin.to_string(),
                hunk_line: hunk.header_line,
                old_left: hunk.old_left,
                new_left: hunk.new_left,
            });
        }
        self.start_file();
        if self.files.is_empty() {
            if text.trim().is_empty() {
                return Ok(ChangedLines::default());
            }
            return Err(DiffParseError::NotADiff {
                origin: self.origin.to_string(),
            });
        }
        let mut changed = ChangedLines::default();
        for file in self.files {
            if file.binary || file.deleted_file {
                continue;
            }
            let (header_old, header_new) = match file.header_paths {
                Some((old, new)) => (Some(old), Some(new)),
                None => (None, None),
            };
            let new_path = match file.new_path {
                Some(path) => path,
                None => file
                    .rename_to
                    .clone()
                    .or(file.copy_to.clone())
                    .or(header_new),
            };
            let Some(new_path) = new_path else {
                continue; // deleted (`+++ /dev/null`)
            };
            let old_path = match file.old_path {
                Some(path) => path,
                None if file.new_file => None,
                None => file.rename_from.clone().or(header_old),
            };
            let kind = if file.new_file || old_path.is_none() || file.copy_to.is_some() {
                ChangeKind::Added
            } else if let Some(from) = file.rename_from {
                ChangeKind::Renamed { from }
            } else {
                // Plain `diff -u` names two trees (`old/x`, `new/x`): that is not a rename.
                ChangeKind::Modified
            };
            if file.added.is_empty() && file.markers.is_empty() {
                continue;
            }
            let entry = changed
                .files
                .entry(new_path.clone())
                .or_insert_with(|| ChangedFile {
                    path: new_path,
                    kind,
                    lines: Vec::new(),
                    deletions_before: Vec::new(),
                });
            // A path listed twice (concatenated patches) gets the union of its lines.
            entry.lines = merge_sorted(&entry.lines, file.added.into_iter());
            entry.deletions_before =
                merge_sorted(&entry.deletions_before, file.markers.into_iter());
        }
        Ok(changed)
    }
}

fn merge_sorted(existing: &[u32], more: impl Iterator<Item = u32>) -> Vec<u32> {
    let set: BTreeSet<u32> = existing.iter().copied().chain(more).collect();
    set.into_iter().collect()
}

/// `@@ -a[,b] +c[,d] @@ optional section heading`; ranges that overflow line numbers are
/// malformed.
fn parse_hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("@@ ")?;
    let end = rest.find(" @@")?;
    let mut ranges = rest[..end].split(' ');
    let old = ranges.next()?.strip_prefix('-')?;
    let new = ranges.next()?.strip_prefix('+')?;
    if ranges.next().is_some() {
        return None;
    }
    let (old_start, old_lines) = parse_range(old)?;
    let (new_start, new_lines) = parse_range(new)?;
    old_start.checked_add(old_lines.max(1))?;
    new_start.checked_add(new_lines.max(1))?;
    Some((old_start, old_lines, new_start, new_lines))
}

/// `start[,count]`; an omitted count is 1.
fn parse_range(range: &str) -> Option<(u32, u32)> {
    match range.split_once(',') {
        Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
        None => Some((range.parse().ok()?, 1)),
    }
}

/// A path from a `---`/`+++` line: `/dev/null` is no file; git's prefix and a trailing tab
/// (timestamp, or git's marker for names with spaces) are removed. With a `diff --git` line,
/// `prefixed` says whether there is a prefix (`--no-prefix` diffs have none); without one
/// (plain `diff -u`), `plain_prefix` is removed when present.
fn header_path(rest: &str, prefixed: Option<bool>, plain_prefix: &str) -> Option<String> {
    let path = if rest.starts_with('"') {
        unquote(rest)
    } else {
        rest.split('\t').next().unwrap_or(rest).to_string()
    };
    if path == "/dev/null" {
        return None;
    }
    Some(match prefixed {
        Some(true) if has_letter_prefix(&path) => path[2..].to_string(),
        Some(_) => path,
        None => strip_prefix_owned(path, plain_prefix),
    })
}

/// `a/`, `b/`, or a mnemonic prefix (`i/`, `w/`, `c/`, `o/`).
fn has_letter_prefix(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() > 2 && bytes[0].is_ascii_lowercase() && bytes[1] == b'/'
}

/// Splits `a/X b/Y` from a `diff --git` line. Unambiguous when quoted or when X == Y (no rename);
/// otherwise the split at ` b/` is a best guess, used only when `rename`/`---`/`+++` lines are
/// missing.
fn split_git_header_paths(rest: &str) -> Option<(String, String)> {
    if rest.starts_with('"') {
        let (old, consumed) = unquote_prefix(rest)?;
        let new = rest[consumed..].trim_start();
        let new = if new.starts_with('"') {
            unquote(new)
        } else {
            new.to_string()
        };
        return Some((strip_prefix_owned(old, "a/"), strip_prefix_owned(new, "b/")));
    }
    let body = rest.strip_prefix("a/")?;
    // Same path on both sides: `a/P b/P` has length 2 * len(P) + 5.
    if rest.len() >= 5 && (rest.len() - 5).is_multiple_of(2) {
        let half = (rest.len() - 5) / 2;
        if let (Some(old), Some(new)) = (body.get(..half), body.get(half..))
            && new.strip_prefix(" b/") == Some(old)
        {
            return Some((old.to_string(), old.to_string()));
        }
    }
    let (old, new) = body.split_once(" b/")?;
    let new = if new.starts_with('"') {
        strip_prefix_owned(unquote(new), "b/")
    } else {
        new.to_string()
    };
    Some((old.to_string(), new))
}

fn strip_prefix_owned(path: String, prefix: &str) -> String {
    match path.strip_prefix(prefix) {
        Some(stripped) => stripped.to_string(),
        None => path,
    }
}

/// Undoes git's C-style quoting of unusual path names; unquoted text is returned as is.
fn unquote(text: &str) -> String {
    if text.starts_with('"')
        && let Some((path, _)) = unquote_prefix(text)
    {
        return path;
    }
    text.to_string()
}

/// Reads a quoted string at the start of `text`; returns it and the bytes consumed.
fn unquote_prefix(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' => {
                let escaped = *bytes.get(i + 1)?;
                i += 2;
                match escaped {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'0'..=b'7' => {
                        let digits = bytes.get(i - 1..i + 2)?;
                        let value = digits
                            .iter()
                            .try_fold(0u32, |acc, d| match d {
                                b'0'..=b'7' => Some(acc * 8 + u32::from(d - b'0')),
                                _ => None,
                            })
                            .and_then(|v| u8::try_from(v).ok())?;
                        out.push(value);
                        i += 2;
                    }
                    other => out.push(other),
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    None
}

fn shorten(line: &str) -> String {
    const MAX: usize = 80;
    if line.chars().count() <= MAX {
        line.to_string()
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(changed: &'a ChangedLines, path: &str) -> &'a ChangedFile {
        changed
            .file(path)
            .unwrap_or_else(|| panic!("{path} missing from {changed:#?}"))
    }

    #[test]
    fn several_files_zero_context() {
        let diff = "\
diff --git a/src/a.txt b/src/a.txt
index 1111111..2222222 100644
--- a/src/a.txt
+++ b/src/a.txt
@@ -3 +3 @@ fn alpha()
-alpha 3
+alpha three
@@ -6,0 +7,2 @@
+X
+Y
@@ -9 +10,0 @@
-alpha 9
diff --git a/src/b.txt b/src/b.txt
index 3333333..4444444 100644
--- a/src/b.txt
+++ b/src/b.txt
@@ -1,2 +0,0 @@
-b1
-b2
@@ -8,0 +7 @@
+b9
";
        let changed = parse_unified_diff(diff, "change.diff").unwrap();
        assert_eq!(changed.files.len(), 2);
        let a = file(&changed, "src/a.txt");
        assert_eq!(a.kind, ChangeKind::Modified);
        assert_eq!(a.lines, vec![3, 7, 8]);
        assert_eq!(a.deletions_before, vec![11]);
        let b = file(&changed, "src/b.txt");
        assert_eq!(b.lines, vec![7]);
        assert_eq!(b.deletions_before, vec![1]);
    }

    #[test]
    fn context_lines_and_section_headings() {
        let diff = "\
--- a/f.go
+++ b/f.go
@@ -1,6 +1,6 @@ package f
 line 1
-line 2
+line two
 line 3
 line 4
-line 5
 line 6
+line 7
";
        let changed = parse_unified_diff(diff, "ctx.diff").unwrap();
        let f = file(&changed, "f.go");
        assert_eq!(f.lines, vec![2, 6]);
        // Old line 5 was deleted between new lines 4 and 5.
        assert_eq!(f.deletions_before, vec![5]);
    }

    #[test]
    fn renames_new_and_deleted_files() {
        let diff = "\
diff --git a/src/old_name.txt b/src/new_name.txt
similarity index 84%
rename from src/old_name.txt
rename to src/new_name.txt
index 5555555..6666666 100644
--- a/src/old_name.txt
+++ b/src/new_name.txt
@@ -5 +5 @@
-rename line 5
+renamed line five
diff --git a/pure/rename.txt b/pure/moved.txt
similarity index 100%
rename from pure/rename.txt
rename to pure/moved.txt
diff --git a/src/gone.txt b/src/gone.txt
deleted file mode 100644
index 7777777..0000000
--- a/src/gone.txt
+++ /dev/null
@@ -1,3 +0,0 @@
-g1
-g2
-g3
diff --git a/src/new_file.txt b/src/new_file.txt
new file mode 100644
index 0000000..8888888
--- /dev/null
+++ b/src/new_file.txt
@@ -0,0 +1,2 @@
+n1
+n2
";
        let changed = parse_unified_diff(diff, "r.diff").unwrap();
        let renamed = file(&changed, "src/new_name.txt");
        assert_eq!(
            renamed.kind,
            ChangeKind::Renamed {
                from: "src/old_name.txt".into()
            }
        );
        assert_eq!(renamed.lines, vec![5]);
        assert!(changed.file("pure/moved.txt").is_none(), "no edited line");
        assert!(changed.file("src/gone.txt").is_none());
        let added = file(&changed, "src/new_file.txt");
        assert_eq!(added.kind, ChangeKind::Added);
        assert_eq!(added.lines, vec![1, 2]);
    }

    #[test]
    fn no_newline_markers_are_not_lines() {
        let diff = "\
--- a/x
+++ b/x
@@ -2 +2,2 @@
-last
\\ No newline at end of file
+last
+appended
\\ No newline at end of file
";
        let changed = parse_unified_diff(diff, "nl.diff").unwrap();
        assert_eq!(file(&changed, "x").lines, vec![2, 3]);
    }

    #[test]
    fn omitted_counts_mean_one_line() {
        let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n@@ -4 +4,0 @@\n-d\n";
        let changed = parse_unified_diff(diff, "o.diff").unwrap();
        let x = file(&changed, "x");
        assert_eq!(x.lines, vec![1]);
        assert_eq!(x.deletions_before, vec![5]);
    }

    #[test]
    fn binary_files_are_skipped() {
        let diff = "\
diff --git a/logo.png b/logo.png
index 1111111..2222222 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/icon.bin b/icon.bin
index 3333333..4444444 100644
GIT binary patch
literal 12
TcmZ?wbhEHbRA+r(00030
--- 
literal 0
KcmV+b0RR6000031

diff --git a/t.txt b/t.txt
--- a/t.txt
+++ b/t.txt
@@ -0,0 +1 @@
+t
";
        let changed = parse_unified_diff(diff, "bin.diff").unwrap();
        assert_eq!(changed.files.keys().collect::<Vec<_>>(), vec!["t.txt"]);
        assert_eq!(file(&changed, "t.txt").lines, vec![1]);
    }

    #[test]
    fn crlf_line_endings() {
        let diff = "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,2 +1,2 @@\r\n one\r\n-two\r\n+TWO\r\n";
        let changed = parse_unified_diff(diff, "crlf.diff").unwrap();
        let w = file(&changed, "w.txt");
        assert_eq!(w.lines, vec![2]);
        assert_eq!(w.kind, ChangeKind::Modified);
    }

    #[test]
    fn plain_diff_u_with_timestamps_and_content_that_looks_like_headers() {
        let diff = "\
--- old/notes.txt\t2024-01-01 10:00:00.000000000 +0000
+++ new/notes.txt\t2024-01-02 10:00:00.000000000 +0000
@@ -1,2 +1,2 @@
---- a heading underline
+++++ a plus line
 kept
";
        let changed = parse_unified_diff(diff, "plain.diff").unwrap();
        let n = file(&changed, "new/notes.txt");
        assert_eq!(n.lines, vec![1]);
        assert_eq!(n.kind, ChangeKind::Modified);
    }

    #[test]
    fn quoted_paths_with_spaces_and_unicode() {
        let diff = "\
diff --git \"a/dir/caf\\303\\251 menu.txt\" \"b/dir/caf\\303\\251 menu.txt\"
--- \"a/dir/caf\\303\\251 menu.txt\"
+++ \"b/dir/caf\\303\\251 menu.txt\"
@@ -0,0 +1 @@
+x
diff --git a/with space.txt b/with space.txt
--- a/with space.txt\t
+++ b/with space.txt\t
@@ -1 +1 @@
-a
+b
";
        let changed = parse_unified_diff(diff, "q.diff").unwrap();
        assert_eq!(file(&changed, "dir/café menu.txt").lines, vec![1]);
        assert_eq!(file(&changed, "with space.txt").lines, vec![1]);
    }

    #[test]
    fn format_patch_preamble_and_signature_are_ignored() {
        let diff = "\
From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.com>
Subject: [PATCH] tweak

---
 x | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/x b/x
index 1..2 100644
--- a/x
+++ b/x
@@ -1 +1 @@
-a
+b
-- 
2.39.2
";
        let changed = parse_unified_diff(diff, "0001-tweak.patch").unwrap();
        assert_eq!(changed.files.len(), 1);
        assert_eq!(file(&changed, "x").lines, vec![1]);
    }

    #[test]
    fn malformed_hunk_header_names_origin_and_line() {
        let diff = "--- a/x\n+++ b/x\n@@ -1,two +1 @@\n-a\n+b\n";
        let err = parse_unified_diff(diff, "bad.diff").unwrap_err();
        assert_eq!(
            err,
            DiffParseError::MalformedHunkHeader {
                origin: "bad.diff".into(),
                line: 3,
                text: "@@ -1,two +1 @@".into()
            }
        );
        assert!(
            err.to_string()
                .starts_with("bad.diff:3: malformed hunk header")
        );
    }

    #[test]
    fn hunk_body_that_does_not_match_its_counts() {
        // Header promises one old and one new line; the body has two additions.
        let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n+b\n+c\n";
        let err = parse_unified_diff(diff, "count.diff").unwrap_err();
        match err {
            DiffParseError::HunkMismatch {
                line, hunk_line, ..
            } => {
                assert_eq!((line, hunk_line), (5, 3));
            }
            other => panic!("unexpected {other:?}"),
        }
        let garbage = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n?? what\n";
        let err = parse_unified_diff(garbage, "g.diff").unwrap_err();
        assert!(err.to_string().starts_with("g.diff:5:"), "{err}");
    }

    #[test]
    fn truncated_hunk_at_end_of_file() {
        let diff = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n";
        let err = parse_unified_diff(diff, "cut.diff").unwrap_err();
        assert_eq!(
            err,
            DiffParseError::TruncatedHunk {
                origin: "cut.diff".into(),
                hunk_line: 3,
                old_left: 2,
                new_left: 2
            }
        );
    }

    #[test]
    fn hunk_before_any_file_header() {
        let err = parse_unified_diff("@@ -1 +1 @@\n-a\n+b\n", "h.diff").unwrap_err();
        assert_eq!(
            err,
            DiffParseError::HunkWithoutFile {
                origin: "h.diff".into(),
                line: 1
            }
        );
    }

    #[test]
    fn text_that_is_not_a_diff() {
        let err = parse_unified_diff("hello\nthis is a README\n", "README.md").unwrap_err();
        assert_eq!(
            err,
            DiffParseError::NotADiff {
                origin: "README.md".into()
            }
        );
        assert!(err.to_string().contains("README.md"));
    }

    #[test]
    fn empty_diff_has_no_changes() {
        assert_eq!(
            parse_unified_diff("", "empty.diff").unwrap(),
            ChangedLines::default()
        );
        assert_eq!(
            parse_unified_diff("\n\n", "empty.diff").unwrap(),
            ChangedLines::default()
        );
    }

    #[test]
    fn combined_diff_is_rejected() {
        let diff = "diff --cc x\n--- a/x\n+++ b/x\n@@@ -1,1 -1,1 +1,1 @@@\n";
        let err = parse_unified_diff(diff, "merge.diff").unwrap_err();
        assert_eq!(
            err,
            DiffParseError::CombinedDiff {
                origin: "merge.diff".into(),
                line: 4
            }
        );
    }

    #[test]
    fn no_prefix_and_mnemonic_prefix_diffs() {
        let no_prefix =
            "diff --git src/x.txt src/x.txt\n--- src/x.txt\n+++ src/x.txt\n@@ -1 +1 @@\n-a\n+b\n";
        let changed = parse_unified_diff(no_prefix, "np.diff").unwrap();
        assert_eq!(
            changed.file("src/x.txt").map(|f| f.lines.clone()),
            Some(vec![1])
        );
        let mnemonic =
            "diff --git i/x.txt w/x.txt\n--- i/x.txt\n+++ w/x.txt\n@@ -1 +1 @@\n-a\n+b\n";
        let changed = parse_unified_diff(mnemonic, "m.diff").unwrap();
        assert_eq!(
            changed.file("x.txt").map(|f| f.kind.clone()),
            Some(ChangeKind::Modified)
        );
    }

    #[test]
    fn line_numbers_that_overflow_are_malformed() {
        let diff = "--- a/x\n+++ b/x\n@@ -1 +4294967295,2 @@\n+a\n+b\n";
        let err = parse_unified_diff(diff, "big.diff").unwrap_err();
        assert!(
            matches!(err, DiffParseError::MalformedHunkHeader { line: 3, .. }),
            "{err:?}"
        );
        let diff = "--- a/x\n+++ b/x\n@@ -1 +4294967295,0 @@\n-a\n";
        let err = parse_unified_diff(diff, "big.diff").unwrap_err();
        assert!(
            matches!(err, DiffParseError::MalformedHunkHeader { line: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn damaged_diffs_give_errors_not_panics() {
        let diff = "\
diff --git \"a/q\\303\\251.txt\" \"b/q\\303\\251.txt\"
rename from x
rename to y
--- a/x\t2024
+++ b/y\t2024
@@ -1,3 +1,4 @@ head
 a
-b
+c
+d
\\ No newline at end of file
 e
GIT binary patch
@@ -0,0 +1 @@
+z
";
        let lines: Vec<&str> = diff.lines().collect();
        for cut in (0..=diff.len()).filter(|&i| diff.is_char_boundary(i)) {
            let _ = parse_unified_diff(&diff[..cut], "cut.diff");
        }
        for skip in 0..lines.len() {
            let mut damaged = lines.clone();
            damaged.remove(skip);
            let _ = parse_unified_diff(&damaged.join("\n"), "skip.diff");
            let mut doubled = lines.clone();
            doubled.insert(skip, lines[skip]);
            let _ = parse_unified_diff(&doubled.join("\r\n"), "double.diff");
        }
    }

    #[test]
    fn git_header_paths() {
        assert_eq!(
            split_git_header_paths("a/x y/z.txt b/x y/z.txt"),
            Some(("x y/z.txt".into(), "x y/z.txt".into()))
        );
        assert_eq!(
            split_git_header_paths("a/old.txt b/new.txt"),
            Some(("old.txt".into(), "new.txt".into()))
        );
    }
}
