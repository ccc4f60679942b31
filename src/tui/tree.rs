//! The file tree: folders built from the View's paths (chains of single folders compressed into one
//! row, as Java packages are deep), filtered to changed files or all files with coverage, sorted,
//! and flattened into the rows on screen. Selection is kept by path so a new View never moves it.

use crate::model::{Counts, CoverageRule, FileView, View};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Path,
    LeastCovered,
    MostMissed,
}

impl SortOrder {
    pub fn next(self) -> Self {
        match self {
            SortOrder::Path => SortOrder::LeastCovered,
            SortOrder::LeastCovered => SortOrder::MostMissed,
            SortOrder::MostMissed => SortOrder::Path,
        }
    }

    /// Its name in the remembered screen state.
    pub fn name(self) -> &'static str {
        match self {
            SortOrder::Path => "path",
            SortOrder::LeastCovered => "least-covered",
            SortOrder::MostMissed => "most-missed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            SortOrder::Path,
            SortOrder::LeastCovered,
            SortOrder::MostMissed,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    pub fn label(self) -> &'static str {
        match self {
            SortOrder::Path => "path",
            SortOrder::LeastCovered => "least covered",
            SortOrder::MostMissed => "most missed",
        }
    }
}

/// Which files the tree lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFilter {
    /// Files with changed lines (the default: what the tester is here for).
    #[default]
    Changed,
    /// Every file with coverage or changed lines.
    All,
    /// Files with changed lines that did not run (missed or partial): what is left to test.
    Misses,
}

impl FileFilter {
    /// The tree's title.
    pub fn label(self) -> &'static str {
        match self {
            FileFilter::Changed => "changed files",
            FileFilter::All => "all files",
            FileFilter::Misses => "files with misses",
        }
    }

    /// Its name in the remembered screen state.
    pub fn name(self) -> &'static str {
        match self {
            FileFilter::Changed => "changed",
            FileFilter::All => "all",
            FileFilter::Misses => "misses",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [FileFilter::Changed, FileFilter::All, FileFilter::Misses]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    Folder {
        path: String,
        collapsed: bool,
    },
    /// Index into `View::files`.
    File {
        index: usize,
    },
}

#[derive(Debug, Clone)]
pub struct TreeRow {
    pub kind: RowKind,
    pub depth: u16,
    /// The folder label (`com/shop/`); empty for files, see [`TreeRow::label`].
    pub name: String,
    pub counts: Counts,
    pub newly_hit: bool,
}

impl TreeRow {
    /// What the row shows: the folder label or the file name.
    pub fn label<'a>(&'a self, view: &'a View) -> &'a str {
        match &self.kind {
            RowKind::Folder { .. } => &self.name,
            RowKind::File { index } => view
                .files
                .get(*index)
                .map_or("", |f| f.path.rsplit('/').next().unwrap_or(&f.path)),
        }
    }

    /// A stable key: the file path, or the folder path with a trailing `/`.
    pub fn key(&self, view: &View) -> String {
        match &self.kind {
            RowKind::Folder { path, .. } => format!("{path}/"),
            RowKind::File { index } => view
                .files
                .get(*index)
                .map(|f| f.path.clone())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default)]
struct Folder {
    /// Full folder path without trailing slash ("" for the root).
    path: String,
    /// Display name (compressed chains: `com/shop/cart`).
    name: String,
    folders: BTreeMap<String, Folder>,
    files: Vec<usize>,
    counts: Counts,
    missed_changed: u64,
    newly_hit: bool,
}

/// The tree of the current View, and the rows it shows.
#[derive(Debug, Default)]
pub struct FileTree {
    root: Folder,
    rows: Vec<TreeRow>,
    collapsed: HashSet<String>,
    pub filter: FileFilter,
    /// Only the files of this language (their extension, `go`, `java`, `kt`; `""` for files
    /// without one), beside `filter`; `None` lists every language.
    pub language: Option<String>,
    /// Only the files this target's data holds (by target name), beside `filter` and
    /// `language`; `None` lists the files of every target (and files without data).
    pub target: Option<String>,
    pub sort: SortOrder,
    /// The sort order turned around.
    pub reverse: bool,
}

/// A file's language as the tree filters it: its extension (`go`, `java`, `kt`), `""` without one.
pub fn language_of(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    }
}

/// How the tree's title names a language: `.go`, or `no extension`.
pub fn language_label(language: &str) -> String {
    if language.is_empty() {
        "no extension".to_string()
    } else {
        format!(".{language}")
    }
}

impl FileTree {
    pub fn rows(&self) -> &[TreeRow] {
        &self.rows
    }

    pub fn is_listed(file: &FileView, filter: FileFilter) -> bool {
        match filter {
            FileFilter::Changed => file.has_changes(),
            FileFilter::All => file.has_changes() || file.coverage.is_some(),
            FileFilter::Misses => {
                file.has_changes() && file.changed_counts.missed + file.changed_counts.partial > 0
            }
        }
    }

    /// True if `file` is of the language the tree is limited to (or there is no such limit).
    pub fn in_language(&self, file: &FileView) -> bool {
        self.language
            .as_deref()
            .is_none_or(|l| language_of(&file.path) == l)
    }

    /// True if `file` is reported by the target the tree is limited to (or there is no such
    /// limit). A target the View no longer has reports nothing.
    pub fn in_target(&self, file: &FileView, view: &View) -> bool {
        let Some(name) = self.target.as_deref() else {
            return true;
        };
        view.targets
            .iter()
            .position(|t| t.name == name)
            .is_some_and(|i| file.targets.iter().any(|&t| usize::from(t) == i))
    }

    /// The targets whose data holds some file `filter` lists, in the View's order: what the
    /// target filter cycles through.
    pub fn targets(&self, view: &View) -> Vec<String> {
        let mut reporting = vec![false; view.targets.len()];
        for f in view
            .files
            .iter()
            .filter(|f| Self::is_listed(f, self.filter))
        {
            for &t in f.targets.iter() {
                if let Some(r) = reporting.get_mut(usize::from(t)) {
                    *r = true;
                }
            }
        }
        view.targets
            .iter()
            .zip(reporting)
            .filter(|(_, r)| *r)
            .map(|(t, _)| t.name.clone())
            .collect()
    }

    /// The next target filter: every target, then each reporting target in turn, then every
    /// target again.
    pub fn cycle_target(&mut self, view: &View) {
        let targets = self.targets(view);
        self.target = match &self.target {
            None => targets.first().cloned(),
            Some(now) => targets
                .iter()
                .position(|t| t == now)
                .and_then(|i| targets.get(i + 1))
                .cloned(),
        };
    }

    /// The languages of the files `filter` lists, in order: what the language filter cycles through.
    pub fn languages(&self, view: &View) -> Vec<String> {
        let found: std::collections::BTreeSet<&str> = view
            .files
            .iter()
            .filter(|f| Self::is_listed(f, self.filter))
            .map(|f| language_of(&f.path))
            .collect();
        found.into_iter().map(str::to_string).collect()
    }

    /// The next language filter: every language, then each listed language in turn, then every
    /// language again.
    pub fn cycle_language(&mut self, view: &View) {
        let languages = self.languages(view);
        self.language = match &self.language {
            None => languages.first().cloned(),
            Some(now) => languages.iter().find(|l| *l > now).cloned(),
        };
    }

    /// Rebuilds the folders from a View (after a new View, a filter or a sort change).
    pub fn rebuild(&mut self, view: &View) {
        let mut root = Folder::default();
        let dir_of = |path: &str| path.rsplit_once('/').map_or("", |(d, _)| d).len();
        let files = &view.files;
        let mut i = 0;
        while i < files.len() {
            // Files come sorted by path, so a folder's files mostly come in a run: walk the
            // folders once per run, not once per file (10,000 files, a few hundred folders).
            let dir = &files[i].path[..dir_of(&files[i].path)];
            let mut end = i + 1;
            while end < files.len()
                && files[end].path.get(..dir.len()) == Some(dir)
                && dir_of(&files[end].path) == dir.len()
            {
                end += 1;
            }
            let mut run = Folder::default();
            for (index, file) in files.iter().enumerate().take(end).skip(i) {
                if !Self::is_listed(file, self.filter)
                    || !self.in_language(file)
                    || !self.in_target(file, view)
                {
                    continue;
                }
                run.counts.merge(match self.filter {
                    FileFilter::Changed | FileFilter::Misses => file.changed_counts,
                    FileFilter::All => file.whole_counts,
                });
                run.missed_changed += file.changed_counts.missed;
                run.newly_hit |= !file.newly_hit.is_empty();
                run.files.push(index);
            }
            i = end;
            if run.files.is_empty() {
                continue;
            }
            let mut folder = &mut root;
            folder.add(&run);
            let mut at = 0;
            for part in dir.split('/') {
                at += part.len();
                if !part.is_empty() {
                    // Look up before inserting: no allocation for folders already seen.
                    if !folder.folders.contains_key(part) {
                        let f = Folder {
                            path: dir[..at].to_string(),
                            name: part.to_string(),
                            ..Folder::default()
                        };
                        folder.folders.insert(part.to_string(), f);
                    }
                    let Some(next) = folder.folders.get_mut(part) else {
                        break;
                    };
                    folder = next;
                    folder.add(&run);
                }
                at += 1;
            }
            folder.files.extend_from_slice(&run.files);
        }
        compress(&mut root);
        self.root = root;
        self.flatten(view);
    }

    /// Recomputes the visible rows from the folders (after collapsing or expanding).
    pub fn flatten(&mut self, view: &View) {
        let mut rows = Vec::with_capacity(self.rows.len().max(16));
        push_children(
            &self.root,
            0,
            view,
            self.filter,
            self.sort,
            self.reverse,
            &self.collapsed,
            &mut rows,
        );
        self.rows = rows;
    }

    pub fn toggle_collapsed(&mut self, folder: &str, view: &View) {
        if !self.collapsed.remove(folder) {
            self.collapsed.insert(folder.to_string());
        }
        self.flatten(view);
    }

    /// Expands every folder above `path` so its row is visible.
    pub fn reveal(&mut self, path: &str, view: &View) {
        let before = self.collapsed.len();
        self.collapsed
            .retain(|f| !path.starts_with(&format!("{f}/")));
        if self.collapsed.len() != before {
            self.flatten(view);
        }
    }

    pub fn position(&self, key: &str, view: &View) -> Option<usize> {
        if let Some(folder) = key.strip_suffix('/') {
            self.rows
                .iter()
                .position(|r| matches!(&r.kind, RowKind::Folder { path, .. } if path == folder))
        } else {
            self.rows.iter().position(
                |r| matches!(r.kind, RowKind::File { index } if view.files.get(index).is_some_and(|f| f.path == key)),
            )
        }
    }
}

impl Folder {
    /// Adds the totals of a run of files to this folder.
    fn add(&mut self, run: &Folder) {
        self.counts.merge(run.counts);
        self.missed_changed += run.missed_changed;
        self.newly_hit |= run.newly_hit;
    }
}

/// Merges a folder whose only child is one folder into that child (`com` + `shop` → `com/shop`).
fn compress(folder: &mut Folder) {
    for child in folder.folders.values_mut() {
        while child.files.is_empty() && child.folders.len() == 1 {
            let Some((_, grandchild)) = std::mem::take(&mut child.folders).into_iter().next()
            else {
                break;
            };
            let name = format!("{}/{}", child.name, grandchild.name);
            *child = Folder { name, ..grandchild };
        }
        compress(child);
    }
}

/// A folder or a file among a folder's children, for sorting them together.
enum Child<'a> {
    Folder(&'a Folder),
    File(usize, &'a FileView),
}

#[allow(clippy::too_many_arguments)]
fn push_children(
    folder: &Folder,
    depth: u16,
    view: &View,
    filter: FileFilter,
    sort: SortOrder,
    reverse: bool,
    collapsed: &HashSet<String>,
    rows: &mut Vec<TreeRow>,
) {
    let counts_of = |f: &FileView| match filter {
        FileFilter::Changed | FileFilter::Misses => f.changed_counts,
        FileFilter::All => f.whole_counts,
    };
    let counts = |c: &Child| match c {
        Child::Folder(f) => f.counts,
        Child::File(_, f) => counts_of(f),
    };
    // By path: folders first, then files. The other orders sort folders and files together, so
    // a root file that is the least covered comes first.
    let mut children: Vec<Child> = folder
        .folders
        .values()
        .map(Child::Folder)
        .chain(
            folder
                .files
                .iter()
                .filter_map(|&i| view.files.get(i).map(|f| Child::File(i, f))),
        )
        .collect();
    match sort {
        SortOrder::Path => {}
        SortOrder::LeastCovered => {
            children.sort_by(|a, b| by_percent(view.rule, &counts(a), &counts(b)))
        }
        // The number the tree shows in this order.
        SortOrder::MostMissed => children.sort_by_key(|c| std::cmp::Reverse(counts(c).missed)),
    }
    if reverse {
        children.reverse();
    }
    for child in children {
        match child {
            Child::Folder(child) => {
                let is_collapsed = collapsed.contains(&child.path);
                rows.push(TreeRow {
                    kind: RowKind::Folder {
                        path: child.path.clone(),
                        collapsed: is_collapsed,
                    },
                    depth,
                    name: format!("{}/", child.name),
                    counts: child.counts,
                    newly_hit: child.newly_hit,
                });
                if !is_collapsed {
                    push_children(
                        child,
                        depth + 1,
                        view,
                        filter,
                        sort,
                        reverse,
                        collapsed,
                        rows,
                    );
                }
            }
            Child::File(index, file) => rows.push(TreeRow {
                kind: RowKind::File { index },
                depth,
                // The file's name is read from the View when drawn: no allocation per row.
                name: String::new(),
                counts: counts_of(file),
                newly_hit: !file.newly_hit.is_empty(),
            }),
        }
    }
}

/// Least covered first; folders and files with nothing coverable last. Stable, so ties keep path order.
fn by_percent(rule: CoverageRule, a: &Counts, b: &Counts) -> std::cmp::Ordering {
    match (rule.percent(a), rule.percent(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeKind, ChangedFile};
    use std::sync::Arc;

    fn file(path: &str, missed: u64) -> FileView {
        FileView {
            path: path.into(),
            language: None,
            coverage: None,
            changed: Some(Arc::new(ChangedFile {
                path: path.into(),
                kind: ChangeKind::Added,
                lines: vec![1],
                deletions_before: vec![],
            })),
            changed_counts: Counts {
                covered: 1,
                partial: 0,
                missed,
                no_data: 0,
            },
            whole_counts: Counts::default(),
            newly_hit: vec![],
            hit_since_mark: None,
            targets: Default::default(),
        }
    }

    fn labels(tree: &FileTree, view: &View) -> Vec<String> {
        tree.rows()
            .iter()
            .map(|r| format!("{}{}", "  ".repeat(r.depth as usize), r.label(view)))
            .collect()
    }

    #[test]
    fn folders_group_interleaved_paths_and_compress_single_chains() {
        // Path order puts a/b/c.go between a/b.go and a/c.go.
        let view = View {
            files: ["a/b.go", "a/b/c.go", "a/c.go", "root.go", "x/y/z/deep.go"]
                .iter()
                .map(|p| file(p, 1))
                .collect(),
            ..View::default()
        };
        let mut tree = FileTree::default();
        tree.rebuild(&view);
        assert_eq!(
            labels(&tree, &view),
            vec![
                "a/",
                "  b/",
                "    c.go",
                "  b.go",
                "  c.go",
                "x/y/z/",
                "  deep.go",
                "root.go"
            ]
        );
        let a = &tree.rows()[0];
        assert_eq!(
            a.counts,
            Counts {
                covered: 3,
                partial: 0,
                missed: 3,
                no_data: 0,
            }
        );
        assert_eq!(tree.position("x/y/z/", &view), Some(5));
        tree.toggle_collapsed("x/y/z", &view);
        assert_eq!(labels(&tree, &view).len(), 7);
        tree.reveal("x/y/z/deep.go", &view);
        assert_eq!(tree.position("x/y/z/deep.go", &view), Some(6));
    }

    #[test]
    fn the_target_filter_cycles_through_the_reporting_targets() {
        let with = |p: &str, t: &[u16]| FileView {
            targets: t.into(),
            ..file(p, 1)
        };
        let status = |name: &str| crate::model::TargetStatus {
            name: name.into(),
            kind: "goc".into(),
            replicas: Vec::new(),
            has_data: true,
        };
        let view = View {
            files: vec![
                with("a/b.go", &[0]),
                with("a/c.go", &[0, 2]),
                with("a/d.go", &[2]),
                with("e.go", &[]),
            ],
            // "idle" reports nothing: it is skipped.
            targets: vec![status("api"), status("idle"), status("worker")],
            ..View::default()
        };
        let mut tree = FileTree::default();
        tree.rebuild(&view);
        assert_eq!(tree.targets(&view), vec!["api", "worker"]);
        let mut seen = Vec::new();
        for _ in 0..3 {
            tree.cycle_target(&view);
            tree.rebuild(&view);
            seen.push((tree.target.clone(), labels(&tree, &view)));
        }
        assert_eq!(
            seen,
            vec![
                (
                    Some("api".into()),
                    ["a/", "  b.go", "  c.go"].map(String::from).to_vec()
                ),
                (
                    Some("worker".into()),
                    ["a/", "  c.go", "  d.go"].map(String::from).to_vec()
                ),
                (
                    None,
                    ["a/", "  b.go", "  c.go", "  d.go", "e.go"]
                        .map(String::from)
                        .to_vec()
                ),
            ]
        );
        // A target the View no longer has lists nothing (the pane then says so).
        tree.target = Some("gone".into());
        tree.rebuild(&view);
        assert!(tree.rows().is_empty());
    }

    #[test]
    fn the_language_filter_cycles_through_the_listed_languages() {
        let view = View {
            files: [
                "a/b.go", "a/C.java", "a/d.kt", "a/e.go", "Makefile", "x/.env",
            ]
            .iter()
            .map(|p| file(p, 1))
            .collect(),
            ..View::default()
        };
        assert_eq!(language_of("x/.env"), "");
        assert_eq!(language_of("a.b/Makefile"), "");
        let mut tree = FileTree::default();
        tree.rebuild(&view);
        assert_eq!(tree.languages(&view), vec!["", "go", "java", "kt"]);
        let mut seen = Vec::new();
        for _ in 0..5 {
            tree.cycle_language(&view);
            tree.rebuild(&view);
            seen.push((tree.language.clone(), labels(&tree, &view)));
        }
        assert_eq!(
            seen,
            vec![
                (
                    Some("".into()),
                    vec!["x/".into(), "  .env".into(), "Makefile".into()]
                ),
                (
                    Some("go".into()),
                    vec!["a/".into(), "  b.go".into(), "  e.go".into()]
                ),
                (Some("java".into()), vec!["a/".into(), "  C.java".into()]),
                (Some("kt".into()), vec!["a/".into(), "  d.kt".into()]),
                (
                    None,
                    [
                        "a/", "  b.go", "  C.java", "  d.kt", "  e.go", "x/", "  .env", "Makefile"
                    ]
                    .map(String::from)
                    .to_vec()
                ),
            ]
        );
        // Folders count the listed files only.
        tree.language = Some("go".into());
        tree.rebuild(&view);
        assert_eq!(tree.rows()[0].counts.missed, 2);
    }

    #[test]
    fn sorts_by_missed_changed_lines() {
        let view = View {
            files: vec![file("d/a.go", 1), file("d/b.go", 5), file("d/c.go", 3)],
            ..View::default()
        };
        let mut tree = FileTree {
            sort: SortOrder::MostMissed,
            ..FileTree::default()
        };
        tree.rebuild(&view);
        assert_eq!(
            labels(&tree, &view),
            vec!["d/", "  b.go", "  c.go", "  a.go"]
        );
        tree.sort = SortOrder::LeastCovered;
        tree.rebuild(&view);
        assert_eq!(
            labels(&tree, &view),
            vec!["d/", "  b.go", "  c.go", "  a.go"]
        );
    }
}
