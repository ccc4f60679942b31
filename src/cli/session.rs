//! `covtop session list | new | use | merge | rm`, and which session the other commands use.
//!
//! The session in use is, in order: `--session NAME` (or `COVTOP_SESSION`), `[session] name`
//! when the configuration sets it to something other than "default", the store's `current` file
//! (written by `session new` and `session use`), else "default".

use anyhow::{Result, bail};
use clap::Subcommand;
use covtop::config::Config;
use covtop::session::postgres::{PgStore, PgTarget};
use covtop::session::{DumpStore, MergeSummary, SessionCatalog, SessionSummary};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

const DEFAULT: &str = "default";

#[derive(Subcommand)]
pub enum SessionAction {
    /// List the sessions of the store (the one in use is marked with *).
    List,
    /// Create a session and make it the current one.
    New { name: String },
    /// Make an existing session the current one.
    Use { name: String },
    /// Copy the dumps of sessions into another (created if missing); merging twice copies nothing new.
    Merge {
        /// The sessions to copy from.
        #[arg(required = true)]
        sources: Vec<String>,
        /// The session to copy into.
        #[arg(long)]
        into: String,
    },
    /// Fold a session (the one in use by default) into a checkpoint now, so that opening it
    /// replays only the dumps after it; with --keep-raw, also drop the raw dumps older than the
    /// window (never those after the checkpoint).
    Compact {
        name: Option<String>,
        /// Keep the raw dumps of this last stretch of time (e.g. `2h`, `7days`); older ones
        /// that the checkpoint holds are dropped. Without it no dump is dropped.
        #[arg(long, value_parser = humantime::parse_duration)]
        keep_raw: Option<Duration>,
    },
    /// Remove a session and its dumps (asks first; without a terminal, needs --yes).
    Rm {
        name: String,
        /// Do not ask for confirmation (also removes the session in use).
        #[arg(long)]
        yes: bool,
    },
}

/// The session store folder of a configuration: `[session] dir`, relative to the repository's
/// work tree (as the engine resolves it).
pub fn store_root(cfg: &Config) -> PathBuf {
    if cfg.session.dir.is_absolute() {
        return cfg.session.dir.clone();
    }
    covtop::vcs::Repo::open(&cfg.repo.path)
        .ok()
        .and_then(|r| r.workdir())
        .unwrap_or_else(|| cfg.repo.path.clone())
        .join(&cfg.session.dir)
}

/// Sets `cfg.session.name` to the session in use (see the module comment). A `--session` that
/// names no existing session is an error, so a typo never starts an empty session.
pub fn select(cfg: &mut Config, flag: Option<&str>) -> Result<()> {
    let catalog = SessionCatalog::new(&store_root(cfg));
    match flag {
        Some(name) => {
            let exists = match shared(cfg)? {
                Some(db) => db.sessions()?.iter().any(|n| n == name),
                None => catalog.exists(name),
            };
            if name != DEFAULT && !exists {
                let names = match shared(cfg)? {
                    Some(db) => db.sessions()?,
                    None => catalog.names().unwrap_or_default(),
                };
                bail!(
                    "--session {name}: no such session in {} (existing: {}); create it with `covtop session new {name}`",
                    catalog.root().display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            cfg.session.name = name.to_string();
        }
        None if cfg.session.name == DEFAULT => {
            if let Some(current) = catalog.current() {
                cfg.session.name = current;
            }
        }
        None => {}
    }
    Ok(())
}

/// The shared store the configuration names (`[session] store`), connected, if any.
fn shared(cfg: &Config) -> Result<Option<PgStore>> {
    let Some(url) = &cfg.session.store else {
        return Ok(None);
    };
    let target = PgTarget::new(url, cfg.session.password_file.as_deref())?;
    Ok(Some(PgStore::connect(target, &store_root(cfg))?))
}

/// `covtop session …` on a PostgreSQL store: the sessions are the database's; `current` is
/// still recorded in the local folder.
fn run_shared(cfg: &Config, db: &PgStore, action: SessionAction) -> Result<ExitCode> {
    let catalog = SessionCatalog::new(&store_root(cfg));
    let current = cfg.session.name.as_str();
    let names = db.sessions()?;
    let known = |name: &str| -> Result<()> {
        if names.iter().any(|n| n == name) {
            return Ok(());
        }
        bail!(
            "no session is named \"{name}\" in {}; the sessions are: {}",
            db.database(),
            if names.is_empty() {
                "none yet (`covtop session new NAME` creates one)".to_string()
            } else {
                names.join(", ")
            }
        )
    };
    match action {
        SessionAction::List => {
            let list = db.summaries(current)?;
            if list.is_empty() {
                println!(
                    "No sessions in {} yet: `covtop dump` stores into \"{current}\", `covtop session new NAME` creates one.",
                    db.database()
                );
            } else {
                print!("{}", render_list(&list));
                println!("Store: {}", db.database());
            }
        }
        SessionAction::New { name } => {
            SessionCatalog::validate_name(&name)?;
            if names.contains(&name) {
                bail!(
                    "session \"{name}\" already exists; pick another name, or use it with --session {name}"
                );
            }
            let target = PgTarget::new(
                cfg.session.store.as_deref().unwrap_or_default(),
                cfg.session.password_file.as_deref(),
            )?;
            let local = catalog.session_path(&name);
            let opened = PgStore::open(target, &name, &local)?;
            catalog.set_current(&name)?;
            println!(
                "Created session {name} in {}; it is now the current session.",
                opened.database()
            );
        }
        SessionAction::Use { name } => {
            known(&name)?;
            catalog.set_current(&name)?;
            println!("Session {name} is now the current session.");
        }
        SessionAction::Compact { .. } => unreachable!("handled for every store in `run`"),
        SessionAction::Merge { sources, into } => {
            SessionCatalog::validate_name(&into)?;
            for src in &sources {
                known(src)?;
                if *src == into {
                    bail!("cannot merge session \"{src}\" into itself");
                }
            }
            print_merge(&sources, &into, &db.merge(&sources, &into)?);
        }
        SessionAction::Rm { name, yes } => {
            known(&name)?;
            if !confirm_rm(&name, current, yes, db.database())? {
                println!("Not removed.");
                return Ok(ExitCode::SUCCESS);
            }
            db.remove_session(&name)?;
            println!("Removed session {name} from {}.", db.database());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(cfg: &Config, action: SessionAction) -> Result<ExitCode> {
    if let SessionAction::Compact { name, keep_raw } = action {
        return compact(cfg, name, keep_raw);
    }
    if let Some(db) = shared(cfg)? {
        return run_shared(cfg, &db, action);
    }
    let catalog = SessionCatalog::new(&store_root(cfg));
    let current = cfg.session.name.as_str();
    match action {
        SessionAction::List => {
            let list = catalog.list(current)?;
            if list.is_empty() {
                println!(
                    "No sessions in {} yet: `covtop dump` stores into \"{current}\", `covtop session new NAME` creates one.",
                    catalog.root().display()
                );
            } else {
                print!("{}", render_list(&list));
                println!("Store: {}", catalog.root().display());
            }
        }
        SessionAction::New { name } => {
            let store = catalog.create(&name)?;
            println!(
                "Created session {name} ({}); it is now the current session.",
                store.dir().display()
            );
        }
        SessionAction::Use { name } => {
            catalog.open_existing(&name)?;
            catalog.set_current(&name)?;
            println!("Session {name} is now the current session.");
        }
        SessionAction::Merge { sources, into } => {
            print_merge(&sources, &into, &catalog.merge(&sources, &into)?);
        }
        SessionAction::Compact { .. } => unreachable!("handled for every store in `run`"),
        SessionAction::Rm { name, yes } => {
            catalog.require(&name)?;
            let place = catalog.session_path(&name).display().to_string();
            if !confirm_rm(&name, current, yes, &place)? {
                println!("Not removed.");
                return Ok(ExitCode::SUCCESS);
            }
            let files = catalog.remove(&name, current, true)?;
            println!("Removed session {name} ({files} file(s)).");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `covtop session compact [NAME] [--keep-raw DURATION]`, on either store.
fn compact(cfg: &Config, name: Option<String>, keep_raw: Option<Duration>) -> Result<ExitCode> {
    let mut cfg = cfg.clone();
    if let Some(name) = name {
        let exists = match shared(&cfg)? {
            Some(db) => db.sessions()?.contains(&name),
            None => SessionCatalog::new(&store_root(&cfg)).exists(&name),
        };
        if !exists {
            bail!("no session is named \"{name}\"; `covtop session list` shows them");
        }
        cfg.session.name = name;
    }
    let name = cfg.session.name.clone();
    let mut checkpointer = covtop::engine::checkpoint::Checkpointer::open(&cfg)?;
    let done = checkpointer.fold(true)?;
    for n in &done.notes {
        eprintln!(
            "covtop: {}: {}",
            covtop::escape::field(&n.subject),
            covtop::escape::field(&n.message)
        );
    }
    if done.upto == 0 {
        println!("Session {name} holds no dumps: nothing to fold.");
        return Ok(ExitCode::SUCCESS);
    }
    if done.bytes > 0 {
        println!(
            "Session {name}: folded {} dump(s) into a checkpoint of every dump up to #{} ({}).",
            done.read,
            done.upto,
            size(done.bytes as u64)
        );
    } else {
        println!(
            "Session {name}: the checkpoint already holds every dump (up to #{}).",
            done.upto
        );
    }
    if let Some(keep) = keep_raw {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(keep)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let dropped = checkpointer.drop_raw(cutoff)?;
        println!(
            "Dropped {} raw dump(s) fetched before {} and {} payload(s) no dump names; the dumps after #{} are kept.",
            dropped.dumps,
            time(Some(cutoff)),
            dropped.blobs,
            done.upto
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_merge(sources: &[String], into: &str, s: &MergeSummary) {
    println!(
        "Merged {} into {into}: {} dump(s) copied, {} already present.",
        sources.join(", "),
        s.copied,
        s.already_present
    );
    for (path, problem) in &s.skipped {
        println!(
            "  skipped {}: {}",
            covtop::escape::field(&path.display().to_string()),
            covtop::escape::field(problem)
        );
    }
}

/// Asks before `session rm` removes session `name` stored at `place`, as `reset` asks: on a
/// terminal y/N, without one a refusal naming `--yes` (which skips the question). False when the
/// user said no.
fn confirm_rm(name: &str, current: &str, yes: bool, place: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    let in_use = if name == current {
        " (the session in use)"
    } else {
        ""
    };
    super::confirm(
        &format!("Remove session {name}{in_use} and every dump stored in it ({place})?"),
        || {
            format!(
                "refusing to remove session \"{name}\"{in_use} without confirmation: pass --yes to remove it"
            )
        },
    )
}

fn render_list(list: &[SessionSummary]) -> String {
    let mut rows = vec![[
        String::new(),
        "SESSION".into(),
        "DUMPS".into(),
        "RESETS".into(),
        "TARGETS".into(),
        "REPLICAS".into(),
        "REVISIONS".into(),
        "FIRST".into(),
        "LAST".into(),
        "SIZE".into(),
        "CHECKPOINT".into(),
        "PROBLEMS".into(),
    ]];
    for s in list {
        let problems = [
            (s.bad_files, "bad file(s)"),
            (s.unfinished_writes, "unfinished write(s)"),
            (s.quarantined, "set aside"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ");
        let problems = if problems.is_empty() {
            "-".to_string()
        } else {
            problems
        };
        rows.push([
            if s.current { "*" } else { "" }.to_string(),
            s.name.clone(),
            s.dumps.to_string(),
            s.resets.to_string(),
            s.targets.iter().cloned().collect::<Vec<_>>().join(","),
            s.replicas.len().to_string(),
            s.revisions
                .iter()
                .map(|r| r.chars().take(8).collect::<String>())
                .collect::<Vec<_>>()
                .join(","),
            time(s.first_ms),
            time(s.last_ms),
            size(s.bytes),
            s.checkpoint.map_or_else(
                || "-".to_string(),
                |(upto, at)| format!("#{upto} {}", time(Some(at))),
            ),
            problems,
        ]);
    }
    // Names, targets and revisions come from folder names and stored metadata: each cell is
    // one line with its control characters escaped, so no name can forge a row or drive the
    // terminal.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|cell| covtop::escape::field(cell).into_owned())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}

fn time(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "-".to_string(),
        |ms| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
    )
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}
