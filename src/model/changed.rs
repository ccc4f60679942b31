use serde::Serialize;
use std::collections::BTreeMap;

/// How a file changed between the base and the revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Modified,
    /// Renamed (possibly with edits): only the edited lines count as changed.
    Renamed {
        from: String,
    },
    /// Not in git yet: the whole file counts as added.
    Untracked,
}

/// The changed lines of one file, numbered on the new side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    pub path: String,
    pub kind: ChangeKind,
    /// Sorted, unique, 1-based line numbers of added or modified lines.
    pub lines: Vec<u32>,
    /// New-side line numbers before which lines were deleted (shown as markers, never coverable).
    pub deletions_before: Vec<u32>,
}

impl ChangedFile {
    pub fn contains(&self, line: u32) -> bool {
        self.lines.binary_search(&line).is_ok()
    }
}

/// Changed lines per repository path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangedLines {
    pub files: BTreeMap<String, ChangedFile>,
}

impl ChangedLines {
    pub fn file(&self, path: &str) -> Option<&ChangedFile> {
        self.files.get(path)
    }

    pub fn contains(&self, path: &str, line: u32) -> bool {
        self.files.get(path).is_some_and(|f| f.contains(line))
    }
}
