//! The live loop: the engine as one task that owns all state. Targets are polled by their own
//! tasks (so a slow target never delays the others or the engine), results come back over a
//! channel, and every change publishes a new `Arc<View>`.

use super::{Command, Engine, Notice, reset_plan};
use crate::model::View;
use crate::target::{PollResult, ResetOutcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// The channels the UI (or a headless loop) uses to talk to a running engine.
pub struct LiveHandles {
    pub views: watch::Receiver<Arc<View>>,
    pub commands: mpsc::Sender<Command>,
    pub notices: mpsc::Receiver<Notice>,
}

enum Event {
    Polled {
        target: usize,
        result: PollResult,
        then_reset: bool,
        snapshot: bool,
    },
    Reset {
        target: usize,
        outcomes: Vec<ResetOutcome>,
        /// Data dumped in the same step as the reset (JaCoCo): stored first.
        dumped: Option<PollResult>,
    },
    /// A goc v2 watch frame arrived for this target: something ran.
    Hint { target: usize },
}

/// Starts the engine loop on the current tokio runtime.
pub fn spawn(engine: Engine) -> (LiveHandles, tokio::task::JoinHandle<()>) {
    let mut engine = engine;
    let first = engine.view();
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

struct Loop {
    engine: Engine,
    views: watch::Sender<Arc<View>>,
    notices: mpsc::Sender<Notice>,
    events: mpsc::Sender<Event>,
    /// Per target: a poll (or poll → persist → reset sequence) is running. Never two at once:
    /// a dump fetched before a reset must never land after it.
    in_flight: Vec<bool>,
    /// Per target: a dump or reset asked for while one was running, started when it ends.
    queued: Vec<Option<Queued>>,
    hint_due: Vec<Option<Instant>>,
    pending_snapshot: usize,
}

/// A poll waiting for the running one of its target.
#[derive(Debug, Clone, Copy, Default)]
struct Queued {
    then_reset: bool,
    snapshot: bool,
}

const HINT_DEBOUNCE: Duration = Duration::from_millis(300);

async fn run(
    engine: Engine,
    views: watch::Sender<Arc<View>>,
    mut commands: mpsc::Receiver<Command>,
    notices: mpsc::Sender<Notice>,
) {
    let n = engine.targets().len();
    let (ev_tx, mut ev_rx) = mpsc::channel::<Event>(64);
    let mut interval = engine.config().poll.interval;
    let mut ticker = new_ticker(interval);
    let mut lp = Loop {
        engine,
        views,
        notices,
        events: ev_tx.clone(),
        in_flight: vec![false; n],
        queued: vec![None; n],
        hint_due: vec![None; n],
        pending_snapshot: 0,
    };
    let _watchers = lp.start_watchers();
    loop {
        let next_hint = lp.hint_due.iter().flatten().min().copied();
        tokio::select! {
            _ = ticker.tick() => {
                if !lp.engine.paused {
                    lp.poll_all(false, false);
                }
            }
            _ = async {
                match next_hint {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                let now = Instant::now();
                for i in 0..lp.hint_due.len() {
                    if lp.hint_due[i].is_some_and(|t| t <= now) {
                        lp.hint_due[i] = None;
                        if !lp.engine.paused {
                            lp.poll_one(i, false, false);
                        }
                    }
                }
            }
            Some(ev) = ev_rx.recv() => lp.on_event(ev).await,
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    Command::Quit => break,
                    Command::SetInterval(d) => {
                        interval = d.max(Duration::from_millis(100));
                        ticker = new_ticker(interval);
                        lp.engine.config.poll.interval = interval;
                        lp.publish();
                    }
                    other => lp.on_command(other),
                }
            }
        }
    }
}

fn new_ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(MissedTickBehavior::Skip);
    t
}

impl Loop {
    fn publish(&mut self) {
        let v = self.engine.view();
        let _ = self.views.send(v);
    }

    fn notify(&self, n: Notice) {
        let _ = self.notices.try_send(n);
    }

    fn start_watchers(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut out = Vec::new();
        for (i, t) in self.engine.targets().iter().enumerate() {
            if let Some(mut hints) = t.client.watch_hints() {
                let events = self.events.clone();
                out.push(tokio::spawn(async move {
                    while hints.recv().await.is_some() {
                        if events.send(Event::Hint { target: i }).await.is_err() {
                            break;
                        }
                    }
                }));
            }
        }
        out
    }

    fn poll_all(&mut self, then_reset: bool, snapshot: bool) {
        for i in 0..self.in_flight.len() {
            self.poll_one(i, then_reset, snapshot);
        }
    }

    fn poll_one(&mut self, i: usize, then_reset: bool, snapshot: bool) {
        if snapshot {
            self.pending_snapshot += 1;
        }
        if self.in_flight[i] {
            // One sequence per target at a time: a dump or reset waits for the running poll
            // (whose result is persisted first); a plain poll is not needed twice.
            if then_reset || snapshot {
                let q = self.queued[i].get_or_insert_with(Queued::default);
                q.then_reset |= then_reset;
                q.snapshot |= snapshot;
            }
            return;
        }
        self.in_flight[i] = true;
        let client = self.engine.targets()[i].client.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = client.poll().await;
            let _ = events
                .send(Event::Polled {
                    target: i,
                    result,
                    then_reset,
                    snapshot,
                })
                .await;
        });
    }

    /// The running sequence of target `i` ended: start what waited for it.
    fn finished(&mut self, i: usize) {
        self.in_flight[i] = false;
        if let Some(q) = self.queued[i].take() {
            if q.snapshot {
                // Counted when it was asked for.
                self.pending_snapshot = self.pending_snapshot.saturating_sub(1);
            }
            self.poll_one(i, q.then_reset, q.snapshot);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::PollNow => self.poll_all(false, false),
            Command::Dump => {
                if self.in_flight.is_empty() {
                    self.notify(Notice::Error(
                        "no target is configured: nothing to dump".into(),
                    ));
                } else {
                    self.poll_all(false, true);
                }
            }
            Command::Reset { targets } => {
                let indices: Vec<usize> = if targets.is_empty() {
                    (0..self.in_flight.len()).collect()
                } else {
                    targets
                        .iter()
                        .filter_map(|n| self.engine.target_index_of(n))
                        .collect()
                };
                for i in indices {
                    self.poll_one(i, true, false);
                }
            }
            Command::Mark => {
                self.engine.mark();
                self.notify(Notice::Info(
                    "mark set: newly hit lines are now counted from here".into(),
                ));
                self.publish();
            }
            Command::Pause(p) => {
                self.engine.paused = p;
                self.publish();
            }
            Command::Export { format, path } => {
                let view = self.views.borrow().clone();
                let partial = self.engine.config().report.partial_as_covered;
                let written = if crate::report::EXPORT_FORMATS.contains(&format.as_str()) {
                    let raw = crate::report::RawData {
                        go: self.engine.go_total(),
                        java: self.engine.java_totals(),
                    };
                    let opts = crate::report::ExportOptions {
                        changed_only: false,
                        partial_as_covered: partial,
                        source_root: self.engine.repo().workdir(),
                    };
                    crate::report::export(&view, &raw, &format, &opts, std::path::Path::new(&path))
                        .map_err(|e| e.to_string())
                } else {
                    crate::report::render(&view, &format)
                        .map_err(|e| e.to_string())
                        .and_then(|text| {
                            // Atomic like the other exports: a failed write keeps the old file.
                            crate::report::write_report(
                                std::path::Path::new(&path),
                                text.as_bytes(),
                            )
                            .map_err(|e| e.to_string())
                        })
                };
                self.notify(match written {
                    Ok(()) => Notice::Info(format!("exported {format} to {path}")),
                    Err(e) => Notice::Error(e),
                });
            }
            Command::SetInterval(_) | Command::Quit => {}
        }
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Polled {
                target,
                result,
                then_reset,
                snapshot,
            } => {
                let mut resetting = false;
                match self.engine.apply_poll(target, result) {
                    Ok(dump) => {
                        if then_reset {
                            let (stored, skipped) = reset_plan(&dump);
                            for (r, why) in skipped {
                                self.notify(Notice::Error(format!("{r}: {why}")));
                            }
                            if !stored.is_empty() {
                                // The target stays busy until the reset is recorded.
                                resetting = true;
                                let client = self.engine.targets()[target].client.clone();
                                let events = self.events.clone();
                                tokio::spawn(async move {
                                    let r = client.reset(&stored).await;
                                    let _ = events
                                        .send(Event::Reset {
                                            target,
                                            outcomes: r.outcomes,
                                            dumped: r.dumped,
                                        })
                                        .await;
                                });
                            }
                        }
                        if snapshot {
                            self.pending_snapshot = self.pending_snapshot.saturating_sub(1);
                            if self.pending_snapshot == 0 {
                                self.notify(Notice::Info(format!(
                                    "snapshot stored in {}",
                                    self.engine.session_dir().display()
                                )));
                            }
                        }
                    }
                    Err(e) => {
                        self.notify(Notice::Error(format!("dump not stored, so not used: {e}")))
                    }
                }
                if !resetting {
                    self.finished(target);
                }
                self.publish();
            }
            Event::Reset {
                target,
                outcomes,
                dumped,
            } => {
                if let Some(d) = dumped
                    && let Err(e) = self.engine.apply_poll(target, d)
                {
                    self.notify(Notice::Error(format!(
                        "dump taken with the reset not stored: {e}"
                    )));
                }
                if let Err(e) = self.engine.record_resets(target, &outcomes) {
                    self.notify(Notice::Error(e.to_string()));
                }
                let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
                let name = self.engine.targets()[target].name().to_string();
                for o in &outcomes {
                    if let Err(e) = &o.result {
                        self.notify(Notice::Error(format!(
                            "{name} {}: reset failed: {e}",
                            o.replica
                        )));
                    }
                }
                self.notify(Notice::Info(format!(
                    "{name}: {ok} replica(s) reset after their data was stored"
                )));
                self.finished(target);
                // The first dump of the new epoch.
                self.poll_one(target, false, false);
            }
            Event::Hint { target } => {
                if self.hint_due[target].is_none() {
                    self.hint_due[target] = Some(Instant::now() + HINT_DEBOUNCE);
                }
            }
        }
    }
}
