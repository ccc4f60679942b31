//! Coverage carried over from older builds, and the lcov-style comparison with a baseline.

use super::LineStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One line of the current revision that an older build ran and the current build has not
/// (yet) covered: it keeps the older build's status, shown as carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CarriedLine {
    pub line: u32,
    /// The older build's status: `Covered` or `Partial`.
    pub status: LineStatus,
}

/// The carried lines of one file of the current revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CarriedFile {
    /// Sorted by line, each line at most once.
    pub lines: Vec<CarriedLine>,
    /// How many of them are changed lines (against the base).
    pub changed: u64,
}

impl CarriedFile {
    pub fn status(&self, line: u32) -> Option<LineStatus> {
        self.lines
            .binary_search_by_key(&line, |l| l.line)
            .ok()
            .map(|i| self.lines[i].status)
    }

    pub fn whole(&self) -> u64 {
        self.lines.len() as u64
    }
}

/// Carried coverage of a View: per path of the current revision, and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Carried {
    /// Short ids of the older builds whose coverage is carried, oldest first.
    pub from: Vec<String>,
    pub files: BTreeMap<String, Arc<CarriedFile>>,
}

impl Carried {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn file(&self, path: &str) -> Option<&CarriedFile> {
        self.files.get(path).map(|f| &**f)
    }

    pub fn status(&self, path: &str, line: u32) -> Option<LineStatus> {
        self.file(path).and_then(|f| f.status(line))
    }
}

/// The lcov 2.x category of one coverable line of the current revision against a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Category {
    /// New code, covered.
    #[serde(rename = "GNC")]
    Gnc,
    /// New code, not covered: a tester must act on it.
    #[serde(rename = "UNC")]
    Unc,
    /// Unchanged code the baseline covered and the current build has not: lost coverage, to retest.
    #[serde(rename = "LBC")]
    Lbc,
    /// Unchanged code the baseline did not cover and the current build has: gained.
    #[serde(rename = "GBC")]
    Gbc,
    /// Unchanged code covered in both.
    #[serde(rename = "CBC")]
    Cbc,
    /// Unchanged code covered in neither.
    #[serde(rename = "UBC")]
    Ubc,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Gnc,
        Category::Unc,
        Category::Lbc,
        Category::Gbc,
        Category::Cbc,
        Category::Ubc,
    ];

    /// The three-letter name lcov uses.
    pub fn code(self) -> &'static str {
        match self {
            Category::Gnc => "GNC",
            Category::Unc => "UNC",
            Category::Lbc => "LBC",
            Category::Gbc => "GBC",
            Category::Cbc => "CBC",
            Category::Ubc => "UBC",
        }
    }

    /// Classifies a line: `new_code` when it has no preimage at the baseline's revision,
    /// `was_hit` when the baseline ran it, `is_hit` when the current build runs it.
    pub fn of(new_code: bool, was_hit: bool, is_hit: bool) -> Category {
        match (new_code, was_hit, is_hit) {
            (true, _, true) => Category::Gnc,
            (true, _, false) => Category::Unc,
            (false, true, false) => Category::Lbc,
            (false, false, true) => Category::Gbc,
            (false, true, true) => Category::Cbc,
            (false, false, false) => Category::Ubc,
        }
    }

    /// True for the categories a tester must act on.
    pub fn needs_action(self) -> bool {
        matches!(self, Category::Unc | Category::Lbc)
    }
}

/// Line counts per category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CategoryCounts {
    pub gnc: u64,
    pub unc: u64,
    pub lbc: u64,
    pub gbc: u64,
    pub cbc: u64,
    pub ubc: u64,
}

impl CategoryCounts {
    pub fn add(&mut self, c: Category) {
        *self.slot(c) += 1;
    }

    pub fn get(&self, c: Category) -> u64 {
        match c {
            Category::Gnc => self.gnc,
            Category::Unc => self.unc,
            Category::Lbc => self.lbc,
            Category::Gbc => self.gbc,
            Category::Cbc => self.cbc,
            Category::Ubc => self.ubc,
        }
    }

    fn slot(&mut self, c: Category) -> &mut u64 {
        match c {
            Category::Gnc => &mut self.gnc,
            Category::Unc => &mut self.unc,
            Category::Lbc => &mut self.lbc,
            Category::Gbc => &mut self.gbc,
            Category::Cbc => &mut self.cbc,
            Category::Ubc => &mut self.ubc,
        }
    }

    pub fn merge(&mut self, o: &CategoryCounts) {
        for c in Category::ALL {
            *self.slot(c) += o.get(c);
        }
    }
}

/// The categories of one file's coverable lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileCategories {
    /// Sorted by line.
    pub lines: Vec<(u32, Category)>,
    pub counts: CategoryCounts,
}

impl FileCategories {
    pub fn category(&self, line: u32) -> Option<Category> {
        self.lines
            .binary_search_by_key(&line, |l| l.0)
            .ok()
            .map(|i| self.lines[i].1)
    }

    /// The lines of category `c`, sorted.
    pub fn lines_of(&self, c: Category) -> Vec<u32> {
        self.lines
            .iter()
            .filter(|l| l.1 == c)
            .map(|l| l.0)
            .collect()
    }
}

/// The current View compared with a baseline snapshot or session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BaselineComparison {
    /// What the user named: a session, `session:seq`, or a dump file.
    pub label: String,
    /// The baseline's revision (its newest dump's), full id.
    pub revision: String,
    pub totals: CategoryCounts,
    /// Files with at least one coverable line, by path of the current revision.
    pub files: BTreeMap<String, Arc<FileCategories>>,
}

impl BaselineComparison {
    pub fn category(&self, path: &str, line: u32) -> Option<Category> {
        self.files.get(path).and_then(|f| f.category(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_lcov() {
        assert_eq!(Category::of(true, false, true), Category::Gnc);
        assert_eq!(Category::of(true, true, false), Category::Unc);
        assert_eq!(Category::of(false, true, false), Category::Lbc);
        assert_eq!(Category::of(false, false, true), Category::Gbc);
        assert_eq!(Category::of(false, true, true), Category::Cbc);
        assert_eq!(Category::of(false, false, false), Category::Ubc);
        let mut c = CategoryCounts::default();
        c.add(Category::Lbc);
        c.add(Category::Lbc);
        assert_eq!(c.get(Category::Lbc), 2);
    }
}
