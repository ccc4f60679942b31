//! The live loop: the engine as one task that owns all state, and one collector task per
//! target. A collector owns its target's client and schedule (interval, pause, watch hints) and
//! runs one sequence at a time — poll → persist acknowledged by the engine → reset — so a slow
//! target never delays the others or the engine, and a dump fetched before a reset can never
//! land after it. Every change publishes a new `Arc<View>`.

use super::collector::{Collector, Purpose, Sink};
use super::targets::{ResetResult, TargetClient};
use super::{Command, Engine, Notice, TargetPoll};
use crate::agent::PollResult;
use crate::model::View;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// The channels the UI (or a headless loop) uses to talk to a running engine.
pub struct LiveHandles {
    pub views: watch::Receiver<Arc<View>>,
    pub commands: mpsc::Sender<Command>,
    pub notices: mpsc::Receiver<Notice>,
}

/// What a collector asks of the engine; each is acknowledged once it is on disk.
enum FromCollector {
    Listed {
        target: usize,
        replicas: Vec<String>,
        failures: Vec<crate::agent::ReplicaFailure>,
        ack: oneshot::Sender<Option<TargetPoll>>,
    },
    /// Every replica of a snapshot the user asked for is stored (or failed).
    SnapshotDone,
    Polled {
        target: usize,
        result: PollResult,
        snapshot: bool,
        ack: oneshot::Sender<Option<TargetPoll>>,
    },
    ResetDone {
        target: usize,
        reset: ResetResult,
        skipped: Vec<(String, String)>,
        ack: oneshot::Sender<()>,
    },
}

/// What the engine tells a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Poll,
    /// A snapshot the user asked for (the engine says where it was stored).
    Dump,
    /// Poll and persist, reset what was stored, then take the first dump of the new epoch.
    Reset,
    Pause(bool),
    SetInterval(Duration),
    /// A goc v2 watch frame: something ran.
    Hint,
}

const HINT_DEBOUNCE: Duration = Duration::from_millis(300);
/// A watch hint brings a target's next poll forward, but never sooner than this after its
/// previous one: a flooding watch stream does not turn into a flood of polls.
pub const HINT_MIN_GAP: Duration = Duration::from_secs(2);
/// The shortest time between two Views published because replicas reported.
const PUBLISH_GAP: Duration = Duration::from_millis(100);

/// Starts the engine loop and one collector per target on the current tokio runtime.
pub fn spawn(engine: Engine) -> (LiveHandles, tokio::task::JoinHandle<()>) {
    let mut engine = engine;
    let first = engine.view();
    engine.save_build_lines();
    let (view_tx, view_rx) = watch::channel(first);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (notice_tx, notice_rx) = mpsc::channel(64);
    let handle = tokio::spawn(run(engine, view_tx, cmd_rx, notice_tx));
    (
        LiveHandles {
            views: view_rx,
            commands: cmd_tx,
            notices: notice_rx,
        },
        handle,
    )
}

/// The sink of a collector: the engine's task, through a channel, waiting for each
/// acknowledgement.
struct ChannelSink {
    target: usize,
    to_engine: mpsc::Sender<FromCollector>,
}

impl Sink for ChannelSink {
    async fn listed(
        &mut self,
        replicas: Vec<String>,
        failures: Vec<crate::agent::ReplicaFailure>,
    ) -> Option<TargetPoll> {
        let (ack, done) = oneshot::channel();
        self.to_engine
            .send(FromCollector::Listed {
                target: self.target,
                replicas,
                failures,
                ack,
            })
            .await
            .ok()?;
        done.await.ok().flatten()
    }

    async fn polled(&mut self, result: PollResult, snapshot: bool) -> Option<TargetPoll> {
        let (ack, stored) = oneshot::channel();
        self.to_engine
            .send(FromCollector::Polled {
                target: self.target,
                result,
                snapshot,
                ack,
            })
            .await
            .ok()?;
        stored.await.ok().flatten()
    }

    async fn reset_done(&mut self, reset: ResetResult, skipped: Vec<(String, String)>) {
        let (ack, done) = oneshot::channel();
        if self
            .to_engine
            .send(FromCollector::ResetDone {
                target: self.target,
                reset,
                skipped,
                ack,
            })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

/// Runs CPU or disk work on the engine's task, letting the runtime move its other tasks (the
/// screen) to another worker meanwhile; directly on a single-threaded runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A notice as shown: without credentials from the configuration.
fn redact_notice(n: Notice) -> Notice {
    use crate::redact::redacted;
    match n {
        Notice::Info(t) => Notice::Info(redacted(&t)),
        Notice::Error(t) => Notice::Error(redacted(&t)),
    }
}

fn new_ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(MissedTickBehavior::Skip);
    t
}

/// One target's collector: its own schedule; every replica on its own, one sequence at a time
/// per replica, so a slow or dead replica never holds up another's dump. Ends when the engine's
/// task is gone.
async fn collect(
    client: Arc<TargetClient>,
    mut sink: ChannelSink,
    mut control: mpsc::Receiver<Control>,
    interval: Duration,
    mut paused: bool,
) {
    let mut collector = Collector::new(client, true);
    let mut ticker = new_ticker(interval);
    let mut min_gap = HINT_MIN_GAP.min(interval);
    let mut hint_due: Option<Instant> = None;
    let mut last_start = Instant::now();
    let mut snapshot_outstanding = false;
    loop {
        let mut finished = None;
        let purpose = tokio::select! {
            _ = ticker.tick(), if !paused => Some(Purpose::Poll),
            _ = async {
                match hint_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                hint_due = None;
                (!paused).then_some(Purpose::Poll)
            }
            step = collector.next(), if !collector.idle() => {
                finished = Some(step);
                None
            }
            msg = control.recv() => match msg {
                None => return,
                Some(Control::Pause(p)) => {
                    paused = p;
                    None
                }
                Some(Control::SetInterval(d)) => {
                    ticker = new_ticker(d);
                    min_gap = HINT_MIN_GAP.min(d);
                    None
                }
                Some(Control::Hint) => {
                    let at = (Instant::now() + HINT_DEBOUNCE).max(last_start + min_gap);
                    hint_due.get_or_insert(at);
                    None
                }
                Some(Control::Poll) => Some(Purpose::Poll),
                Some(Control::Dump) => {
                    snapshot_outstanding = true;
                    Some(Purpose::Snapshot)
                }
                Some(Control::Reset) => Some(Purpose::Reset),
            },
        };
        if let Some(step) = finished {
            collector.handle(step, &mut sink).await;
        }
        if let Some(p) = purpose {
            last_start = Instant::now();
            collector.start(p);
        }
        if snapshot_outstanding && !collector.working_on(Purpose::Snapshot) {
            snapshot_outstanding = false;
            if sink
                .to_engine
                .send(FromCollector::SnapshotDone)
                .await
                .is_err()
            {
                return;
            }
        }
        // What a finished step reported is not kept: the engine already has it.
        drop(collector.take());
        if sink.to_engine.is_closed() {
            return;
        }
    }
}

struct Loop {
    engine: Engine,
    views: watch::Sender<Arc<View>>,
    notices: mpsc::Sender<Notice>,
    /// One control channel per target's collector.
    controls: Vec<mpsc::Sender<Control>>,
    pending_snapshot: usize,
    /// Something changed since the last View was published.
    dirty: bool,
    last_publish: Instant,
}

async fn run(
    engine: Engine,
    views: watch::Sender<Arc<View>>,
    mut commands: mpsc::Receiver<Command>,
    notices: mpsc::Sender<Notice>,
) {
    let (to_engine, mut from_collectors) = mpsc::channel::<FromCollector>(64);
    let interval = engine.config().poll.interval;
    let mut engine = engine;
    // A viewer polls no agent unless asked (poll, dump, reset, or un-pausing).
    if engine.attached {
        engine.paused = true;
    }
    // Every dump any writer stores in the session is applied as it is announced.
    let follow = engine.follow();
    // Checkpoints are folded on a thread of their own; a viewer writes none.
    let _checkpoints = (!engine.attached && !engine.demo)
        .then(|| engine.start_checkpoints())
        .flatten();
    let mut controls = Vec::new();
    let mut tasks = Vec::new();
    for (i, t) in engine.targets().iter().enumerate() {
        let (tx, rx) = mpsc::channel(64);
        let sink = ChannelSink {
            target: i,
            to_engine: to_engine.clone(),
        };
        tasks.push(tokio::spawn(collect(
            t.client.clone(),
            sink,
            rx,
            interval,
            engine.paused,
        )));
        if let Some(mut hints) = t.client.watch_hints().filter(|_| !engine.attached) {
            let hint_tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while hints.recv().await.is_some() {
                    if hint_tx.send(Control::Hint).await.is_err() {
                        break;
                    }
                }
            }));
        }
        controls.push(tx);
    }
    drop(to_engine);
    // The classes of JaCoCo targets are analysed beside the loop (the screen already draws).
    let (loaded_tx, mut loaded_rx) = oneshot::channel();
    match engine.take_java_loader() {
        Some(loader) => {
            tasks.push(tokio::task::spawn_blocking(move || {
                let _ = loaded_tx.send(loader.run());
            }));
        }
        None => drop(loaded_tx),
    }
    let mut java_pending = true;
    let mut lp = Loop {
        engine,
        views,
        notices,
        controls,
        pending_snapshot: 0,
        dirty: false,
        last_publish: Instant::now(),
    };
    let mut feed = match follow {
        Ok(feed) => {
            if lp.engine.attached {
                lp.notify(Notice::Info(format!(
                    "attached: following {}; no agent is polled unless asked",
                    lp.engine.store_location()
                )));
            }
            Some(feed)
        }
        Err(e) => {
            lp.notify(Notice::Error(format!(
                "cannot follow the session (dumps of other writers appear after a restart): {e}"
            )));
            None
        }
    };
    loop {
        tokio::select! {
            announced = async {
                match feed.as_mut() {
                    Some(f) => f.recv().await,
                    None => std::future::pending().await,
                }
            } => match (announced, feed.as_mut()) {
                (Some(mut seq), Some(f)) => {
                    // Several announcements at once make one look at the store.
                    while let Ok(more) = f.try_recv() {
                        seq = seq.max(more);
                    }
                    match blocking(|| lp.engine.apply_followed(seq)) {
                        Ok(0) => {}
                        Ok(_) => lp.publish(),
                        Err(e) => lp.notify(Notice::Error(format!(
                            "cannot read the session's new dumps: {e}"
                        ))),
                    }
                }
                _ => {
                    feed = None;
                    lp.notify(Notice::Error(
                        "the session's store stopped announcing new dumps: restart covtop to follow it again".into(),
                    ));
                }
            },
            loaded = &mut loaded_rx, if java_pending => {
                java_pending = false;
                if let Ok(loaded) = loaded {
                    blocking(|| lp.engine.install_java(loaded));
                    lp.publish();
                }
            }
            Some(msg) = from_collectors.recv() => lp.on_collector(msg),
            _ = tokio::time::sleep_until(lp.last_publish + PUBLISH_GAP), if lp.dirty => {}
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                if cmd == Command::Quit {
                    break;
                }
                lp.on_command(cmd);
            }
        }
        // Replicas report one by one: a View is rebuilt at most every PUBLISH_GAP, not once
        // per replica.
        if lp.dirty && lp.last_publish.elapsed() >= PUBLISH_GAP {
            lp.publish();
        }
    }
    for t in tasks {
        t.abort();
    }
}

impl Loop {
    fn publish(&mut self) {
        // Building a View is CPU work: tell the runtime, so the screen's task moves to the
        // other worker instead of waiting behind it.
        let v = blocking(|| self.engine.view());
        let _ = self.views.send(v);
        self.dirty = false;
        self.last_publish = Instant::now();
        self.engine.save_build_lines();
    }

    fn notify(&self, n: Notice) {
        let _ = self.notices.try_send(redact_notice(n));
    }

    /// Sends `c` to the collectors of `targets` (every target when `None`).
    fn tell(&self, targets: Option<&[usize]>, c: Control) {
        let all: Vec<usize> = (0..self.controls.len()).collect();
        for &i in targets.unwrap_or(&all) {
            if let Some(tx) = self.controls.get(i)
                && tx.try_send(c).is_err()
            {
                self.notify(Notice::Error(format!(
                    "{}: busy, {c:?} not queued; try again",
                    self.engine.targets()[i].name()
                )));
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::PollNow => self.tell(None, Control::Poll),
            Command::Dump => {
                if self.controls.is_empty() {
                    self.notify(Notice::Error(
                        "no target is configured: nothing to dump".into(),
                    ));
                } else {
                    self.pending_snapshot += self.controls.len();
                    self.tell(None, Control::Dump);
                }
            }
            Command::Reset { targets } => {
                let indices: Vec<usize> = if targets.is_empty() {
                    (0..self.controls.len()).collect()
                } else {
                    targets
                        .iter()
                        .filter_map(|n| self.engine.target_index_of(n))
                        .collect()
                };
                self.tell(Some(&indices), Control::Reset);
            }
            Command::Mark => {
                self.engine.mark();
                self.notify(Notice::Info(
                    "mark set: newly hit lines are now counted from here".into(),
                ));
                self.publish();
            }
            Command::Unmark => {
                self.engine.unmark();
                self.notify(Notice::Info("mark cleared".into()));
                self.publish();
            }
            Command::Pause(p) => {
                self.engine.paused = p;
                self.tell(None, Control::Pause(p));
                self.publish();
            }
            Command::SetInterval(d) => {
                let interval = d.max(Duration::from_millis(100));
                self.engine.config.poll.interval = interval;
                self.tell(None, Control::SetInterval(interval));
                self.publish();
            }
            Command::Export {
                format,
                path,
                progress,
            } => self.export(format, &path, progress),
            Command::Quit => {}
        }
    }

    /// Writes an export beside the engine, on a blocking thread: a big report never holds up
    /// polls or the screen. The data is taken now; the notice comes when it is written.
    fn export(
        &mut self,
        format: crate::report::Format,
        path: &str,
        progress: crate::report::Progress,
    ) {
        let view = self.views.borrow().clone();
        let path = path.to_string();
        let gathered = match crate::report::Gathered::from_engine(&self.engine, format) {
            Ok(g) => g,
            Err(e) => {
                let _ = self.notices.try_send(redact_notice(Notice::Error(format!(
                    "cannot export {format} to {path}: {e}"
                ))));
                return;
            }
        };
        let opts = crate::report::WriteOptions {
            changed_only: false,
            source_root: self.engine.repo().workdir(),
            progress,
        };
        let notices = self.notices.clone();
        tokio::task::spawn_blocking(move || {
            let written = crate::report::write(
                format,
                &gathered.inputs(&view),
                &opts,
                std::path::Path::new(&path),
            );
            let _ = notices.try_send(redact_notice(match written {
                Ok(w) => Notice::Info(format!("exported {}", w.describe(format))),
                // The message names the path, so the screen knows which export it answers.
                Err(e) if e.to_string().contains(&path) => Notice::Error(e.to_string()),
                Err(e) => Notice::Error(format!("cannot export {format} to {path}: {e}")),
            }));
        });
    }

    fn on_collector(&mut self, msg: FromCollector) {
        match msg {
            FromCollector::Listed {
                target,
                replicas,
                failures,
                ack,
            } => {
                let report = self.engine.apply_listing(target, &replicas, failures);
                let _ = ack.send(Some(report));
                self.dirty = true;
            }
            FromCollector::SnapshotDone => {
                self.pending_snapshot = self.pending_snapshot.saturating_sub(1);
                if self.pending_snapshot == 0 {
                    self.notify(Notice::Info(format!(
                        "snapshot stored in {}",
                        self.engine.session_dir().display()
                    )));
                }
            }
            FromCollector::Polled {
                target,
                result,
                snapshot,
                ack,
            } => {
                // Persisting and decoding is blocking work (fsync, parsing).
                // A snapshot the user asked for is always a file of its own.
                self.engine.always_store = snapshot;
                let applied = blocking(|| self.engine.apply_poll(target, result));
                self.engine.always_store = false;
                let stored = match applied {
                    Ok(dump) => Some(dump),
                    Err(e) => {
                        self.notify(Notice::Error(format!("dump not stored, so not used: {e}")));
                        None
                    }
                };
                // Acknowledged only once on disk: the collector resets nothing before.
                let _ = ack.send(stored);
                self.dirty = true;
            }
            FromCollector::ResetDone {
                target,
                reset,
                skipped,
                ack,
            } => {
                for (r, why) in skipped {
                    self.notify(Notice::Error(format!("{r}: {why}")));
                }
                if let Some(d) = reset.dumped
                    && let Err(e) = self.engine.apply_reset_dump(target, d)
                {
                    self.notify(Notice::Error(format!(
                        "dump taken with the reset not stored: {e}"
                    )));
                }
                if let Err(e) = self.engine.record_resets(target, &reset.outcomes) {
                    self.notify(Notice::Error(e.to_string()));
                }
                let _ = ack.send(());
                let ok = reset.outcomes.iter().filter(|o| o.result.is_ok()).count();
                let name = self.engine.targets()[target].name().to_string();
                for o in &reset.outcomes {
                    if let Err(e) = &o.result {
                        self.notify(Notice::Error(format!(
                            "{name} {}: reset failed: {e}",
                            o.replica
                        )));
                    }
                }
                if !reset.outcomes.is_empty() {
                    self.notify(Notice::Info(format!(
                        "{name}: {ok} replica(s) reset after their data was stored"
                    )));
                }
                self.dirty = true;
            }
        }
    }
}
