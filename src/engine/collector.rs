//! The collection sequence of one target, shared by the screen's collectors and the headless
//! commands: poll → persist (acknowledged) → reset → persist what the reset dumped → record the
//! reset. A replica is reset only when its dump is on disk, and a target never runs two
//! sequences at once: each collector awaits its sequence before it takes the next request.

use super::targets::{ResetResult, TargetClient};
use super::{TargetPoll, reset_plan};
use crate::agent::PollResult;
use std::future::Future;

/// Where a sequence's results go: the engine itself (headless commands) or the engine's task
/// through a channel (the screen).
pub trait Sink {
    /// Persists and applies a poll's result; `None` when it could not be stored (then nothing
    /// is reset).
    fn polled(
        &mut self,
        result: PollResult,
        snapshot: bool,
    ) -> impl Future<Output = Option<TargetPoll>> + Send;

    /// Persists what the reset dumped (JaCoCo dumps and resets in one step) and records the
    /// resets; `skipped` are the replicas not reset because their dump was not stored.
    fn reset_done(
        &mut self,
        reset: ResetResult,
        skipped: Vec<(String, String)>,
    ) -> impl Future<Output = ()> + Send;
}

/// What one sequence did.
#[derive(Debug, Default)]
pub struct Sequence {
    /// The stored poll; `None` when it could not be stored.
    pub dump: Option<TargetPoll>,
    /// Per replica, when a reset was asked for.
    pub reset: Vec<crate::agent::ResetOutcome>,
    /// Replicas not reset because their dump failed.
    pub skipped: Vec<(String, String)>,
}

/// Runs one sequence for `client`: poll and persist; then, when `reset`, reset the replicas whose
/// dump is stored and persist and record that.
pub async fn run<S: Sink + Send>(
    client: &TargetClient,
    sink: &mut S,
    reset: bool,
    snapshot: bool,
) -> Sequence {
    let result = client.poll().await;
    let Some(dump) = sink.polled(result, snapshot).await else {
        return Sequence::default();
    };
    let (stored, skipped) = reset_plan(&dump);
    let mut out = Sequence {
        dump: Some(dump),
        ..Sequence::default()
    };
    if !reset {
        return out;
    }
    let r = if stored.is_empty() {
        ResetResult {
            outcomes: Vec::new(),
            dumped: None,
        }
    } else {
        client.reset(&stored).await
    };
    out.reset = r.outcomes.clone();
    out.skipped = skipped.clone();
    sink.reset_done(r, skipped).await;
    out
}
