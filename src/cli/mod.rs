//! Subcommands. Exit codes: 0 success, 1 the coverage gate failed, 2 an error.

mod headless;
mod init;
mod interactive;
mod session;
mod watch;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
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
    // The screen's options; also accepted before any subcommand that takes them.
    #[command(flatten)]
    diff: DiffArgs,
    #[command(flatten)]
    baseline: BaselineArg,
    // `covtop -q report` as well as `covtop report -q`; the screen has no use for it.
    #[arg(long, short, hide = true)]
    quiet: bool,
    /// The screen as a viewer: follow the session (new dumps of every writer appear as they are
    /// stored) without polling any agent; poll, dump, reset or un-pause only when asked.
    #[arg(long)]
    attach: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `--repo`, for every command that reads the repository.
#[derive(Args, Default, Clone)]
pub struct RepoArg {
    /// The repository (overrides [repo] path).
    #[arg(long)]
    repo: Option<PathBuf>,
}

/// `--session`, for every command that reads or writes a session.
#[derive(Args, Default, Clone)]
pub struct SessionArg {
    /// The session to use (overrides [session] name and the store's current session).
    #[arg(long, env = "COVTOP_SESSION")]
    session: Option<String>,
}

/// `--quiet`, for the commands that print diagnostics.
#[derive(Args, Default, Clone, Copy)]
pub struct QuietArg {
    /// No diagnostics on standard error.
    #[arg(long, short)]
    quiet: bool,
}

/// `--repo` and `--session` for `covtop session`, given before or after its action.
#[derive(Args, Default, Clone)]
pub struct SessionScope {
    /// The repository whose session store to manage (overrides [repo] path).
    #[arg(long, global = true)]
    repo: Option<PathBuf>,
    /// The session in use (overrides [session] name and the store's current session).
    #[arg(long, global = true, env = "COVTOP_SESSION")]
    session: Option<String>,
}

/// `--baseline`, for the screen and `report`.
#[derive(Args, Default, Clone)]
pub struct BaselineArg {
    /// Compare with a baseline (the screen and `report`): a session name, `session:seq`, or a
    /// stored .dump file; shows lcov's categories (UNC, LBC, ...).
    #[arg(long)]
    baseline: Option<String>,
}

impl BaselineArg {
    /// This one, else the one given before the subcommand.
    fn or(self, outer: &BaselineArg) -> Option<String> {
        self.baseline.or_else(|| outer.baseline.clone())
    }
}

/// Options that override `[repo]` in the configuration: only on the commands that compute
/// changed-line coverage (the screen, dump, reset, report, check, watch).
#[derive(Args, Default, Clone)]
pub struct DiffArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Base revision to compare with (overrides [repo] base).
    #[arg(long)]
    base: Option<String>,
    /// The deployed revision (overrides [repo] revision).
    #[arg(long)]
    revision: Option<String>,
    /// Compare base..revision tip to tip instead of from their merge-base.
    #[arg(long)]
    two_dot: bool,
    /// Also count staged and unstaged edits (the revision must be HEAD).
    #[arg(long)]
    working_tree: bool,
    /// Count untracked files as wholly added.
    #[arg(long)]
    untracked: bool,
    /// Ignore whitespace-only changes.
    #[arg(long)]
    ignore_whitespace: bool,
    /// Do not detect renames (a renamed file counts as wholly added).
    #[arg(long)]
    no_renames: bool,
    /// Take the changed lines from a unified diff instead of git.
    #[arg(long)]
    diff_file: Option<PathBuf>,
    #[command(flatten)]
    session: SessionArg,
}

impl DiffArgs {
    /// These options, completed by the ones given before the subcommand (`covtop --base main
    /// report` and `covtop report --base main` mean the same; after the subcommand wins).
    fn or(self, outer: &DiffArgs) -> DiffArgs {
        DiffArgs {
            repo: RepoArg {
                repo: self.repo.repo.or_else(|| outer.repo.repo.clone()),
            },
            base: self.base.or_else(|| outer.base.clone()),
            revision: self.revision.or_else(|| outer.revision.clone()),
            two_dot: self.two_dot || outer.two_dot,
            working_tree: self.working_tree || outer.working_tree,
            untracked: self.untracked || outer.untracked,
            ignore_whitespace: self.ignore_whitespace || outer.ignore_whitespace,
            no_renames: self.no_renames || outer.no_renames,
            diff_file: self.diff_file.or_else(|| outer.diff_file.clone()),
            session: SessionArg {
                session: self
                    .session
                    .session
                    .or_else(|| outer.session.session.clone()),
            },
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented covtop.toml, detecting the repository's go.mod files and Maven/Gradle projects.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Where to write it.
        #[arg(long, default_value = "covtop.toml")]
        output: PathBuf,
        #[command(flatten)]
        repo: RepoArg,
        /// The base revision written into it (default: origin/main or origin/master, whichever exists).
        #[arg(long)]
        base: Option<String>,
    },
    /// Poll every target once, store the dumps, and print a summary per target.
    Dump {
        /// Only these targets (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
        #[command(flatten)]
        diff: DiffArgs,
        #[command(flatten)]
        quiet: QuietArg,
    },
    /// Dump and store first, then reset the targets' counters.
    Reset {
        /// Only these targets (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        diff: DiffArgs,
        #[command(flatten)]
        quiet: QuietArg,
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
        #[command(flatten)]
        diff: DiffArgs,
        #[command(flatten)]
        baseline: BaselineArg,
        #[command(flatten)]
        quiet: QuietArg,
    },
    /// Manage the sessions of the store: list, new, use, merge, rm.
    Session {
        #[command(subcommand)]
        action: session::SessionAction,
        #[command(flatten)]
        scope: SessionScope,
    },
    /// Headless loop for a pod or a CI job: poll and store every interval, export, run a command.
    Watch {
        #[command(flatten)]
        args: watch::WatchArgs,
        #[command(flatten)]
        diff: DiffArgs,
    },
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
        #[command(flatten)]
        diff: DiffArgs,
        #[command(flatten)]
        quiet: QuietArg,
    },
}

pub fn run() -> Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    refuse_unused_options(&matches)?;
    let out = |q: QuietArg| headless::Output {
        quiet: q.quiet || cli.quiet,
    };
    let top = &cli.diff;
    let load = |diff: DiffArgs| load_config(&cli.config, &diff.or(top));
    match cli.command {
        Some(Command::Init {
            force,
            output,
            repo,
            base,
        }) => {
            let diff = DiffArgs {
                repo,
                base,
                ..DiffArgs::default()
            }
            .or(top);
            init::run(&output, force, &diff)
        }
        Some(Command::Dump {
            targets,
            diff,
            quiet,
        }) => headless::dump(load(diff)?, &targets, out(quiet)),
        Some(Command::Reset {
            targets,
            yes,
            diff,
            quiet,
        }) => headless::reset(load(diff)?, &targets, yes, out(quiet)),
        Some(Command::Report {
            format,
            output,
            offline,
            changed_only,
            diff,
            baseline,
            quiet,
        }) => headless::report(
            load(diff)?,
            format,
            output.as_deref(),
            offline,
            changed_only,
            baseline.or(&cli.baseline).as_deref(),
            out(quiet),
        ),
        Some(Command::Check {
            fail_under,
            offline,
            allow_missing_data,
            diff,
            quiet,
        }) => headless::check(
            load(diff)?,
            fail_under,
            offline,
            allow_missing_data,
            out(quiet),
        ),
        Some(Command::Demo { speed }) => {
            let look = match &cli.config {
                Some(path) => Some(load_checked(path)?),
                None => None,
            };
            interactive::demo(speed, look)
        }
        Some(Command::Session { action, scope }) => {
            let diff = DiffArgs {
                repo: RepoArg { repo: scope.repo },
                session: SessionArg {
                    session: scope.session,
                },
                ..DiffArgs::default()
            }
            .or(top);
            session::run(&load_config_or_defaults(&cli.config, &diff)?, action)
        }
        Some(Command::Watch { args, diff }) => watch::run(load(diff)?, args),
        None => interactive::run(
            load_config(&cli.config, top)?,
            cli.baseline.baseline.as_deref(),
            cli.attach,
        ),
    }
}

/// An option given before a subcommand that has no use for it (`covtop --diff-file d init`,
/// `covtop --baseline s dump`, `covtop --attach report`) is an error naming the option and the
/// commands that take it, never silently ignored. Which subcommand takes what is read from the
/// command line's own definition: a subcommand uses an option given before it exactly when it
/// has an option of the same name.
fn refuse_unused_options(matches: &ArgMatches) -> Result<()> {
    let Some((name, _)) = matches.subcommand() else {
        return Ok(());
    };
    let cli = Cli::command();
    let takes = |sub: &clap::Command, id: &clap::Id| sub.get_arguments().any(|a| a.get_id() == id);
    let Some(sub) = cli.find_subcommand(name) else {
        return Ok(());
    };
    for arg in cli.get_arguments().filter(|a| !a.is_global_set()) {
        let id = arg.get_id();
        if matches.value_source(id.as_str()) != Some(ValueSource::CommandLine) || takes(sub, id) {
            continue;
        }
        let flag = arg
            .get_long()
            .map_or_else(|| id.to_string(), |l| format!("--{l}"));
        let users: Vec<&str> = cli
            .get_subcommands()
            .filter(|s| takes(s, id))
            .map(clap::Command::get_name)
            .collect();
        let mut takers = Vec::new();
        if !arg.is_hide_set() {
            takers.push("the screen (covtop without a subcommand)".to_string());
        }
        takers.extend(users.iter().map(|u| format!("`covtop {u}`")));
        anyhow::bail!(
            "{flag} has no effect on `covtop {name}`; it is taken by {}; leave it out or give it to one of those",
            join_or(&takers)
        );
    }
    Ok(())
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
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
    let mut cfg = load_checked(&path)?;
    apply_overrides(&mut cfg, diff);
    session::select(&mut cfg, diff.session.session.as_deref())?;
    Ok(cfg)
}

/// Reads and validates a configuration file, its `[keys]` included (which only the screen
/// uses, but a mistake there is said by every command, with its line).
fn load_checked(path: &std::path::Path) -> Result<Config> {
    let cfg = config::load(path).context("invalid configuration")?;
    covtop::tui::KeyMap::from_config(&cfg).context("invalid configuration")?;
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
    session::select(&mut cfg, diff.session.session.as_deref())?;
    Ok(cfg)
}

fn apply_overrides(cfg: &mut Config, d: &DiffArgs) {
    if let Some(r) = &d.repo.repo {
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
