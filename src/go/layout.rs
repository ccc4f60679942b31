//! Which build a Go profile comes from, told by its block layout.
//!
//! `go tool cover` cuts every function of a file into blocks; their positions and statement
//! counts (the *layout*) depend only on the source the binary was built from. Two replicas with
//! the same layout run the same build as far as coverage can tell, and goc itself refuses to
//! merge two layouts of one file (its center answers 500). A layout *fits* a source when every
//! block lies inside the file on token boundaries: a build of other source almost never does,
//! because its blocks start and end in the middle of lines, in whitespace, or past a line's end.

use super::profile::{Block, Profile};

/// A stable hash (FNV-1a 64) of a profile's layout: file names, block positions and statement
/// counts, not the counts.
pub fn layout_hash(p: &Profile) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (file, blocks) in p.files() {
        eat(file.as_bytes());
        eat(&[0]);
        for b in blocks {
            for n in [b.start_line, b.start_col, b.end_line, b.end_col, b.num_stmt] {
                eat(&n.to_le_bytes());
            }
        }
    }
    h
}

/// Why a block does not fit the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MisfitReason {
    /// A line of the block is past the end of the file.
    PastEndOfFile,
    /// A column is past the end of its line.
    PastEndOfLine,
    /// The block starts or ends inside whitespace, where no statement begins or ends.
    NotOnAToken,
    /// The end is before the start.
    Reversed,
}

impl std::fmt::Display for MisfitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MisfitReason::PastEndOfFile => "a line past the end of the file",
            MisfitReason::PastEndOfLine => "a column past the end of its line",
            MisfitReason::NotOnAToken => "a start or end in whitespace, where no statement is",
            MisfitReason::Reversed => "an end before its start",
        })
    }
}

/// The first block of a file that does not fit its source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Misfit {
    /// The profile's file name (import path form).
    pub file: String,
    pub block: (u32, u32, u32, u32),
    pub reason: MisfitReason,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (l0, c0, l1, c1) = self.block;
        write!(
            f,
            "block {}:{l0}.{c0},{l1}.{c1} has {}",
            self.file, self.reason
        )
    }
}

/// The byte offsets where each line of `source` starts, and the length of each line without its
/// newline (and without a carriage return before it).
fn lines(source: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = source.split(|&b| b == b'\n').collect();
    if source.ends_with(b"\n") {
        out.pop();
    }
    for l in out.iter_mut() {
        if let Some(stripped) = l.strip_suffix(b"\r") {
            *l = stripped;
        }
    }
    out
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Checks one position: `col` is 1-based and may be one past the line's last byte (a block
/// ends one byte past its last character, and a case clause's block starts right after its
/// colon). At least one of the bytes at and before the position must be code, not whitespace.
fn position_fits(lines: &[&[u8]], line: u32, col: u32) -> Result<(), MisfitReason> {
    let text = line
        .checked_sub(1)
        .and_then(|i| lines.get(i as usize))
        .ok_or(MisfitReason::PastEndOfFile)?;
    let col = col as usize;
    if col == 0 || col > text.len() + 1 {
        return Err(MisfitReason::PastEndOfLine);
    }
    let at = text.get(col - 1).copied();
    let before = (col >= 2).then(|| text[col - 2]);
    let code = |b: Option<u8>| b.is_some_and(|b| !is_space(b));
    if code(at) || code(before) {
        Ok(())
    } else {
        Err(MisfitReason::NotOnAToken)
    }
}

/// A block of a file that does not fit its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMisfit {
    pub block: (u32, u32, u32, u32),
    pub reason: MisfitReason,
}

/// Checks that every block of one file could come from `source`.
pub fn blocks_fit(blocks: &[Block], source: &[u8]) -> Result<(), BlockMisfit> {
    let lines = lines(source);
    for b in blocks {
        let block = b.position();
        let misfit = |reason| BlockMisfit { block, reason };
        if (b.end_line, b.end_col) < (b.start_line, b.start_col) {
            return Err(misfit(MisfitReason::Reversed));
        }
        position_fits(&lines, b.start_line, b.start_col).map_err(misfit)?;
        position_fits(&lines, b.end_line, b.end_col).map_err(misfit)?;
    }
    Ok(())
}

/// Checks a whole profile against the sources at one revision: `source(file)` gives the bytes
/// of a profile file name's repository file, or `None` when it is not in the repository (such
/// files say nothing about the build and are skipped).
pub fn profile_fits(
    p: &Profile,
    source: &dyn Fn(&str) -> Option<std::sync::Arc<[u8]>>,
) -> Result<(), Misfit> {
    for (file, blocks) in p.files() {
        let Some(src) = source(file) else { continue };
        blocks_fit(blocks, &src).map_err(|m| Misfit {
            file: file.to_string(),
            block: m.block,
            reason: m.reason,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "package calc\n\nfunc Fee(amount int) int {\n\tif amount > 1000 {\n\t\treturn amount / 100\n\t}\n\treturn 5\n}\n";
    const V2: &str = "package calc\n\nfunc Fee(amount int) int {\n\tif amount <= 0 {\n\t\treturn 0\n\t}\n\tfee := 5\n\tif amount > 1000 {\n\t\tfee = amount / 100\n\t}\n\treturn fee\n}\n";

    fn profile(text: &str) -> Profile {
        crate::go::profile::parse(text.as_bytes(), "test").unwrap()
    }

    /// The blocks `go tool cover` makes of V1 and of V2 (checked with Go 1.19).
    fn v1_layout() -> Profile {
        profile(
            "mode: count\nx/calc.go:3.26,4.19 1 1\nx/calc.go:4.19,6.3 1 0\nx/calc.go:7.2,7.10 1 1\n",
        )
    }

    fn v2_layout() -> Profile {
        profile(
            "mode: count\nx/calc.go:3.26,4.18 1 1\nx/calc.go:4.18,6.3 1 0\nx/calc.go:7.2,8.19 2 1\nx/calc.go:8.19,10.3 1 0\nx/calc.go:11.2,11.12 1 1\n",
        )
    }

    fn src(text: &'static str) -> impl Fn(&str) -> Option<std::sync::Arc<[u8]>> {
        move |f: &str| (f == "x/calc.go").then(|| std::sync::Arc::from(text.as_bytes()))
    }

    #[test]
    fn a_build_fits_its_own_source_and_not_the_other() {
        assert_eq!(profile_fits(&v1_layout(), &src(V1)), Ok(()));
        assert_eq!(profile_fits(&v2_layout(), &src(V2)), Ok(()));
        let e = profile_fits(&v1_layout(), &src(V2)).unwrap_err();
        assert_eq!(e.file, "x/calc.go");
        let e = profile_fits(&v2_layout(), &src(V1)).unwrap_err();
        assert!(e.to_string().starts_with("block x/calc.go:"), "{e}");
    }

    #[test]
    fn layouts_ignore_counts_and_tell_builds_apart() {
        let a = v1_layout();
        let mut b = v1_layout();
        b.merge(&v1_layout());
        assert_eq!(layout_hash(&a), layout_hash(&b));
        assert_ne!(layout_hash(&a), layout_hash(&v2_layout()));
    }

    #[test]
    fn positions_are_checked_against_lines_and_whitespace() {
        let lines = lines(b"a {\n\n\tb\r\n");
        assert_eq!(position_fits(&lines, 1, 3), Ok(()), "at the brace");
        assert_eq!(position_fits(&lines, 1, 4), Ok(()), "one past the line");
        assert_eq!(
            position_fits(&lines, 1, 5),
            Err(MisfitReason::PastEndOfLine)
        );
        assert_eq!(position_fits(&lines, 2, 1), Err(MisfitReason::NotOnAToken));
        assert_eq!(position_fits(&lines, 3, 2), Ok(()));
        assert_eq!(
            position_fits(&lines, 3, 3),
            Ok(()),
            "CR is not part of the line"
        );
        assert_eq!(
            position_fits(&lines, 4, 1),
            Err(MisfitReason::PastEndOfFile)
        );
        assert_eq!(
            position_fits(&lines, 0, 1),
            Err(MisfitReason::PastEndOfFile)
        );
        assert_eq!(
            position_fits(&lines, 1, 0),
            Err(MisfitReason::PastEndOfLine)
        );
        let reversed = Block {
            start_line: 4,
            start_col: 2,
            end_line: 3,
            end_col: 1,
            num_stmt: 1,
            count: 0,
        };
        assert_eq!(
            blocks_fit(&[reversed], V1.as_bytes()).unwrap_err().reason,
            MisfitReason::Reversed
        );
        // Files that are not in the repository say nothing about the build.
        let other = profile("mode: set\ny/other.go:400.2,401.1 1 0\n");
        assert_eq!(profile_fits(&other, &src(V1)), Ok(()));
    }
}
