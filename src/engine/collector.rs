//! The collection of one target, shared by the screen's collector tasks, `covtop watch` and the
//! headless commands. A [`Collector`] lists its target's replicas and then works on each
//! replica on its own: fetch (with the target's timeout) → persist (acknowledged by the sink) →
//! and, for a reset, reset → persist what the reset dumped → record the reset. A replica has at
//! most one such sequence at a time, and is reset only once its dump is on disk; a dead, slow or
//! black-holed replica holds up nobody but itself.

use super::targets::{Listing, Replica, ResetResult, TargetClient};
use super::{Engine, EngineError, TargetPoll, reset_plan};
use crate::agent::{PollResult, ReplicaFailure};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Where a collector's results go: the engine itself (headless commands, `watch`) or the
/// engine's task through a channel (the screen).
pub trait Sink {
    /// The replicas the target lists now (those it no longer lists are gone) and what could not
    /// be listed.
    fn listed(
        &mut self,
        replicas: Vec<String>,
        failures: Vec<ReplicaFailure>,
    ) -> impl Future<Output = Option<TargetPoll>> + Send;

    /// Persists and applies one replica's dump or failure; `None` when it could not be stored
    /// (then nothing is reset).
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

/// Why replicas are fetched; a stronger purpose wins when two meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// A scheduled poll: an unchanged dump is not stored again.
    Poll,
    /// A snapshot the user asked for: every dump is a file of its own.
    Snapshot,
    /// Fetch, store, then reset.
    Reset,
}

/// What a collector did since it was last asked ([`Collector::take`]).
#[derive(Debug, Default)]
pub struct Sequence {
    /// The stored dumps and failures of every replica; `None` when nothing could be stored.
    pub dump: Option<TargetPoll>,
    /// Per replica, when a reset was asked for.
    pub reset: Vec<crate::agent::ResetOutcome>,
    /// Replicas not reset because their dump failed.
    pub skipped: Vec<(String, String)>,
}

/// A finished step of a collector's work, to hand back to [`Collector::handle`].
pub struct Step(Job);

enum Job {
    Listed(Listing),
    Fetched {
        replica: String,
        result: Box<Result<crate::agent::ReplicaDump, ReplicaFailure>>,
    },
    Reset {
        replica: String,
        result: ResetResult,
    },
}

/// One target's collection: its listing and one sequence per replica, all in flight at once.
pub struct Collector {
    client: Arc<TargetClient>,
    /// After a reset, fetch the first dump of the new epoch (the screen does; a headless reset
    /// ends with the reset).
    follow_reset: bool,
    /// A listing in flight, and what its replicas are then fetched for.
    listing: Option<Purpose>,
    /// Replicas with a sequence in flight, and what for.
    busy: HashMap<String, Purpose>,
    /// Replicas asked for (a reset, a snapshot) while busy: fetched once their sequence ends.
    queued: HashMap<String, Purpose>,
    /// The replicas of the last listing, by name, in listing order.
    known: Vec<(String, Replica)>,
    jobs: FuturesUnordered<BoxFuture<'static, Job>>,
    done: Sequence,
    /// A sink refused to store something in this round.
    store_failed: bool,
}

impl Collector {
    pub fn new(client: Arc<TargetClient>, follow_reset: bool) -> Collector {
        Collector {
            client,
            follow_reset,
            listing: None,
            busy: HashMap::new(),
            queued: HashMap::new(),
            known: Vec::new(),
            jobs: FuturesUnordered::new(),
            done: Sequence::default(),
            store_failed: false,
        }
    }

    /// True while a listing or a replica's sequence for `purpose` is in flight or queued.
    pub fn working_on(&self, purpose: Purpose) -> bool {
        self.listing == Some(purpose)
            || self.busy.values().any(|p| *p == purpose)
            || self.queued.values().any(|p| *p == purpose)
    }

    /// True when nothing is in flight.
    pub fn idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Asks for a listing and then a sequence for every listed replica. A listing already in
    /// flight takes the stronger purpose instead of a second one starting.
    pub fn start(&mut self, purpose: Purpose) {
        if let Some(p) = &mut self.listing {
            *p = (*p).max(purpose);
            return;
        }
        self.listing = Some(purpose);
        let client = self.client.clone();
        self.jobs
            .push(Box::pin(async move { Job::Listed(client.list().await) }));
    }

    fn fetch(&mut self, replica: Replica, purpose: Purpose) {
        let name = replica.name();
        self.busy.insert(name.clone(), purpose);
        let client = self.client.clone();
        self.jobs.push(Box::pin(async move {
            let result = Box::new(client.fetch(&replica).await);
            Job::Fetched {
                replica: name,
                result,
            }
        }));
    }

    fn reset(&mut self, name: String) {
        let client = self.client.clone();
        self.jobs.push(Box::pin(async move {
            let result = client.reset(std::slice::from_ref(&name)).await;
            Job::Reset {
                replica: name,
                result,
            }
        }));
    }

    fn replica(&self, name: &str) -> Option<Replica> {
        self.known
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
    }

    /// A replica's sequence ended: start what was asked for it meanwhile.
    fn finish(&mut self, name: &str) {
        self.busy.remove(name);
        if let Some(p) = self.queued.remove(name)
            && let Some(r) = self.replica(name)
        {
            self.fetch(r, p);
        }
    }

    fn record(&mut self, poll: Option<TargetPoll>) {
        let Some(poll) = poll else {
            self.store_failed = true;
            return;
        };
        match &mut self.done.dump {
            None => self.done.dump = Some(poll),
            Some(d) => {
                d.stored.extend(poll.stored);
                d.failures.extend(poll.failures);
                d.undecodable.extend(poll.undecodable);
                d.other_build.extend(poll.other_build);
                d.unchanged += poll.unchanged;
            }
        }
    }

    /// The next finished step of any sequence; pending forever when nothing is in flight.
    /// Cancel-safe (use it in a `select!`), unlike [`Collector::handle`].
    pub async fn next(&mut self) -> Step {
        match self.jobs.next().await {
            Some(job) => Step(job),
            None => std::future::pending().await,
        }
    }

    /// Hands a finished step to `sink` (waiting for its acknowledgements) and starts what
    /// follows it. Run it to its end: dropping it midway loses the step.
    pub async fn handle<S: Sink + Send>(&mut self, step: Step, sink: &mut S) {
        match step.0 {
            Job::Listed(listing) => {
                let purpose = self.listing.take().unwrap_or(Purpose::Poll);
                let names: Vec<String> = listing.replicas.iter().map(Replica::name).collect();
                self.known = names.iter().cloned().zip(listing.replicas).collect();
                let report = sink.listed(names, listing.failures).await;
                if purpose == Purpose::Reset
                    && let Some((_, skipped)) = report.as_ref().map(reset_plan)
                    && !skipped.is_empty()
                {
                    // What could not even be listed was not dumped, so it is not reset.
                    self.not_reset(skipped, sink).await;
                }
                self.record(report);
                for (name, replica) in self.known.clone() {
                    if self.busy.contains_key(&name) {
                        // Its sequence in flight answers a poll; a reset or snapshot waits.
                        if purpose > Purpose::Poll {
                            let q = self.queued.entry(name).or_insert(purpose);
                            *q = (*q).max(purpose);
                        }
                    } else {
                        self.fetch(replica, purpose);
                    }
                }
            }
            Job::Fetched { replica, result } => {
                let purpose = self.busy.get(&replica).copied().unwrap_or(Purpose::Poll);
                let result = match *result {
                    Ok(d) => PollResult {
                        dumps: vec![d],
                        failures: Vec::new(),
                    },
                    Err(f) => PollResult {
                        dumps: Vec::new(),
                        failures: vec![f],
                    },
                };
                let stored = sink.polled(result, purpose == Purpose::Snapshot).await;
                let plan = stored.as_ref().map(reset_plan);
                self.record(stored);
                match plan {
                    Some((stored, _)) if purpose == Purpose::Reset && stored.contains(&replica) => {
                        self.reset(replica);
                    }
                    Some((_, skipped)) if purpose == Purpose::Reset => {
                        self.not_reset(skipped, sink).await;
                        self.finish(&replica);
                    }
                    _ => self.finish(&replica),
                }
            }
            Job::Reset { replica, result } => {
                let any_reset = result.outcomes.iter().any(|o| o.result.is_ok());
                self.done.reset.extend(result.outcomes.iter().cloned());
                sink.reset_done(result, Vec::new()).await;
                match self.replica(&replica) {
                    // The first dump of the new epoch.
                    Some(r) if self.follow_reset && any_reset => self.fetch(r, Purpose::Poll),
                    _ => self.finish(&replica),
                }
            }
        }
    }

    /// Tells `sink` (and this round) which replicas are not reset, and why.
    async fn not_reset<S: Sink + Send>(&mut self, skipped: Vec<(String, String)>, sink: &mut S) {
        self.done.skipped.extend(skipped.iter().cloned());
        let nothing = ResetResult {
            outcomes: Vec::new(),
            dumped: None,
        };
        sink.reset_done(nothing, skipped).await;
    }

    /// What was done since the last call, in listing order; `dump` is `None` when the sink
    /// could not store something.
    pub fn take(&mut self) -> Sequence {
        let mut done = std::mem::take(&mut self.done);
        if std::mem::take(&mut self.store_failed) {
            done.dump = None;
        }
        let order: HashMap<&str, usize> = self
            .known
            .iter()
            .enumerate()
            .map(|(k, (n, _))| (n.as_str(), k))
            .collect();
        let pos = |r: &str| order.get(r).copied().unwrap_or(usize::MAX);
        if let Some(d) = &mut done.dump {
            d.stored.sort_by_key(|(r, _)| pos(r));
            d.failures.sort_by_key(|(r, _)| pos(r));
        }
        done.reset.sort_by(|a, b| a.replica.cmp(&b.replica));
        done
    }
}

/// Runs one round for `client`: list, then fetch and persist every replica on its own; when
/// `reset`, reset each replica once its dump is stored and persist and record that.
pub async fn run<S: Sink + Send>(
    client: &Arc<TargetClient>,
    sink: &mut S,
    reset: bool,
    snapshot: bool,
) -> Sequence {
    let mut c = Collector::new(client.clone(), false);
    c.start(match (reset, snapshot) {
        (true, _) => Purpose::Reset,
        (false, true) => Purpose::Snapshot,
        (false, false) => Purpose::Poll,
    });
    while !c.idle() {
        let step = c.next().await;
        c.handle(step, sink).await;
    }
    c.take()
}

/// The engine as the sink of collectors driven on the engine's own task (headless commands,
/// `watch`).
struct EngineSink<'a> {
    engine: &'a mut Engine,
    target: usize,
    /// The first store error: the round stops there.
    error: Option<EngineError>,
}

impl Sink for EngineSink<'_> {
    async fn listed(
        &mut self,
        replicas: Vec<String>,
        failures: Vec<ReplicaFailure>,
    ) -> Option<TargetPoll> {
        Some(self.engine.apply_listing(self.target, &replicas, failures))
    }

    async fn polled(&mut self, result: PollResult, _snapshot: bool) -> Option<TargetPoll> {
        match self.engine.apply_replicas(self.target, result) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    async fn reset_done(&mut self, reset: ResetResult, _skipped: Vec<(String, String)>) {
        if let Some(dumped) = reset.dumped
            && let Err(e) = self.engine.apply_reset_dump(self.target, dumped)
        {
            self.error.get_or_insert(e);
        }
        if let Err(e) = self.engine.record_resets(self.target, &reset.outcomes) {
            self.error.get_or_insert(e);
        }
    }
}

/// One round of the targets `indices` of `engine`, all at once, each through its own
/// [`Collector`]; the engine persists and applies every step as it arrives. Returns one
/// [`Sequence`] per target, in order; the first store error ends the round.
pub async fn run_all(
    engine: &mut Engine,
    indices: &[usize],
    purpose: Purpose,
) -> Result<Vec<Sequence>, EngineError> {
    let mut cols: Vec<Collector> = indices
        .iter()
        .map(|&i| Collector::new(engine.targets()[i].client.clone(), false))
        .collect();
    for c in &mut cols {
        c.start(purpose);
    }
    loop {
        let next = std::future::poll_fn(|cx| {
            let mut pending = false;
            for (k, c) in cols.iter_mut().enumerate() {
                if c.jobs.is_empty() {
                    continue;
                }
                match c.jobs.poll_next_unpin(cx) {
                    std::task::Poll::Ready(Some(job)) => {
                        return std::task::Poll::Ready(Some((k, job)));
                    }
                    _ => pending = true,
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(None)
            }
        })
        .await;
        let Some((k, job)) = next else { break };
        let mut sink = EngineSink {
            engine: &mut *engine,
            target: indices[k],
            error: None,
        };
        cols[k].handle(Step(job), &mut sink).await;
        if let Some(e) = sink.error {
            return Err(e);
        }
    }
    Ok(cols.iter_mut().map(Collector::take).collect())
}
