//! Builds Views: the projection joined with the changed lines and with the previous View.

use super::carry::{LineStatuses, is_hit as ran};
use crate::go::modules::ModuleMap;
use crate::go::profile::Profile;
use crate::go::project::{SourceFacts, changed_statements_with as changed_statements_of};
use crate::model::{
    BaselineComparison, Carried, CarriedFile, CarriedLine, Category, CategoryCounts, ChangedFile,
    ChangedLines, Counts, CoverageRule, Diagnostic, DiagnosticKind, FileCategories, FileCoverage,
    FileView, LineStatus, SourceLanguage, TargetStatus, Totals, View,
};
use crate::vcs::{LineMaps, Repo, Revision};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct ViewInput<'a> {
    pub repo: &'a Repo,
    pub revision: &'a Revision,
    pub base: &'a str,
    pub changed: &'a Arc<ChangedLines>,
    pub modules: &'a ModuleMap,
    /// The Go data of each target of the current build (every replica and epoch); a file two
    /// targets report is merged block by block before it is projected.
    pub go: &'a [(u16, Arc<Profile>)],
    /// Projected JaCoCo coverage of every JaCoCo target, merged per class id before projection:
    /// at most one file per path, with the targets whose data holds one of its classes.
    pub java: Vec<(Arc<FileCoverage>, Arc<[u16]>)>,
    pub targets: Vec<TargetStatus>,
    pub diagnostics: Vec<Diagnostic>,
    pub demo: bool,
    /// The JaCoCo classes are still being analysed.
    pub analysing: bool,
    pub paused: bool,
    pub interval: Duration,
    /// Hit lines of older builds mapped onto this revision.
    pub carried: &'a LineStatuses,
    /// Short ids of those builds, oldest first.
    pub carried_from: &'a [String],
    pub baseline: Option<&'a Baseline>,
    /// Which languages the configured targets cover: changed files of those languages without
    /// any data are counted as "no data".
    pub languages: &'a CoveredLanguages,
    /// The session store's state.
    pub store: Option<crate::model::StoreState>,
}

/// The languages the configured targets cover.
#[derive(Debug, Clone, Default)]
pub struct CoveredLanguages {
    /// Some goc target is configured.
    pub go: bool,
    /// Some JaCoCo target is configured.
    pub jvm: bool,
    /// The JaCoCo targets' `source_roots` (empty: any folder).
    pub jvm_roots: Vec<String>,
}

impl CoveredLanguages {
    /// True when `path` is production code of a covered language: a file that some target
    /// should report (tests, test data and vendored code are not).
    pub fn expects_data(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let dirs = &parts[..parts.len().saturating_sub(1)];
        if path.ends_with(".go") {
            return self.go
                && !path.ends_with("_test.go")
                && !dirs.iter().any(|d| matches!(*d, "testdata" | "vendor"));
        }
        const JVM: [&str; 6] = [".java", ".kt", ".aj", ".groovy", ".scala", ".gvy"];
        if JVM.iter().any(|e| path.ends_with(e)) {
            if !self.jvm
                || dirs
                    .iter()
                    .any(|d| matches!(*d, "test" | "tests" | "androidTest" | "testFixtures"))
            {
                return false;
            }
            return self.jvm_roots.is_empty()
                || self.jvm_roots.iter().any(|r| {
                    let r = r.trim_start_matches("./").trim_matches('/');
                    r.is_empty() || path.starts_with(&format!("{r}/"))
                });
        }
        false
    }
}

/// A baseline mapped onto the current revision, ready to compare with each View.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub label: String,
    /// Full id of the baseline's revision.
    pub revision: String,
    /// The baseline's line statuses, mapped onto the current revision.
    pub statuses: LineStatuses,
    /// From the baseline's revision to the current one: which lines are new code.
    pub maps: LineMaps,
}

/// The carried lines of one file: old hit lines the current build has not covered. A file the
/// current build has coverage for decides which lines are coverable; lines of a file it has no
/// data for yet are coverable because the older build ran them.
fn carried_file(
    old: &BTreeMap<u32, LineStatus>,
    cov: Option<&FileCoverage>,
    changed: Option<&ChangedFile>,
) -> CarriedFile {
    let mut out = CarriedFile::default();
    for (&line, &was) in old {
        let now = match cov {
            Some(c) => match c.status(line) {
                LineStatus::NotCoverable => continue,
                s => Some(s),
            },
            None => None,
        };
        let adds = match now {
            Some(LineStatus::Covered) => false,
            Some(LineStatus::Partial) => was == LineStatus::Covered,
            _ => true,
        };
        if adds {
            out.lines.push(CarriedLine { line, status: was });
            if changed.is_some_and(|c| c.contains(line)) {
                out.changed += 1;
            }
        }
    }
    out
}

/// The lcov categories of one file's coverable lines against the baseline.
fn categories(b: &Baseline, path: &str, cov: Option<&FileCoverage>) -> FileCategories {
    let base = b.statuses.get(path);
    let was = |line: u32| base.and_then(|m| m.get(&line)).is_some_and(|&s| ran(s));
    let mut lines: Vec<(u32, Category)> = Vec::new();
    match cov {
        Some(c) => {
            for l in c.lines.iter().filter(|l| l.status.is_coverable()) {
                let new = b.maps.is_new(path, l.line);
                lines.push((l.line, Category::of(new, was(l.line), ran(l.status))));
            }
        }
        // No data from the current build: what the baseline knew is not run now.
        None => {
            if let Some(m) = base {
                for (&line, &s) in m {
                    lines.push((line, Category::of(false, ran(s), false)));
                }
            }
        }
    }
    let mut counts = CategoryCounts::default();
    for &(_, c) in &lines {
        counts.add(c);
    }
    FileCategories { lines, counts }
}

/// What a View showed of one path: the next View tells the lines newly hit from it, and a mark
/// keeps it.
#[derive(Clone)]
struct Shown {
    path: Arc<str>,
    /// The coverage its hits were computed from: while the next View has the same one, the
    /// hits are the same and nothing is newly hit.
    cov: Option<Arc<FileCoverage>>,
    /// Hit lines, ascending.
    hits: Arc<[u32]>,
    /// The counts of `cov` on the changed lines and on the whole file (the changed lines of a
    /// path never change for a builder).
    counts: (Counts, Counts),
}

/// The entry of `list` (sorted by path) for `path`, moving `cursor` forward: the paths of a
/// View are visited in order, so both lists are walked once.
fn seek<'a>(list: &'a [Shown], cursor: &mut usize, path: &str) -> Option<&'a Shown> {
    while list.get(*cursor).is_some_and(|s| &*s.path < path) {
        *cursor += 1;
    }
    list.get(*cursor).filter(|s| &*s.path == path)
}

/// The lines of ascending `now` that are not in ascending `before`.
fn difference(now: &[u32], before: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut j = 0;
    for &l in now {
        while j < before.len() && before[j] < l {
            j += 1;
        }
        if before.get(j) != Some(&l) {
            out.push(l);
        }
    }
    out
}

/// The Go files of a View, projected (shared with the previous View when unchanged).
#[derive(Default)]
struct GoProjection {
    /// With whether the revision has the file and the targets whose data holds it.
    files: Vec<(Arc<FileCoverage>, bool, Arc<[u16]>)>,
    /// Profile file names outside every module.
    external: Vec<String>,
    /// Statements (covered, total) of blocks touching a changed code line.
    changed_statements: (u64, u64),
    /// Statements (covered, total) of the files the revision has.
    whole_statements: (u64, u64),
}

/// One Go file (by profile name) as the last View projected it, kept while its blocks do not
/// change: a poll of one target recomputes the files of that target only.
struct GoFile {
    /// Hash of the blocks it was projected from.
    key: u64,
    /// None: outside every module.
    cov: Option<Arc<FileCoverage>>,
    /// The revision has the file.
    has_source: bool,
    changed_statements: (u64, u64),
    /// The file's statements (covered, total).
    units: (u64, u64),
    /// The targets whose data holds the file (ascending indices).
    targets: Arc<[u16]>,
}

/// A covered path of a View: its coverage, language and the targets whose data holds it.
type Covered<'a> = (
    &'a str,
    &'a Arc<FileCoverage>,
    SourceLanguage,
    &'a Arc<[u16]>,
);

/// What projecting a Go file needs besides its blocks: the same for every file of a View.
#[derive(Clone, Copy)]
struct GoContext<'a> {
    modules: &'a ModuleMap,
    changed: &'a ChangedLines,
    repo: &'a Repo,
    revision: &'a Revision,
}

/// A Go file to project again, with everything it needs gathered beforehand.
struct GoJob<'a> {
    /// The profile's file name.
    name: &'a str,
    /// Its blocks, merged over the targets reporting it.
    blocks: std::borrow::Cow<'a, [crate::go::Block]>,
    key: u64,
    targets: Arc<[u16]>,
    /// None: outside every module.
    source: Option<GoSource<'a>>,
}

/// Where a Go file of a [`GoJob`] is in the repository.
struct GoSource<'a> {
    path: String,
    /// Of its source at the revision; None: the revision has no such file.
    facts: Option<Arc<SourceFacts>>,
    changed: Option<&'a [u32]>,
}

impl GoJob<'_> {
    fn project(&self) -> GoFile {
        let targets = self.targets.clone();
        let Some(GoSource {
            path,
            facts,
            changed,
        }) = &self.source
        else {
            return GoFile {
                key: self.key,
                cov: None,
                has_source: false,
                changed_statements: (0, 0),
                units: (0, 0),
                targets,
            };
        };
        let statements = match changed {
            Some(lines) => changed_statements_of(&self.blocks, lines, facts.as_deref()),
            None => (0, 0),
        };
        // A file without a source at the revision is only named (`build` lists it as unmapped):
        // nothing bounds its blocks' lines, so none are projected.
        let cov =
            crate::go::project::project_with_facts(path.clone(), &self.blocks, facts.as_deref(), 0);
        GoFile {
            key: self.key,
            has_source: facts.is_some(),
            units: cov.units,
            cov: Some(Arc::new(cov)),
            changed_statements: statements,
            targets,
        }
    }
}

/// A hash (FNV-1a 64) of a file's blocks, positions and counts: equal means the same
/// projection.
fn blocks_hash(blocks: &[crate::go::Block]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in blocks {
        for n in [
            u64::from(b.start_line),
            u64::from(b.start_col),
            u64::from(b.end_line),
            u64::from(b.end_col),
            u64::from(b.num_stmt),
            b.count,
        ] {
            for byte in n.to_le_bytes() {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    h
}

pub struct ViewBuilder {
    generation: u64,
    rule: CoverageRule,
    /// What the previous View showed, sorted by path.
    prev: Vec<Shown>,
    /// What the View showed when the user set the mark, sorted by path.
    mark: Option<Vec<Shown>>,
    history: Vec<f64>,
    /// The source facts of each file read so far, by path.
    sources: SourceCache,
    /// Why a source could not be read (too large, a read error), by path: named by the
    /// diagnostic of a file the coverage names, rather than "no such file".
    unreadable: HashMap<String, String>,
    /// The last View's projection of each Go file (by profile file name), sorted by name.
    go_files: BTreeMap<Box<str>, GoFile>,
    /// The targets' Go data the last View was built from.
    last_go: Vec<(u16, Arc<Profile>)>,
    changed_files: HashMap<String, Arc<crate::model::ChangedFile>>,
}

/// The source facts of each file read so far, by path (`None`: not at the revision, or not
/// readable).
type SourceCache = HashMap<String, Option<Arc<SourceFacts>>>;

fn is_hit(s: LineStatus) -> bool {
    matches!(s, LineStatus::Covered | LineStatus::Partial)
}

impl ViewBuilder {
    pub fn new(rule: CoverageRule) -> Self {
        ViewBuilder {
            generation: 0,
            rule,
            prev: Vec::new(),
            mark: None,
            history: Vec::new(),
            sources: HashMap::new(),
            unreadable: HashMap::new(),
            go_files: BTreeMap::new(),
            last_go: Vec::new(),
            changed_files: HashMap::new(),
        }
    }

    pub fn mark(&mut self) {
        self.mark = Some(self.prev.clone());
    }

    pub fn unmark(&mut self) {
        self.mark = None;
    }

    /// Projects every Go file of the targets' data onto lines. Only the files of targets whose
    /// data changed since the last View are looked at (a target's data is shared from its
    /// accumulator: the same `Arc` means nothing changed), and of those only files whose blocks
    /// or counts changed are projected again. A file several targets report is merged block by
    /// block first. The sources and changed lines are those of the revision, which never change
    /// for a builder.
    fn project_go(
        &mut self,
        profiles: &[(u16, Arc<Profile>)],
        modules: &ModuleMap,
        changed: &ChangedLines,
        repo: &Repo,
        revision: &Revision,
    ) -> GoProjection {
        let last = std::mem::take(&mut self.last_go);
        let same_targets = last.len() == profiles.len()
            && last.iter().zip(profiles).all(|(old, new)| old.0 == new.0);
        let ctx = GoContext {
            modules,
            changed,
            repo,
            revision,
        };
        if same_targets && !last.is_empty() {
            // The names of every changed target, before and after: only they can differ.
            let mut dirty: Vec<&str> = Vec::new();
            for (old, new) in last.iter().zip(profiles) {
                if !Arc::ptr_eq(&old.1, &new.1) {
                    dirty.extend(old.1.files().map(|(n, _)| n));
                    dirty.extend(new.1.files().map(|(n, _)| n));
                }
            }
            dirty.sort_unstable();
            dirty.dedup();
            let mut jobs = Vec::new();
            for name in dirty {
                let parts: Vec<(u16, &[crate::go::Block])> = profiles
                    .iter()
                    .filter_map(|(t, p)| Some((*t, p.file(name)?)))
                    .collect();
                if parts.is_empty() {
                    self.go_files.remove(name);
                } else {
                    jobs.extend(self.prepare_go_file(name, &parts, &ctx));
                }
            }
            self.project_go_jobs(jobs);
        } else {
            let mut all: Vec<(&str, u16, &[crate::go::Block])> = profiles
                .iter()
                .flat_map(|(t, p)| p.files().map(move |(n, b)| (n, *t, b)))
                .collect();
            if profiles.len() > 1 {
                // Stable: the blocks of one file stay in target order, as Profile::merge takes them.
                all.sort_by(|a, b| a.0.cmp(b.0));
            }
            let mut names: BTreeSet<&str> = BTreeSet::new();
            let mut jobs = Vec::new();
            let mut i = 0;
            while i < all.len() {
                let name = all[i].0;
                let n = all[i..].iter().take_while(|(f, _, _)| *f == name).count();
                let parts: Vec<(u16, &[crate::go::Block])> =
                    all[i..i + n].iter().map(|&(_, t, b)| (t, b)).collect();
                jobs.extend(self.prepare_go_file(name, &parts, &ctx));
                names.insert(name);
                i += n;
            }
            self.project_go_jobs(jobs);
            self.go_files.retain(|name, _| names.contains(&**name));
        }
        self.last_go = profiles.to_vec();
        let mut out = GoProjection::default();
        for (name, f) in &self.go_files {
            match &f.cov {
                None => out.external.push(name.to_string()),
                Some(cov) => {
                    out.files
                        .push((cov.clone(), f.has_source, f.targets.clone()));
                    out.changed_statements.0 += f.changed_statements.0;
                    out.changed_statements.1 += f.changed_statements.1;
                    if f.has_source {
                        out.whole_statements.0 += f.units.0;
                        out.whole_statements.1 += f.units.1;
                    }
                }
            }
        }
        out
    }

    /// What projecting one Go file (by profile name) again needs, from the blocks each target
    /// reports of it (in target order), merged; `None` when the last View projected the same
    /// blocks and counts (then only the targets it names are brought up to date). Sources are
    /// read here, on the builder's thread; the projection itself is [`GoJob::project`].
    fn prepare_go_file<'a>(
        &mut self,
        name: &'a str,
        parts: &[(u16, &'a [crate::go::Block])],
        ctx: &GoContext<'a>,
    ) -> Option<GoJob<'a>> {
        let blocks: std::borrow::Cow<'a, [crate::go::Block]> = match parts {
            [(_, only)] => std::borrow::Cow::Borrowed(*only),
            // In target order, as Profile::merge takes them.
            _ => std::borrow::Cow::Owned(crate::go::profile::merged_blocks(
                parts.iter().map(|(_, b)| *b),
            )),
        };
        let key = blocks_hash(&blocks);
        let same_targets = |f: &GoFile| f.targets.iter().copied().eq(parts.iter().map(|p| p.0));
        if let Some(f) = self.go_files.get_mut(name)
            && f.key == key
        {
            if !same_targets(f) {
                f.targets = parts.iter().map(|p| p.0).collect();
            }
            return None;
        }
        let source = ctx.modules.resolve(name).map(|path| {
            let facts = Self::facts(
                (&mut self.sources, &mut self.unreadable),
                ctx.repo,
                ctx.revision,
                &path,
            );
            let changed = ctx.changed.file(&path).map(|c| c.lines.as_slice());
            GoSource {
                path,
                facts,
                changed,
            }
        });
        Some(GoJob {
            name,
            blocks,
            key,
            targets: parts.iter().map(|p| p.0).collect(),
            source,
        })
    }

    /// Projects the Go files `jobs` name, on every core when there are many (a poll of a big
    /// target), and keeps them.
    fn project_go_jobs(&mut self, jobs: Vec<GoJob<'_>>) {
        let projected = crate::java::parallel::map_in_order(
            &jobs,
            128,
            16,
            || (),
            |(), job| Some(crate::guard::catch(|| job.project())),
            |_| None,
        );
        for (job, file) in jobs.iter().zip(projected) {
            // A lost or failed projection (a worker that panicked: never seen) is done again
            // here, where a panic is the builder's.
            let file = match file {
                Some(Ok(f)) => f,
                _ => job.project(),
            };
            self.go_files.insert(job.name.into(), file);
        }
    }

    /// What projection needs of a file's source at the revision (None: the revision has no
    /// such file), read and lexed once per builder: the revision never changes.
    fn facts(
        (sources, unreadable): (&mut SourceCache, &mut HashMap<String, String>),
        repo: &Repo,
        rev: &Revision,
        path: &str,
    ) -> Option<Arc<SourceFacts>> {
        if let Some(s) = sources.get(path) {
            return s.clone();
        }
        let s = match repo.read_file(rev, path) {
            Ok(text) => text.map(|text| Arc::new(SourceFacts::of(&text))),
            Err(e) => {
                unreadable.insert(path.to_string(), e.to_string());
                None
            }
        };
        sources.insert(path.to_string(), s.clone());
        s
    }

    pub fn build(&mut self, input: ViewInput<'_>) -> Arc<View> {
        self.generation += 1;
        let mut diagnostics = input.diagnostics;
        let mut projection = GoProjection::default();
        if !input.go.is_empty() {
            projection = self.project_go(
                input.go,
                input.modules,
                input.changed,
                input.repo,
                input.revision,
            );
        }
        // One file per source: every JaCoCo target's data was merged per class before projection.
        let java = input.java;
        // The paths the coverage holds, sorted (no copies): Go files come sorted by profile
        // name, which is the path's order within one module, so the sort mostly only checks.
        let mut coverage: Vec<Covered<'_>> =
            Vec::with_capacity(projection.files.len() + java.len());
        let changed_statements = projection.changed_statements;
        let whole_statements = projection.whole_statements;
        for (f, has_source, targets) in &projection.files {
            if !*has_source {
                let (path, rev) = (&f.path, &input.revision.short);
                let (message, fix) = match self.unreadable.get(path) {
                    Some(why) => (
                        format!(
                            "coverage names {path} but its source cannot be read at revision {rev}: {why}"
                        ),
                        "its coverage is not shown; a source over the size limit is left out on purpose",
                    ),
                    None => (
                        format!("coverage names {path} but no such file exists at revision {rev}"),
                        "the build may come from another commit: set [repo] revision (or the target's revision) to the deployed commit",
                    ),
                };
                diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::Unmapped,
                    subject: path.clone(),
                    message,
                    fix: fix.into(),
                });
                continue;
            }
            coverage.push((f.path.as_str(), f, SourceLanguage::Go, targets));
        }
        let mut external: BTreeMap<String, usize> = BTreeMap::new();
        for e in &projection.external {
            let dir = e
                .rsplit_once('/')
                .map_or(e.as_str(), |(d, _)| d)
                .to_string();
            *external.entry(dir).or_default() += 1;
        }
        for (dir, n) in external {
            diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::External,
                    subject: dir.clone(),
                    message: format!("{n} covered file(s) of package {dir} are outside the repository's Go modules"),
                    fix: "expected for dependencies; if it is your code, add its go.mod to the repository at the revision".into(),
                });
        }

        for (f, targets) in &java {
            coverage.push((f.path.as_str(), f, SourceLanguage::Java, targets));
        }
        // Stable and adaptive: sorted runs are merged, and a path both languages claim keeps
        // the Java file, as before.
        coverage.sort_by(|a, b| a.0.cmp(b.0));
        coverage.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                *earlier = *later;
                true
            } else {
                false
            }
        });
        // Every path shown: sorted runs (coverage, changed, carried, baseline) merged.
        let mut paths: Vec<&str> = coverage.iter().map(|c| c.0).collect();
        paths.extend(input.changed.files.keys().map(String::as_str));
        paths.extend(input.carried.keys().map(String::as_str));
        if let Some(b) = input.baseline {
            paths.extend(b.statuses.keys().map(String::as_str));
        }
        paths.sort();
        paths.dedup();
        let mut coverage_at = 0;
        // Shared by every file no target reports (one allocation per View, not per file).
        let no_targets: Arc<[u16]> = Arc::default();
        let mut changed_files = input.changed.files.iter().peekable();
        let mut carried = Carried {
            from: input.carried_from.to_vec(),
            files: BTreeMap::new(),
        };
        let mut comparison = input.baseline.map(|b| BaselineComparison {
            label: b.label.clone(),
            revision: b.revision.clone(),
            ..BaselineComparison::default()
        });
        let mut files = Vec::with_capacity(paths.len());
        let mut totals = Totals {
            changed_statements,
            whole_statements,
            ..Totals::default()
        };
        let mut shown: Vec<Shown> = Vec::with_capacity(paths.len());
        let (mut prev_at, mut mark_at) = (0, 0);
        for path in paths {
            // Both lists are sorted like `paths`: walked in step.
            while coverage.get(coverage_at).is_some_and(|c| c.0 < path) {
                coverage_at += 1;
            }
            let (cov, language, targets) = match coverage.get(coverage_at).filter(|c| c.0 == path) {
                Some((_, c, l, t)) => (Some(Arc::clone(c)), Some(*l), Arc::clone(t)),
                None => (None, None, Arc::clone(&no_targets)),
            };
            while changed_files.next_if(|(p, _)| p.as_str() < path).is_some() {}
            let changed = changed_files
                .next_if(|(p, _)| p.as_str() == path)
                .map(|(_, c)| {
                    self.changed_files
                        .entry(path.to_string())
                        .or_insert_with(|| Arc::new(c.clone()))
                        .clone()
                });
            let prev = seek(&self.prev, &mut prev_at, path);
            let unchanged = prev.filter(|p| match (&p.cov, &cov) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            });
            let counts = match unchanged {
                Some(p) => p.counts,
                None => {
                    let mut changed_counts = Counts::default();
                    if let (Some(ch), Some(cov)) = (&changed, &cov) {
                        for &l in &ch.lines {
                            changed_counts.add(cov.status(l));
                        }
                    }
                    (
                        changed_counts,
                        cov.as_ref().map(|c| c.counts()).unwrap_or_default(),
                    )
                }
            };
            let (mut changed_counts, mut whole_counts) = counts;
            if let Some(old) = input.carried.get(path) {
                let cf = carried_file(old, cov.as_deref(), changed.as_deref());
                if !cf.lines.is_empty() {
                    if cov.is_none() {
                        // Coverable through the older build, not run by this one yet.
                        for l in &cf.lines {
                            whole_counts.add(LineStatus::Missed);
                            if changed.as_ref().is_some_and(|c| c.contains(l.line)) {
                                changed_counts.add(LineStatus::Missed);
                            }
                        }
                    }
                    totals.carried_changed += cf.changed;
                    totals.carried_whole += cf.whole();
                    carried.files.insert(path.to_string(), Arc::new(cf));
                }
            }
            if let (Some(b), Some(cmp)) = (input.baseline, comparison.as_mut()) {
                let cats = categories(b, path, cov.as_deref());
                if !cats.lines.is_empty() {
                    cmp.totals.merge(&cats.counts);
                    cmp.files.insert(path.to_string(), Arc::new(cats));
                }
            }
            let hits: Arc<[u32]> = match unchanged {
                Some(p) => p.hits.clone(),
                None => {
                    let mut hits: Vec<u32> = cov
                        .as_ref()
                        .map(|c| {
                            c.lines
                                .iter()
                                .filter(|l| is_hit(l.status))
                                .map(|l| l.line)
                                .collect()
                        })
                        .unwrap_or_default();
                    hits.sort_unstable();
                    hits.dedup();
                    hits.into()
                }
            };
            let newly_hit: Vec<u32> = match prev {
                Some(_) if unchanged.is_some() => Vec::new(),
                Some(p) => difference(&hits, &p.hits),
                None if self.generation > 1 => hits.to_vec(),
                None => Vec::new(),
            };
            let hit_since_mark = self
                .mark
                .as_ref()
                .map(|m| match seek(m, &mut mark_at, path) {
                    Some(at_mark) => difference(&hits, &at_mark.hits),
                    None => hits.to_vec(),
                });
            if cov.is_none()
                && input.carried.get(path).is_none()
                && let Some(ch) = changed.as_ref().filter(|c| !c.lines.is_empty())
                && input.languages.expects_data(path)
            {
                // Only code lines: a changed comment never needs coverage.
                let facts = Self::facts(
                    (&mut self.sources, &mut self.unreadable),
                    input.repo,
                    input.revision,
                    path,
                );
                let no_data = ch
                    .lines
                    .iter()
                    .filter(|&&l| facts.as_ref().is_none_or(|f| f.is_code(l)))
                    .count() as u64;
                if no_data > 0 {
                    changed_counts.no_data = no_data;
                    diagnostics.push(Diagnostic {
                        kind: DiagnosticKind::NoData,
                        subject: path.to_string(),
                        message: format!(
                            "{no_data} changed code line(s) without coverage data: no target reported this file"
                        ),
                        fix: if path.ends_with(".go") {
                            "check that a configured service is built from this package (and polled), or pass --allow-missing-data to `check`".into()
                        } else {
                            "add the classes of this file's module to a JaCoCo target's `classes`, or pass --allow-missing-data to `check`".into()
                        },
                    });
                }
            }
            totals.changed.merge(changed_counts);
            totals.whole.merge(whole_counts);
            shown.push(Shown {
                path: prev.map_or_else(|| Arc::from(path), |p| p.path.clone()),
                cov: cov.clone(),
                hits,
                counts,
            });
            files.push(FileView {
                path: path.to_string(),
                language,
                coverage: cov,
                changed,
                changed_counts,
                whole_counts,
                newly_hit,
                hit_since_mark,
                targets,
            });
        }
        self.prev = shown;
        if let Some(p) = self.rule.percent(&totals.changed) {
            self.history.push(p);
            if self.history.len() > 1000 {
                self.history.remove(0);
            }
        }
        Arc::new(View {
            generation: self.generation,
            created: Some(SystemTime::now()),
            revision: input.revision.oid.clone(),
            base: input.base.to_string(),
            files,
            totals,
            rule: self.rule,
            targets: input.targets,
            diagnostics,
            history: self.history.clone(),
            demo: input.demo,
            analysing: input.analysing,
            paused: input.paused,
            interval: input.interval,
            carried: Arc::new(carried),
            baseline: comparison.map(Arc::new),
            store: input.store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(path: &str, hits: &[u32]) -> Shown {
        Shown {
            path: Arc::from(path),
            cov: None,
            hits: hits.into(),
            counts: Default::default(),
        }
    }

    #[test]
    fn newly_hit_lines_are_the_sorted_difference() {
        assert_eq!(difference(&[1, 3, 5, 9], &[3, 4, 9]), vec![1, 5]);
        assert_eq!(difference(&[2], &[]), vec![2]);
        assert!(difference(&[], &[1]).is_empty());
    }

    #[test]
    fn seek_walks_a_sorted_list_once_and_finds_only_equal_paths() {
        let list = [
            shown("a.go", &[1]),
            shown("c.go", &[2]),
            shown("d.go", &[3]),
        ];
        let mut at = 0;
        assert!(seek(&list, &mut at, "b.go").is_none());
        assert_eq!(
            seek(&list, &mut at, "c.go").map(|s| &*s.hits),
            Some(&[2][..])
        );
        assert!(seek(&list, &mut at, "cc.go").is_none());
        assert_eq!(
            seek(&list, &mut at, "d.go").map(|s| &*s.hits),
            Some(&[3][..])
        );
        assert!(seek(&list, &mut at, "e.go").is_none());
    }
}
