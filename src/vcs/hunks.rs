//! Hunk arithmetic shared by the git-backed diff, the unified-diff parser and the line maps.
//!
//! A hunk is the header of a zero-context unified diff hunk: `@@ -old_start,old_lines
//! +new_start,new_lines @@`. As in the unified format, a side with zero lines names the line
//! *after which* the change sits (0 = before the first line).

/// One hunk of a zero-context diff of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}

impl Hunk {
    /// The last old line at or before the end of this hunk: old lines above it are unaffected by
    /// later hunks only, old lines past it are shifted by this hunk's size change.
    fn old_last(&self) -> u32 {
        if self.old_lines == 0 {
            self.old_start
        } else {
            self.old_start.saturating_add(self.old_lines - 1)
        }
    }

    fn old_contains(&self, line: u32) -> bool {
        self.old_lines > 0 && line >= self.old_start && line - self.old_start < self.old_lines
    }
}

/// Added or modified new-side lines of `hunks` (sorted, unique).
pub(crate) fn added_lines(hunks: &[Hunk]) -> Vec<u32> {
    let mut lines: Vec<u32> = hunks
        .iter()
        .flat_map(|h| h.new_start..h.new_start.saturating_add(h.new_lines))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// New-side lines before which a pure deletion sits (sorted, unique). A hunk that replaces lines
/// already marks its new lines as changed, so only hunks without new lines leave a marker.
pub(crate) fn deletion_markers(hunks: &[Hunk]) -> Vec<u32> {
    let mut markers: Vec<u32> = hunks
        .iter()
        .filter(|h| h.new_lines == 0 && h.old_lines > 0)
        .map(|h| h.new_start.saturating_add(1))
        .collect();
    markers.sort_unstable();
    markers.dedup();
    markers
}

/// Maps an old line to its new line when the line is unchanged; `None` when the hunks delete or
/// modify it. `hunks` must be sorted by `old_start` and not overlap, as every diff produces them.
pub(crate) fn map_old_line(hunks: &[Hunk], line: u32) -> Option<u32> {
    if line == 0 {
        return None;
    }
    let mut shift: i64 = 0;
    for hunk in hunks {
        if hunk.old_contains(line) {
            return None;
        }
        if hunk.old_last() < line {
            shift += i64::from(hunk.new_lines) - i64::from(hunk.old_lines);
        } else {
            break;
        }
    }
    u32::try_from(i64::from(line) + shift)
        .ok()
        .filter(|&l| l > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(old_start: u32, old_lines: u32, new_start: u32, new_lines: u32) -> Hunk {
        Hunk {
            old_start,
            old_lines,
            new_start,
            new_lines,
        }
    }

    #[test]
    fn insertion_shifts_following_lines() {
        // Two lines inserted after old line 3.
        let hunks = [h(3, 0, 4, 2)];
        assert_eq!(map_old_line(&hunks, 3), Some(3));
        assert_eq!(map_old_line(&hunks, 4), Some(6));
        assert_eq!(added_lines(&hunks), vec![4, 5]);
        assert!(deletion_markers(&hunks).is_empty());
    }

    #[test]
    fn insertion_at_top_shifts_everything() {
        let hunks = [h(0, 0, 1, 2)];
        assert_eq!(map_old_line(&hunks, 1), Some(3));
        assert_eq!(added_lines(&hunks), vec![1, 2]);
    }

    #[test]
    fn deletion_has_no_image_and_leaves_a_marker() {
        // Old lines 1-2 deleted.
        let hunks = [h(1, 2, 0, 0)];
        assert_eq!(map_old_line(&hunks, 1), None);
        assert_eq!(map_old_line(&hunks, 2), None);
        assert_eq!(map_old_line(&hunks, 3), Some(1));
        assert_eq!(deletion_markers(&hunks), vec![1]);
        assert!(added_lines(&hunks).is_empty());
    }

    #[test]
    fn modification_maps_nowhere_and_neighbours_shift() {
        // Old 3 replaced by new 3, two lines inserted after 6, old 9 deleted.
        let hunks = [h(3, 1, 3, 1), h(6, 0, 7, 2), h(9, 1, 10, 0)];
        let mapped: Vec<Option<u32>> = (1..=10).map(|l| map_old_line(&hunks, l)).collect();
        assert_eq!(
            mapped,
            vec![
                Some(1),
                Some(2),
                None,
                Some(4),
                Some(5),
                Some(6),
                Some(9),
                Some(10),
                None,
                Some(11)
            ]
        );
        assert_eq!(added_lines(&hunks), vec![3, 7, 8]);
        assert_eq!(deletion_markers(&hunks), vec![11]);
    }

    #[test]
    fn line_zero_maps_nowhere() {
        assert_eq!(map_old_line(&[], 0), None);
        assert_eq!(map_old_line(&[], 7), Some(7));
    }
}
