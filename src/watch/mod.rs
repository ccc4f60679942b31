//! Headless watch: the loop teams otherwise write by hand in shell for a pod in the cluster.
//!
//! Every interval: poll every target through the same collectors as the screen (each dump is
//! persisted by the engine before it is used),
//! build a View, write each configured export, then run a command (`sh -c`) with the exports
//! named in its environment. A failing target, export or command is logged and the loop goes
//! on. Pause/resume and stop arrive as [`Control`] messages (the binary maps signals to them);
//! stopping runs one final round, so the last dump is on disk and exported before exit.
//! Every event is one structured log line ([`EventLog`]).

mod log;

pub use log::{EventLog, Level, LogFormat};

use crate::engine::Engine;
use crate::engine::collector::{self, Purpose};
use crate::report::{self, Format};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WatchError {
    #[error(
        "--export {0:?}: expected FORMAT:PATH, e.g. sonar:coverage.xml or html:report-dir; formats: {1}"
    )]
    ExportSyntax(String, String),
    #[error("--export {spec:?}: unknown format \"{format}\"; formats: {formats}")]
    UnknownFormat {
        spec: String,
        format: String,
        formats: String,
    },
    #[error("--every {0:?}: the interval must be at least 100ms")]
    IntervalTooShort(String),
    #[error("--exec-timeout {0:?} would kill the command at once: give it time, e.g. 60s")]
    ExecTimeoutZero(String),
    #[error("{flag} {text:?} is longer than 24h: write e.g. 60s or 10m")]
    TooLong { flag: &'static str, text: String },
}

/// One `--export FORMAT:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    pub format: Format,
    pub path: PathBuf,
}

/// Every format `--export` accepts: every [`Format`] (`html` is a folder).
pub fn watch_formats() -> Vec<&'static str> {
    Format::ALL.iter().map(|f| f.name()).collect()
}

impl ExportSpec {
    pub fn parse(spec: &str) -> Result<ExportSpec, WatchError> {
        let formats = watch_formats().join(", ");
        let Some((format, path)) = spec.split_once(':') else {
            return Err(WatchError::ExportSyntax(spec.to_string(), formats));
        };
        if path.is_empty() {
            return Err(WatchError::ExportSyntax(spec.to_string(), formats));
        }
        let Ok(parsed) = format.parse::<Format>() else {
            return Err(WatchError::UnknownFormat {
                spec: spec.to_string(),
                format: format.to_string(),
                formats,
            });
        };
        Ok(ExportSpec {
            format: parsed,
            path: PathBuf::from(path),
        })
    }

    /// The environment variable naming this export for `--exec`: `COVTOP_EXPORT_JACOCO_XML`.
    pub fn env_name(&self) -> String {
        format!(
            "COVTOP_EXPORT_{}",
            self.format.name().to_ascii_uppercase().replace('-', "_")
        )
    }
}

/// Checks `--every`.
pub fn check_interval(text: &str, every: Duration) -> Result<Duration, WatchError> {
    if every < Duration::from_millis(100) {
        return Err(WatchError::IntervalTooShort(text.to_string()));
    }
    not_too_long("--every", text, every)
}

/// Checks `--exec-timeout`: no zero (the command would be killed before it starts), nothing
/// longer than the configuration's durations may be.
pub fn check_exec_timeout(text: &str, timeout: Duration) -> Result<Duration, WatchError> {
    if timeout.is_zero() {
        return Err(WatchError::ExecTimeoutZero(text.to_string()));
    }
    not_too_long("--exec-timeout", text, timeout)
}

fn not_too_long(flag: &'static str, text: &str, d: Duration) -> Result<Duration, WatchError> {
    if d > crate::config::MAX_DURATION {
        return Err(WatchError::TooLong {
            flag,
            text: text.to_string(),
        });
    }
    Ok(d)
}

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub every: Duration,
    pub exports: Vec<ExportSpec>,
    /// Run with `sh -c` after each round's exports.
    pub exec: Option<String>,
    /// A command still running after this long is killed (and logged).
    pub exec_timeout: Duration,
    pub changed_only: bool,
}

/// What the loop is told from outside (signals, in the binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    /// Run a final round and return.
    Stop,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundOutcome {
    pub round: u64,
    pub stored: usize,
    pub replica_failures: usize,
    pub exports_written: Vec<PathBuf>,
    pub export_failures: usize,
    /// The command's exit code (None: not run, killed by a signal, or could not start).
    pub exec_status: Option<i32>,
}

/// Runs rounds every `opts.every` (the first at once) until [`Control::Stop`] arrives or the
/// control channel closes, then one final round. Returns the number of rounds run.
pub async fn run(
    engine: &mut Engine,
    opts: &WatchOptions,
    log: &EventLog,
    mut control: mpsc::Receiver<Control>,
) -> u64 {
    log.event(
        Level::Info,
        "started",
        json!({
            "every_ms": opts.every.as_millis() as u64,
            "targets": engine.targets().iter().map(|t| t.name().to_string()).collect::<Vec<_>>(),
            "exports": opts.exports.iter().map(|e| format!("{}:{}", e.format.name(), e.path.display())).collect::<Vec<_>>(),
            "exec": opts.exec,
            "session_dir": engine.session_dir().display().to_string(),
            "revision": engine.revision().oid,
        }),
    );
    let mut tick = tokio::time::interval(opts.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rounds = 0u64;
    let mut paused = false;
    let reason = loop {
        tokio::select! {
            biased;
            c = control.recv() => match c {
                Some(Control::Pause) => {
                    if !paused {
                        paused = true;
                        engine.paused = true;
                        log.event(Level::Info, "paused", json!({"after_round": rounds}));
                    }
                }
                Some(Control::Resume) => {
                    if paused {
                        paused = false;
                        engine.paused = false;
                        log.event(Level::Info, "resumed", json!({"after_round": rounds}));
                    }
                }
                Some(Control::Stop) => break "stop requested",
                None => break "control channel closed",
            },
            _ = tick.tick() => {
                if !paused {
                    rounds += 1;
                    round(engine, opts, log, rounds, false).await;
                }
            }
        }
    };
    log.event(Level::Info, "stopping", json!({"reason": reason}));
    rounds += 1;
    round(engine, opts, log, rounds, true).await;
    log.event(Level::Info, "stopped", json!({"rounds": rounds}));
    rounds
}

/// One round: poll and persist, export, run the command.
pub async fn round(
    engine: &mut Engine,
    opts: &WatchOptions,
    log: &EventLog,
    n: u64,
    last: bool,
) -> RoundOutcome {
    let started = Instant::now();
    let mut out = RoundOutcome {
        round: n,
        ..RoundOutcome::default()
    };
    if !engine.targets().is_empty() {
        // The same collectors as the screen's: every replica on its own, stored as it arrives.
        let all: Vec<usize> = (0..engine.targets().len()).collect();
        match collector::run_all(engine, &all, Purpose::Poll).await {
            Ok(seqs) => {
                for p in seqs.into_iter().filter_map(|s| s.dump) {
                    out.stored += p.stored.len();
                    out.replica_failures += p.failures.len();
                    for (replica, path) in &p.stored {
                        log.event(
                            Level::Debug,
                            "stored",
                            json!({"round": n, "target": p.target, "replica": replica, "path": path.display().to_string()}),
                        );
                    }
                    for (replica, err) in &p.failures {
                        log.event(
                            Level::Warn,
                            "replica_down",
                            json!({"round": n, "target": p.target, "replica": replica, "error": err}),
                        );
                    }
                    for (replica, err) in &p.undecodable {
                        log.event(
                            Level::Warn,
                            "undecodable_dump",
                            json!({"round": n, "target": p.target, "replica": replica, "error": err}),
                        );
                    }
                }
            }
            Err(e) => log.event(
                Level::Error,
                "poll_failed",
                json!({"round": n, "error": e.to_string()}),
            ),
        }
    }
    let view = engine.view();
    engine.save_build_lines();
    log.diagnostics(n, &view.diagnostics);
    let write_opts = report::WriteOptions {
        changed_only: opts.changed_only,
        source_root: Some(engine.config().repo.path.clone()),
        ..report::WriteOptions::default()
    };
    let mut env: Vec<(String, String)> = Vec::new();
    for spec in &opts.exports {
        let result = report::Gathered::from_engine(engine, spec.format)
            .map_err(|e| e.to_string())
            .and_then(|gathered| {
                report::write(
                    spec.format,
                    &gathered.inputs(&view),
                    &write_opts,
                    &spec.path,
                )
                .map_err(|e| e.to_string())
            });
        match result {
            Ok(written) => {
                if let report::Written::Html(summary) = &written {
                    for (path, why) in &summary.sources_unreadable {
                        log.event(
                            Level::Warn,
                            "source_unreadable",
                            json!({"round": n, "path": path, "error": why}),
                        );
                    }
                }
                log.event(
                    Level::Info,
                    "exported",
                    json!({"round": n, "format": spec.format.name(), "path": spec.path.display().to_string()}),
                );
                env.push((spec.env_name(), spec.path.display().to_string()));
                out.exports_written.push(spec.path.clone());
            }
            Err(e) => {
                out.export_failures += 1;
                log.event(
                    Level::Error,
                    "export_failed",
                    json!({"round": n, "format": spec.format.name(), "path": spec.path.display().to_string(), "error": e}),
                );
            }
        }
    }
    let changed = view.totals.changed;
    let percent = view.rule.percent(&changed);
    if let Some(cmd) = &opts.exec {
        env.extend([
            ("COVTOP_ROUND".to_string(), n.to_string()),
            ("COVTOP_FINAL".to_string(), u8::from(last).to_string()),
            (
                "COVTOP_EXPORTS".to_string(),
                out.exports_written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "COVTOP_EXPORT_FAILURES".to_string(),
                out.export_failures.to_string(),
            ),
            ("COVTOP_REVISION".to_string(), engine.revision().oid.clone()),
            (
                "COVTOP_SESSION_DIR".to_string(),
                engine.session_dir().display().to_string(),
            ),
            (
                "COVTOP_CHANGED_PERCENT".to_string(),
                percent.map(|p| format!("{p:.1}")).unwrap_or_default(),
            ),
        ]);
        out.exec_status = run_command(cmd, &env, opts.exec_timeout, log, n).await;
    }
    log.event(
        Level::Info,
        "round",
        json!({
            "round": n,
            "final": last,
            "stored": out.stored,
            "replica_failures": out.replica_failures,
            "exports": out.exports_written.len(),
            "export_failures": out.export_failures,
            "changed_covered": changed.covered,
            "changed_partial": changed.partial,
            "changed_coverable": changed.coverable(),
            "changed_percent": percent,
            "duration_ms": started.elapsed().as_millis() as u64,
        }),
    );
    out
}

/// How much of a command's output is kept (its end) and logged.
const TAIL_BYTES: usize = 2000;
/// After `sh` exits, how long its output is still read: a background child that keeps the
/// pipe open does not hold up the round.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// The last [`TAIL_BYTES`] of a stream, read as it comes: a chatty command never fills memory.
async fn read_tail(stream: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut tail = std::collections::VecDeque::with_capacity(TAIL_BYTES);
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let chunk = &buf[n.saturating_sub(TAIL_BYTES)..n];
        let excess = (tail.len() + chunk.len()).saturating_sub(TAIL_BYTES);
        tail.drain(..excess.min(tail.len()));
        tail.extend(chunk);
    }
    tail.into()
}

/// Ends the whole process group `pgid` (the command and every child it started).
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 0 {
        // SAFETY: a plain signal to the group this loop created for the command; never to
        // group 0 or -1 (checked above).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Runs `cmd` with `sh -c` in a process group of its own, keeping only the tail of its output
/// (read as it comes); logs its status and that tail. Past `timeout` the whole group is killed,
/// children included.
pub async fn run_command(
    cmd: &str,
    env: &[(String, String)],
    timeout: Duration,
    log: &EventLog,
    n: u64,
) -> Option<i32> {
    let started = Instant::now();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            log.event(
                Level::Error,
                "exec_failed",
                json!({"round": n, "command": cmd, "error": format!("cannot start sh: {e}")}),
            );
            return None;
        }
    };
    let pgid = child.id();
    let stdout = tokio::spawn(read_tail(child.stdout.take()));
    let stderr = tokio::spawn(read_tail(child.stderr.take()));
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        if let Some(pgid) = pgid {
            kill_group(pgid);
        }
        let _ = child.wait().await;
    }
    // The output read so far; a child still holding the pipes is not waited for long.
    let collect = |h: tokio::task::JoinHandle<Vec<u8>>| async move {
        match tokio::time::timeout(OUTPUT_GRACE, h).await {
            Ok(Ok(tail)) => tail,
            _ => Vec::new(),
        }
    };
    let (out, err) = tokio::join!(collect(stdout), collect(stderr));
    match waited {
        Ok(Ok(status)) => {
            let code = status.code();
            let fields = json!({
                "round": n,
                "command": cmd,
                "status": code,
                "success": status.success(),
                "duration_ms": started.elapsed().as_millis() as u64,
                "stdout_tail": tail(&out),
                "stderr_tail": tail(&err),
            });
            if status.success() {
                log.event(Level::Info, "exec", fields);
            } else {
                log.event(Level::Error, "exec_failed", fields);
            }
            code
        }
        Ok(Err(e)) => {
            log.event(
                Level::Error,
                "exec_failed",
                json!({"round": n, "command": cmd, "error": e.to_string()}),
            );
            None
        }
        Err(_) => {
            log.event(
                Level::Error,
                "exec_failed",
                json!({
                    "round": n,
                    "command": cmd,
                    "error": format!("killed after {timeout:?} (--exec-timeout), with every process it started"),
                    "stdout_tail": tail(&out),
                    "stderr_tail": tail(&err),
                }),
            );
            None
        }
    }
}

/// The last [`TAIL_BYTES`] of a command's output, as text.
fn tail(bytes: &[u8]) -> Value {
    let start = bytes.len().saturating_sub(TAIL_BYTES);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = text.trim_end();
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_specs_parse_and_name_their_variable() {
        let s = ExportSpec::parse("jacoco-xml:out/j.xml").unwrap();
        assert_eq!(s.format, Format::JacocoXml);
        assert_eq!(s.path, PathBuf::from("out/j.xml"));
        assert_eq!(s.env_name(), "COVTOP_EXPORT_JACOCO_XML");
        let h = ExportSpec::parse("html:/tmp/a:b").unwrap();
        assert_eq!(h.path, PathBuf::from("/tmp/a:b"));
        for f in watch_formats() {
            ExportSpec::parse(&format!("{f}:x")).unwrap();
        }
        assert!(matches!(
            ExportSpec::parse("coverage.xml"),
            Err(WatchError::ExportSyntax(..))
        ));
        assert!(matches!(
            ExportSpec::parse("sonar:"),
            Err(WatchError::ExportSyntax(..))
        ));
        let e = ExportSpec::parse("pdf:x").unwrap_err().to_string();
        assert!(
            e.contains("unknown format \"pdf\"") && e.contains("sonar"),
            "{e}"
        );
    }

    #[test]
    fn intervals_below_100ms_are_refused() {
        assert!(check_interval("0s", Duration::ZERO).is_err());
        assert_eq!(
            check_interval("1m", Duration::from_secs(60)),
            Ok(Duration::from_secs(60))
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        let long = "x".repeat(5000) + "END";
        let Value::String(t) = tail(long.as_bytes()) else {
            panic!("text expected")
        };
        assert!(t.ends_with("END") && t.len() == 2000);
        assert_eq!(tail(b"  \n"), Value::Null);
    }
}
