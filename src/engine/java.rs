//! The JVM side of the engine: the classes of one JaCoCo target's build, analysed once (cached by
//! class id), and the projection of accumulated probes onto repository files.

use super::accumulate::Cumulative;
use crate::java::analysis::{ClassAnalysis, ClassCoverage, analyze_many, fold_source_lines};
use crate::java::archive::load_classes;
use crate::java::exec::ExecData;
use crate::java::sources::{SourceIndex, SourceMatch};
use crate::model::{Diagnostic, DiagnosticKind, FileCoverage};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

impl Cumulative for ExecData {
    fn absorb(&mut self, other: &Self) {
        // A conflicting class (same id, other probe count) cannot come from one agent; the
        // conflict is reported when the build is projected, so the rest is still merged.
        let mut copy = other.clone();
        copy.classes.retain(|id, c| {
            self.classes
                .get(id)
                .is_none_or(|ours| ours.probes.len() == c.probes.len() && ours.name == c.name)
        });
        let _ = self.merge(&copy);
    }

    fn decreased_from(&self, earlier: &Self) -> bool {
        earlier
            .classes
            .iter()
            .any(|(id, old)| match self.classes.get(id) {
                None => old.any_hit(),
                Some(new) => old
                    .probes
                    .iter()
                    .zip(&new.probes)
                    .any(|(&was, &is)| was && !is),
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
    /// Indices into `classes` of the entries that share a class name (versions of a
    /// multi-release jar, or one class in several jars), in preference order; of each group only
    /// one is projected (see [`JavaBuild::shown_versions`]).
    alternatives: Vec<Vec<usize>>,
    /// Problems found while loading and mapping: reported in every View.
    problems: Vec<Diagnostic>,
}

/// Analyses shared by every build of the session, keyed by class id.
pub type AnalysisCache = HashMap<u64, Arc<ClassAnalysis>>;

impl JavaBuild {
    /// Loads and analyses the classes under `paths` (directories, jars, fat jars, WARs).
    pub fn load(
        target: &str,
        paths: &[PathBuf],
        includes: &[String],
        sources: &SourceIndex,
        cache: &mut AnalysisCache,
    ) -> JavaBuild {
        let (entries, archive_problems) = load_classes(paths, includes);
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
        let mut classes = Vec::new();
        let mut by_name: HashMap<String, Vec<u64>> = HashMap::new();
        let mut missing_sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Classes not analysed yet (another target may share them) are analysed on every core.
        let fresh: Vec<&crate::java::archive::ClassEntry> = entries
            .iter()
            .filter(|e| !cache.contains_key(&e.id))
            .collect();
        let bytes: Vec<&[u8]> = fresh.iter().map(|e| &e.bytes[..]).collect();
        let mut skipped = std::collections::HashSet::new();
        for (e, result) in fresh.iter().zip(analyze_many(&bytes)) {
            match result {
                Ok(Some(a)) => {
                    cache.insert(e.id, Arc::new(a));
                }
                Ok(None) => {
                    skipped.insert(e.id);
                }
                Err(err) => {
                    skipped.insert(e.id);
                    problems.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: e.origin.clone(),
                        message: format!("cannot analyse the class: {err}"),
                        fix:
                            "give the original (not instrumented) class files of the deployed build"
                                .into(),
                    });
                }
            }
        }
        for e in entries {
            let Some(analysis) = cache.get(&e.id).cloned() else {
                continue;
            };
            if skipped.contains(&e.id) {
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
                Some(file) => match sources.resolve_release(analysis.package(), file, e.release) {
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
            by_name
                .entry(analysis.name().to_string())
                .or_default()
                .push(e.id);
            classes.push(BuildClass {
                id: e.id,
                analysis,
                source,
                release: e.release,
            });
        }
        // The class bytes and every parse are gone: give their memory back (see there).
        crate::java::parallel::release_free_memory();
        let alternatives = version_groups(&classes);
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
        JavaBuild {
            target: target.to_string(),
            classes,
            by_name,
            alternatives,
            problems,
        }
    }

    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The ids of the analysed classes: what identifies this build (see `carry::build_key`).
    pub fn class_ids(&self) -> std::collections::BTreeSet<u64> {
        self.classes.iter().map(|c| c.id).collect()
    }

    /// Projects `exec` (everything accumulated for the target) onto repository files.
    pub fn project(&self, exec: Option<&ExecData>) -> (Vec<FileCoverage>, Vec<Diagnostic>) {
        let mut diagnostics = self.problems.clone();
        let mut per_source: BTreeMap<&str, Vec<ClassCoverage>> = BTreeMap::new();
        let mut mismatched = Vec::new();
        let (shown, several_ran) = self.shown_versions(exec);
        let mut sealed = Vec::new();
        for (i, c) in self.classes.iter().enumerate() {
            let probes = exec.and_then(|e| e.classes.get(&c.id));
            let probes = match probes {
                Some(p) if p.probes.len() != c.analysis.probe_count() => {
                    mismatched.push(format!(
                        "{} ({} probes in the data, {} in the class)",
                        c.analysis.name(),
                        p.probes.len(),
                        c.analysis.probe_count()
                    ));
                    None
                }
                Some(p) => Some(p.probes.as_slice()),
                None => None,
            };
            if !shown[i] {
                continue;
            }
            if probes.is_none() && c.analysis.is_sealed() {
                // JaCoCo 0.8.6 cannot instrument it: no data can exist, so nothing is missed.
                sealed.push(c.analysis.name().to_string());
                continue;
            }
            let Some(src) = &c.source else { continue };
            per_source
                .entry(src.as_str())
                .or_default()
                .push(c.analysis.project(probes));
        }
        if !mismatched.is_empty() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: format!("{} probe counts", self.target),
                message: format!(
                    "{} class(es) whose data has another probe count than the class: {}",
                    mismatched.len(),
                    preview(&mismatched)
                ),
                fix: "the agent's JaCoCo version places probes differently: use the same JaCoCo version (0.8.x) as covtop's analysis expects".into(),
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
                    "{} class(es) ran in several versions (a multi-release jar on different Java releases, or the class in several jars); the version with the most probes hit is shown: {}",
                    several_ran.len(),
                    preview(&several_ran)
                ),
                fix: "run every replica on the same Java release and class path".into(),
            });
        }
        if let Some(exec) = exec {
            let mut stale = Vec::new();
            let mut unknown = Vec::new();
            for (id, data) in &exec.classes {
                if !data.any_hit() {
                    continue;
                }
                match self.by_name.get(&data.name) {
                    Some(ids) if !ids.contains(id) => stale.push(data.name.clone()),
                    Some(_) => {}
                    None => unknown.push(data.name.clone()),
                }
            }
            if !stale.is_empty() {
                diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: format!("{} stale classes", self.target),
                    message: format!(
                        "no match: {} class(es) ran from other bytes than the class files given: {}",
                        stale.len(),
                        preview(&stale)
                    ),
                    fix: "the class files are not the deployed build: point `classes` at the build that runs (or at its jar)".into(),
                });
            }
            if !unknown.is_empty() {
                diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: format!("{} classes without class files", self.target),
                    message: format!(
                        "{} class(es) ran but no class file was given for them: {}",
                        unknown.len(),
                        preview(&unknown)
                    ),
                    fix: "add their jar or folder to `classes`, or narrow the agent's `includes`"
                        .into(),
                });
            }
        }
        let files = per_source
            .into_iter()
            .map(|(path, covs)| {
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
            })
            .collect();
        (files, diagnostics)
    }
}

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
                    .map(|p| p.probes.iter().filter(|&&b| b).count())
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
