//! Targets: collect raw dumps from coverage agents. A target knows its wire protocol and nothing
//! else; it never decodes coverage. Every replica is fetched on its own with a timeout, so one
//! dead or slow replica never holds up the others.

pub mod jacoco;
pub mod limits;

use std::time::{Duration, SystemTime};

/// What a replica returned, as raw bytes: stored first, decoded later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A Go cover profile (`mode: ...` then block lines).
    GoProfile(Vec<u8>),
    /// A JaCoCo `.exec` stream (header, session info, execution data), without the final CMDOK.
    JacocoExec(Vec<u8>),
}

/// One replica's dump.
#[derive(Debug, Clone)]
pub struct ReplicaDump {
    /// Stable name of the replica within its target: an agent URL (goc v1), `id=N` (goc v2),
    /// `ip:port` (JaCoCo).
    pub replica: String,
    /// Identity of the process behind the replica, when the protocol tells it (goc v2 agent
    /// id + pid, JaCoCo session id + start time). A change opens a new epoch.
    pub instance: Option<String>,
    /// What the agent registered as its `extra` (goc v2 `GOC_REGISTER_EXTRA`), e.g.
    /// `commit=1a2b3c4`: lets the engine tell which build the replica runs.
    pub extra: Option<String>,
    pub fetched_at: SystemTime,
    pub elapsed: Duration,
    pub payload: Payload,
}

/// A replica that could not be read this time.
#[derive(Debug, Clone)]
pub struct ReplicaFailure {
    pub replica: String,
    pub error: String,
}

/// The result of polling every replica of one target once.
#[derive(Debug, Clone, Default)]
pub struct PollResult {
    pub dumps: Vec<ReplicaDump>,
    pub failures: Vec<ReplicaFailure>,
}

/// The result of resetting one replica.
#[derive(Debug, Clone)]
pub struct ResetOutcome {
    pub replica: String,
    pub result: Result<(), String>,
}

pub mod goc_v1;
pub mod goc_v2;

/// A poll's result from per-replica results and the failures met while listing.
pub fn gather(
    results: Vec<Result<ReplicaDump, ReplicaFailure>>,
    mut failures: Vec<ReplicaFailure>,
) -> PollResult {
    let mut dumps = Vec::new();
    for r in results {
        match r {
            Ok(d) => dumps.push(d),
            Err(f) => failures.push(f),
        }
    }
    PollResult { dumps, failures }
}

/// A replica's fetch turned into its dump (a Go profile fetched since `started`) or its failure.
pub(crate) fn go_outcome<E: std::fmt::Display>(
    replica: String,
    instance: Option<String>,
    extra: Option<String>,
    started: std::time::Instant,
    fetched: Result<Vec<u8>, E>,
) -> Result<ReplicaDump, ReplicaFailure> {
    match fetched {
        Ok(bytes) => Ok(ReplicaDump {
            replica,
            instance,
            extra,
            fetched_at: SystemTime::now(),
            elapsed: started.elapsed(),
            payload: Payload::GoProfile(bytes),
        }),
        Err(e) => Err(ReplicaFailure {
            replica,
            error: e.to_string(),
        }),
    }
}
