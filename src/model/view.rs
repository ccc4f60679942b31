use super::{
    BaselineComparison, Carried, ChangedFile, Counts, CoverageRule, FileCoverage, SourceLanguage,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Reads source files at the deployed revision. Implemented over git objects by the engine;
/// the UI calls it only from background workers, never on the UI thread.
pub trait SourceStore: Send + Sync {
    /// The bytes of `path` at the deployed revision, or `Ok(None)` if it does not exist there.
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String>;
}

/// One immutable picture of the session: what the UI draws and what reports are written from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    /// Increases by one with every View the engine publishes.
    pub generation: u64,
    #[serde(skip)]
    pub created: Option<SystemTime>,
    /// The deployed revision (commit id) and the base it is compared with.
    pub revision: String,
    pub base: String,
    /// Every file with coverage or changed lines, sorted by path.
    pub files: Vec<FileView>,
    pub totals: Totals,
    /// What counts as covered: every percentage of this View is computed with it.
    pub rule: CoverageRule,
    pub targets: Vec<TargetStatus>,
    pub diagnostics: Vec<Diagnostic>,
    /// Changed-line coverage percent after each poll of the session, oldest first.
    pub history: Vec<f64>,
    /// True when the View comes from `covtop demo`.
    pub demo: bool,
    /// The JaCoCo targets' classes are still being read and analysed: their coverage is not
    /// in this View yet (nothing is lost; it appears when the analysis is done).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub analysing: bool,
    pub paused: bool,
    #[serde(skip)]
    pub interval: Duration,
    /// Coverage of older builds carried onto lines the current build has not covered yet.
    #[serde(skip_serializing_if = "Carried::is_empty")]
    pub carried: Arc<Carried>,
    /// The comparison with a baseline, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Arc<BaselineComparison>>,
    /// The session store's state, for the screen's header (`None`: no store, as in a demo).
    #[serde(skip)]
    pub store: Option<StoreState>,
}

/// Where the session's dumps go and whether that works.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreState {
    /// Where the session is (never with a password).
    pub location: String,
    /// A store several covtops share (PostgreSQL): shown when all is well too.
    pub shared: bool,
    /// What is wrong while the store works around it (unreachable, dumps spooled).
    pub problem: Option<String>,
}

/// One repository file in a View.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    pub path: String,
    pub language: Option<SourceLanguage>,
    pub coverage: Option<Arc<FileCoverage>>,
    pub changed: Option<Arc<ChangedFile>>,
    /// Counts over changed coverable lines only.
    pub changed_counts: Counts,
    /// Counts over all coverable lines of the file.
    pub whole_counts: Counts,
    /// Lines hit for the first time since the previous View (what the screen flashes).
    pub newly_hit: Vec<u32>,
    /// Lines hit since the user's mark, when a mark is set.
    pub hit_since_mark: Option<Vec<u32>>,
    /// The targets whose data holds this file (indices into [`View::targets`], ascending):
    /// empty for a file no target reported.
    #[serde(skip)]
    pub targets: Arc<[u16]>,
}

impl FileView {
    pub fn has_changes(&self) -> bool {
        self.changed.as_ref().is_some_and(|c| !c.lines.is_empty())
    }

    /// A file that should have coverage (a language some target covers) and has none: shown as
    /// "no data", never as 0/0.
    pub fn no_data(&self) -> bool {
        self.coverage.is_none() && self.changed_counts.no_data > 0
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub changed: Counts,
    pub whole: Counts,
    /// Go statement view: (covered, total) statements of changed blocks / of all blocks.
    pub changed_statements: (u64, u64),
    pub whole_statements: (u64, u64),
    /// Changed coverable lines that are carried from older builds (not covered by this build).
    pub carried_changed: u64,
    /// All coverable lines carried from older builds.
    pub carried_whole: u64,
}

impl Totals {
    /// Changed code lines in files that have no coverage data although a target covers their
    /// language.
    pub fn changed_no_data(&self) -> u64 {
        self.changed.no_data
    }

    /// Percent of changed coverable lines carried from older builds; `None` when nothing is
    /// coverable.
    pub fn carried_changed_percent(&self) -> Option<f64> {
        let total = self.changed.coverable();
        (total > 0).then(|| self.carried_changed as f64 * 100.0 / total as f64)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub name: String,
    /// `goc`, `goc-v2` or `jacoco`.
    pub kind: String,
    pub replicas: Vec<ReplicaStatus>,
    /// True once the session holds any data of this target (stored or polled, any build).
    pub has_data: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    /// An agent address, a goc v2 agent id, or a JaCoCo pod IP:port.
    pub id: String,
    pub state: ReplicaState,
    #[serde(skip)]
    pub last_poll: Option<SystemTime>,
    /// Epochs seen so far (restarts and resets open a new one).
    pub epoch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "error")]
pub enum ReplicaState {
    Up,
    /// Answered, but slower than half the timeout.
    Slow,
    Down(String),
    /// Gave data before, but the server no longer lists it (scaled down, replaced, moved).
    /// Its data is kept; it is not an error.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// A coverage file that did not map to a repository path.
    Unmapped,
    /// A file outside the repository's modules (a dependency).
    External,
    TargetError,
    /// Classes that do not match the deployed build, sources not found, and the like.
    Mismatch,
    /// Changed code that should have coverage data and has none.
    NoData,
    /// Data kept apart because it does not belong with the current build (another build of the
    /// code, or a process whose build is unknown).
    OtherBuild,
}

impl DiagnosticKind {
    /// The word the screen and the headless commands' stderr use for this kind.
    pub fn label(&self) -> &'static str {
        match self {
            DiagnosticKind::Unmapped => "unmapped",
            DiagnosticKind::External => "external",
            DiagnosticKind::TargetError => "target error",
            DiagnosticKind::Mismatch => "mismatch",
            DiagnosticKind::NoData => "no data",
            DiagnosticKind::OtherBuild => "other build",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    /// What it is about: a file, a class, a target.
    pub subject: String,
    pub message: String,
    /// What the user can do about it.
    pub fix: String,
}
