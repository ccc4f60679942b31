//! `covtop watch`: the headless loop for a pod or a job, with signals mapped to its controls.
//!
//! SIGUSR1 pauses (no polls, no exports), SIGUSR2 resumes; SIGTERM and SIGINT run a final round
//! (poll, persist, export, command) and exit 0. `--once` runs one round and exits 2 when it was
//! incomplete (no dump stored, an export or the command failed).

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use covtop::config::{self, Config};
use covtop::engine::Engine;
use covtop::watch::{self, Control, EventLog, ExportSpec, Level, LogFormat, WatchOptions};
use serde_json::json;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

#[derive(Args)]
pub struct WatchArgs {
    /// Time between rounds: 60s, 5m, 1h (the first round runs at once).
    #[arg(long, default_value = "60s")]
    every: String,
    /// FORMAT:PATH written after every round (repeatable): lcov, cobertura, jacoco-xml, sonar,
    /// codecov, go-profile, jacoco-exec, or html:DIR.
    #[arg(long = "export")]
    exports: Vec<String>,
    /// Command run with `sh -c` after each round's exports. Its environment names the exports
    /// (COVTOP_EXPORTS, COVTOP_EXPORT_<FORMAT>) and the round (COVTOP_ROUND, COVTOP_FINAL,
    /// COVTOP_REVISION, COVTOP_CHANGED_PERCENT, COVTOP_SESSION_DIR).
    #[arg(long)]
    exec: Option<String>,
    /// Kill the command when it runs longer than this.
    #[arg(long, default_value = "10m")]
    exec_timeout: String,
    /// Export only the changed lines (and files with changed lines).
    #[arg(long)]
    changed_only: bool,
    /// Log format on standard error: one JSON object per line, or text.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Json)]
    log_format: LogFormatArg,
    /// Also log every stored dump.
    #[arg(long)]
    verbose: bool,
    /// Run one round (poll, store, export, command) and exit: for a CronJob or a CI step.
    #[arg(long)]
    once: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Json,
    Text,
}

fn duration(flag: &str, text: &str) -> Result<std::time::Duration> {
    config::parse_duration(text).map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e} (e.g. 60s, 5m)"))
}

pub fn run(cfg: Config, args: WatchArgs) -> Result<ExitCode> {
    let every = watch::check_interval(&args.every, duration("--every", &args.every)?)?;
    let exec_timeout = watch::check_exec_timeout(
        &args.exec_timeout,
        duration("--exec-timeout", &args.exec_timeout)?,
    )?;
    let exports = args
        .exports
        .iter()
        .map(|s| ExportSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if cfg.targets.is_empty() {
        bail!("no [[target]] is configured: add one to the configuration (see `covtop init`)");
    }
    let log = EventLog::new(
        match args.log_format {
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Text => LogFormat::Text,
        },
        if args.verbose {
            Level::Debug
        } else {
            Level::Info
        },
        Box::new(std::io::stderr()),
    );
    let opts = WatchOptions {
        every,
        exports,
        exec: args.exec,
        exec_timeout,
        changed_only: args.changed_only,
    };
    let mut engine = Engine::open(cfg).context("cannot open the session")?;
    engine.check_mappable()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        if args.once {
            let r = watch::round(&mut engine, &opts, &log, 1, true).await;
            let exec_failed = opts.exec.is_some() && r.exec_status != Some(0);
            if r.stored == 0 || r.export_failures > 0 || exec_failed {
                bail!(
                    "the round was incomplete: {} dump(s) stored, {} export(s) failed{} (see the log above)",
                    r.stored,
                    r.export_failures,
                    if exec_failed { ", the command failed" } else { "" }
                );
            }
            return anyhow::Ok(());
        }
        let (tx, rx) = mpsc::channel(16);
        forward_signals(tx).context("cannot install the signal handlers")?;
        // Checkpoints are folded on a thread of their own while the rounds go on.
        let _checkpoints = engine.start_checkpoints();
        watch::run(&mut engine, &opts, &log, rx).await;
        anyhow::Ok(())
    })?;
    log.event(Level::Info, "exit", json!({"status": 0}));
    Ok(ExitCode::SUCCESS)
}

/// Maps SIGUSR1/SIGUSR2/SIGTERM/SIGINT to [`Control`] messages.
fn forward_signals(tx: mpsc::Sender<Control>) -> std::io::Result<()> {
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = usr1.recv() => Control::Pause,
                _ = usr2.recv() => Control::Resume,
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
            };
            if tx.send(c).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}
