//! The engine owns the live state: it polls targets, persists every dump before using it,
//! accumulates per epoch, projects onto repository lines and publishes immutable Views.

pub mod accumulate;
mod build;
pub mod carry;
pub mod collector;
mod java;
pub mod live;
mod targets;

pub use targets::{ResetResult, TargetClient};

use crate::agent::{Payload, PollResult, ResetOutcome};
use crate::config::{Config, RangeSetting, TargetConfig};
use crate::go::modules::{ModuleMap, module_path};
use crate::go::profile::{self, Profile};
use crate::java::exec::ExecData;
use crate::java::sources::SourceIndex;
use crate::model::{
    ChangedLines, Diagnostic, DiagnosticKind, FileCoverage, ReplicaState, ReplicaStatus, View,
};
use crate::session::{DumpMeta, PayloadKind, SessionCatalog, SessionStore, StoredDump};
use crate::vcs::{DiffSpec, RangeMode, Repo, Revision};
use accumulate::{Cumulative, TargetAccumulator};
use carry::{BuildData, BuildIds, BuildLines, LineStatuses};
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
    Pause(bool),
    SetInterval(Duration),
    /// Write a report in `format` to `path`.
    Export {
        format: crate::report::Format,
        path: String,
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
    #[error("cannot read diff file {path}: {source}")]
    DiffFile {
        path: PathBuf,
        source: std::io::Error,
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

impl Cumulative for Profile {
    fn absorb(&mut self, other: &Self) {
        self.merge(other);
    }
    fn decreased_from(&self, earlier: &Self) -> bool {
        self.counts_decreased_from(earlier)
    }
}

/// A configured target at run time.
pub struct LiveTarget {
    pub config: TargetConfig,
    pub client: Arc<TargetClient>,
    go: TargetAccumulator<Profile>,
    java: TargetAccumulator<ExecData>,
    /// The analysed classes of a JaCoCo target.
    java_build: Option<JavaBuild>,
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
    /// Any dump of this target was decoded (any build).
    has_data: bool,
    /// Go data of builds whose block layout does not fit the configured revision, per
    /// `replica#layout`: kept apart, never merged into the current build.
    go_aside: TargetAccumulator<Profile>,
    /// The replicas whose newest set-aside data is of another build, and why.
    aside: BTreeMap<String, OtherBuild>,
    /// Go replicas whose newest data is of an older commit found by its layout: (short
    /// revision, why it is not the current build).
    older_builds: BTreeMap<String, (String, crate::go::layout::Misfit)>,
    /// Per replica, the last dump stored (in this process or replayed) and its file: an
    /// unchanged dump is not stored again.
    last_stored: BTreeMap<String, LastStored>,
}

/// A replica's last stored dump, compared exactly (no hash: a collision would drop a dump).
#[derive(Debug, Clone)]
struct LastStored {
    revision: String,
    instance: Option<String>,
    payload: Arc<[u8]>,
    path: PathBuf,
}

impl LastStored {
    fn holds(&self, payload: &[u8], revision: &str, instance: Option<&str>) -> bool {
        self.revision == revision
            && self.instance.as_deref() == instance
            && *self.payload == *payload
    }
}

/// The engine as the sink of a collection sequence run in the same task (headless commands).
struct EngineSink<'a> {
    engine: &'a mut Engine,
    target: usize,
    /// The first store error: the sequence stops there.
    error: Option<EngineError>,
}

impl collector::Sink for EngineSink<'_> {
    async fn polled(&mut self, result: PollResult, _snapshot: bool) -> Option<TargetPoll> {
        match self.engine.apply_poll(self.target, result) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    async fn reset_done(&mut self, reset: ResetResult, _skipped: Vec<(String, String)>) {
        if let Some(dumped) = reset.dumped
            && let Err(e) = self.engine.apply_reset_dump(self.target, dumped)
        {
            self.error = Some(e);
        }
        if let Err(e) = self.engine.record_resets(self.target, &reset.outcomes) {
            self.error.get_or_insert(e);
        }
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
}

/// How many first-parent ancestors of the revision are tried to find the commit a Go build
/// that does not fit the revision was made from.
const LAYOUT_SEARCH_DEPTH: usize = 64;

/// One dump of the configured revision, about to be decoded and applied.
struct Incoming<'a> {
    replica: &'a str,
    kind: PayloadKind,
    bytes: &'a [u8],
    instance: Option<String>,
    /// When it was requested from the agent (ms since the Unix epoch), when known.
    requested_at: Option<u64>,
    /// Names the dump in error messages.
    origin: &'a str,
}

/// Where a decoded dump went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applied {
    Current,
    /// Kept apart: another build than the configured revision's, of unknown revision.
    OtherBuild,
    /// Of an older commit of the branch (found by its block layout): carried like any older
    /// build, never merged into the current one.
    OlderBuild(String),
}

/// A replica's data that is of another build than the configured revision's (Go: its block
/// layout does not fit the sources).
#[derive(Debug, Clone)]
struct OtherBuild {
    layout: u64,
    misfit: crate::go::layout::Misfit,
    blocks: usize,
}

impl LiveTarget {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Number of analysed classes, for JaCoCo targets.
    pub fn class_count(&self) -> Option<usize> {
        self.java_build.as_ref().map(JavaBuild::class_count)
    }

    fn epoch_of(&self, replica: &str) -> u32 {
        self.go
            .replicas
            .get(replica)
            .map(|r| r.epoch())
            .or_else(|| self.java.replicas.get(replica).map(|r| r.epoch()))
            .unwrap_or(0)
    }

    /// Applies a decoded Go profile: to the current build when its layout fits the revision's
    /// sources, else kept apart under (replica, layout), never merged.
    fn apply_go(
        &mut self,
        replica: &str,
        profile: Profile,
        instance: Option<String>,
        requested_at: Option<u64>,
        fit: Result<(), crate::go::layout::Misfit>,
        layout: u64,
    ) {
        match fit {
            Ok(()) => {
                self.go.apply_at(replica, profile, instance, requested_at);
                // It runs the configured build now; what it ran before stays apart.
                self.aside.remove(replica);
            }
            Err(misfit) => {
                let key = format!("{replica}#{layout:016x}");
                let blocks = profile.block_count();
                self.go_aside
                    .apply_at(&key, profile, instance, requested_at);
                self.aside.insert(
                    replica.to_string(),
                    OtherBuild {
                        layout,
                        misfit,
                        blocks,
                    },
                );
            }
        }
        self.has_data = true;
    }

    fn apply_java(
        &mut self,
        replica: &str,
        exec: ExecData,
        instance: Option<String>,
        requested_at: Option<u64>,
    ) {
        self.java.apply_at(replica, exec, instance, requested_at);
        self.has_data = true;
    }

    fn mark_reset(&mut self, replica: &str) {
        // The first dump after a reset is always stored, whatever it holds.
        self.last_stored.remove(replica);
        match self.client.payload_kind() {
            PayloadKind::GoProfile => {
                self.go.mark_reset(replica);
                if let Some(o) = self.aside.get(replica) {
                    self.go_aside
                        .mark_reset(&format!("{replica}#{:016x}", o.layout));
                }
            }
            PayloadKind::JacocoExec => self.java.mark_reset(replica),
        }
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
    store: SessionStore,
    targets: Vec<LiveTarget>,
    /// The classes of every JaCoCo target united by class id: the data of every target and
    /// replica is merged per class id, probe by probe, and projected once through it.
    java_union: Option<JavaBuild>,
    /// The class files of JaCoCo targets, not loaded yet (see [`Engine::open_deferred`]).
    java_pending: Option<JavaLoader>,
    /// The loader was taken and runs elsewhere: Views say "analysing".
    java_loading: bool,
    build: build::ViewBuilder,
    session_problems: Vec<Diagnostic>,
    undecodable: Vec<Diagnostic>,
    /// Hit lines of older builds mapped onto the current revision.
    carried: LineStatuses,
    carried_from: Vec<String>,
    /// Problems met while carrying older builds: reported in every View.
    carry_problems: Vec<Diagnostic>,
    /// Problems of the diff file, kept apart so that carrying can be recomputed.
    diff_problems: Vec<Diagnostic>,
    /// The data of older builds (other revisions), replayed or polled live from agents whose
    /// extra names another build: recarried when new dumps arrive. Accumulated, not kept as
    /// dumps, so that a long live session does not grow with every poll.
    older: Vec<(String, BuildData)>,
    /// Line maps from older revisions onto the current one, computed once per revision.
    line_maps: BTreeMap<String, crate::vcs::LineMaps>,
    /// Agents whose extra names a commit the repository does not have: (replica, commit).
    unknown_builds: BTreeMap<(String, String), Diagnostic>,
    baseline: Option<build::Baseline>,
    /// The languages the configured targets cover (what "no data" means).
    languages: build::CoveredLanguages,
    /// Whether a Go block layout (by `layout_hash`) fits the revision's sources.
    layout_fits: std::collections::HashMap<u64, Result<(), crate::go::layout::Misfit>>,
    /// JaCoCo build lines projected by the last View, waiting for `save_build_lines`.
    pending_line_saves: Vec<(usize, BuildLines)>,
    /// Problems of the last `save_build_lines`, reported in every View until it succeeds.
    line_save_problems: Vec<Diagnostic>,
    /// For layouts that do not fit: the newest ancestor of the revision they fit, if any.
    layout_revisions: std::collections::HashMap<u64, Option<Revision>>,
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
        let mut engine = Engine::open_deferred(config)?;
        if let Some(loader) = engine.take_java_loader() {
            engine.install_java(loader.run());
        }
        Ok(engine)
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
                let text =
                    std::fs::read_to_string(path).map_err(|source| EngineError::DiffFile {
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
        let store_root = if config.session.dir.is_absolute() {
            config.session.dir.clone()
        } else {
            repo.workdir()
                .unwrap_or_else(|| config.repo.path.clone())
                .join(&config.session.dir)
        };
        let store = SessionStore::open(&store_root, &config.session.name)?;
        let mut java_plans: Vec<JavaPlan> = Vec::new();
        let config_dir = config
            .source
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), |p| p.to_path_buf());
        let mut repo_files: Option<Vec<String>> = None;
        let mut targets = Vec::new();
        for t in &config.targets {
            if let crate::config::TargetKind::Jacoco {
                classes,
                includes,
                source_roots,
                ..
            } = &t.kind
            {
                if repo_files.is_none() {
                    repo_files = Some(repo.list_files(&revision)?);
                }
                java_plans.push(JavaPlan {
                    target: t.name.clone(),
                    paths: classes.iter().map(|c| config_dir.join(c)).collect(),
                    includes: includes.clone(),
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
                go: TargetAccumulator::default(),
                java: TargetAccumulator::default(),
                java_build: None,
                status: BTreeMap::new(),
                timeout: t.timeout.unwrap_or(config.poll.timeout),
                saved_lines: None,
                revision_from_extra,
                runs_other: None,
                class_ids: BTreeSet::new(),
                build_key: String::new(),
                foreign_ids: BTreeSet::new(),
                has_data: false,
                go_aside: TargetAccumulator::default(),
                aside: BTreeMap::new(),
                older_builds: BTreeMap::new(),
                last_stored: BTreeMap::new(),
            });
        }
        let build = build::ViewBuilder::new(crate::model::CoverageRule {
            partial_as_covered: config.report.partial_as_covered,
        });
        let languages = covered_languages(&config);
        let mut engine = Engine {
            config,
            repo,
            revision,
            base_label,
            changed: Arc::new(changed),
            modules,
            store,
            targets,
            java_union: None,
            java_pending: (!java_plans.is_empty()).then(|| JavaLoader { plans: java_plans }),
            java_loading: false,
            build,
            session_problems: Vec::new(),
            undecodable: Vec::new(),
            carried: LineStatuses::new(),
            carried_from: Vec::new(),
            carry_problems: diff_problems.clone(),
            diff_problems,
            older: Vec::new(),
            line_maps: BTreeMap::new(),
            unknown_builds: BTreeMap::new(),
            baseline: None,
            languages,
            layout_fits: std::collections::HashMap::new(),
            layout_revisions: std::collections::HashMap::new(),
            pending_line_saves: Vec::new(),
            line_save_problems: Vec::new(),
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
                t.java_build = Some(build);
            }
        }
        let builds: Vec<(&str, &JavaBuild)> = self
            .targets
            .iter()
            .filter_map(|t| t.java_build.as_ref().map(|b| (t.config.name.as_str(), b)))
            .collect();
        self.java_union = (!builds.is_empty()).then(|| {
            let names: Vec<&str> = builds.iter().map(|(n, _)| *n).collect();
            let all: Vec<&JavaBuild> = builds.iter().map(|(_, b)| *b).collect();
            JavaBuild::union(&names.join(", "), &all)
        });
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

    pub fn session_dir(&self) -> PathBuf {
        self.store.dir().to_path_buf()
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

    /// Whether a Go profile's block layout fits the sources of the configured revision (cached
    /// per layout): only then is it the current build's.
    fn go_fit(&mut self, p: &Profile) -> (u64, Result<(), crate::go::layout::Misfit>) {
        let layout = crate::go::layout::layout_hash(p);
        if let Some(fit) = self.layout_fits.get(&layout) {
            return (layout, fit.clone());
        }
        let source = |file: &str| -> Option<Arc<[u8]>> {
            let path = self.modules.resolve(file)?;
            self.repo
                .read_file(&self.revision, &path)
                .ok()
                .flatten()
                .map(Arc::from)
        };
        let fit = crate::go::layout::profile_fits(p, &source);
        self.layout_fits.insert(layout, fit.clone());
        (layout, fit)
    }

    /// The newest of the revision's first-parent ancestors (up to [`LAYOUT_SEARCH_DEPTH`])
    /// whose sources a layout fits: the build an agent that does not name its revision runs
    /// (an old build of a rolling deploy). Cached per layout.
    fn go_layout_revision(&mut self, p: &Profile, layout: u64) -> Option<Revision> {
        if let Some(r) = self.layout_revisions.get(&layout) {
            return r.clone();
        }
        let ancestors = self
            .repo
            .ancestors(&self.revision, LAYOUT_SEARCH_DEPTH)
            .unwrap_or_default();
        let found = ancestors.into_iter().find(|rev| {
            let source = |file: &str| -> Option<Arc<[u8]>> {
                let path = self.modules.resolve(file)?;
                self.repo
                    .read_file(rev, &path)
                    .ok()
                    .flatten()
                    .map(Arc::from)
            };
            // The build must have at least one of its files at that commit, and fit them all.
            p.files().any(|(f, _)| source(f).is_some())
                && crate::go::layout::profile_fits(p, &source).is_ok()
        });
        self.layout_revisions.insert(layout, found.clone());
        found
    }

    /// Decodes a dump of the configured revision and applies it to target `i`; an undecodable
    /// one is returned as an error message. A Go profile whose layout does not fit the
    /// revision's sources is kept apart (see [`LiveTarget::apply_go`]).
    fn apply_current(&mut self, i: usize, d: Incoming<'_>) -> Result<Applied, String> {
        match d.kind {
            PayloadKind::GoProfile => {
                let p = profile::parse(d.bytes, d.origin).map_err(|e| e.to_string())?;
                let (layout, fit) = self.go_fit(&p);
                if let Err(misfit) = &fit
                    && let Some(rev) = self.go_layout_revision(&p, layout)
                {
                    // An older build of the branch: carried, named, never merged.
                    self.targets[i]
                        .older_builds
                        .insert(d.replica.to_string(), (rev.short.clone(), misfit.clone()));
                    self.targets[i].has_data = true;
                    return Ok(Applied::OlderBuild(rev.oid));
                }
                let aside = fit.is_err();
                if !aside {
                    self.targets[i].older_builds.remove(d.replica);
                }
                self.targets[i].apply_go(d.replica, p, d.instance, d.requested_at, fit, layout);
                Ok(if aside {
                    Applied::OtherBuild
                } else {
                    Applied::Current
                })
            }
            PayloadKind::JacocoExec => {
                let e = crate::java::exec::parse(d.bytes, d.origin).map_err(|e| e.to_string())?;
                self.targets[i].apply_java(d.replica, e, d.instance, d.requested_at);
                Ok(Applied::Current)
            }
        }
    }

    /// Replays every stored dump of the session, so that a restarted covtop continues it.
    fn replay(&mut self) -> Result<(), EngineError> {
        let (dumps, problems) = self.store.load_all()?;
        self.session_problems = problems
            .into_iter()
            .map(|p| Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: p.path.display().to_string(),
                message: format!("stored dump skipped: {}", p.problem),
                fix: "move the file out of the session folder; the other dumps are used".into(),
            })
            .collect();
        // A dump belongs to the current build when its revision names the current commit
        // (normally the full id; anything that resolves to it counts too).
        let mut is_current: BTreeMap<String, bool> = BTreeMap::new();
        for d in &dumps {
            if !is_current.contains_key(&d.meta.revision) {
                let same = d.meta.revision == self.revision.oid
                    || self
                        .repo
                        .resolve(&d.meta.revision)
                        .is_ok_and(|r| r.oid == self.revision.oid);
                is_current.insert(d.meta.revision.clone(), same);
            }
        }
        // A target whose agents tell their build: did its last poll (the dumps within a second
        // of its newest) see only other builds?
        let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
        for d in dumps.iter().filter(|d| !d.meta.reset_after) {
            let e = newest.entry(d.meta.target.as_str()).or_insert(0);
            *e = (*e).max(d.meta.fetched_at_ms);
        }
        for t in self.targets.iter_mut() {
            let Some(&at) = newest.get(t.config.name.as_str()) else {
                continue;
            };
            if t.revision_from_extra.is_none() {
                continue;
            }
            let last: Vec<&String> = dumps
                .iter()
                .filter(|d| {
                    !d.meta.reset_after
                        && d.meta.target == t.config.name
                        && d.meta.fetched_at_ms + 1000 >= at
                })
                .map(|d| &d.meta.revision)
                .collect();
            if let Some(other) = last.first()
                && last.iter().all(|r| is_current.get(*r) != Some(&true))
            {
                t.runs_other = Some(
                    self.repo
                        .resolve(other)
                        .map_or_else(|_| (*other).clone(), |r| r.short),
                );
            }
        }
        let (dumps, mut older): (Vec<StoredDump>, Vec<StoredDump>) = dumps
            .into_iter()
            .partition(|d| is_current.get(&d.meta.revision) == Some(&true));
        for d in dumps {
            let Some(i) = self.target_index_of(&d.meta.target) else {
                continue;
            };
            if d.meta.reset_after {
                self.targets[i].mark_reset(&d.meta.replica);
                continue;
            }
            let origin = format!("stored dump {}", d.path.display());
            // A restarted covtop does not store the same content again either.
            self.targets[i].last_stored.insert(
                d.meta.replica.clone(),
                LastStored {
                    revision: d.meta.revision.clone(),
                    instance: d.meta.instance.clone(),
                    payload: Arc::from(d.payload.as_slice()),
                    path: d.path.clone(),
                },
            );
            match self.apply_current(
                i,
                Incoming {
                    replica: &d.meta.replica,
                    kind: d.meta.kind,
                    bytes: &d.payload,
                    instance: d.meta.instance.clone(),
                    requested_at: d.meta.requested_at_ms,
                    origin: &origin,
                },
            ) {
                Err(e) => self.undecodable.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: d.path.display().to_string(),
                    message: e,
                    fix: "the dump is kept on disk but not used".into(),
                }),
                Ok(Applied::OlderBuild(oid)) => {
                    let mut d = d;
                    d.meta.revision = oid;
                    older.push(d);
                }
                Ok(_) => {}
            }
        }
        self.older = carry::group_by_revision(&older);
        self.recarry();
        Ok(())
    }

    /// Recomputes the lines carried from every older build known so far.
    fn recarry(&mut self) {
        self.carried = LineStatuses::new();
        self.carried_from.clear();
        self.carry_problems = self.diff_problems.clone();
        let older = std::mem::take(&mut self.older);
        self.carry_older_builds(&older);
        self.older = older;
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
        t.java
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
        let dir = carry::builds_dir(self.store.dir());
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
            let ids = match std::fs::read(&ids_path)
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
            let lines = match std::fs::read(&lines_path)
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
    fn carry_older_builds(&mut self, older: &[(String, BuildData)]) {
        let dir = self.store.dir().to_path_buf();
        for (rev, data) in older {
            if data.dumps == 0 {
                continue;
            }
            for (path, e) in &data.undecodable {
                self.carry_problems.push(Diagnostic {
                    kind: DiagnosticKind::Mismatch,
                    subject: path.display().to_string(),
                    message: e.clone(),
                    fix: "the dump is kept on disk but not used".into(),
                });
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
        data: &BuildData,
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
                .java
                .iter()
                .filter(|(target, _)| projected(target))
                .map(|(target, acc)| TargetExec {
                    target,
                    parts: acc.parts().collect(),
                })
                .collect();
            if !parts.is_empty() {
                let (files, _) = u.project_targets(&parts);
                out.absorb(&BuildLines::from_coverage(&revision.oid, &files));
            }
        }
        for target in data.java.keys() {
            if projected(target) {
                continue;
            }
            let path =
                carry::builds_dir(session_dir).join(carry::lines_file_name(target, &revision.oid));
            match std::fs::read(&path) {
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
                .dir()
                .parent()
                .and_then(|p| p.parent())
                .unwrap_or(std::path::Path::new(".")),
        );
        let as_file = std::path::Path::new(baseline);
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
            if !catalog.exists(name) {
                let known = catalog.names().unwrap_or_default();
                return Err(EngineError::NoBaselineSession {
                    baseline: baseline.to_string(),
                    dir: catalog.sessions_dir(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
            let dir = catalog.session_path(name);
            (dir, upto)
        };
        let problem = |p: String| EngineError::BaselineDump {
            baseline: baseline.to_string(),
            problem: p,
        };
        // A session folder is `<root>/sessions/<name>`; the store reopens it as such.
        let store = match (
            dir.parent().and_then(|p| p.parent()),
            dir.file_name().and_then(|n| n.to_str()),
        ) {
            (Some(root), Some(name)) => SessionStore::open(root, name)?,
            _ => {
                return Err(problem(format!(
                    "{} is not inside a covtop session folder (<dir>/sessions/<name>)",
                    dir.display()
                )));
            }
        };
        let (dumps, _) = store.load_all()?;
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
        for (rev, data) in carry::group_by_revision(&dumps) {
            if data.dumps == 0 {
                continue;
            }
            let revision = self.repo.resolve(&rev).map_err(|_| foreign(&rev))?;
            let (lines, _) = self.build_lines(&revision, &data, &dir);
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
        let saves = std::mem::take(&mut self.pending_line_saves);
        if saves.is_empty() {
            return;
        }
        self.line_save_problems = self.save_java_lines(saves);
    }

    fn save_java_lines(&mut self, saves: Vec<(usize, BuildLines)>) -> Vec<Diagnostic> {
        use std::hash::{Hash, Hasher};
        let mut problems = Vec::new();
        for (i, lines) in saves {
            let name = self.targets[i].config.name.clone();
            let bytes = lines.encode(&name);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            let hash = h.finish();
            if self.targets[i].saved_lines == Some(hash) {
                continue;
            }
            let dir = carry::builds_dir(self.store.dir());
            let path = dir.join(carry::lines_file_name(&name, &lines.revision));
            // Also by build key, with the class ids, so that the build is found again when the
            // class files change at the same revision.
            let key = self.targets[i].build_key.clone();
            let ids = BuildIds {
                revision: lines.revision.clone(),
                ids: self.targets[i].class_ids.clone(),
            };
            let written = crate::atomic_file::write_creating_dirs(&path, &bytes)
                .and_then(|()| {
                    crate::atomic_file::write_creating_dirs(
                        &dir.join(carry::keyed_lines_file_name(&name, &key)),
                        &bytes,
                    )
                })
                .and_then(|()| {
                    crate::atomic_file::write_creating_dirs(
                        &dir.join(carry::ids_file_name(&name, &key)),
                        &ids.encode(),
                    )
                });
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

    /// Polls the named targets (all when empty) concurrently; every dump is stored before it
    /// is applied.
    pub async fn poll(&mut self, names: &[String]) -> Result<Vec<TargetPoll>, EngineError> {
        let indices: Vec<usize> = if names.is_empty() {
            (0..self.targets.len()).collect()
        } else {
            names
                .iter()
                .map(|n| self.target_index(n))
                .collect::<Result<_, _>>()?
        };
        let results =
            futures_util::future::join_all(indices.iter().map(|&i| self.targets[i].client.poll()))
                .await;
        let mut out = Vec::new();
        for (i, result) in indices.into_iter().zip(results) {
            out.push(self.apply_poll(i, result)?);
        }
        Ok(out)
    }

    /// Stores and applies the result of polling target `i`.
    pub fn apply_poll(&mut self, i: usize, result: PollResult) -> Result<TargetPoll, EngineError> {
        self.apply_poll_of(i, result, true)
    }

    /// Stores and applies what a reset dumped (JaCoCo dumps and resets in one step): only the
    /// replicas that were reset, so the others keep their state.
    pub fn apply_reset_dump(
        &mut self,
        i: usize,
        result: PollResult,
    ) -> Result<TargetPoll, EngineError> {
        self.apply_poll_of(i, result, false)
    }

    /// `complete`: the result covers every replica of the target (a poll), so those it does
    /// not name are gone.
    fn apply_poll_of(
        &mut self,
        i: usize,
        result: PollResult,
        complete: bool,
    ) -> Result<TargetPoll, EngineError> {
        let revision = self.revision.oid.clone();
        // The build each dump comes from, when the agents tell it in their extra.
        let builds: Vec<Option<String>> = result
            .dumps
            .iter()
            .map(|d| self.build_of_extra(i, &d.replica, d.extra.as_deref()))
            .collect();
        let polled_builds: Vec<&String> = builds.iter().flatten().collect();
        if self.targets[i].revision_from_extra.is_some() && !result.dumps.is_empty() {
            let runs_current = builds
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
            let (kind, bytes) = match &dump.payload {
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
            let requested_at = meta.requested_at_ms;
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
                && last.holds(bytes, &dump_revision, dump.instance.as_deref())
            {
                report
                    .stored
                    .push((dump.replica.clone(), last.path.clone()));
                report.unchanged += 1;
                let target = &mut self.targets[i];
                let epoch = target.epoch_of(&dump.replica);
                target.status.insert(
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
            let path = self.store.persist(&meta, bytes)?;
            report.stored.push((dump.replica.clone(), path.clone()));
            self.targets[i].last_stored.insert(
                dump.replica.clone(),
                LastStored {
                    revision: dump_revision.clone(),
                    instance: dump.instance.clone(),
                    payload: Arc::from(bytes.as_slice()),
                    path: path.clone(),
                },
            );
            let origin = format!("target {name}, replica {}", dump.replica);
            if dump_revision != revision {
                // Another build: its coverage is carried, never merged into this build's.
                if let Err(e) = profile::parse(bytes, &origin) {
                    report
                        .undecodable
                        .push((dump.replica.clone(), e.to_string()));
                }
                let dump = StoredDump {
                    path: path.clone(),
                    meta,
                    payload: bytes.clone(),
                };
                match self.older.iter_mut().find(|(r, _)| r == &dump_revision) {
                    Some((_, data)) => data.apply(&dump),
                    None => {
                        let mut data = BuildData::default();
                        data.apply(&dump);
                        self.older.push((dump_revision.clone(), data));
                    }
                }
                older_arrived = true;
            } else if let Err(e) = self
                .apply_current(
                    i,
                    Incoming {
                        replica: &dump.replica,
                        kind,
                        bytes,
                        instance: dump.instance.clone(),
                        requested_at,
                        origin: &origin,
                    },
                )
                .map(|applied| match applied {
                    Applied::OtherBuild => report.other_build.push(dump.replica.clone()),
                    Applied::OlderBuild(oid) => {
                        report.other_build.push(dump.replica.clone());
                        let mut meta = meta.clone();
                        meta.revision = oid.clone();
                        let stored = StoredDump {
                            path: path.clone(),
                            meta,
                            payload: bytes.clone(),
                        };
                        match self.older.iter_mut().find(|(r, _)| r == &oid) {
                            Some((_, data)) => data.apply(&stored),
                            None => {
                                let mut data = BuildData::default();
                                data.apply(&stored);
                                self.older.push((oid, data));
                            }
                        }
                        older_arrived = true;
                    }
                    Applied::Current => {}
                })
            {
                report.undecodable.push((dump.replica.clone(), e.clone()));
                self.undecodable.push(Diagnostic {
                    kind: DiagnosticKind::TargetError,
                    subject: format!("{name} {}", dump.replica),
                    message: e,
                    fix: format!(
                        "the raw dump is kept at {}; check that the address serves a {} agent",
                        path.display(),
                        self.targets[i].config.kind.name()
                    ),
                });
            }
            let target = &mut self.targets[i];
            let epoch = target.epoch_of(&dump.replica);
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
            let epoch = target.epoch_of(&f.replica);
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
        if complete {
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
        let swapped = self.targets[i].java_build.is_some()
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
        let indices: Vec<usize> = if names.is_empty() {
            (0..self.targets.len()).collect()
        } else {
            names
                .iter()
                .map(|n| self.target_index(n))
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for i in indices {
            let client = self.targets[i].client.clone();
            let mut sink = EngineSink {
                engine: self,
                target: i,
                error: None,
            };
            let seq = collector::run(&client, &mut sink, true, false).await;
            if let Some(e) = sink.error {
                return Err(e);
            }
            let Some(dump) = seq.dump else { continue };
            out.push(TargetReset {
                target: self.targets[i].config.name.clone(),
                dump,
                outcomes: seq.reset,
                skipped: seq.skipped,
            });
        }
        Ok(out)
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
                self.store
                    .persist_reset_marker(&name, &o.replica, &revision, kind, at)?;
                self.targets[i].mark_reset(&o.replica);
            }
        }
        Ok(())
    }

    /// The merged Go profile of every target, every replica and every epoch.
    pub fn go_total(&self) -> Option<Profile> {
        let mut out: Option<Profile> = None;
        for t in &self.targets {
            if let Some(p) = t.go.total() {
                match &mut out {
                    Some(o) => {
                        o.merge(&p);
                    }
                    None => out = Some(p),
                }
            }
        }
        out
    }

    /// Everything accumulated for each JaCoCo target: the OR of every replica and epoch.
    pub fn java_totals(&self) -> Vec<(String, ExecData)> {
        self.targets
            .iter()
            .filter_map(|t| t.java.total().map(|e| (t.config.name.clone(), e)))
            .collect()
    }

    /// Builds a new View from everything accumulated so far.
    pub fn view(&mut self) -> Arc<View> {
        let total = self.go_total();
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
        diagnostics.extend(self.undecodable.iter().cloned());
        let statuses = self
            .targets
            .iter()
            .map(|t| crate::model::TargetStatus {
                name: t.config.name.clone(),
                kind: t.config.kind.name().to_string(),
                replicas: t.status.values().map(redacted_status).collect(),
                has_data: t.has_data
                    || self.older.iter().any(|(_, b)| b.has_target(&t.config.name)),
            })
            .collect();
        let mut java_files = Vec::new();
        let mut saves = Vec::new();
        if let Some(u) = &self.java_union {
            // Every JaCoCo target's replicas and epochs, merged per class id at the probe level,
            // each class projected once.
            let data: Vec<TargetExec> = self
                .targets
                .iter()
                .filter(|t| t.java_build.is_some())
                .map(|t| TargetExec {
                    target: &t.config.name,
                    parts: t.java.parts().collect(),
                })
                .collect();
            let (files, diags) = u.project_targets(&data);
            // Each target with data saves the merged lines of this build (what carry-over maps
            // onto a later revision, or finds again by the target's class ids).
            let with_data: Vec<usize> = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.java_build.is_some() && t.java.parts().next().is_some())
                .map(|(i, _)| i)
                .collect();
            if !with_data.is_empty() {
                let lines = BuildLines::from_coverage(&self.revision.oid, &files);
                for i in with_data {
                    saves.push((i, lines.clone()));
                }
            }
            java_files = files;
            diagnostics.extend(diags);
        }
        // Written by `save_build_lines`, not here: building a View never touches the disk.
        self.pending_line_saves = saves;
        diagnostics.extend(self.line_save_problems.iter().cloned());
        diagnostics.extend(self.unknown_builds.values().cloned());
        for t in &self.targets {
            diagnostics.extend(other_build_diagnostics(t, &self.revision.short));
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
            go: total.as_ref(),
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
        };
        self.build.build(input)
    }

    /// From now on, `hit_since_mark` in Views is measured from the current View.
    pub fn mark(&mut self) {
        self.build.mark();
    }
}

/// Where a diff file does not apply to the revision: files it names that are not there, and
/// changed lines past a file's end. Reported in every View; the diff's other files still count.
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
fn other_build_diagnostics(t: &LiveTarget, revision: &str) -> Vec<Diagnostic> {
    let name = &t.config.name;
    let mut out: Vec<Diagnostic> = t
        .aside
        .iter()
        .map(|(replica, o)| Diagnostic {
            kind: DiagnosticKind::OtherBuild,
            subject: format!("{name} {replica}"),
            message: format!(
                "replica {replica} runs another build: its {} blocks do not fit revision {revision} \
                 ({}); its coverage is kept apart, not merged",
                o.blocks, o.misfit
            ),
            fix: "set [repo] revision (or --revision) to the commit that replica runs to see its \
                  coverage; goc v2 agents can name their build (revision_from_extra)"
                .into(),
        })
        .collect();
    for (replica, (older, misfit)) in &t.older_builds {
        out.push(Diagnostic {
            kind: DiagnosticKind::OtherBuild,
            subject: format!("{name} {replica}"),
            message: format!(
                "replica {replica} runs another build, of revision {older} (an ancestor of {revision}: \
                 its blocks fit that commit's sources, not {revision}'s: {misfit}); its coverage is \
                 carried onto unchanged lines, not merged"
            ),
            fix: "expected during a rolling deploy; once the replica runs the configured build this goes \
                  away (set [repo] revision to {older} to see that build's own coverage)"
                .replace("{older}", older),
        });
    }
    if (!t.aside.is_empty() || !t.older_builds.is_empty()) && t.go.replicas.is_empty() {
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
