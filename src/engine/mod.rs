//! The engine owns the live state: it polls targets, persists every dump before using it,
//! accumulates per epoch, projects onto repository lines and publishes immutable Views.

pub mod accumulate;
mod build;
pub mod carry;
pub mod checkpoint;
pub mod collector;
pub mod core;
mod java;
pub mod live;
mod quarantine;
mod targets;

pub use targets::{ResetResult, TargetClient};

use crate::agent::{Payload, PollResult, ResetOutcome};
use crate::config::{Config, RangeSetting, TargetConfig};
use crate::go::modules::{ModuleMap, module_path};
use crate::go::profile::Profile;
use crate::java::exec::ExecData;
use crate::java::sources::SourceIndex;
use crate::model::{
    ChangedLines, Diagnostic, DiagnosticKind, FileCoverage, ReplicaState, ReplicaStatus, View,
};
use crate::session::{DumpMeta, DumpStore, PayloadKind, SessionCatalog, SessionStore, StoredDump};
use crate::vcs::{DiffSpec, RangeMode, Repo, Revision};
use carry::{BuildIds, BuildLines, LineStatuses};
use core::{Applied, Build, GoFit, Judge, Placement, SessionCore, Undecodable};
use java::{AnalysisCache, JavaBuild, TargetExec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the UI (or a headless loop) asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Poll every target now.
    PollNow,
    /// Take a snapshot: poll, persist, and tell where it was stored.
    Dump,
    /// Dump and persist first, then reset these targets (all when empty).
    Reset {
        targets: Vec<String>,
    },
    /// From now on "newly hit" is measured from this moment.
    Mark,
    /// Clear the mark: Views no longer count lines hit since a mark.
    Unmark,
    Pause(bool),
    SetInterval(Duration),
    /// Write a report in `format` to `path`, counting the files written in `progress` (the
    /// screen shows it while the export runs).
    Export {
        format: crate::report::Format,
        path: String,
        progress: crate::report::Progress,
    },
    Quit,
}

/// What the engine tells the UI besides new Views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Info(String),
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Vcs(#[from] crate::vcs::VcsError),
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("cannot read diff file {path}: {source}")]
    DiffFile {
        path: PathBuf,
        source: crate::bounded_read::ReadError,
    },
    #[error(transparent)]
    DiffParse(#[from] crate::vcs::DiffParseError),
    #[error("target {target}: {message}")]
    Target { target: String, message: String },
    #[error(
        "no go.mod at revision {revision} of {repo}: covtop maps Go import paths to files through the go.mod files \
         of the repository; check [repo] path and revision (the Go service's own repository and deployed commit)"
    )]
    NoGoModule { revision: String, repo: String },
    #[error("no target is named \"{0}\": the configured targets are {1}")]
    UnknownTarget(String, String),
    #[error(
        "baseline {baseline}: no session of that name in {dir} (sessions there: {known}); name a session, \
         `session:seq`, or a stored .dump file"
    )]
    NoBaselineSession {
        baseline: String,
        dir: PathBuf,
        known: String,
    },
    #[error("baseline {baseline}: {problem}")]
    BaselineDump { baseline: String, problem: String },
    #[error(
        "baseline {baseline} is from another repository: its revision {revision} is not in {repo}; \
         compare only sessions of this repository (or fetch that commit)"
    )]
    ForeignBaseline {
        baseline: String,
        revision: String,
        repo: String,
    },
}

/// A configured target at run time.
pub struct LiveTarget {
    pub config: TargetConfig,
    pub client: Arc<TargetClient>,
    /// The analysed classes of a JaCoCo target.
    /// Shared with the union of every target's build when it is the only one.
    java_build: Option<Arc<JavaBuild>>,
    status: BTreeMap<String, ReplicaStatus>,
    timeout: Duration,
    /// Hash of the build lines last saved for this (JaCoCo) target, to write only on change.
    saved_lines: Option<u64>,
    /// goc v2 `revision_from_extra`: the first capture group is the agent's build commit.
    revision_from_extra: Option<regex::Regex>,
    /// The build this target's newest dumps come from, when the agents' extra names one other
    /// than the configured revision: (what the extra said, resolved short id or that text).
    runs_other: Option<String>,
    /// JaCoCo: the ids of the analysed classes and their build key.
    class_ids: BTreeSet<u64>,
    build_key: String,
    /// JaCoCo: hit class ids of the data that are not among the analysed classes, as last
    /// checked against saved builds.
    foreign_ids: BTreeSet<u64>,
    /// Per replica, the last dump stored (in this process or replayed) and its file: an
    /// unchanged dump is not stored again.
    last_stored: BTreeMap<String, LastStored>,
    /// goc v2 `revision_from_extra`: the build each listed replica's newest dump came from
    /// (`None`: the configured revision). Replicas are polled one by one, so `runs_other` is
    /// decided over all of them.
    replica_builds: BTreeMap<String, Option<String>>,
}

/// A replica's last stored dump, compared exactly (no hash: a collision would drop a dump).
#[derive(Debug, Clone)]
struct LastStored {
    revision: String,
    instance: Option<String>,
    /// Only the newest per replica is kept, moved in (never copied) once it was applied.
    payload: Vec<u8>,
    path: PathBuf,
    /// The dump could not be decoded and was set aside (`path` is then in quarantine): the
    /// same content again is not stored again, and is reported undecodable again.
    set_aside: Option<String>,
}

impl LastStored {
    fn holds(&self, payload: &[u8], revision: &str, instance: Option<&str>) -> bool {
        self.revision == revision
            && self.instance.as_deref() == instance
            && *self.payload == *payload
    }
}

/// What one JaCoCo target's classes are to be loaded from.
struct JavaPlan {
    target: String,
    paths: Vec<PathBuf>,
    includes: Vec<String>,
    index: SourceIndex,
}

/// The class loading and analysis of every JaCoCo target, detached from the engine so it can run
/// on another thread while the screen already shows the Go data.
pub struct JavaLoader {
    plans: Vec<JavaPlan>,
}

/// What a [`JavaLoader`] produced: each target's analysed build.
pub struct JavaLoaded {
    builds: Vec<(String, JavaBuild)>,
}

impl JavaLoader {
    /// Reads and analyses every target's classes (on every core; analyses shared by class id).
    pub fn run(self) -> JavaLoaded {
        let mut analyses = AnalysisCache::new();
        let builds = self
            .plans
            .into_iter()
            .map(|p| {
                let b = JavaBuild::load(&p.target, &p.paths, &p.includes, &p.index, &mut analyses);
                (p.target, b)
            })
            .collect();
        JavaLoaded { builds }
    }

    /// Like [`JavaLoader::run`], with the classes already read and analysed by
    /// [`EarlyAnalysis::run`] (of the same configuration): only their sources are looked up.
    fn run_analysed(self, early: EarlyAnalysis) -> JavaLoaded {
        let EarlyAnalysis { targets, analyses } = early;
        let same = targets.len() == self.plans.len()
            && targets
                .iter()
                .zip(&self.plans)
                .all(|((name, _), p)| *name == p.target);
        if !same {
            return self.run();
        }
        let builds = self
            .plans
            .into_iter()
            .zip(targets)
            .map(|(p, (_, analysed))| {
                let b = JavaBuild::map_sources(&p.target, analysed, &p.index, &analyses);
                (p.target, b)
            })
            .collect();
        JavaLoaded { builds }
    }
}

/// The class files of every JaCoCo target read and analysed straight from the configuration,
/// before the repository is read: [`Engine::open`] runs it beside the git work.
struct EarlyAnalysis {
    targets: Vec<(String, java::AnalysedClasses)>,
    analyses: AnalysisCache,
}

impl EarlyAnalysis {
    fn run(config: &Config) -> EarlyAnalysis {
        let mut analyses = AnalysisCache::new();
        let targets = java_class_paths(config)
            .into_iter()
            .map(|(target, paths, includes)| {
                let a = JavaBuild::analyse(target, &paths, includes, &mut analyses);
                (target.to_string(), a)
            })
            .collect();
        EarlyAnalysis { targets, analyses }
    }
}

/// (target, class paths, includes) of every JaCoCo target, the paths relative to the
/// configuration file's folder.
fn java_class_paths(config: &Config) -> Vec<(&str, Vec<PathBuf>, &[String])> {
    let config_dir = config
        .source
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), |p| p.to_path_buf());
    config
        .targets
        .iter()
        .filter_map(|t| match &t.kind {
            crate::config::TargetKind::Jacoco {
                classes, includes, ..
            } => Some((
                t.name.as_str(),
                classes.iter().map(|c| config_dir.join(c)).collect(),
                includes.as_slice(),
            )),
            _ => None,
        })
        .collect()
}

/// How many first-parent ancestors of the revision are tried to find the commit a Go build
/// that does not fit the revision was made from.
const LAYOUT_SEARCH_DEPTH: usize = 64;
/// The largest `diff_file` covtop reads (it may be a pipe: read up to this much).
const MAX_DIFF_FILE_BYTES: u64 = 256 << 20;

/// A saved build file of the session folder (`session::builds`), when it is a regular file of a
/// size covtop writes.
fn read_build_file(path: &std::path::Path) -> Result<Vec<u8>, crate::bounded_read::ReadError> {
    crate::bounded_read::read_regular(path, crate::session::builds::MAX_FILE_BYTES)
}

impl LiveTarget {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Number of analysed classes, for JaCoCo targets.
    pub fn class_count(&self) -> Option<usize> {
        self.java_build.as_deref().map(JavaBuild::class_count)
    }

    /// The replica was reset: its first dump after that is always stored, whatever it holds.
    fn mark_reset(&mut self, replica: &str) {
        self.last_stored.remove(replica);
    }
}

/// A stored dump that could not be used, as a diagnostic naming it.
fn stored_dump_problem(p: &crate::session::SessionProblem) -> Diagnostic {
    Diagnostic {
        kind: DiagnosticKind::Mismatch,
        subject: p.path.display().to_string(),
        message: format!("stored dump skipped: {}", p.problem),
        fix: "move the file out of the session folder; the other dumps are used".into(),
    }
}

/// The outcome of polling one target once, for the headless commands.
#[derive(Debug, Clone)]
pub struct TargetPoll {
    pub target: String,
    pub stored: Vec<(String, PathBuf)>,
    pub failures: Vec<(String, String)>,
    /// Dumps that were stored but could not be decoded: (replica, error).
    pub undecodable: Vec<(String, String)>,
    /// Replicas whose dump is of another build than the configured revision's: stored, kept
    /// apart, not merged (see the View's diagnostics for why).
    pub other_build: Vec<String>,
    /// Dumps equal to their replica's previous one: not stored again (listed in `stored` with
    /// the file that holds that content).
    pub unchanged: usize,
}

/// The outcome of resetting one target.
#[derive(Debug, Clone)]
pub struct TargetReset {
    pub target: String,
    pub dump: TargetPoll,
    pub outcomes: Vec<ResetOutcome>,
    /// Replicas not reset because their dump could not be stored first.
    pub skipped: Vec<(String, String)>,
}

/// The live state of one covtop session.
pub struct Engine {
    config: Config,
    repo: Repo,
    revision: Revision,
    base_label: String,
    changed: Arc<ChangedLines>,
    modules: ModuleMap,
    store: Box<dyn DumpStore>,
    targets: Vec<LiveTarget>,
    /// The classes of every JaCoCo target united by class id: the data of every target and
    /// replica is merged per class id, probe by probe, and projected once through it.
    java_union: Option<Arc<JavaBuild>>,
    /// The last View's JaCoCo projection, kept while no JaCoCo target's data changes.
    java_view: Option<JavaView>,
    /// The class files of JaCoCo targets, not loaded yet (see [`Engine::open_deferred`]).
    java_pending: Option<JavaLoader>,
    /// The loader was taken and runs elsewhere: Views say "analysing".
    java_loading: bool,
    build: build::ViewBuilder,
    session_problems: Vec<Diagnostic>,
    /// What the background checkpointer met on its last look (see [`Engine::start_checkpoints`]).
    checkpoint_problems: Arc<std::sync::Mutex<Vec<Diagnostic>>>,
    undecodable: Vec<Diagnostic>,
    /// Hit lines of older builds mapped onto the current revision.
    carried: LineStatuses,
    carried_from: Vec<String>,
    /// Problems met while carrying older builds: reported in every View.
    carry_problems: Vec<Diagnostic>,
    /// Problems of the diff file, kept apart so that carrying can be recomputed.
    diff_problems: Vec<Diagnostic>,
    /// What the session's dumps add up to, per build: the current build (the configured
    /// revision) and every older one (recarried when new dumps of them arrive).
    core: SessionCore,
    /// What the repository said about revisions and Go block layouts (see [`RepoJudge`]).
    memo: Judgements,
    /// Line maps from older revisions onto the current one, computed once per revision.
    line_maps: BTreeMap<String, crate::vcs::LineMaps>,
    /// Agents whose extra names a commit the repository does not have: (replica, commit).
    unknown_builds: BTreeMap<(String, String), Diagnostic>,
    baseline: Option<build::Baseline>,
    /// The languages the configured targets cover (what "no data" means).
    languages: build::CoveredLanguages,
    /// JaCoCo build lines projected by the last View, encoded on a thread of their own while
    /// the View is used, waiting for `save_build_lines`.
    pending_line_saves: Option<PendingLines>,
    /// Problems of the last `save_build_lines`, reported in every View until it succeeds.
    line_save_problems: Vec<Diagnostic>,
    /// The highest sequence number of the session applied (replayed, stored or followed).
    seen_seq: u64,
    /// Dumps this engine stored above `seen_seq` while following the session.
    own_seqs: BTreeSet<u64>,
    /// Whether [`Engine::follow`] was called.
    following: bool,
    /// A viewer (`covtop --attach`): follows the session, polls no agent unless asked.
    pub attached: bool,
    pub demo: bool,
    pub paused: bool,
    /// Store every dump, unchanged or not: a snapshot the user asked for (`covtop dump`, the
    /// screen's `d`) is always a file of its own.
    pub always_store: bool,
}

impl Engine {
    /// Opens the repository, computes the changed lines, opens the session store and replays the
    /// dumps already stored in it.
    pub fn open(config: Config) -> Result<Engine, EngineError> {
        if java_class_paths(&config).is_empty() {
            return Engine::open_deferred(config);
        }
        // The class files are read and analysed (on every core) while the repository is read;
        // only the lookup of their source files waits for the repository's file list.
        std::thread::scope(|scope| {
            let early = scope.spawn(|| EarlyAnalysis::run(&config));
            let mut engine = Engine::open_deferred(config.clone())?;
            if let Some(loader) = engine.take_java_loader() {
                let loaded = match early.join() {
                    Ok(early) => loader.run_analysed(early),
                    // Never seen (the analysis is fuzzed): do it again here.
                    Err(_) => loader.run(),
                };
                engine.install_java(loaded);
            }
            Ok(engine)
        })
    }

    /// Like [`Engine::open`], but the class files of JaCoCo targets are not read nor analysed
    /// yet: the screen draws its first frame at once, runs [`Engine::take_java_loader`]'s work
    /// on a blocking thread and installs it when it is done (Views say "analysing" meanwhile).
    pub fn open_deferred(config: Config) -> Result<Engine, EngineError> {
        let repo = Repo::open(&config.repo.path)?;
        let revision = repo.resolve(&config.repo.revision)?;
        let mut diff_problems = Vec::new();
        let (changed, base_label) = match &config.repo.diff_file {
            Some(path) => {
                let text = crate::bounded_read::read_stream_text(path, MAX_DIFF_FILE_BYTES)
                    .map_err(|source| EngineError::DiffFile {
                        path: path.clone(),
                        source,
                    })?;
                let changed = crate::vcs::parse_unified_diff(&text, &path.display().to_string())?;
                diff_problems = diff_file_problems(&repo, &revision, &changed, path);
                (changed, format!("diff {}", path.display()))
            }
            None => {
                let spec = DiffSpec {
                    base: config.repo.base.clone(),
                    revision: config.repo.revision.clone(),
                    range: match config.repo.range {
                        RangeSetting::MergeBase => RangeMode::MergeBase,
                        RangeSetting::TwoDot => RangeMode::TwoDot,
                    },
                    working_tree: config.repo.working_tree,
                    untracked: config.repo.untracked,
                    ignore_whitespace: config.repo.ignore_whitespace,
                    detect_renames: config.repo.detect_renames,
                };
                (repo.changed_lines(&spec)?, config.repo.base.clone())
            }
        };
        let modules = go_modules(&repo, &revision)?;
        let store = crate::session::open_store(&config.session, &store_root(&config, &repo))?;
        let mut java_plans: Vec<JavaPlan> = Vec::new();
        let mut class_paths = java_class_paths(&config).into_iter();
        let mut repo_files: Option<Vec<String>> = None;
        let mut targets = Vec::new();
        for t in &config.targets {
            if let crate::config::TargetKind::Jacoco { source_roots, .. } = &t.kind
                && let Some((_, paths, includes)) = class_paths.next()
            {
                if repo_files.is_none() {
                    repo_files = Some(repo.list_files(&revision)?);
                }
                java_plans.push(JavaPlan {
                    target: t.name.clone(),
                    paths,
                    includes: includes.to_vec(),
                    index: SourceIndex::new(repo_files.as_deref().unwrap_or(&[]), source_roots),
                });
            }
            let revision_from_extra = match &t.revision_from_extra {
                Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
                    EngineError::Target {
                        target: t.name.clone(),
                        message: format!(
                            "revision_from_extra = {pattern:?} is not a valid regular expression: {e}"
                        ),
                    }
                })?),
                None => None,
            };
            let client = TargetClient::new(t, config.poll.timeout).map_err(|message| {
                EngineError::Target {
                    target: t.name.clone(),
                    message,
                }
            })?;
            targets.push(LiveTarget {
                config: t.clone(),
                client: Arc::new(client),
                java_build: None,
                status: BTreeMap::new(),
                timeout: t.timeout.unwrap_or(config.poll.timeout),
                saved_lines: None,
                revision_from_extra,
                runs_other: None,
                class_ids: BTreeSet::new(),
                build_key: String::new(),
                foreign_ids: BTreeSet::new(),
                last_stored: BTreeMap::new(),
                replica_builds: BTreeMap::new(),
            });
        }
        let build = build::ViewBuilder::new(crate::model::CoverageRule {
            partial_as_covered: config.report.partial_as_covered,
        });
        let languages = covered_languages(&config);
        let mut engine = Engine {
            core: SessionCore::new(&revision.oid),
            memo: Judgements::default(),
            config,
            repo,
            revision,
            base_label,
            changed: Arc::new(changed),
            modules,
            store,
            targets,
            java_union: None,
            java_view: None,
            java_pending: (!java_plans.is_empty()).then(|| JavaLoader { plans: java_plans }),
            java_loading: false,
            build,
            session_problems: Vec::new(),
            checkpoint_problems: Arc::default(),
            undecodable: Vec::new(),
            carried: LineStatuses::new(),
            carried_from: Vec::new(),
            carry_problems: diff_problems.clone(),
            diff_problems,
            line_maps: BTreeMap::new(),
            unknown_builds: BTreeMap::new(),
            baseline: None,
            languages,
            pending_line_saves: None,
            line_save_problems: Vec::new(),
            seen_seq: 0,
            own_seqs: BTreeSet::new(),
            following: false,
            attached: false,
            demo: false,
            paused: false,
            always_store: false,
        };
        engine.replay()?;
        Ok(engine)
    }

    /// The class loading and analysis of the JaCoCo targets, when not done yet: run it (on a
    /// blocking thread) and give the result to [`Engine::install_java`].
    pub fn take_java_loader(&mut self) -> Option<JavaLoader> {
        let loader = self.java_pending.take();
        self.java_loading = loader.is_some();
        loader
    }

    /// Installs the analysed classes of the JaCoCo targets: from now on Views project their
    /// data (replayed and polled meanwhile, nothing is lost).
    pub fn install_java(&mut self, loaded: JavaLoaded) {
        for (name, build) in loaded.builds {
            if let Some(i) = self.target_index_of(&name) {
                let t = &mut self.targets[i];
                t.class_ids = build.class_ids();
                t.build_key = carry::build_key(t.class_ids.iter().copied());
                t.java_build = Some(Arc::new(build));
            }
        }
        let builds: Vec<(&str, &Arc<JavaBuild>)> = self
            .targets
            .iter()
            .filter_map(|t| t.java_build.as_ref().map(|b| (t.config.name.as_str(), b)))
            .collect();
        self.java_union = match builds.as_slice() {
            [] => None,
            // One build is its own union: shared, not copied.
            [(_, one)] => Some(Arc::clone(one)),
            several => {
                let names: Vec<&str> = several.iter().map(|(n, _)| *n).collect();
                let all: Vec<&JavaBuild> = several.iter().map(|(_, b)| &***b).collect();
                Some(Arc::new(JavaBuild::union(&names.join(", "), &all)))
            }
        };
        self.java_view = None;
        self.java_loading = false;
        self.recarry();
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub fn revision(&self) -> &Revision {
        &self.revision
    }

    pub fn changed(&self) -> &ChangedLines {
        &self.changed
    }

    pub fn target_index_of(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.config.name == name)
    }

    pub fn targets(&self) -> &[LiveTarget] {
        &self.targets
    }

    /// Where the session's dumps are (a folder, or a database without any password).
    pub fn store_location(&self) -> String {
        self.store.location()
    }

    pub fn session_dir(&self) -> PathBuf {
        self.store.local_dir().to_path_buf()
    }

    /// Files of the session that could not be replayed (corrupt, truncated, foreign, unfinished
    /// writes), as diagnostics naming each file.
    pub fn session_problems(&self) -> &[Diagnostic] {
        &self.session_problems
    }

    pub fn modules(&self) -> &ModuleMap {
        &self.modules
    }

    /// Fails when Go coverage cannot be mapped at all: Go targets but no go.mod at the revision.
    pub fn check_mappable(&self) -> Result<(), EngineError> {
        let has_go = self.targets.iter().any(|t| {
            matches!(
                t.config.kind,
                crate::config::TargetKind::GocV1 { .. } | crate::config::TargetKind::GocV2 { .. }
            )
        });
        if has_go && self.modules.is_empty() {
            return Err(EngineError::NoGoModule {
                revision: self.revision.short.clone(),
                repo: self.config.repo.path.display().to_string(),
            });
        }
        Ok(())
    }

    /// Applies one dump to the session core, with the repository as its judge.
    fn apply_dump(
        &mut self,
        meta: &DumpMeta,
        payload: &[u8],
        origin: &str,
    ) -> Result<Applied, Undecodable> {
        let mut judge = RepoJudge {
            repo: &self.repo,
            revision: &self.revision,
            modules: &self.modules,
            memo: &mut self.memo,
            classes: self.java_union.as_deref(),
        };
        self.core.apply_guarded(meta, payload, origin, &mut judge)
    }

    /// Whether a revision stored with a dump names the configured one.
    fn is_current(&mut self, revision: &str) -> bool {
        RepoJudge {
            repo: &self.repo,
            revision: &self.revision,
            modules: &self.modules,
            memo: &mut self.memo,
            classes: None,
        }
        .is_current(revision)
    }

    /// Restores the session's checkpoint and replays the dumps stored after it (every dump
    /// when there is none, or it cannot be used), so that a restarted covtop continues it.
    fn replay(&mut self) -> Result<(), EngineError> {
        // Set aside by earlier commands (counted before this replay sets any aside).
        let earlier = quarantine::earlier(self.store.as_ref());
        let (mut folded, mut notes, other) =
            checkpoint::restore(self.store.as_ref(), &self.revision.oid);
        // Read one dump at a time: a session's dumps are never all in memory at once.
        let stream = self.store.stream_after(folded.upto)?;
        let mut judge = RepoJudge {
            repo: &self.repo,
            revision: &self.revision,
            modules: &self.modules,
            memo: &mut self.memo,
            classes: self.java_union.as_deref(),
        };
        folded.fold(stream, &mut judge, self.store.as_ref());
        notes.extend(other.and_then(|o| {
            o.missing(
                folded.first_read,
                &self.store.location(),
                &self.revision.short,
            )
        }));
        self.core = folded.core;
        for ((target, replica), last) in folded.last {
            if let Some(i) = self.target_index_of(&target) {
                self.targets[i].last_stored.insert(replica, last);
            }
        }
        self.undecodable.extend(folded.undecodable);
        self.seen_seq = folded.upto;
        self.session_problems = folded.problems.iter().map(stored_dump_problem).collect();
        self.session_problems.extend(notes);
        self.session_problems.extend(earlier);
        for i in 0..self.targets.len() {
            if self.targets[i].revision_from_extra.is_none() {
                continue;
            }
            let Some((at, revisions)) = folded.recent.get(&self.targets[i].config.name) else {
                continue;
            };
            let last: Vec<&String> = revisions
                .iter()
                .filter(|(t, _)| t + 1000 >= *at)
                .map(|(_, r)| r)
                .collect();
            if let Some(other) = last.first()
                && last.iter().all(|r| !self.is_current(r))
            {
                self.targets[i].runs_other = Some(
                    self.repo
                        .resolve(other)
                        .map_or_else(|_| (*other).clone(), |r| r.short),
                );
            }
        }
        self.recarry();
        Ok(())
    }

    /// Applies stored dumps as a replay does (reset markers open epochs, every dump goes to its
    /// build); returns true when some went to another build than the current one.
    fn apply_stored(&mut self, dumps: impl IntoIterator<Item = StoredDump>) -> bool {
        let mut other_build = false;
        for d in dumps {
            let mut judge = RepoJudge {
                repo: &self.repo,
                revision: &self.revision,
                modules: &self.modules,
                memo: &mut self.memo,
                classes: self.java_union.as_deref(),
            };
            let step =
                checkpoint::apply_stored_dump(&mut self.core, &mut judge, self.store.as_ref(), d);
            other_build |= step.other_build;
            self.undecodable.extend(step.undecodable);
            if let Some(i) = self.target_index_of(&step.target) {
                match step.last {
                    // A restarted covtop does not store the same content again either.
                    Some(last) => {
                        self.targets[i].last_stored.insert(step.replica, last);
                    }
                    None => self.targets[i].mark_reset(&step.replica),
                }
            }
        }
        other_build
    }

    /// Starts folding the session into checkpoints in the background (a thread with its own
    /// store handle and repository: never the screen's thread nor this engine's task). What
    /// went wrong on its last look is a diagnostic of the next Views; the checkpoint it stops
    /// with when dropped is whole or absent.
    pub fn start_checkpoints(&self) -> Option<checkpoint::Background> {
        let problems = self.checkpoint_problems.clone();
        let set = move |now: Vec<Diagnostic>| {
            if let Ok(mut p) = problems.lock() {
                *p = now;
            }
        };
        match checkpoint::Checkpointer::start(self.config.clone(), set.clone()) {
            Ok(background) => Some(background),
            Err(e) => {
                set(vec![Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: self.store.location(),
                    message: format!("no checkpoints: cannot start their thread: {e}"),
                    fix: "nothing is lost: every restart replays the session's dumps".into(),
                }]);
                None
            }
        }
    }

    /// Follows the session's store: a feed announcing every dump any writer (another covtop,
    /// the team's `covtop watch`) stores from now on. Give what it announces to
    /// [`Engine::apply_followed`]; this engine's own dumps are recognised and not applied twice.
    pub fn follow(&mut self) -> Result<crate::session::DumpFeed, EngineError> {
        let feed = self.store.subscribe()?;
        self.following = true;
        Ok(feed)
    }

    /// Applies the dumps other writers stored up to `announced` (a sequence number from the
    /// feed of [`Engine::follow`]) like replayed ones; returns how many were applied (a new
    /// View is worth building only then).
    pub fn apply_followed(&mut self, announced: u64) -> Result<usize, EngineError> {
        // Spooled dumps the store uploaded meanwhile on its own are this engine's too.
        for n in self.store.take_uploaded() {
            if n > self.seen_seq {
                self.own_seqs.insert(n);
            }
        }
        if announced <= self.seen_seq {
            return Ok(0);
        }
        // Only this engine's own dumps since the last look: nothing to read.
        if (self.seen_seq + 1..=announced).all(|n| self.own_seqs.contains(&n)) {
            self.own_seqs.retain(|&n| n > announced);
            self.seen_seq = announced;
            return Ok(0);
        }
        let (dumps, problems) = self.store.load_after(self.seen_seq)?;
        self.session_problems
            .extend(problems.into_iter().map(|p| stored_dump_problem(&p)));
        let top = dumps.iter().map(|d| d.meta.seq).max().unwrap_or(announced);
        let others: Vec<StoredDump> = dumps
            .into_iter()
            .filter(|d| !self.own_seqs.contains(&d.meta.seq))
            .collect();
        self.own_seqs.retain(|&n| n > top);
        self.seen_seq = self.seen_seq.max(top);
        let applied = others.len();
        if self.apply_stored(others) {
            self.recarry();
        }
        Ok(applied)
    }

    /// Notes a dump this engine stored, so that following the session does not apply it again.
    /// Spooled dumps (acknowledged with 0 while the shared store was unreachable) are numbered
    /// when uploaded: those numbers are this engine's own too.
    fn stored_own(&mut self, seq: u64) {
        let uploaded = self.store.take_uploaded();
        if !self.following {
            return;
        }
        for n in uploaded.into_iter().chain([seq]) {
            if n > self.seen_seq {
                self.own_seqs.insert(n);
            }
        }
    }

    /// Recomputes the lines carried from every older build known so far.
    fn recarry(&mut self) {
        self.carried = LineStatuses::new();
        self.carried_from.clear();
        self.carry_problems = self.diff_problems.clone();
        // Taken out for the while: carrying reads the builds and writes the carried lines.
        let core = std::mem::replace(&mut self.core, SessionCore::new(""));
        let older: Vec<&Build> = core.older().collect();
        self.carry_older_builds(&older);
        self.core = core;
        for i in 0..self.targets.len() {
            self.carry_swapped_java_build(i);
        }
    }

    /// The hit class ids of a JaCoCo target's data that are not among its analysed classes.
    fn foreign_ids(&self, i: usize) -> BTreeSet<u64> {
        let t = &self.targets[i];
        if t.java_build.is_none() {
            return BTreeSet::new();
        }
        // Probes merge by OR, so a class ran in the total exactly when it ran in some part:
        // no need to build the total on every poll.
        // Ids of another target's classes are projected through the union, not foreign.
        let in_union = |id: u64| self.java_union.as_ref().is_some_and(|u| u.has_class(id));
        let Some(data) = self.core.current_target(&t.config.name) else {
            return BTreeSet::new();
        };
        data.java
            .parts()
            .flat_map(|e| e.classes.iter())
            .filter(|(id, c)| c.any_hit() && !t.class_ids.contains(id) && !in_union(**id))
            .map(|(id, _)| *id)
            .collect()
    }

    /// JaCoCo data from other class ids than the configured classes ("no match"), e.g. a
    /// rebuilt service redeployed without a new `[repo] revision`: when a build saved earlier
    /// ran those ids, its saved line statuses are carried (through the diff when its revision
    /// differs). Probes are never applied to other class ids.
    fn carry_swapped_java_build(&mut self, i: usize) {
        let foreign = self.foreign_ids(i);
        self.targets[i].foreign_ids = foreign.clone();
        if foreign.is_empty() {
            return;
        }
        let name = self.targets[i].config.name.clone();
        let key = self.targets[i].build_key.clone();
        let dir = carry::builds_dir(self.store.local_dir());
        let prefix = carry::ids_file_name(&name, "");
        let prefix = prefix.trim_end_matches(".ids");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(prefix)
                        && n.ends_with(".ids")
                        && n != carry::ids_file_name(&name, &key)
                })
            })
            .collect();
        files.sort();
        for ids_path in files {
            let problem = |message: String| Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: ids_path.display().to_string(),
                message,
                fix: "remove the file; that build's coverage is then not carried".into(),
            };
            let ids = match read_build_file(&ids_path)
                .map_err(|e| e.to_string())
                .and_then(|b| BuildIds::decode(&b, &ids_path).map_err(|e| e.to_string()))
            {
                Ok(ids) => ids,
                Err(e) => {
                    self.carry_problems.push(problem(e));
                    continue;
                }
            };
            let matched = foreign.iter().filter(|id| ids.ids.contains(id)).count();
            if matched == 0 {
                continue;
            }
            let build = ids_path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.strip_suffix(".ids"))
                .unwrap_or_default()
                .trim_start_matches('k')
                .to_string();
            let lines_path = dir.join(carry::keyed_lines_file_name(&name, &build));
            let lines = match read_build_file(&lines_path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    BuildLines::decode(&b, &lines_path, &ids.revision).map_err(|e| e.to_string())
                }) {
                Ok(l) => l,
                Err(e) => {
                    self.carry_problems.push(problem(format!(
                        "saved line statuses of build {build} unusable: {e}"
                    )));
                    continue;
                }
            };
            let maps = self
                .repo
                .resolve(&ids.revision)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    self.repo
                        .line_map(&r, &self.revision)
                        .map(|m| (r.short, m))
                        .map_err(|e| e.to_string())
                });
            match maps {
                Ok((short_rev, maps)) => {
                    lines.map_onto(&maps, true, &mut self.carried);
                    let from = format!("{short_rev}/{}", &build[..build.len().min(8)]);
                    if !self.carried_from.contains(&from) {
                        self.carried_from.push(from);
                    }
                    self.carry_problems.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: format!("{name} earlier build"),
                        message: format!(
                            "{matched} class id(s) in the data are from an earlier build ({build}, revision {short_rev}), not the class files given: its saved line statuses are carried, its probes are not applied"
                        ),
                        fix: "point `classes` at the build that runs; its own coverage then replaces the carried lines".into(),
                    });
                }
                Err(e) => self.carry_problems.push(problem(format!(
                    "build {build} of revision {} is not carried: {e}",
                    ids.revision
                ))),
            }
        }
    }

    /// Maps the hit lines of every older build stored in the session onto the current revision.
    fn carry_older_builds(&mut self, older: &[&Build]) {
        let dir = self.store.local_dir().to_path_buf();
        for data in older {
            let rev = &data.revision;
            if data.dumps == 0 {
                continue;
            }
            let revision = match self.repo.resolve(rev) {
                Ok(r) => r,
                Err(e) => {
                    self.carry_problems.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: format!("build {}", short(rev)),
                        message: format!(
                            "{} stored dump(s) of revision {rev} are not carried over: {e}",
                            data.dumps
                        ),
                        fix: "fetch that commit into the repository; the dumps are kept on disk"
                            .into(),
                    });
                    continue;
                }
            };
            if revision.oid == self.revision.oid {
                continue;
            }
            let (lines, problems) = self.build_lines(&revision, data, &dir);
            self.carry_problems.extend(problems);
            let maps = match self.line_maps.get(&revision.oid) {
                Some(m) => Ok(m.clone()),
                None => self.repo.line_map(&revision, &self.revision),
            };
            match maps {
                Ok(maps) => {
                    lines.map_onto(&maps, true, &mut self.carried);
                    self.line_maps.insert(revision.oid.clone(), maps);
                    self.carried_from.push(revision.short.clone());
                }
                Err(e) => self.carry_problems.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: format!("build {}", revision.short),
                    message: format!(
                        "coverage of build {} is not carried over: {e}",
                        revision.short
                    ),
                    fix: "check the repository; the dumps are kept on disk".into(),
                }),
            }
        }
    }

    /// The line statuses of one build at its own revision: Go profiles projected with the
    /// sources and go.mod files of that revision; JaCoCo from the current classes when the build
    /// is the current one, else from the lines saved while that build ran.
    fn build_lines(
        &self,
        revision: &Revision,
        data: &Build,
        session_dir: &std::path::Path,
    ) -> (BuildLines, Vec<Diagnostic>) {
        let mut out = BuildLines {
            revision: revision.oid.clone(),
            ..BuildLines::default()
        };
        let mut problems = Vec::new();
        if let Some(profile) = data.go_total() {
            match go_modules(&self.repo, revision) {
                Ok(modules) => {
                    let source = |p: &str| -> Option<Arc<[u8]>> {
                        self.repo
                            .read_file(revision, p)
                            .ok()
                            .flatten()
                            .map(Arc::from)
                    };
                    let projection = crate::go::project::project(&profile, &modules, &source);
                    let files: Vec<&FileCoverage> = projection
                        .files
                        .iter()
                        .filter(|f| source(&f.path).is_some())
                        .collect();
                    out.absorb(&BuildLines::from_coverage(&revision.oid, files));
                }
                Err(e) => problems.push(Diagnostic {
                    kind: DiagnosticKind::Unmapped,
                    subject: format!("build {}", revision.short),
                    message: format!(
                        "Go coverage of build {} cannot be mapped: {e}",
                        revision.short
                    ),
                    fix: "check that the revision has the service's go.mod".into(),
                }),
            }
        }
        // The current build: every target's data merged per class id and projected once.
        let current = revision.oid == self.revision.oid;
        let projected = |target: &str| {
            current
                && self
                    .targets
                    .iter()
                    .any(|t| t.config.name == target && t.java_build.is_some())
        };
        if let Some(u) = &self.java_union {
            let parts: Vec<TargetExec> = data
                .targets
                .iter()
                .filter(|(target, t)| projected(target) && !t.java.replicas.is_empty())
                .map(|(target, t)| TargetExec {
                    target,
                    parts: t.java.parts().collect(),
                })
                .collect();
            if !parts.is_empty() {
                let (files, _) = u.project_targets(&parts);
                out.absorb(&BuildLines::from_coverage(&revision.oid, &files));
            }
        }
        for (target, _) in data
            .targets
            .iter()
            .filter(|(_, t)| !t.java.replicas.is_empty())
        {
            if projected(target) {
                continue;
            }
            let path =
                carry::builds_dir(session_dir).join(carry::lines_file_name(target, &revision.oid));
            match read_build_file(&path) {
                Ok(bytes) => match BuildLines::decode(&bytes, &path, &revision.oid) {
                    Ok(l) => out.absorb(&l),
                    Err(e) => problems.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: format!("{target} build {}", revision.short),
                        message: format!("saved line statuses unusable: {e}"),
                        fix: "remove the file; the build's coverage is then not carried".into(),
                    }),
                },
                Err(_) => problems.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: format!("{target} build {}", revision.short),
                    message: format!(
                        "JaCoCo coverage of build {} is not carried over: no line statuses were saved while it ran ({} missing)",
                        revision.short,
                        path.display()
                    ),
                    fix: "covtop saves them while a build is the configured revision with its class files; probe data is never mapped onto other class files".into(),
                }),
            }
        }
        (out, problems)
    }

    /// Compares every View from now on with `baseline`: a session name, `session:seq` (its dumps
    /// up to that sequence number), or a stored `.dump` file (its session up to that dump).
    pub fn set_baseline(&mut self, baseline: &str) -> Result<(), EngineError> {
        // The store folder holds `sessions/<name>`: this session's folder is two levels down.
        let catalog = SessionCatalog::new(
            self.store
                .local_dir()
                .parent()
                .and_then(|p| p.parent())
                .unwrap_or(std::path::Path::new(".")),
        );
        let as_file = std::path::Path::new(baseline);
        // A session of the shared store (PostgreSQL) is read from it, as the session in use is.
        let mut shared_session = None;
        let (dir, upto) = if baseline.ends_with(".dump") && as_file.is_file() {
            let dir = as_file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf();
            (dir, UpTo::File(as_file.to_path_buf()))
        } else {
            let (name, upto) = match baseline.rsplit_once(':') {
                Some((n, seq)) if !n.is_empty() => match seq.parse::<u64>() {
                    Ok(seq) => (n, UpTo::Seq(seq)),
                    Err(_) => {
                        return Err(EngineError::BaselineDump {
                            baseline: baseline.to_string(),
                            problem: format!(
                                "\"{seq}\" is not a dump sequence number; write session:seq, e.g. {n}:12"
                            ),
                        });
                    }
                },
                _ => (baseline, UpTo::All),
            };
            let (exists, known, place) = if self.store.shared() {
                let known = self.store.sessions()?;
                let place = PathBuf::from(self.store_location());
                (known.iter().any(|n| n == name), known, place)
            } else {
                let known = catalog.names().unwrap_or_default();
                (catalog.exists(name), known, catalog.sessions_dir())
            };
            if !exists {
                return Err(EngineError::NoBaselineSession {
                    baseline: baseline.to_string(),
                    dir: place,
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
            if self.store.shared() {
                shared_session = Some(name.to_string());
            }
            let dir = catalog.session_path(name);
            (dir, upto)
        };
        let problem = |p: String| EngineError::BaselineDump {
            baseline: baseline.to_string(),
            problem: p,
        };
        // A session folder is `<root>/sessions/<name>`; the store reopens it as such.
        let store: Box<dyn DumpStore> = match (
            dir.parent().and_then(|p| p.parent()),
            dir.file_name().and_then(|n| n.to_str()),
        ) {
            (Some(root), _) if let Some(name) = &shared_session => {
                let mut config = self.config.session.clone();
                config.name = name.clone();
                crate::session::open_store(&config, root)?
            }
            (Some(root), Some(name)) => Box::new(SessionStore::open(root, name)?),
            _ => {
                return Err(problem(format!(
                    "{} is not inside a covtop session folder (<dir>/sessions/<name>)",
                    dir.display()
                )));
            }
        };
        let (dumps, _) = store.load()?;
        let last = match &upto {
            UpTo::All => u64::MAX,
            UpTo::Seq(n) => *n,
            UpTo::File(f) => {
                let want = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
                dumps
                    .iter()
                    .find(|d| std::fs::canonicalize(&d.path).is_ok_and(|p| p == want))
                    .map(|d| d.meta.seq)
                    .ok_or_else(|| {
                        problem(format!(
                            "{} is not a readable covtop dump (see the diagnostics of that session)",
                            f.display()
                        ))
                    })?
            }
        };
        let dumps: Vec<StoredDump> = dumps.into_iter().filter(|d| d.meta.seq <= last).collect();
        let Some(newest) = dumps.iter().rev().find(|d| !d.meta.reset_after) else {
            return Err(problem(format!(
                "holds no dump{} in {}",
                if last == u64::MAX {
                    String::new()
                } else {
                    format!(" up to sequence number {last}")
                },
                dir.display()
            )));
        };
        let foreign = |rev: &str| EngineError::ForeignBaseline {
            baseline: baseline.to_string(),
            revision: rev.to_string(),
            repo: self.repo.display_path().display().to_string(),
        };
        let base_rev = self
            .repo
            .resolve(&newest.meta.revision)
            .map_err(|_| foreign(&newest.meta.revision))?;
        let mut statuses = LineStatuses::new();
        // The baseline's dumps, grouped by the build they were stored with.
        let mut grouped = SessionCore::new("");
        for d in &dumps {
            // An undecodable dump adds nothing (the baseline session names it itself).
            let _ =
                grouped.apply_guarded(&d.meta, &d.payload, "baseline dump", &mut core::Trusting);
        }
        for data in grouped.builds() {
            if data.dumps == 0 {
                continue;
            }
            let rev = &data.revision;
            let revision = self.repo.resolve(rev).map_err(|_| foreign(rev))?;
            let (lines, _) = self.build_lines(&revision, data, &dir);
            let maps = self.repo.line_map(&revision, &self.revision)?;
            lines.map_onto(&maps, false, &mut statuses);
        }
        let maps = self.repo.line_map(&base_rev, &self.revision)?;
        self.baseline = Some(build::Baseline {
            label: baseline.to_string(),
            revision: base_rev.oid,
            statuses,
            maps,
        });
        Ok(())
    }

    /// Saves the line statuses of each JaCoCo target's current build, so that coverage of this
    /// build can still be carried when its class files are gone.
    /// Saves the line statuses of the JaCoCo build the last View projected (what carries this
    /// build's coverage to the next one), when they changed. Called after publishing a View:
    /// building a View never writes. Problems show in the next View.
    pub fn save_build_lines(&mut self) {
        let Some(pending) = self.pending_line_saves.take() else {
            return;
        };
        self.line_save_problems = match pending.finish() {
            Some(encoded) => self.save_java_lines(encoded),
            None => vec![Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: "saved build lines".into(),
                message: "cannot save this build's line statuses: encoding them failed".into(),
                fix: "report it with the session; coverage of this build cannot be carried to the next".into(),
            }],
        };
    }

    fn save_java_lines(&mut self, saves: Vec<EncodedLines>) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for EncodedLines {
            target: i,
            revision,
            bytes,
        } in saves
        {
            let name = self.targets[i].config.name.clone();
            // Which bytes this process saved last (foldhash: SipHash over a big build's 1.3 MB
            // was a millisecond on the path to the process's exit).
            let hash = std::hash::BuildHasher::hash_one(
                &foldhash::quality::FixedState::with_seed(0),
                &bytes,
            );
            if self.targets[i].saved_lines == Some(hash) {
                continue;
            }
            let dir = carry::builds_dir(self.store.local_dir());
            let path = dir.join(carry::lines_file_name(&name, &revision));
            // Also by build key, with the class ids, so that the build is found again when the
            // class files change at the same revision.
            let key = self.targets[i].build_key.clone();
            let ids = BuildIds {
                revision: revision.clone(),
                ids: self.targets[i].class_ids.clone(),
            };
            // A file already holding these bytes (saved by an earlier process: every report of
            // the same build and data) is left as it is: no rewrite, no fsync.
            let save = |path: &std::path::Path, bytes: &[u8]| {
                if crate::bounded_read::holds_exactly(path, bytes) {
                    return Ok(());
                }
                crate::atomic_file::write_creating_dirs(path, bytes)
            };
            let written = save(&path, &bytes)
                .and_then(|()| save(&dir.join(carry::keyed_lines_file_name(&name, &key)), &bytes))
                .and_then(|()| save(&dir.join(carry::ids_file_name(&name, &key)), &ids.encode()));
            match written {
                Ok(()) => self.targets[i].saved_lines = Some(hash),
                Err(e) => problems.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: path.display().to_string(),
                    message: format!("cannot save this build's line statuses: {e}"),
                    fix: "make the session folder writable, or coverage of this build cannot be carried to the next".into(),
                }),
            }
        }
        problems
    }

    fn target_index(&self, name: &str) -> Result<usize, EngineError> {
        self.targets
            .iter()
            .position(|t| t.config.name == name)
            .ok_or_else(|| {
                EngineError::UnknownTarget(
                    name.to_string(),
                    self.targets
                        .iter()
                        .map(|t| t.config.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }

    /// Polls the named targets (all when empty) concurrently through their collectors
    /// (`collector::run_all`): every replica on its own, every dump stored before it is applied.
    pub async fn poll(&mut self, names: &[String]) -> Result<Vec<TargetPoll>, EngineError> {
        let indices = self.target_indices(names)?;
        let seqs = collector::run_all(self, &indices, collector::Purpose::Poll).await?;
        Ok(seqs.into_iter().filter_map(|s| s.dump).collect())
    }

    /// The indices of the named targets (all when empty).
    fn target_indices(&self, names: &[String]) -> Result<Vec<usize>, EngineError> {
        if names.is_empty() {
            return Ok((0..self.targets.len()).collect());
        }
        names.iter().map(|n| self.target_index(n)).collect()
    }

    /// Stores and applies the result of polling target `i`.
    pub fn apply_poll(&mut self, i: usize, result: PollResult) -> Result<TargetPoll, EngineError> {
        self.apply_poll_of(i, result, Some(&BTreeSet::new()))
    }

    /// Stores and applies the dumps and failures of some replicas of target `i` (polled one by
    /// one); the others keep their state.
    pub fn apply_replicas(
        &mut self,
        i: usize,
        result: PollResult,
    ) -> Result<TargetPoll, EngineError> {
        self.apply_poll_of(i, result, None)
    }

    /// Target `i` lists `listed` now, and could not list `failures`: a replica it no longer
    /// lists is gone (or not polled, when the list itself failed).
    pub fn apply_listing(
        &mut self,
        i: usize,
        listed: &[String],
        failures: Vec<crate::agent::ReplicaFailure>,
    ) -> TargetPoll {
        let listed: BTreeSet<String> = listed.iter().cloned().collect();
        let result = PollResult {
            dumps: Vec::new(),
            failures,
        };
        // Without dumps nothing is written: this cannot fail.
        let report = self.apply_poll_of(i, result, Some(&listed));
        report.unwrap_or_else(|_| TargetPoll {
            target: self.targets[i].config.name.clone(),
            stored: Vec::new(),
            failures: Vec::new(),
            undecodable: Vec::new(),
            other_build: Vec::new(),
            unchanged: 0,
        })
    }

    /// Stores and applies what a reset dumped (JaCoCo dumps and resets in one step): only the
    /// replicas that were reset, so the others keep their state.
    pub fn apply_reset_dump(
        &mut self,
        i: usize,
        result: PollResult,
    ) -> Result<TargetPoll, EngineError> {
        self.apply_poll_of(i, result, None)
    }

    /// `listed`: the target's replicas are known (a poll, or a listing), so those neither
    /// listed nor named in the result are gone.
    fn apply_poll_of(
        &mut self,
        i: usize,
        result: PollResult,
        listed: Option<&BTreeSet<String>>,
    ) -> Result<TargetPoll, EngineError> {
        let revision = self.revision.oid.clone();
        let dumped = !result.dumps.is_empty();
        // The build each dump comes from, when the agents tell it in their extra.
        let builds: Vec<Option<String>> = result
            .dumps
            .iter()
            .map(|d| self.build_of_extra(i, &d.replica, d.extra.as_deref()))
            .collect();
        if let Some(listed) = listed {
            let named: BTreeSet<&String> = result.dumps.iter().map(|d| &d.replica).collect();
            self.targets[i]
                .replica_builds
                .retain(|r, _| listed.contains(r) || named.contains(r));
        }
        for (d, b) in result.dumps.iter().zip(&builds) {
            self.targets[i]
                .replica_builds
                .insert(d.replica.clone(), b.clone());
        }
        let all_builds: Vec<Option<String>> =
            self.targets[i].replica_builds.values().cloned().collect();
        let polled_builds: Vec<&String> = all_builds.iter().flatten().collect();
        if self.targets[i].revision_from_extra.is_some() && !result.dumps.is_empty() {
            let runs_current = all_builds
                .iter()
                .any(|b| b.as_ref().is_none_or(|r| r == &revision));
            self.targets[i].runs_other = match polled_builds.first() {
                Some(other) if !runs_current => Some(
                    self.repo
                        .resolve(other)
                        .map_or_else(|_| (*other).clone(), |r| r.short),
                ),
                _ => None,
            };
        }
        let mut older_arrived = false;
        let name = self.targets[i].config.name.clone();
        let timeout = self.targets[i].timeout;
        let mut report = TargetPoll {
            target: name.clone(),
            stored: Vec::new(),
            failures: Vec::new(),
            undecodable: Vec::new(),
            other_build: Vec::new(),
            unchanged: 0,
        };
        let now = SystemTime::now();
        let mut seen = BTreeSet::new();
        for (dump, build) in result.dumps.into_iter().zip(builds) {
            seen.insert(dump.replica.clone());
            let dump_revision = build.unwrap_or_else(|| revision.clone());
            // Owned: kept as the replica's last dump after applying, without a copy.
            let (kind, bytes) = match dump.payload {
                Payload::GoProfile(b) => (PayloadKind::GoProfile, b),
                Payload::JacocoExec(b) => (PayloadKind::JacocoExec, b),
            };
            let at_ms = dump
                .fetched_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut meta = DumpMeta::new(
                &name,
                &dump.replica,
                dump.instance.clone(),
                at_ms,
                &dump_revision,
                kind,
            );
            meta.reset_after = false;
            meta.requested_at_ms = at_ms.checked_sub(dump.elapsed.as_millis() as u64);
            let state = if dump.elapsed > timeout / 2 {
                ReplicaState::Slow
            } else {
                ReplicaState::Up
            };
            // The same content as this replica's previous dump (same build, same process): it
            // is on disk already, and applying it again changes nothing. Only "last seen"
            // advances.
            if !self.always_store
                && let Some(last) = self.targets[i].last_stored.get(&dump.replica)
                && last.holds(&bytes, &dump_revision, dump.instance.as_deref())
            {
                report
                    .stored
                    .push((dump.replica.clone(), last.path.clone()));
                if let Some(e) = &last.set_aside {
                    report.undecodable.push((dump.replica.clone(), e.clone()));
                }
                report.unchanged += 1;
                let epoch = self.core.epoch_of(&name, &dump.replica);
                self.targets[i].status.insert(
                    dump.replica.clone(),
                    ReplicaStatus {
                        id: dump.replica.clone(),
                        state,
                        last_poll: Some(now),
                        epoch,
                    },
                );
                continue;
            }
            let stored = self.store.append(&meta, &bytes)?;
            self.stored_own(stored.seq);
            let path = stored.location;
            report.stored.push((dump.replica.clone(), path.clone()));
            let mut last = LastStored {
                revision: dump_revision,
                instance: dump.instance,
                payload: Vec::new(),
                path: path.clone(),
                set_aside: None,
            };
            let origin = format!("target {name}, replica {}", dump.replica);
            match self.apply_dump(&meta, &bytes, &origin) {
                Ok(applied) => {
                    if matches!(applied, Applied::OlderLayout(_) | Applied::Apart) {
                        report.other_build.push(dump.replica.clone());
                    }
                    // Another build's coverage is carried, never merged into this build's.
                    older_arrived |= matches!(applied, Applied::OlderLayout(_) | Applied::Named(_));
                }
                // Set aside at once, as a replay would: no later command reads it again.
                Err(Undecodable(e)) => {
                    report.undecodable.push((dump.replica.clone(), e.clone()));
                    let (aside, moved) = quarantine::set_aside(self.store.as_ref(), &path, &e);
                    let kept = match &moved {
                        Some(to) => format!("the raw dump is set aside at {}", to.display()),
                        None => aside.message,
                    };
                    if let Some(to) = moved {
                        if let Some(s) = report.stored.last_mut() {
                            s.1 = to.clone();
                        }
                        last.path = to;
                    }
                    last.set_aside = Some(e.clone());
                    self.undecodable.push(Diagnostic {
                        kind: DiagnosticKind::TargetError,
                        subject: format!("{name} {}", dump.replica),
                        message: e,
                        fix: format!(
                            "{kept}; check that the address serves a {} agent",
                            self.targets[i].config.kind.name()
                        ),
                    });
                }
            }
            last.payload = bytes;
            self.targets[i]
                .last_stored
                .insert(dump.replica.clone(), last);
            let epoch = self.core.epoch_of(&name, &dump.replica);
            let target = &mut self.targets[i];
            target.status.insert(
                dump.replica.clone(),
                ReplicaStatus {
                    id: dump.replica.clone(),
                    state,
                    last_poll: Some(now),
                    epoch,
                },
            );
        }
        let target = &mut self.targets[i];
        for f in result.failures {
            seen.insert(f.replica.clone());
            report.failures.push((f.replica.clone(), f.error.clone()));
            let epoch = self.core.epoch_of(&name, &f.replica);
            let last = target.status.get(&f.replica).and_then(|s| s.last_poll);
            target.status.insert(
                f.replica.clone(),
                ReplicaStatus {
                    id: f.replica.clone(),
                    state: ReplicaState::Down(f.error),
                    last_poll: last,
                    epoch,
                },
            );
        }
        if let Some(listed) = listed {
            seen.extend(listed.iter().cloned());
            // Not in this poll: an entry that never gave data (a service not registered yet, an
            // id filter, a refused address) is dropped; one that gave data stays, shown as gone
            // — unless nothing could be listed at all, then nobody knows: not polled.
            let endpoint = target.client.endpoint();
            let list_failure = report
                .failures
                .iter()
                .find(|(r, _)| Some(r.as_str()) == endpoint)
                .filter(|_| report.stored.is_empty())
                .map(|(_, e)| e.clone());
            target
                .status
                .retain(|replica, s| seen.contains(replica) || s.last_poll.is_some());
            for (replica, status) in target.status.iter_mut() {
                if !seen.contains(replica) {
                    status.state = match &list_failure {
                        None => ReplicaState::Gone,
                        Some(e) => ReplicaState::Down(format!("not polled: {e}")),
                    };
                }
            }
        }
        let swapped = dumped
            && self.targets[i].java_build.is_some()
            && self.foreign_ids(i) != self.targets[i].foreign_ids;
        if older_arrived || swapped {
            self.recarry();
        }
        Ok(report)
    }

    /// The revision a replica's build comes from, read from its goc `extra` with the target's
    /// `revision_from_extra`: the full commit id when the repository has it, else the text as
    /// found (so the dump keeps it) plus a diagnostic. None when the target does not tell builds
    /// or the extra does not match.
    fn build_of_extra(&mut self, i: usize, replica: &str, extra: Option<&str>) -> Option<String> {
        let re = self.targets[i].revision_from_extra.as_ref()?;
        let commit = re.captures(extra?)?.get(1)?.as_str().to_string();
        if commit.is_empty() {
            return None;
        }
        match self.repo.resolve(&commit) {
            Ok(r) => Some(r.oid),
            Err(e) => {
                let name = self.targets[i].config.name.clone();
                self.unknown_builds
                    .entry((replica.to_string(), commit.clone()))
                    .or_insert_with(|| Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: format!("{name} {replica}"),
                        message: format!(
                            "replica {replica} runs commit {commit} (from its goc extra), which is not in {}: {e}",
                            self.config.repo.path.display()
                        ),
                        fix: "fetch that commit into the repository; the dumps are stored with it and carried once it resolves".into(),
                    });
                Some(commit)
            }
        }
    }

    /// Dumps and persists the named targets (all when empty), then resets the replicas whose
    /// dump is safely on disk. A replica whose dump failed is not reset: its data would be lost.
    /// The same sequence as the screen's collectors run (`collector::run`).
    pub async fn reset(&mut self, names: &[String]) -> Result<Vec<TargetReset>, EngineError> {
        let indices = self.target_indices(names)?;
        let seqs = collector::run_all(self, &indices, collector::Purpose::Reset).await?;
        Ok(seqs
            .into_iter()
            .filter_map(|seq| {
                let dump = seq.dump?;
                Some(TargetReset {
                    target: dump.target.clone(),
                    dump,
                    outcomes: seq.reset,
                    skipped: seq.skipped,
                })
            })
            .collect())
    }

    /// Records successful resets: a marker dump in the store, and a new epoch for the replica.
    pub fn record_resets(
        &mut self,
        i: usize,
        outcomes: &[ResetOutcome],
    ) -> Result<(), EngineError> {
        let kind = self.targets[i].client.payload_kind();
        let revision = self.revision.oid.clone();
        let name = self.targets[i].config.name.clone();
        for o in outcomes {
            if o.result.is_ok() {
                let at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let stored = self
                    .store
                    .append_reset(&name, &o.replica, &revision, kind, at)?;
                self.stored_own(stored.seq);
                self.targets[i].mark_reset(&o.replica);
            }
        }
        Ok(())
    }

    /// The merged Go profile of every target, every replica and every epoch.
    pub fn go_total(&self) -> Option<Profile> {
        core::merged(
            self.targets
                .iter()
                .filter_map(|t| self.core.current_target(&t.config.name)?.go.total()),
        )
    }

    /// Everything accumulated for each JaCoCo target: the OR of every replica and epoch.
    pub fn java_totals(&self) -> Vec<(String, ExecData)> {
        self.targets
            .iter()
            .filter_map(|t| {
                let e = self.core.current_target(&t.config.name)?.java.total()?;
                Some((t.config.name.clone(), e))
            })
            .collect()
    }

    /// Builds a new View from everything accumulated so far.
    pub fn view(&mut self) -> Arc<View> {
        // Each target's Go data, shared with its accumulator: not copied, not merged here.
        let go: Vec<(u16, Arc<Profile>)> = self
            .targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let total = self
                    .core
                    .current_target(&t.config.name)?
                    .go
                    .total_shared()?;
                Some((u16::try_from(i).ok()?, total))
            })
            .collect();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        for t in &self.targets {
            for s in t.status.values() {
                if let ReplicaState::Down(e) = &s.state {
                    diagnostics.push(Diagnostic {
                        kind: DiagnosticKind::TargetError,
                        subject: format!("{} {}", t.config.name, s.id),
                        message: e.clone(),
                        fix: "check that the agent runs and is reachable from here; data already received is kept".into(),
                    });
                }
            }
        }
        if let Err(e) = self.check_mappable() {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::Unmapped,
                subject: "go.mod".into(),
                message: e.to_string(),
                fix: "point [repo] at the Go service's repository and its deployed revision".into(),
            });
        }
        diagnostics.extend(self.session_problems.iter().cloned());
        if let Ok(p) = self.checkpoint_problems.lock() {
            diagnostics.extend(p.iter().cloned());
        }
        let store = crate::model::StoreState {
            location: self.store.location(),
            shared: self.store.shared(),
            problem: self.store.health(),
        };
        if let Some(problem) = &store.problem {
            diagnostics.push(Diagnostic {
                kind: DiagnosticKind::TargetError,
                subject: format!("session store {}", store.location),
                message: problem.clone(),
                fix: "nothing is lost; check the database and the network (resets wait until their dump is stored somewhere)".into(),
            });
        }
        diagnostics.extend(self.undecodable.iter().cloned());
        let statuses = self
            .targets
            .iter()
            .map(|t| crate::model::TargetStatus {
                name: t.config.name.clone(),
                kind: t.config.kind.name().to_string(),
                replicas: t.status.values().map(redacted_status).collect(),
                has_data: self.core.has_data(&t.config.name),
            })
            .collect();
        let mut java_files = Vec::new();
        let mut saves = None;
        if let Some(u) = &self.java_union {
            // Which data the projection comes from: each JaCoCo target's accumulator stamp.
            let key: Vec<(usize, u64)> = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.java_build.is_some())
                .map(|(i, t)| {
                    let stamp = self
                        .core
                        .current_target(&t.config.name)
                        .map_or(0, |d| d.java.stamp());
                    (i, stamp)
                })
                .collect();
            if self.java_view.as_ref().is_none_or(|v| v.key != key) {
                // Every JaCoCo target's replicas and epochs, merged per class id at the probe
                // level, each class projected once.
                let (indices, data): (Vec<u16>, Vec<TargetExec>) = self
                    .targets
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.java_build.is_some())
                    .filter_map(|(i, t)| {
                        let data = self.core.current_target(&t.config.name)?;
                        Some((
                            u16::try_from(i).ok()?,
                            TargetExec {
                                target: &t.config.name,
                                parts: data.java.parts().collect(),
                            },
                        ))
                    })
                    .unzip();
                let (files, diags) = u.project_targets(&data);
                let reported = u.sources_in_data(&data);
                // Each target with data saves the merged lines of this build (what carry-over
                // maps onto a later revision, or finds again by the target's class ids): only
                // when they changed.
                let with_data: Vec<usize> = self
                    .targets
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| {
                        t.java_build.is_some()
                            && self
                                .core
                                .current_target(&t.config.name)
                                .is_some_and(|d| d.java.parts().next().is_some())
                    })
                    .map(|(i, _)| i)
                    .collect();
                let files: Vec<(Arc<FileCoverage>, Arc<[u16]>)> = files
                    .into_iter()
                    .map(|f| {
                        let targets: Arc<[u16]> = reported
                            .get(f.path.as_str())
                            .map(|ts| ts.iter().map(|&t| indices[t]).collect())
                            .unwrap_or_default();
                        (Arc::new(f), targets)
                    })
                    .collect();
                if !with_data.is_empty() {
                    let targets = with_data
                        .into_iter()
                        .map(|i| (i, self.targets[i].config.name.clone()))
                        .collect();
                    saves = Some(PendingLines::start(
                        self.revision.oid.clone(),
                        files.iter().map(|(f, _)| f.clone()).collect(),
                        targets,
                    ));
                }
                self.java_view = Some(JavaView {
                    key,
                    files,
                    diagnostics: diags,
                });
            }
            if let Some(v) = &self.java_view {
                java_files = v.files.clone();
                diagnostics.extend(v.diagnostics.iter().cloned());
            }
        }
        // Written by `save_build_lines`, not here: building a View never touches the disk.
        self.pending_line_saves = saves;
        diagnostics.extend(self.line_save_problems.iter().cloned());
        diagnostics.extend(self.unknown_builds.values().cloned());
        for t in &self.targets {
            diagnostics.extend(other_build_diagnostics(t, &self.core, &self.revision.short));
        }
        for t in &self.targets {
            if let Some(other) = &t.runs_other {
                diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: t.config.name.clone(),
                    message: format!(
                        "target {} runs revision {other} (from goc extra) but covtop shows {}",
                        t.config.name, self.revision.short
                    ),
                    fix: format!(
                        "restart with --revision {other} to see that build's own coverage (the older build's lines are carried)"
                    ),
                });
            }
        }
        diagnostics.extend(self.carry_problems.iter().cloned());
        // Credentials written into a target's URL never reach the screen or a report.
        for d in diagnostics.iter_mut() {
            for text in [&mut d.subject, &mut d.message, &mut d.fix] {
                if let std::borrow::Cow::Owned(r) = crate::redact::redact(text) {
                    *text = r;
                }
            }
        }
        let input = build::ViewInput {
            java: java_files,
            repo: &self.repo,
            revision: &self.revision,
            base: &self.base_label,
            changed: &self.changed,
            modules: &self.modules,
            go: &go,
            targets: statuses,
            diagnostics,
            demo: self.demo,
            analysing: self.java_loading || self.java_pending.is_some(),
            paused: self.paused,
            interval: self.config.poll.interval,
            carried: &self.carried,
            carried_from: &self.carried_from,
            baseline: self.baseline.as_ref(),
            languages: &self.languages,
            store: Some(store),
        };
        self.build.build(input)
    }

    /// From now on, `hit_since_mark` in Views is measured from the current View.
    pub fn mark(&mut self) {
        self.build.mark();
    }

    /// Clears the mark: `hit_since_mark` is `None` in the next Views.
    pub fn unmark(&mut self) {
        self.build.unmark();
    }
}

/// Where a diff file does not apply to the revision: files it names that are not there, and
/// changed lines past a file's end. Reported in every View; the diff's other files still count.
/// The JaCoCo part of a View, with the data it was projected from.
struct JavaView {
    /// (target index, stamp of its JaCoCo data) of every JaCoCo target.
    key: Vec<(usize, u64)>,
    /// With the targets whose data holds each file.
    files: Vec<(Arc<FileCoverage>, Arc<[u16]>)>,
    diagnostics: Vec<Diagnostic>,
}

fn diff_file_problems(
    repo: &Repo,
    revision: &Revision,
    changed: &ChangedLines,
    diff: &std::path::Path,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let fix = format!(
        "the diff was not made for revision {}: produce it from this revision (git diff BASE...{}) or set [repo] revision to the one it was made for",
        revision.short, revision.short
    );
    for (path, f) in &changed.files {
        let Some(&last) = f.lines.last() else {
            continue;
        };
        match repo.read_file(revision, path) {
            Ok(None) => out.push(Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: path.clone(),
                message: format!(
                    "the diff file {} changes {path}, which is not in revision {}",
                    diff.display(),
                    revision.short
                ),
                fix: fix.clone(),
            }),
            Ok(Some(bytes)) => {
                let count = bytecount_lines(&bytes);
                if u64::from(last) > count {
                    out.push(Diagnostic {
                        kind: DiagnosticKind::Mismatch,
                        subject: path.clone(),
                        message: format!(
                            "the diff file {} changes line {last} of {path}, which has {count} lines at revision {}",
                            diff.display(),
                            revision.short
                        ),
                        fix: fix.clone(),
                    });
                }
            }
            Err(_) => {}
        }
    }
    out
}

/// Lines of a text: newlines, plus one for a last line without a newline.
fn bytecount_lines(bytes: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

/// How much of a baseline session counts.
enum UpTo {
    All,
    Seq(u64),
    /// Up to and including this dump file.
    File(PathBuf),
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Which replicas of a dump may be reset (their dump is stored) and which may not.
pub fn reset_plan(dump: &TargetPoll) -> (Vec<String>, Vec<(String, String)>) {
    let stored = dump.stored.iter().map(|(r, _)| r.clone()).collect();
    let skipped = dump
        .failures
        .iter()
        .map(|(r, e)| {
            (
                r.clone(),
                format!("not reset: its dump failed ({e}), so its data could not be saved first"),
            )
        })
        .collect();
    (stored, skipped)
}

/// Names every replica of `t` whose data is of another build (kept apart), and the target when
/// none of its data fits the configured revision.
fn other_build_diagnostics(t: &LiveTarget, core: &SessionCore, revision: &str) -> Vec<Diagnostic> {
    let name = &t.config.name;
    let mut out: Vec<Diagnostic> = Vec::new();
    for (replica, placed) in core.placements(name) {
        out.push(match placed {
            Placement::Apart { misfit, blocks, .. } => Diagnostic {
                kind: DiagnosticKind::OtherBuild,
                subject: format!("{name} {replica}"),
                message: format!(
                    "replica {replica} runs another build: its {blocks} blocks do not fit revision {revision} \
                     ({misfit}); its coverage is kept apart, not merged"
                ),
                fix: "set [repo] revision (or --revision) to the commit that replica runs to see its \
                      coverage; goc v2 agents can name their build (revision_from_extra)"
                    .into(),
            },
            Placement::Older { short, misfit } => Diagnostic {
                kind: DiagnosticKind::OtherBuild,
                subject: format!("{name} {replica}"),
                message: format!(
                    "replica {replica} runs another build, of revision {short} (an ancestor of {revision}: \
                     its blocks fit that commit's sources, not {revision}'s: {misfit}); its coverage is \
                     carried onto unchanged lines, not merged"
                ),
                fix: "expected during a rolling deploy; once the replica runs the configured build this goes \
                      away (set [repo] revision to {older} to see that build's own coverage)"
                    .replace("{older}", short),
            },
        });
    }
    let runs_current = core
        .current_target(name)
        .is_some_and(|d| !d.go.replicas.is_empty());
    if !out.is_empty() && !runs_current {
        out.push(Diagnostic {
            kind: DiagnosticKind::OtherBuild,
            subject: name.clone(),
            message: format!(
                "no replica of {name} runs a build of revision {revision}: nothing of it is shown"
            ),
            fix: "set [repo] revision (or --revision) to the deployed commit".into(),
        });
    }
    out
}

/// A replica's status as shown: without credentials in its name or error.
fn redacted_status(s: &ReplicaStatus) -> ReplicaStatus {
    use crate::redact::redacted;
    ReplicaStatus {
        id: redacted(&s.id),
        state: match &s.state {
            ReplicaState::Down(e) => ReplicaState::Down(redacted(e)),
            other => other.clone(),
        },
        last_poll: s.last_poll,
        epoch: s.epoch,
    }
}

/// The languages the configured targets cover.
fn covered_languages(config: &Config) -> build::CoveredLanguages {
    let mut out = build::CoveredLanguages::default();
    for t in &config.targets {
        match &t.kind {
            crate::config::TargetKind::GocV1 { .. } | crate::config::TargetKind::GocV2 { .. } => {
                out.go = true
            }
            crate::config::TargetKind::Jacoco { source_roots, .. } => {
                out.jvm = true;
                out.jvm_roots.extend(source_roots.iter().cloned());
            }
        }
    }
    out
}

/// What the repository said about revisions and Go block layouts, remembered for the session.
#[derive(Default)]
struct Judgements {
    /// Whether a revision stored with a dump names the configured one.
    current: BTreeMap<String, bool>,
    /// Whether a Go block layout (by `layout_hash`) fits the revision's sources.
    layout_fits: std::collections::HashMap<u64, Result<(), crate::go::layout::Misfit>>,
    /// For layouts that do not fit: the newest ancestor of the revision they fit, if any.
    layout_revisions: std::collections::HashMap<u64, Option<Revision>>,
}

/// The session core's judge, backed by the repository at the configured revision.
struct RepoJudge<'a> {
    repo: &'a Repo,
    revision: &'a Revision,
    modules: &'a ModuleMap,
    memo: &'a mut Judgements,
    /// The JaCoCo targets' classes, once analysed: their probe counts bound the data.
    classes: Option<&'a JavaBuild>,
}

impl RepoJudge<'_> {
    /// Whether a layout fits the sources at `rev`.
    fn fits(&self, p: &Profile, rev: &Revision) -> Result<(), crate::go::layout::Misfit> {
        let source = |file: &str| -> Option<Arc<[u8]>> {
            let path = self.modules.resolve(file)?;
            self.repo
                .read_file(rev, &path)
                .ok()
                .flatten()
                .map(Arc::from)
        };
        crate::go::layout::profile_fits(p, &source)
    }

    /// The newest of the revision's first-parent ancestors (up to [`LAYOUT_SEARCH_DEPTH`])
    /// whose sources a layout fits: the build an agent that does not name its revision runs
    /// (an old build of a rolling deploy). Cached per layout.
    fn layout_revision(&mut self, p: &Profile, layout: u64) -> Option<Revision> {
        if let Some(r) = self.memo.layout_revisions.get(&layout) {
            return r.clone();
        }
        let ancestors = self
            .repo
            .ancestors(self.revision, LAYOUT_SEARCH_DEPTH)
            .unwrap_or_default();
        let found = ancestors.into_iter().find(|rev| {
            // The build must have at least one of its files at that commit, and fit them all.
            let has_a_file = p.files().any(|(f, _)| {
                self.modules
                    .resolve(f)
                    .is_some_and(|path| self.repo.read_file(rev, &path).ok().flatten().is_some())
            });
            has_a_file && self.fits(p, rev).is_ok()
        });
        self.memo.layout_revisions.insert(layout, found.clone());
        found
    }
}

impl Judge for RepoJudge<'_> {
    fn class_probes(&self, id: u64) -> Option<u32> {
        self.classes?.probe_count(id)
    }

    fn is_current(&mut self, revision: &str) -> bool {
        if revision == self.revision.oid {
            return true;
        }
        if let Some(&same) = self.memo.current.get(revision) {
            return same;
        }
        // Normally the full id; anything that resolves to it counts too.
        let same = self
            .repo
            .resolve(revision)
            .is_ok_and(|r| r.oid == self.revision.oid);
        self.memo.current.insert(revision.to_string(), same);
        same
    }

    fn place_go(&mut self, p: &Profile) -> GoFit {
        let layout = crate::go::layout::layout_hash(p);
        let fit = match self.memo.layout_fits.get(&layout) {
            Some(fit) => fit.clone(),
            None => {
                let fit = self.fits(p, self.revision);
                self.memo.layout_fits.insert(layout, fit.clone());
                fit
            }
        };
        match fit {
            Ok(()) => GoFit::Fits,
            Err(misfit) => match self.layout_revision(p, layout) {
                Some(rev) => GoFit::Older {
                    revision: rev.oid,
                    short: rev.short,
                    misfit,
                },
                None => GoFit::Apart { layout, misfit },
            },
        }
    }
}

/// The folder of the session store: `[session] dir`, relative to the repository's work tree.
fn store_root(config: &Config, repo: &Repo) -> PathBuf {
    if config.session.dir.is_absolute() {
        config.session.dir.clone()
    } else {
        repo.workdir()
            .unwrap_or_else(|| config.repo.path.clone())
            .join(&config.session.dir)
    }
}

/// Finds every go.mod at the revision and builds the module map.
fn go_modules(repo: &Repo, rev: &Revision) -> Result<ModuleMap, EngineError> {
    let mut mods = Vec::new();
    for path in repo.list_files(rev)? {
        let (dir, file) = match path.rsplit_once('/') {
            Some((d, f)) => (d.to_string(), f),
            None => (String::new(), path.as_str()),
        };
        if file != "go.mod" || dir.split('/').any(|c| c == "vendor" || c == "testdata") {
            continue;
        }
        if let Some(bytes) = repo.read_file(rev, &path)?
            && let Some(m) = module_path(&String::from_utf8_lossy(&bytes))
        {
            mods.push((dir, m));
        }
    }
    Ok(ModuleMap::new(mods))
}

/// One target's saved build lines, encoded: what [`Engine::save_build_lines`] writes.
struct EncodedLines {
    /// Index into the engine's targets.
    target: usize,
    revision: String,
    bytes: Vec<u8>,
}

/// The line statuses of a View's JaCoCo projection, turned into [`BuildLines`] and encoded for
/// each target with data on a thread of their own (`covtop-build-lines`), so that the report is
/// written or the screen drawn meanwhile; only [`Engine::save_build_lines`] touches the disk.
struct PendingLines {
    work: Result<std::thread::JoinHandle<Vec<EncodedLines>>, Vec<EncodedLines>>,
}

impl PendingLines {
    fn start(
        revision: String,
        files: Vec<Arc<FileCoverage>>,
        targets: Vec<(usize, String)>,
    ) -> PendingLines {
        let encode = |revision: &str, files: &[Arc<FileCoverage>], targets: &[(usize, String)]| {
            let files: Vec<&FileCoverage> = files.iter().map(|f| &**f).collect();
            targets
                .iter()
                .map(|(target, name)| EncodedLines {
                    target: *target,
                    revision: revision.to_string(),
                    bytes: BuildLines::encode_coverage(revision, name, &files),
                })
                .collect::<Vec<_>>()
        };
        // The thread gets its own handles on the files (Arcs): if it cannot be started, the
        // lines are encoded here.
        let (on_thread, files_on_thread, targets_on_thread) =
            (revision.clone(), files.clone(), targets.clone());
        let spawned = std::thread::Builder::new()
            .name("covtop-build-lines".into())
            .spawn(move || encode(&on_thread, &files_on_thread, &targets_on_thread));
        PendingLines {
            work: spawned.map_err(|_| encode(&revision, &files, &targets)),
        }
    }

    /// The encoded lines; `None` if the thread failed (a bug: never seen).
    fn finish(self) -> Option<Vec<EncodedLines>> {
        match self.work {
            Ok(handle) => handle.join().ok(),
            Err(done) => Some(done),
        }
    }
}
