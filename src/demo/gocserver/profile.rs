//! The minimal profile handling goc's servers do themselves: parse each agent body the way
//! `x/tools/cover.ParseProfiles` does, fold the instances pairwise like test-infra's
//! `cov.MergeMultipleProfiles`, filter, and dump. It models goc's behaviour, errors included,
//! because the servers must answer what the real ones answer; covtop's own decoding lives in the
//! `go` room and does not use this.

use std::collections::BTreeMap;
use std::fmt;

/// One block as goc's center holds it (`cover.ProfileBlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
    pub num_stmt: u32,
    pub count: u64,
}

impl Block {
    fn same_position(&self, other: &Block) -> bool {
        self.start_line == other.start_line
            && self.start_col == other.start_col
            && self.end_line == other.end_line
            && self.end_col == other.end_col
    }
}

/// Go's `%+v` of a `cover.ProfileBlock`, used in the block-mismatch message.
impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{StartLine:{} StartCol:{} EndLine:{} EndCol:{} NumStmt:{} Count:{}}}",
            self.start_line, self.start_col, self.end_line, self.end_col, self.num_stmt, self.count
        )
    }
}

/// One file of a parsed profile (`cover.Profile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProfile {
    pub file_name: String,
    pub mode: String,
    pub blocks: Vec<Block>,
}

/// Parses one agent body like `cover.ParseProfilesFromReader`: the first line must be a `mode:`
/// line, blocks are sorted by start and duplicates merged (`set`: or, else sum), files come out
/// sorted by name. An empty body is an empty profile, not an error (that is what goc does, and
/// why a disconnected v2 agent silently contributes nothing).
pub fn parse_profile(text: &str) -> Result<Vec<FileProfile>, String> {
    let mut mode: Option<&str> = None;
    let mut files: BTreeMap<&str, Vec<Block>> = BTreeMap::new();
    for line in text.lines() {
        if mode.is_none() {
            match line.strip_prefix("mode: ") {
                Some(m) if !m.is_empty() => mode = Some(m),
                _ => return Err(format!("bad mode line: {line}")),
            }
            continue;
        }
        let (file, block) = parse_block_line(line).ok_or_else(|| {
            format!(
                "line {line:?} doesn't match expected format: ^(.+):([0-9]+)\\.([0-9]+),([0-9]+)\\.([0-9]+) ([0-9]+) ([0-9]+)$"
            )
        })?;
        files.entry(file).or_default().push(block);
    }
    let mode = mode.unwrap_or_default();
    let mut out = Vec::with_capacity(files.len());
    for (file, mut blocks) in files {
        blocks.sort_by_key(|b| (b.start_line, b.start_col));
        let mut merged: Vec<Block> = Vec::with_capacity(blocks.len());
        for b in blocks {
            match merged.last_mut() {
                Some(last) if last.same_position(&b) => {
                    if last.num_stmt != b.num_stmt {
                        return Err(format!(
                            "inconsistent NumStmt: changed from {} to {}",
                            last.num_stmt, b.num_stmt
                        ));
                    }
                    if mode == "set" {
                        last.count |= b.count;
                    } else {
                        last.count = last.count.saturating_add(b.count);
                    }
                }
                _ => merged.push(b),
            }
        }
        out.push(FileProfile {
            file_name: file.to_string(),
            mode: mode.to_string(),
            blocks: merged,
        });
    }
    Ok(out)
}

/// Splits `file:l0.c0,l1.c1 nstmt count` from the right, so file names may hold ':' or spaces.
pub fn parse_block_line(line: &str) -> Option<(&str, Block)> {
    let (rest, count) = line.rsplit_once(' ')?;
    let (rest, num_stmt) = rest.rsplit_once(' ')?;
    let (file, span) = rest.rsplit_once(':')?;
    let (start, end) = span.split_once(',')?;
    let (start_line, start_col) = start.split_once('.')?;
    let (end_line, end_col) = end.split_once('.')?;
    if file.is_empty() {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let count_ok = !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit());
    Some((
        file,
        Block {
            start_line: num(start_line)?,
            start_col: num(start_col)?,
            end_line: num(end_line)?,
            end_col: num(end_col)?,
            num_stmt: num(num_stmt)?,
            count: if count_ok {
                count.parse().ok()?
            } else {
                return None;
            },
        },
    ))
}

fn ensure_match(a: &FileProfile, b: &FileProfile) -> Result<(), String> {
    if a.blocks.len() != b.blocks.len() {
        return Err(format!(
            "file block count for {} mismatches ({} vs {})",
            a.file_name,
            a.blocks.len(),
            b.blocks.len()
        ));
    }
    if a.mode != b.mode {
        return Err(format!(
            "mode for {} mismatches ({} vs {})",
            a.file_name, a.mode, b.mode
        ));
    }
    for (i, (ba, bb)) in a.blocks.iter().zip(&b.blocks).enumerate() {
        if !ba.same_position(bb) || ba.num_stmt != bb.num_stmt {
            return Err(format!(
                "coverage block mismatch: block #{i} for {} ({ba}) mismatches ({bb})",
                a.file_name
            ));
        }
    }
    Ok(())
}

/// Folds `b` into `a` (`cov.MergeProfiles`): counts are summed whatever the mode.
fn merge_pair(a: Vec<FileProfile>, b: &[FileProfile]) -> Result<Vec<FileProfile>, String> {
    let mut result = a;
    let mut needs_sort = false;
    for profile in b {
        match result.iter_mut().find(|p| p.file_name == profile.file_name) {
            Some(dest) => {
                ensure_match(profile, dest)
                    .map_err(|e| format!("error merging {}: {e}", profile.file_name))?;
                for (d, s) in dest.blocks.iter_mut().zip(&profile.blocks) {
                    d.count = d.count.saturating_add(s.count);
                }
            }
            None => {
                result.push(profile.clone());
                needs_sort = true;
            }
        }
    }
    if needs_sort {
        result.sort_by(|x, y| x.file_name.cmp(&y.file_name));
    }
    Ok(result)
}

/// `cov.MergeMultipleProfiles`: the first instance, then every other folded into it in order.
pub fn merge_profiles(instances: Vec<Vec<FileProfile>>) -> Result<Vec<FileProfile>, String> {
    let mut it = instances.into_iter();
    let Some(first) = it.next() else {
        return Err("can't merge zero profiles".to_string());
    };
    it.try_fold(first, |acc, p| merge_pair(acc, &p))
}

/// `cov.DumpProfile`: the mode of the first file, then every block.
pub fn dump_profile(profiles: &[FileProfile]) -> Result<String, String> {
    let Some(first) = profiles.first() else {
        return Err("can't write an empty profile".to_string());
    };
    let mut out = format!("mode: {}\n", first.mode);
    for p in profiles {
        for b in &p.blocks {
            out.push_str(&format!(
                "{}:{}.{},{}.{} {} {}\n",
                p.file_name, b.start_line, b.start_col, b.end_line, b.end_col, b.num_stmt, b.count
            ));
        }
    }
    Ok(out)
}

/// Go's `regexp.Compile` message for the common syntax errors, so the 500 bodies read like goc's.
pub fn compile_go_regexp(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let code = if text.contains("unclosed group") {
            "missing closing )"
        } else if text.contains("unopened group") {
            "unexpected )"
        } else if text.contains("unclosed character class") {
            "missing closing ]"
        } else if text.contains("repetition operator missing expression") {
            "missing argument to repetition operator"
        } else {
            "invalid regular expression"
        };
        format!("error parsing regexp: {code}: `{pattern}`")
    })
}

/// v1 `coverfile`: keep files that any pattern matches (unanchored).
pub fn keep_files(
    patterns: &[String],
    profiles: Vec<FileProfile>,
) -> Result<Vec<FileProfile>, String> {
    let mut out = Vec::new();
    for p in profiles {
        let mut keep = false;
        for pattern in patterns {
            let re = compile_go_regexp(pattern).map_err(|e| {
                format!(
                    "filterProfile failed with pattern {pattern} for profile {}, err: {e}",
                    p.file_name
                )
            })?;
            if re.is_match(&p.file_name) {
                keep = true;
                break;
            }
        }
        if keep {
            out.push(p);
        }
    }
    Ok(out)
}

/// v1 `skipfile`: drop files that any pattern matches (unanchored).
pub fn skip_files(
    patterns: &[String],
    profiles: Vec<FileProfile>,
) -> Result<Vec<FileProfile>, String> {
    let mut out = Vec::new();
    for p in profiles {
        let mut skip = false;
        for pattern in patterns {
            let re = compile_go_regexp(pattern).map_err(|e| {
                format!(
                    "skipProfile failed with pattern {pattern} for profile {}, err: {e}",
                    p.file_name
                )
            })?;
            if re.is_match(&p.file_name) {
                skip = true;
                break;
            }
        }
        if !skip {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "mode: count\n\
example.com/demo/calc/calc.go:4.29,5.11 1 3\n\
example.com/demo/calc/calc.go:8.2,8.12 1 2\n\
example.com/demo/calc/calc.go:5.11,7.3 1 1\n\
example.com/demo/main.go:12.13,14.42 2 1\n";

    #[test]
    fn parse_sorts_blocks_and_files() {
        let p = parse_profile(AGENT).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].file_name, "example.com/demo/calc/calc.go");
        let starts: Vec<_> = p[0]
            .blocks
            .iter()
            .map(|b| (b.start_line, b.start_col))
            .collect();
        assert_eq!(starts, vec![(4, 29), (5, 11), (8, 2)]);
    }

    #[test]
    fn duplicates_within_one_agent_merge_by_mode() {
        let set = parse_profile("mode: set\na.go:1.1,2.2 1 1\na.go:1.1,2.2 1 1\n").unwrap();
        assert_eq!(set[0].blocks[0].count, 1);
        let count = parse_profile("mode: count\na.go:1.1,2.2 1 1\na.go:1.1,2.2 1 4\n").unwrap();
        assert_eq!(count[0].blocks[0].count, 5);
        let bad = parse_profile("mode: count\na.go:1.1,2.2 1 1\na.go:1.1,2.2 2 4\n");
        assert_eq!(
            bad.unwrap_err(),
            "inconsistent NumStmt: changed from 1 to 2"
        );
    }

    #[test]
    fn bad_lines_are_errors() {
        assert_eq!(
            parse_profile("hello\n").unwrap_err(),
            "bad mode line: hello"
        );
        assert!(
            parse_profile("mode: set\nnot a block\n")
                .unwrap_err()
                .starts_with("line \"not a block\"")
        );
        assert!(parse_profile("").unwrap().is_empty());
    }

    #[test]
    fn merge_sums_counts_in_set_mode_too() {
        let a = parse_profile("mode: set\na.go:1.1,2.2 1 1\n").unwrap();
        let b = parse_profile("mode: set\na.go:1.1,2.2 1 1\nb.go:1.1,2.2 1 0\n").unwrap();
        let m = merge_profiles(vec![a, b]).unwrap();
        assert_eq!(
            dump_profile(&m).unwrap(),
            "mode: set\na.go:1.1,2.2 1 2\nb.go:1.1,2.2 1 0\n"
        );
    }

    #[test]
    fn merge_conflicts_have_gocs_messages() {
        let count = parse_profile("mode: count\na.go:1.1,2.2 1 1\n").unwrap();
        let set = parse_profile("mode: set\na.go:1.1,2.2 1 1\n").unwrap();
        let err = merge_profiles(vec![count.clone(), set]).unwrap_err();
        assert_eq!(
            err,
            "error merging a.go: mode for a.go mismatches (set vs count)"
        );
        let two = parse_profile("mode: count\na.go:1.1,2.2 1 1\na.go:3.1,4.2 1 1\n").unwrap();
        let err = merge_profiles(vec![count.clone(), two]).unwrap_err();
        assert_eq!(
            err,
            "error merging a.go: file block count for a.go mismatches (2 vs 1)"
        );
        let moved = parse_profile("mode: count\na.go:1.1,2.3 1 1\n").unwrap();
        let err = merge_profiles(vec![count, moved]).unwrap_err();
        assert!(err.contains(
            "coverage block mismatch: block #0 for a.go ({StartLine:1 StartCol:1 EndLine:2 EndCol:3"
        ));
        assert_eq!(
            merge_profiles(vec![]).unwrap_err(),
            "can't merge zero profiles"
        );
        assert_eq!(
            dump_profile(&[]).unwrap_err(),
            "can't write an empty profile"
        );
    }

    #[test]
    fn filters_use_go_like_regexp_errors() {
        let p = parse_profile(AGENT).unwrap();
        let kept = keep_files(&["calc".into()], p.clone()).unwrap();
        assert_eq!(kept.len(), 1);
        let skipped = skip_files(&["calc".into(), "nomatch".into()], p.clone()).unwrap();
        assert_eq!(skipped[0].file_name, "example.com/demo/main.go");
        let err = keep_files(&["(".into()], p).unwrap_err();
        assert_eq!(
            err,
            "filterProfile failed with pattern ( for profile example.com/demo/calc/calc.go, err: error parsing regexp: missing closing ): `(`"
        );
    }
}
