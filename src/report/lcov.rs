//! LCOV tracefile (`geninfo` format), as `genhtml` and most CI services read it.

use super::export::{ExportFile, hit, hits};
use std::fmt::Write;

/// One record per file: `DA` per line, `BRDA` per branch (we know how many branches were
/// taken, not which, so taken branches come first), then the `LF/LH` and `BRF/BRH` totals.
pub(crate) fn lcov(files: &[ExportFile<'_>]) -> String {
    let mut s = String::from("TN:\n");
    for f in files {
        // LCOV has no quoting: a file name's control characters are shown escaped, so a name
        // with a newline cannot end the record or forge another.
        let _ = writeln!(s, "SF:{}", crate::escape::field(f.path));
        let (mut brf, mut brh) = (0u64, 0u64);
        for l in &f.lines {
            let (covered, missed) = l.branches;
            let total = covered + missed;
            for i in 0..total {
                // `-` means the line never ran, so no branch of it could be evaluated.
                let taken = if !hit(l) {
                    "-".to_string()
                } else if i < covered {
                    "1".to_string()
                } else {
                    "0".to_string()
                };
                let _ = writeln!(s, "BRDA:{},0,{i},{taken}", l.line);
            }
            brf += u64::from(total);
            brh += u64::from(covered);
        }
        if brf > 0 {
            let _ = writeln!(s, "BRF:{brf}\nBRH:{brh}");
        }
        for l in &f.lines {
            let _ = writeln!(s, "DA:{},{}", l.line, hits(l));
        }
        let _ = writeln!(
            s,
            "LF:{}\nLH:{}\nend_of_record",
            f.lines.len(),
            f.lines_hit()
        );
    }
    s
}
