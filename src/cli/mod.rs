//! Subcommands. Exit codes: 0 success, 1 the coverage gate failed, 2 an error.

mod headless;
mod init;
mod interactive;
mod session;
mod watch;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use covtop::config::{self, Config, RangeSetting};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "covtop",
    version,
    about = "top for code coverage: live changed-line coverage from goc and JaCoCo agents",
    long_about = "covtop polls the coverage agents of running services (goc v1/v2, JaCoCo tcpserver), merges replicas, \
                  and shows which lines changed on your branch have run. Without a subcommand it opens the live screen."
)]
pub struct Cli {
    /// Configuration file (default: ./covtop.toml, then $XDG_CONFIG_HOME/covtop/covtop.toml).
    #[arg(long, global = true, env = "COVTOP_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    diff: DiffArgs,
    /// Compare with a baseline (the screen and `report`): a session name, `session:seq`, or a
    /// stored .dump file; shows lcov's categories (UNC, LBC, ...).
    #[arg(long, global = true)]
    baseline: Option<String>,
    /// No diagnostics on standard error (dump, reset, report, check).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// The screen as a viewer: follow the session (new dumps of every writer appear as they are
    /// stored) without polling any agent; poll, dump, reset or un-pause only when asked.
    #[arg(long)]
    attach: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options that override `[repo]` in the configuration.
#[derive(Args, Default, Clone)]
pub struct DiffArgs {
    /// The repository (overrides [repo] path).
    #[arg(long, global = true)]
    repo: Option<PathBuf>,
    /// Base revision to compare with (overrides [repo] base).
    #[arg(long, global = true)]
    base: Option<String>,
    /// The deployed revision (overrides [repo] revision).
    #[arg(long, global = true)]
    revision: Option<String>,
    /// Compare base..revision tip to tip instead of from their merge-base.
    #[arg(long, global = true)]
    two_dot: bool,
    /// Also count staged and unstaged edits (the revision must be HEAD).
    #[arg(long, global = true)]
    working_tree: bool,
    /// Count untracked files as wholly added.
    #[arg(long, global = true)]
    untracked: bool,
    /// Ignore whitespace-only changes.
    #[arg(long, global = true)]
    ignore_whitespace: bool,
    /// Do not detect renames (a renamed file counts as wholly added).
    #[arg(long, global = true)]
    no_renames: bool,
    /// Take the changed lines from a unified diff instead of git.
    #[arg(long, global = true)]
    diff_file: Option<PathBuf>,
    /// The session to use (overrides [session] name and the store's current session).
    #[arg(long, global = true, env = "COVTOP_SESSION")]
    session: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented covtop.toml, detecting the repository's go.mod files.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Where to write it.
        #[arg(long, default_value = "covtop.toml")]
        output: PathBuf,
    },
    /// Poll every target once, store the dumps, and print a summary per target.
    Dump {
        /// Only these targets (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
    },
    /// Dump and store first, then reset the targets' counters.
    Reset {
        /// Only these targets (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// A self-contained demo: a temporary repository and replayed goc and JaCoCo agents; no setup, no network.
    ///
    /// With --config (or COVTOP_CONFIG), that file's [ui] theme and [keys] apply, to preview
    /// them; its targets, repository and session do not (the demo brings its own).
    Demo {
        /// Replay speed (1 = the recorded minute in real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// Print the changed-line coverage report.
    Report {
        /// What to write: a changed-line table (text, json, markdown), an HTML report (a folder:
        /// needs --output), or a file for other tools (lcov, cobertura, jacoco-xml, sonar,
        /// codecov, go-profile, jacoco-exec; to standard output without --output, except
        /// jacoco-exec with several JaCoCo targets).
        #[arg(long, short, value_enum, default_value_t = covtop::report::Format::Text)]
        format: covtop::report::Format,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Use only the dumps already stored in the session; do not poll.
        #[arg(long)]
        offline: bool,
        /// Export formats: only the changed lines (and files with changed lines).
        #[arg(long)]
        changed_only: bool,
    },
    /// Manage the sessions of the store: list, new, use, merge, rm.
    Session {
        #[command(subcommand)]
        action: session::SessionAction,
    },
    /// Headless loop for a pod or a CI job: poll and store every interval, export, run a command.
    Watch(watch::WatchArgs),
    /// Exit with status 1 when changed-line coverage is below a threshold (a CI gate).
    Check {
        /// Minimum changed-line coverage in percent.
        #[arg(long)]
        fail_under: f64,
        /// Use only the dumps already stored in the session; do not poll.
        #[arg(long)]
        offline: bool,
        /// Gate on the data there is: do not fail (exit 2) when a target gave no data or changed
        /// code has no coverage data.
        #[arg(long)]
        allow_missing_data: bool,
    },
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let out = headless::Output { quiet: cli.quiet };
    match cli.command {
        Some(Command::Init { force, output }) => init::run(&output, force, &cli.diff),
        Some(Command::Dump { targets }) => {
            headless::dump(load_config(&cli.config, &cli.diff)?, &targets, out)
        }
        Some(Command::Reset { targets, yes }) => {
            headless::reset(load_config(&cli.config, &cli.diff)?, &targets, yes, out)
        }
        Some(Command::Report {
            format,
            output,
            offline,
            changed_only,
        }) => headless::report(
            load_config(&cli.config, &cli.diff)?,
            format,
            output.as_deref(),
            offline,
            changed_only,
            cli.baseline.as_deref(),
            out,
        ),
        Some(Command::Check {
            fail_under,
            offline,
            allow_missing_data,
        }) => headless::check(
            load_config(&cli.config, &cli.diff)?,
            fail_under,
            offline,
            allow_missing_data,
            out,
        ),
        Some(Command::Demo { speed }) => {
            let look = match &cli.config {
                Some(path) => Some(config::load(path).context("invalid configuration")?),
                None => None,
            };
            interactive::demo(speed, look)
        }
        Some(Command::Session { action }) => {
            session::run(&load_config_or_defaults(&cli.config, &cli.diff)?, action)
        }
        Some(Command::Watch(args)) => watch::run(load_config(&cli.config, &cli.diff)?, args),
        None => interactive::run(
            load_config(&cli.config, &cli.diff)?,
            cli.baseline.as_deref(),
            cli.attach,
        ),
    }
}

/// Asks `question` on the terminal, answered no unless the user types y: true when confirmed.
/// Without a terminal on standard input nobody can answer, so it fails with `refusal` (which
/// names `--yes`) rather than doing something destructive unasked.
fn confirm(question: &str, refusal: impl FnOnce() -> String) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(refusal());
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Loads the configuration and applies the command-line overrides.
fn load_config(explicit: &Option<PathBuf>, diff: &DiffArgs) -> Result<Config> {
    let path = config::locate(explicit.as_deref())?;
    let mut cfg = config::load(&path).with_context(|| "invalid configuration".to_string())?;
    apply_overrides(&mut cfg, diff);
    session::select(&mut cfg, diff.session.as_deref())?;
    Ok(cfg)
}

/// Like [`load_config`], but without a configuration file the built-in defaults apply (the
/// repository is the current folder): the session commands work in any repository.
fn load_config_or_defaults(explicit: &Option<PathBuf>, diff: &DiffArgs) -> Result<Config> {
    if explicit.is_some() || config::locate(None).is_ok() {
        return load_config(explicit, diff);
    }
    let here = std::env::current_dir().context("cannot read the current folder")?;
    let mut cfg = config::parse("", &here.join("covtop.toml"))
        .context("cannot build the default configuration")?;
    apply_overrides(&mut cfg, diff);
    session::select(&mut cfg, diff.session.as_deref())?;
    Ok(cfg)
}

fn apply_overrides(cfg: &mut Config, d: &DiffArgs) {
    if let Some(r) = &d.repo {
        cfg.repo.path = r.clone();
    }
    if let Some(b) = &d.base {
        cfg.repo.base = b.clone();
    }
    if let Some(r) = &d.revision {
        cfg.repo.revision = r.clone();
    }
    if d.two_dot {
        cfg.repo.range = RangeSetting::TwoDot;
    }
    cfg.repo.working_tree |= d.working_tree;
    cfg.repo.untracked |= d.untracked;
    cfg.repo.ignore_whitespace |= d.ignore_whitespace;
    if d.no_renames {
        cfg.repo.detect_renames = false;
    }
    if let Some(f) = &d.diff_file {
        cfg.repo.diff_file = Some(f.clone());
    }
}
