//! The JVM side of the engine: the classes of one JaCoCo target's build, analysed once (cached by
//! class id), and the projection of accumulated probes onto repository files.

use super::accumulate::Cumulative;
use crate::java::analysis::{
    AnalysisError, ClassAnalysis, analyze_class_guarded, analyze_many, fold_source_lines,
};
use crate::java::archive::load_classes_visiting;
use crate::java::exec::{ClassProbes, ExecData};
use crate::java::probes::Probes;
use crate::java::sources::{SourceIndex, SourceMatch};
use crate::model::{Diagnostic, DiagnosticKind, FileCoverage};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

impl Cumulative for ExecData {
    fn absorb(&mut self, other: &Self) {
        // A conflicting class (same id, other probe count) cannot come from one agent; the
        // conflict is reported when the build is projected, so the rest is still merged. Only
        // the classes new here are copied (a probe array may be megabytes).
        for (id, theirs) in &other.classes {
            match self.classes.entry(*id) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(theirs.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let ours = o.get_mut();
                    if ours.name == theirs.name && ours.probes.len() == theirs.probes.len() {
                        ours.probes.or_assign(&theirs.probes);
                    }
                }
            }
        }
        self.sessions.extend(other.sessions.iter().cloned());
    }

    fn decreased_from(&self, earlier: &Self) -> bool {
        earlier
            .classes
            .iter()
            .any(|(id, old)| match self.classes.get(id) {
                None => old.any_hit(),
                Some(new) => old.probes.any_lost_in(&new.probes),
            })
    }
}

/// One analysed class of the build.
struct BuildClass {
    id: u64,
    analysis: Arc<ClassAnalysis>,
    /// The repository path of its source file, when found.
    source: Option<String>,
    /// The multi-release version (`META-INF/versions/N/`), `None` for a base entry.
    release: Option<u32>,
}

/// The classes a JaCoCo target runs, analysed.
pub struct JavaBuild {
    target: String,
    classes: Vec<BuildClass>,
    /// Class name -> ids in this build (normally one).
    by_name: HashMap<String, Vec<u64>>,
    /// Class id -> index into `classes` of its first entry.
    by_id: HashMap<u64, usize>,
    /// Indices into `classes` of the entries that share a class name (versions of a
    /// multi-release jar, or one class in several jars), in preference order; of each group only
    /// one is projected (see [`JavaBuild::shown_versions`]).
    alternatives: Vec<Vec<usize>>,
    /// Problems found while loading and mapping: reported in every View.
    problems: Vec<Diagnostic>,
}

/// The accumulated data of one JaCoCo target: the pieces its total adds up (each replica's
/// finished epochs and newest dump), so that they merge with every other target's at the probe
/// level and conflicts are seen where they come from.
pub struct TargetExec<'a> {
    pub target: &'a str,
    pub parts: Vec<&'a ExecData>,
}

/// Analyses shared by every build of the session, keyed by class id.
pub type AnalysisCache = HashMap<u64, Arc<ClassAnalysis>>;

/// One class's analysis: `None` for classes JaCoCo does not analyse (modules, synthetic).
type Analysed = Result<Option<ClassAnalysis>, AnalysisError>;

/// The class files of one JaCoCo target, read and analysed: what [`JavaBuild::load`] does
/// before it needs the repository's files (so it can run while the repository is read).
pub struct AnalysedClasses {
    /// (class id, multi-release version) of every class entry, in class-path order.
    entries: Vec<(u64, Option<u32>)>,
    /// Ids not analysed (module-info, synthetic, or failed: see `problems`).
    skipped: std::collections::HashSet<u64>,
    problems: Vec<Diagnostic>,
}

impl JavaBuild {
    /// Loads and analyses the classes under `paths` (directories, jars, fat jars, WARs).
    pub fn load(
        target: &str,
        paths: &[PathBuf],
        includes: &[String],
        sources: &SourceIndex,
        cache: &mut AnalysisCache,
    ) -> JavaBuild {
        let analysed = JavaBuild::analyse(target, paths, includes, cache);
        JavaBuild::map_sources(target, analysed, sources, cache)
    }

    /// Reads the classes under `paths` and analyses those not in `cache` yet (on every core).
    pub fn analyse(
        target: &str,
        paths: &[PathBuf],
        includes: &[String],
        cache: &mut AnalysisCache,
    ) -> AnalysedClasses {
        // Each class of a jar is analysed by the worker that inflated it, right away (unless
        // another target's analysis of the same class id is there already).
        let known: &AnalysisCache = cache;
        let visit = |bytes: &[u8], id: u64| -> Option<Analysed> {
            (!known.contains_key(&id)).then(|| analyze_class_guarded(bytes))
        };
        let (entries, archive_problems) = load_classes_visiting(paths, includes, &visit);
        let mut problems: Vec<Diagnostic> = archive_problems
            .into_iter()
            .map(|p| Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{target} classes"),
                message: p.to_string(),
                fix: "fix or remove the path in the target's `classes`".into(),
            })
            .collect();
        if paths.is_empty() {
            problems.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: target.to_string(),
                message: "no class files configured: probes cannot be mapped to lines".into(),
                fix: "set `classes = [\"build/classes/java/main\"]` (or the service's jar) on the target".into(),
            });
        }
        // Class files from folders (not analysed while loading) and not analysed yet (another
        // target may share them) are analysed on every core.
        let fresh: Vec<bool> = entries
            .iter()
            .map(|e| e.visited.is_none() && !cache.contains_key(&e.id))
            .collect();
        let bytes: Vec<&[u8]> = entries
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|(e, _)| &e.bytes[..])
            .collect();
        let mut from_folders = analyze_many(&bytes).into_iter();
        drop(bytes);
        let mut skipped = std::collections::HashSet::new();
        let mut kept = Vec::with_capacity(entries.len());
        for (e, fresh) in entries.into_iter().zip(fresh) {
            kept.push((e.id, e.release));
            let result = if fresh {
                from_folders.next()
            } else {
                e.visited.flatten()
            };
            match result {
                None => {}
                Some(Ok(Some(a))) => {
                    cache.insert(e.id, Arc::new(a));
                }
                Some(Ok(None)) => {
                    skipped.insert(e.id);
                }
                Some(Err(err)) => {
                    skipped.insert(e.id);
                    problems.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: e.origin,
                        message: format!("cannot analyse the class: {err}"),
                        fix:
                            "give the original (not instrumented) class files of the deployed build"
                                .into(),
                    });
                }
            }
        }
        // The class bytes and every parse are gone: give their memory back (see there).
        crate::java::parallel::release_free_memory_soon();
        AnalysedClasses {
            entries: kept,
            skipped,
            problems,
        }
    }

    /// The build of analysed classes: each class's source file found in `sources`.
    pub fn map_sources(
        target: &str,
        analysed: AnalysedClasses,
        sources: &SourceIndex,
        cache: &AnalysisCache,
    ) -> JavaBuild {
        let AnalysedClasses {
            entries,
            skipped,
            mut problems,
        } = analysed;
        let mut classes = Vec::new();
        let mut missing_sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, release) in entries {
            let Some(analysis) = cache.get(&id).cloned() else {
                continue;
            };
            if skipped.contains(&id) {
                continue;
            }
            let source = match analysis.source_file() {
                None => {
                    missing_sources
                        .entry("(no SourceFile attribute: compiled without -g:source)".into())
                        .or_default()
                        .push(analysis.name().to_string());
                    None
                }
                Some(file) => match sources.resolve_release(analysis.package(), file, release) {
                    SourceMatch::Found(p) => Some(p),
                    SourceMatch::Ambiguous(c) => {
                        missing_sources
                            .entry(format!(
                                "ambiguous {}/{file}: {}",
                                analysis.package(),
                                c.join(", ")
                            ))
                            .or_default()
                            .push(analysis.name().to_string());
                        None
                    }
                    SourceMatch::Missing => {
                        missing_sources
                            .entry(format!(
                                "{}/{file} not in the repository",
                                analysis.package()
                            ))
                            .or_default()
                            .push(analysis.name().to_string());
                        None
                    }
                },
            };
            classes.push(BuildClass {
                id,
                analysis,
                source,
                release,
            });
        }
        for (what, names) in missing_sources {
            problems.push(Diagnostic {
                kind: DiagnosticKind::Unmapped,
                subject: what,
                message: format!(
                    "{} class(es) without a unique source file: {}",
                    names.len(),
                    preview(&names)
                ),
                fix: "set `source_roots` on the target (e.g. [\"src/main/java\"]) or check the revision".into(),
            });
        }
        JavaBuild::assemble(target, classes, problems)
    }

    /// A build of `classes` (in preference order), with its indexes.
    fn assemble(target: &str, classes: Vec<BuildClass>, problems: Vec<Diagnostic>) -> JavaBuild {
        let mut by_name: HashMap<String, Vec<u64>> = HashMap::new();
        let mut by_id: HashMap<u64, usize> = HashMap::new();
        for (i, c) in classes.iter().enumerate() {
            by_name
                .entry(c.analysis.name().to_string())
                .or_default()
                .push(c.id);
            by_id.entry(c.id).or_insert(i);
        }
        let alternatives = version_groups(&classes);
        JavaBuild {
            target: target.to_string(),
            classes,
            by_name,
            by_id,
            alternatives,
            problems,
        }
    }

    /// The classes of several targets' builds united by class id: what the merged data of every
    /// JaCoCo target is projected through. A class id several builds hold is taken once (from the
    /// first build, with the first source file found for it); entries of one build keep their
    /// order, so one build's union is that build. Classes sharing a name with other ids (versions
    /// of a multi-release jar, a class in several jars, or targets built differently) are
    /// alternatives: one of them is shown (see [`JavaBuild::shown_versions`]).
    pub fn union(name: &str, builds: &[&JavaBuild]) -> JavaBuild {
        let mut classes: Vec<BuildClass> = Vec::new();
        let mut from_earlier: HashMap<u64, usize> = HashMap::new();
        let mut problems = Vec::new();
        for b in builds {
            let mut here: HashMap<u64, usize> = HashMap::new();
            for c in &b.classes {
                if let Some(&i) = from_earlier.get(&c.id) {
                    if classes[i].source.is_none() && c.source.is_some() {
                        classes[i].source = c.source.clone();
                    }
                    continue;
                }
                here.entry(c.id).or_insert(classes.len());
                classes.push(BuildClass {
                    id: c.id,
                    analysis: c.analysis.clone(),
                    source: c.source.clone(),
                    release: c.release,
                });
            }
            from_earlier.extend(here);
            problems.extend(b.problems.iter().cloned());
        }
        JavaBuild::assemble(name, classes, problems)
    }

    /// True when the class id is among the analysed classes.
    pub fn has_class(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    /// The probe count of the class of id `id`, if it is one of the build's.
    pub fn probe_count(&self, id: u64) -> Option<u32> {
        let &i = self.by_id.get(&id)?;
        u32::try_from(self.classes[i].analysis.probe_count()).ok()
    }

    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The ids of the analysed classes: what identifies this build (see `carry::build_key`).
    pub fn class_ids(&self) -> std::collections::BTreeSet<u64> {
        self.classes.iter().map(|c| c.id).collect()
    }

    /// Projects the data of one target (everything accumulated for it) onto repository files.
    #[cfg(test)]
    pub fn project(&self, exec: Option<&ExecData>) -> (Vec<FileCoverage>, Vec<Diagnostic>) {
        self.project_targets(&[TargetExec {
            target: &self.target,
            parts: exec.into_iter().collect(),
        }])
    }

    /// Merges the data of every target (every replica, every epoch) per class id at the probe
    /// level, as JaCoCo merges exec files, and projects each class once from the merged probes;
    /// the classes of one source file are folded once. Diagnostics name the target whose data
    /// has the problem.
    /// For each source file, the targets (by their position in `data`, ascending) whose data
    /// holds one of its classes: which targets report the file.
    pub fn sources_in_data(&self, data: &[TargetExec<'_>]) -> HashMap<&str, Vec<usize>> {
        let mut out: HashMap<&str, Vec<usize>> = HashMap::new();
        for c in &self.classes {
            let Some(src) = c.source.as_deref() else {
                continue;
            };
            for (t, exec) in data.iter().enumerate() {
                if exec.parts.iter().any(|p| p.classes.contains_key(&c.id)) {
                    let targets = out.entry(src).or_default();
                    if !targets.contains(&t) {
                        targets.push(t);
                    }
                }
            }
        }
        for targets in out.values_mut() {
            targets.sort_unstable();
        }
        out
    }

    pub fn project_targets(&self, data: &[TargetExec<'_>]) -> (Vec<FileCoverage>, Vec<Diagnostic>) {
        let (merged, conflicts) = self.merge_targets(data);
        let (files, mut diagnostics) = self.project_merged(merged.as_ref());
        for t in data {
            diagnostics.extend(self.data_checks(t));
        }
        diagnostics.extend(conflicts);
        (files, diagnostics)
    }

    /// The probe-level merge of every part of every target. Per class id the data must agree
    /// with the class file (name and probe count) when the class is analysed, else with the
    /// first data seen; data that does not is left out, and a class id whose data disagrees
    /// (another name, or parts with other probe counts) is named in a diagnostic. A probe-count
    /// difference from the class file alone is reported per target by
    /// [`JavaBuild::data_checks`]. `None` when no target has any data.
    pub fn merge_targets(&self, data: &[TargetExec<'_>]) -> (Option<ExecData>, Vec<Diagnostic>) {
        use std::collections::hash_map::Entry;
        let mut any = false;
        let mut merged: BTreeMap<u64, ClassProbes> = BTreeMap::new();
        let mut first: HashMap<u64, (&str, usize)> = HashMap::new();
        let mut conflicting: std::collections::BTreeSet<u64> = Default::default();
        for t in data {
            for part in &t.parts {
                any = true;
                for (&id, cp) in &part.classes {
                    let sig = (cp.name.as_str(), cp.probes.len());
                    let reference = match first.entry(id) {
                        Entry::Vacant(v) => *v.insert(sig),
                        Entry::Occupied(o) => *o.get(),
                    };
                    if reference != sig {
                        conflicting.insert(id);
                    }
                    let analysis = self.by_id.get(&id).map(|&i| &self.classes[i].analysis);
                    let fits = match analysis {
                        Some(a) => {
                            if a.name() != cp.name {
                                conflicting.insert(id);
                            }
                            a.name() == cp.name && a.probe_count() == cp.probes.len()
                        }
                        None => reference == sig,
                    };
                    if !fits {
                        continue;
                    }
                    match merged.entry(id) {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(cp.clone());
                        }
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            o.get_mut().probes.or_assign(&cp.probes);
                        }
                    }
                }
            }
        }
        let mut diagnostics = Vec::new();
        if !conflicting.is_empty() {
            diagnostics.push(self.conflict_diagnostic(data, &conflicting));
        }
        let exec = any.then(|| ExecData {
            sessions: Vec::new(),
            classes: merged,
        });
        (exec, diagnostics)
    }

    /// Names each conflicting class id with every (name, probe count) its data has, and which
    /// targets sent it.
    fn conflict_diagnostic(
        &self,
        data: &[TargetExec<'_>],
        ids: &std::collections::BTreeSet<u64>,
    ) -> Diagnostic {
        let mut seen: BTreeMap<u64, BTreeMap<(String, usize), std::collections::BTreeSet<&str>>> =
            BTreeMap::new();
        for t in data {
            for part in &t.parts {
                for id in ids {
                    if let Some(cp) = part.classes.get(id) {
                        seen.entry(*id)
                            .or_default()
                            .entry((cp.name.clone(), cp.probes.len()))
                            .or_default()
                            .insert(t.target);
                    }
                }
            }
        }
        let described: Vec<String> = seen
            .iter()
            .map(|(id, sigs)| {
                let mut parts: Vec<String> = sigs
                    .iter()
                    .map(|((name, n), targets)| {
                        let targets: Vec<&str> = targets.iter().copied().collect();
                        format!("{name} ({n} probes, from {})", targets.join(", "))
                    })
                    .collect();
                if let Some(&i) = self.by_id.get(id) {
                    let a = &self.classes[i].analysis;
                    parts.push(format!(
                        "class file {} ({} probes)",
                        a.name(),
                        a.probe_count()
                    ));
                }
                format!("{id:016x}: {}", parts.join(" vs "))
            })
            .collect();
        Diagnostic {
            kind: DiagnosticKind::Mismatch,
            subject: format!("{} class ids", self.target),
            message: format!(
                "{} class id(s) whose data disagrees (another class name or probe count), not merged: {}",
                described.len(),
                preview(&described)
            ),
            fix: "one class id cannot be two classes: check that every agent runs the deployed build and the same JaCoCo version; only the data that fits the class file (else the first seen) is used".into(),
        }
    }

    /// Checks one target's data against the classes: data with another probe count than its
    /// class, classes that ran from other bytes than any class file given (stale), classes
    /// that ran without any class file.
    fn data_checks(&self, t: &TargetExec<'_>) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        let mut mismatched = std::collections::BTreeSet::new();
        let mut stale = std::collections::BTreeSet::new();
        let mut unknown = std::collections::BTreeSet::new();
        for part in &t.parts {
            for (id, data) in &part.classes {
                if let Some(&i) = self.by_id.get(id) {
                    let a = &self.classes[i].analysis;
                    if data.name == a.name() && data.probes.len() != a.probe_count() {
                        mismatched.insert(format!(
                            "{} ({} probes in the data, {} in the class)",
                            a.name(),
                            data.probes.len(),
                            a.probe_count()
                        ));
                    }
                    continue;
                }
                if !data.any_hit() {
                    continue;
                }
                if self.by_name.contains_key(&data.name) {
                    stale.insert(data.name.clone());
                } else {
                    unknown.insert(data.name.clone());
                }
            }
        }
        let target = t.target;
        if !mismatched.is_empty() {
            let mismatched: Vec<String> = mismatched.into_iter().collect();
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{target} probe counts"),
                message: format!(
                    "{} class(es) whose data has another probe count than the class: {}",
                    mismatched.len(),
                    preview(&mismatched)
                ),
                fix: "the agent's JaCoCo version places probes differently: use the same JaCoCo version (0.8.x) as covtop's analysis expects".into(),
            });
        }
        if !stale.is_empty() {
            let stale: Vec<String> = stale.into_iter().collect();
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{target} stale classes"),
                message: format!(
                    "no match: {} class(es) ran from other bytes than the class files given: {}",
                    stale.len(),
                    preview(&stale)
                ),
                fix: "the class files are not the deployed build: point `classes` at the build that runs (or at its jar)".into(),
            });
        }
        // Classes from outside the application's packages (the JDK's and libraries', recorded by
        // an agent without `includes=`) are not the application's: named apart, not warned.
        let (unknown, outside): (Vec<String>, Vec<String>) = unknown
            .into_iter()
            .partition(|name| self.in_application_packages(name));
        if !outside.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::External,
                subject: format!("{target} classes outside the application"),
                message: format!(
                    "{} class(es) from outside the packages of the class files given ran (the JDK's or libraries'); they are not counted: {}",
                    outside.len(),
                    preview(&outside)
                ),
                fix: "nothing to do; to have the agent leave them out, give it includes= with the application's packages".into(),
            });
        }
        if !unknown.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{target} classes without class files"),
                message: format!(
                    "{} class(es) ran but no class file was given for them: {}",
                    unknown.len(),
                    preview(&unknown)
                ),
                fix: "add their jar or folder to `classes`, or narrow the agent's `includes`"
                    .into(),
            });
        }
        diagnostics
    }

    /// True if the class `name` (`com/example/shop/Cart`) is in the packages of the class files
    /// given: it shares its first two package segments with one of them. With a class in the
    /// default package there is no boundary, and every class counts as the application's.
    fn in_application_packages(&self, name: &str) -> bool {
        fn root(name: &str) -> Option<&str> {
            let package = &name[..name.rfind('/')?];
            let end = package
                .match_indices('/')
                .nth(1)
                .map_or(package.len(), |(i, _)| i);
            Some(&package[..end])
        }
        let Some(class_root) = root(name) else {
            return true;
        };
        self.by_name
            .keys()
            .any(|known| root(known).is_none_or(|r| r == class_root))
    }

    /// Projects merged data (already checked: an analysed class's data has its probe count)
    /// onto repository files.
    fn project_merged(&self, exec: Option<&ExecData>) -> (Vec<FileCoverage>, Vec<Diagnostic>) {
        let mut diagnostics = self.problems.clone();
        let (shown, several_ran) = self.shown_versions(exec);
        let mut sealed = Vec::new();
        // (class, its source, its probes) of every class to project, in class order.
        let mut todo: Vec<(&BuildClass, &str, Option<&Probes>)> = Vec::new();
        for (i, c) in self.classes.iter().enumerate() {
            if !shown[i] {
                continue;
            }
            let probes = exec
                .and_then(|e| e.classes.get(&c.id))
                .filter(|p| p.probes.len() == c.analysis.probe_count())
                .map(|p| &p.probes);
            if probes.is_none() && c.analysis.is_sealed() {
                // JaCoCo 0.8.6 cannot instrument it: no data can exist, so nothing is missed.
                sealed.push(c.analysis.name().to_string());
                continue;
            }
            let Some(src) = &c.source else { continue };
            todo.push((c, src.as_str(), probes));
        }
        // The classes of each source file, in class order; each file's classes are projected and
        // folded on one of every core's workers (each with its own scratch arrays), so nothing
        // per class or per line is left to this thread. A bug on one class costs that class only.
        let mut per_source: BTreeMap<&str, Vec<ClassToProject>> = BTreeMap::new();
        for (order, &(c, src, probes)) in todo.iter().enumerate() {
            per_source.entry(src).or_default().push((order, c, probes));
        }
        let per_source: Vec<SourceClasses> = per_source.into_iter().collect();
        let project_file = |(path, classes): &SourceClasses| {
            let mut covs = Vec::with_capacity(classes.len());
            let mut failed = Vec::new();
            for &(order, c, probes) in classes {
                match crate::guard::catch(|| c.analysis.project_lines(probes)) {
                    Ok(coverage) => covs.push(coverage),
                    Err(e) => failed.push((order, format!("{}: {e}", c.analysis.name()))),
                }
            }
            let file = (!covs.is_empty()).then(|| {
                let (mut covered, mut missed) = (0u64, 0u64);
                for c in &covs {
                    covered += u64::from(c.instructions.0);
                    missed += u64::from(c.instructions.1);
                }
                FileCoverage {
                    path: path.to_string(),
                    lines: fold_source_lines(covs.iter()),
                    spans: Vec::new(),
                    units: (covered, covered + missed),
                }
            });
            (file, failed)
        };
        let projected = crate::java::parallel::map_in_order(
            &per_source,
            128,
            16,
            || (),
            |(), file| Some(project_file(file)),
            |_| None,
        );
        let mut files = Vec::with_capacity(per_source.len());
        let mut failed = Vec::new();
        for (file, done) in per_source.iter().zip(projected) {
            // A lost file (a worker that panicked: never seen) is done again here.
            let (cov, fails) = done.unwrap_or_else(|| project_file(file));
            files.extend(cov);
            failed.extend(fails);
        }
        // In class order, as the classes are listed.
        failed.sort_by_key(|&(order, _)| order);
        let failed: Vec<String> = failed.into_iter().map(|(_, what)| what).collect();
        if !failed.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{} classes not projected", self.target),
                message: format!(
                    "{} class(es) could not be projected, their lines are left out: {}",
                    failed.len(),
                    preview(&failed)
                ),
                fix: "report it with the class file and the dump; the other classes are shown"
                    .into(),
            });
        }
        if !sealed.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{} sealed classes", self.target),
                message: format!(
                    "{} sealed class(es) without data, not instrumentable by JaCoCo 0.8.6 (its agent fails on PermittedSubclasses and the JVM runs them without probes): {}; their lines are shown as not coverable, not as missed",
                    sealed.len(),
                    preview(&sealed)
                ),
                fix: "measure them with a JaCoCo agent that supports Java 17 (0.8.7 or later); javac 17 makes an enum whose constants have bodies sealed".into(),
            });
        }
        if !several_ran.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{} class versions", self.target),
                message: format!(
                    "{} class(es) ran in several versions (a multi-release jar on different Java releases, the class in several jars, or targets whose class files differ); the version with the most probes hit is shown: {}",
                    several_ran.len(),
                    preview(&several_ran)
                ),
                fix: "run every replica on the same Java release and class path, and give every target the same build of shared classes".into(),
            });
        }
        (files, diagnostics)
    }
}

/// A class to project: (its place in class order, the class, its merged probes).
type ClassToProject<'a> = (usize, &'a BuildClass, Option<&'a Probes>);

/// A source file and its classes to project, in class order.
type SourceClasses<'a> = (&'a str, Vec<ClassToProject<'a>>);

impl JavaBuild {
    /// Which entries of `classes` are projected: all but the alternatives not chosen. Of the
    /// entries sharing a class name, the one whose id has data is shown (two versions of one
    /// class are never folded into a source file: the one that did not run would read as
    /// missed); if several have data, the one with the most probes hit, and its name is returned
    /// in the second list. Without data the first in preference order is shown: the base entry
    /// of a multi-release jar (what JaCoCo's report and any tool without a Java release to pick
    /// for shows), or the class path's first copy.
    fn shown_versions(&self, exec: Option<&ExecData>) -> (Vec<bool>, Vec<String>) {
        let mut shown = vec![true; self.classes.len()];
        let mut several_ran = Vec::new();
        for group in &self.alternatives {
            let hits = |i: usize| {
                let c = &self.classes[i];
                exec.and_then(|e| e.classes.get(&c.id))
                    .filter(|p| p.probes.len() == c.analysis.probe_count())
                    .map(|p| p.probes.count_ones())
            };
            let mut best: Option<(usize, usize)> = None;
            let mut ran_ids = Vec::new();
            for &i in group {
                if let Some(h) = hits(i) {
                    if !ran_ids.contains(&self.classes[i].id) {
                        ran_ids.push(self.classes[i].id);
                    }
                    if best.is_none_or(|(_, b)| h > b) {
                        best = Some((i, h));
                    }
                }
            }
            let chosen = best.map_or(group[0], |(i, _)| i);
            if ran_ids.len() > 1 {
                let c = &self.classes[chosen];
                several_ran.push(match c.release {
                    Some(n) => format!("{} (META-INF/versions/{n})", c.analysis.name()),
                    None => c.analysis.name().to_string(),
                });
            }
            for &i in group {
                shown[i] = i == chosen;
            }
        }
        (shown, several_ran)
    }
}

/// Groups of indices of classes sharing a name, each in preference order: base entries in load
/// (class path) order, then multi-release versions by release.
fn version_groups(classes: &[BuildClass]) -> Vec<Vec<usize>> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in classes.iter().enumerate() {
        by_name.entry(c.analysis.name()).or_default().push(i);
    }
    by_name
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            // Stable: base entries (None) first, in load order.
            g.sort_by_key(|&i| classes[i].release);
            g
        })
        .collect()
}

fn preview(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::analysis::analyze_class;
    use crate::model::LineStatus;

    const TINY: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/java-corpus/fixtures/Tiny.class"
    ));

    fn tiny_build(target: &str) -> (JavaBuild, u64, usize) {
        let a = Arc::new(analyze_class(TINY).unwrap().unwrap());
        let id = crate::java::crc64::class_id(TINY);
        let n = a.probe_count();
        let classes = vec![BuildClass {
            id,
            analysis: a,
            source: Some("Tiny.java".into()),
            release: None,
        }];
        (JavaBuild::assemble(target, classes, Vec::new()), id, n)
    }

    fn exec(classes: &[(u64, &str, Vec<bool>)]) -> ExecData {
        ExecData {
            sessions: Vec::new(),
            classes: classes
                .iter()
                .map(|(id, name, probes)| {
                    (
                        *id,
                        ClassProbes {
                            name: name.to_string(),
                            probes: probes.clone().into(),
                        },
                    )
                })
                .collect(),
        }
    }

    fn messages(d: &[Diagnostic]) -> String {
        d.iter()
            .map(|d| format!("{}: {}", d.subject, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn absorbing_ors_fitting_classes_and_keeps_conflicting_ones_apart() {
        let class = |name: &str, bits: &[bool]| ClassProbes {
            name: name.into(),
            probes: bits.into(),
        };
        let mut ours = ExecData::default();
        ours.classes.insert(1, class("a/A", &[true, false]));
        ours.classes.insert(2, class("a/B", &[false]));
        let mut theirs = ExecData::default();
        theirs.classes.insert(1, class("a/A", &[false, true]));
        theirs.classes.insert(2, class("a/B", &[true, true]));
        theirs.classes.insert(3, class("a/C", &[true]));
        theirs.sessions.push(crate::java::exec::SessionInfo {
            id: "s".into(),
            start: 1,
            dump: 2,
        });
        ours.absorb(&theirs);
        assert_eq!(ours.classes[&1].probes, [true, true]);
        assert_eq!(
            ours.classes[&2].probes,
            [false],
            "another probe count is not merged"
        );
        assert_eq!(ours.classes[&3].probes, [true]);
        assert_eq!(ours.sessions.len(), 1);
    }

    #[test]
    fn two_targets_merge_probes_before_projection() {
        let (a, id, n) = tiny_build("a");
        let (b, _, _) = tiny_build("b");
        let union = JavaBuild::union("a, b", &[&a, &b]);
        assert_eq!(union.class_count(), 1, "one class id, taken once");
        // Every other probe on each side: together, all of them.
        let even: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let odd: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
        let (xa, xb) = (exec(&[(id, "Tiny", even)]), exec(&[(id, "Tiny", odd)]));
        let (files, diags) = union.project_targets(&[
            TargetExec {
                target: "a",
                parts: vec![&xa],
            },
            TargetExec {
                target: "b",
                parts: vec![&xb],
            },
        ]);
        assert!(diags.is_empty(), "{}", messages(&diags));
        assert_eq!(files.len(), 1);
        let (all, _) = a.project(Some(&exec(&[(id, "Tiny", vec![true; n])])));
        assert_eq!(
            files, all,
            "the merge is the projection of the OR of the probes"
        );
        assert!(
            files[0]
                .lines
                .iter()
                .all(|l| l.status == LineStatus::Covered)
        );
        // Each side alone leaves some line partial or missed.
        let (alone, _) = a.project(Some(&xa));
        assert!(
            alone[0]
                .lines
                .iter()
                .any(|l| l.status != LineStatus::Covered)
        );
    }

    #[test]
    fn a_class_id_with_another_name_or_probe_count_is_not_merged_and_named() {
        let (a, id, n) = tiny_build("a");
        let (b, _, _) = tiny_build("b");
        let union = JavaBuild::union("a, b", &[&a, &b]);
        let first: Vec<bool> = (0..n).map(|i| i == 0).collect();
        let xa = exec(&[(id, "Tiny", first.clone())]);
        // Target b's data says the id is another class: left out, and named.
        let xb = exec(&[(id, "Other", vec![true; n])]);
        let data = [
            TargetExec {
                target: "a",
                parts: vec![&xa],
            },
            TargetExec {
                target: "b",
                parts: vec![&xb],
            },
        ];
        let (merged, diags) = union.merge_targets(&data);
        assert_eq!(merged.unwrap().classes[&id].probes, first);
        let text = messages(&diags);
        assert!(text.contains(&format!("{id:016x}")), "{text}");
        assert!(
            text.contains("Tiny (") && text.contains("Other (") && text.contains("from b"),
            "{text}"
        );
        // Another probe count in b: a's data is used, b's is a probe-count mismatch of b and
        // a conflict of the id.
        let xb = exec(&[(id, "Tiny", vec![true; n + 1])]);
        let data = [
            TargetExec {
                target: "a",
                parts: vec![&xa],
            },
            TargetExec {
                target: "b",
                parts: vec![&xb],
            },
        ];
        let (files, diags) = union.project_targets(&data);
        let (expected, _) = a.project(Some(&xa));
        assert_eq!(files, expected);
        let text = messages(&diags);
        assert!(text.contains("b probe counts"), "{text}");
        assert!(!text.contains("a probe counts"), "{text}");
        assert!(text.contains(&format!("{id:016x}")), "{text}");

        // A class id without class file, with two names across targets: named too.
        let xa = exec(&[(7, "x/One", vec![true])]);
        let xb = exec(&[(7, "x/Two", vec![true])]);
        let (_, diags) = union.project_targets(&[
            TargetExec {
                target: "a",
                parts: vec![&xa],
            },
            TargetExec {
                target: "b",
                parts: vec![&xb],
            },
        ]);
        let text = messages(&diags);
        assert!(
            text.contains("0000000000000007: x/One (1 probes, from a) vs x/Two (1 probes, from b)"),
            "{text}"
        );
        assert!(text.contains("a classes without class files"), "{text}");
        assert!(text.contains("b classes without class files"), "{text}");
    }

    /// An agent without `includes=` reports the JDK's classes too: named as outside the
    /// application, not warned as classes missing their class files; an application class
    /// without class file still is.
    #[test]
    fn classes_outside_the_application_are_not_warned() {
        let a = Arc::new(analyze_class(TINY).unwrap().unwrap());
        let id = crate::java::crc64::class_id(TINY);
        let mut build = JavaBuild::assemble(
            "shop",
            vec![BuildClass {
                id,
                analysis: a,
                source: Some("Tiny.java".into()),
                release: None,
            }],
            Vec::new(),
        );
        // The build's class as if it were com/example/shop/Tiny.
        let known: Vec<u64> = build.by_name.remove("Tiny").unwrap_or_default();
        build
            .by_name
            .insert("com/example/shop/Tiny".to_string(), known);
        let x = exec(&[
            (11, "sun/net/httpserver/ServerImpl", vec![true]),
            (12, "java/util/HashMap", vec![true]),
            (13, "com/example/billing/Invoice", vec![true]),
        ]);
        let (_, diags) = build.project_targets(&[TargetExec {
            target: "shop",
            parts: vec![&x],
        }]);
        let outside = diags
            .iter()
            .find(|d| d.kind == DiagnosticKind::External)
            .expect("the JDK's classes are named apart");
        assert!(
            outside.message.contains("2 class(es)")
                && outside.message.contains("sun/net/httpserver/ServerImpl"),
            "{outside:?}"
        );
        let warned = diags
            .iter()
            .find(|d| d.subject.contains("without class files"))
            .expect("the application's own class is still warned");
        assert!(
            warned.message.contains("com/example/billing/Invoice")
                && !warned.message.contains("sun/"),
            "{warned:?}"
        );
        assert!(build.in_application_packages("com/example/shop/cart/Cart"));
        assert!(!build.in_application_packages("org/springframework/Bean"));
    }

    #[test]
    fn stale_and_unknown_classes_are_per_target() {
        let (a, id, n) = tiny_build("a");
        let xa = exec(&[(id, "Tiny", vec![true; n])]);
        let xb = exec(&[(id ^ 1, "Tiny", vec![true; n])]);
        let (_, diags) = a.project_targets(&[
            TargetExec {
                target: "a",
                parts: vec![&xa],
            },
            TargetExec {
                target: "b",
                parts: vec![&xb],
            },
        ]);
        let text = messages(&diags);
        assert!(text.contains("b stale classes"), "{text}");
        assert!(!text.contains("a stale classes"), "{text}");
        // No data at all: nothing merged, every line missed.
        let (merged, _) = a.merge_targets(&[]);
        assert!(merged.is_none());
        let (files, _) = a.project_targets(&[]);
        assert!(
            files[0]
                .lines
                .iter()
                .all(|l| l.status == LineStatus::Missed)
        );
    }
}
