//! The commands that run without a screen: dump, reset, report, check.

use anyhow::{Context, Result, bail};

/// `println!` without credentials from the configuration (see `covtop::redact`) and without raw
/// control characters from agents or file names (`covtop::escape`).
macro_rules! say {
    ($($t:tt)*) => {
        println!(
            "{}",
            covtop::escape::lines(&covtop::redact::redact(&format!($($t)*)))
        )
    };
}

/// `eprintln!` without credentials from the configuration.
macro_rules! say_err {
    ($($t:tt)*) => {
        eprintln!(
            "{}",
            covtop::escape::lines(&covtop::redact::redact(&format!($($t)*)))
        )
    };
}
use covtop::config::Config;
use covtop::engine::{Engine, TargetPoll};
use covtop::model::ReplicaState;
use covtop::report;
use std::path::Path;
use std::process::ExitCode;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// What the headless commands print besides their result.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// `--quiet`: no diagnostics on standard error.
    pub quiet: bool,
}

fn open(cfg: Config) -> Result<Engine> {
    Engine::open(cfg).context("cannot open the session")
}

/// How many diagnostics of one kind are printed before the rest is counted.
const SHOWN_PER_KIND: usize = 8;

/// Prints every diagnostic of the View on standard error, one line each (the screen's `D` panel
/// shows the same list); past [`SHOWN_PER_KIND`] of one kind, a count.
fn print_diagnostics(view: &covtop::model::View, out: Output) {
    if out.quiet {
        return;
    }
    let mut shown: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for d in &view.diagnostics {
        let label = d.kind.label();
        let n = shown.entry(label).or_default();
        *n += 1;
        if *n <= SHOWN_PER_KIND {
            say_err!(
                "covtop: {label}: {}: {} (fix: {})",
                d.subject,
                d.message,
                d.fix
            );
        }
    }
    for (label, n) in shown {
        if n > SHOWN_PER_KIND {
            say_err!(
                "covtop: {label}: {} more like these (all of them: covtop report --format json, \"diagnostics\")",
                n - SHOWN_PER_KIND
            );
        }
    }
}

/// Prints one target's poll and returns false when no replica answered.
fn print_poll(engine: &Engine, p: &TargetPoll) -> bool {
    let live = engine.targets().iter().find(|t| t.name() == p.target);
    let mut t = live
        .map(|t| t.config.to_string())
        .unwrap_or_else(|| p.target.clone());
    if let Some(n) = live.and_then(|t| t.class_count()) {
        t.push_str(&format!(", {n} classes analysed"));
    }
    say!(
        "{t}: {} replica(s) dumped, {} failed",
        p.stored.len(),
        p.failures.len()
    );
    for (replica, path) in &p.stored {
        say!("  {replica}: stored {}", path.display());
    }
    for (replica, err) in &p.undecodable {
        say!("  {replica}: stored but not readable: {err}");
    }
    for replica in &p.other_build {
        say!("  {replica}: runs another build: stored, kept apart, not merged");
    }
    for (replica, err) in &p.failures {
        say!("  {replica}: DOWN: {err}");
    }
    !p.stored.is_empty()
}

/// The words of `GocError::NoAgents`, to tell an empty server from dead replicas.
const LISTS_NO_AGENTS: &str = " lists no agents: ";

pub fn dump(cfg: Config, targets: &[String], out: Output) -> Result<ExitCode> {
    if cfg.targets.is_empty() {
        bail!("no [[target]] is configured: add one to the configuration (see `covtop init`)");
    }
    let mut engine = open(cfg)?;
    // A snapshot the user asked for is a file of its own, even when nothing changed.
    engine.always_store = true;
    let polls = runtime()?.block_on(engine.poll(targets))?;
    let mut dead = Vec::new();
    let mut empty = Vec::new();
    for p in &polls {
        if !print_poll(&engine, p) {
            // A server that lists no agents at all: nothing was there to answer.
            if p.stored.is_empty()
                && !p.failures.is_empty()
                && p.failures.iter().all(|(_, e)| e.contains(LISTS_NO_AGENTS))
            {
                empty.push(p.target.clone());
            } else {
                dead.push(p.target.clone());
            }
        }
    }
    let view = engine.view();
    engine.save_build_lines();
    print_diagnostics(&view, out);
    let s = view.totals.whole_statements;
    if s.1 > 0 {
        say!(
            "Session total: {}/{} statements ({:.1}%), session folder {}",
            s.0,
            s.1,
            s.0 as f64 * 100.0 / s.1 as f64,
            engine.session_dir().display()
        );
    }
    if !empty.is_empty() && dead.is_empty() {
        bail!(
            "the server of {} lists no agents: start a service built with goc (registered with that server), or check the url",
            empty.join(", ")
        );
    }
    dead.extend(empty);
    if !dead.is_empty() {
        bail!(
            "no replica of {} answered: check the target's url/address and that the agents run",
            dead.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(cfg: Config, targets: &[String], yes: bool, out: Output) -> Result<ExitCode> {
    if cfg.targets.is_empty() {
        bail!("no [[target]] is configured: add one to the configuration (see `covtop init`)");
    }
    let names: Vec<String> = if targets.is_empty() {
        cfg.targets.iter().map(|t| t.to_string()).collect()
    } else {
        targets.to_vec()
    };
    // A name that is not configured is a mistake to say, not a reset to confirm.
    if let Some(unknown) = targets
        .iter()
        .find(|n| !cfg.targets.iter().any(|t| &t.name == *n))
    {
        bail!(
            "--target {unknown}: no such target; configured: {}",
            cfg.targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // As the screen's dialog does: a JaCoCo reset clears the whole JVM, for everyone.
    for t in cfg
        .targets
        .iter()
        .filter(|t| names.contains(&t.name) && t.kind.name() == "jacoco")
    {
        say_err!(
            "covtop: warning: {}: JaCoCo's reset is global to the JVM: everyone testing against it \
             loses the coverage not dumped yet",
            t.name
        );
    }
    if !yes
        && !super::confirm(
            &format!(
                "Reset the coverage counters of {}? The data is dumped and stored first.",
                names.join(", ")
            ),
            || {
                format!(
                    "refusing to reset without confirmation: pass --yes to reset {}",
                    names.join(", ")
                )
            },
        )?
    {
        say!("Not reset.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut engine = open(cfg)?;
    let resets = runtime()?.block_on(engine.reset(targets))?;
    let mut failed = false;
    for r in &resets {
        print_poll(&engine, &r.dump);
        for o in &r.outcomes {
            match &o.result {
                Ok(()) => say!("  {}: reset", o.replica),
                Err(e) => {
                    failed = true;
                    say!("  {}: RESET FAILED: {e}", o.replica);
                }
            }
        }
        for (replica, why) in &r.skipped {
            failed = true;
            say!("  {replica}: {why}");
        }
    }
    let view = engine.view();
    engine.save_build_lines();
    print_diagnostics(&view, out);
    if failed {
        bail!("some replicas were not reset (see above); their data is kept");
    }
    Ok(ExitCode::SUCCESS)
}

/// The process ends right after: its memory goes back to the system at once, instead of
/// freeing the engine (every class analysis of every build) and the View piece by piece — a few
/// percent of a big report's CPU time. Nothing in them needs a destructor to run (no lock, no
/// buffered file: reports and session files are written and synced when made).
fn leave_to_exit<T>(done: T) {
    std::mem::forget(done);
}

/// Opens the session, polls unless offline (a failing target is a warning: stored data is
/// still reported), and builds the View. The caller saves the build lines
/// (`Engine::save_build_lines`) once it has used the View: they are encoded meanwhile.
fn current_view(
    cfg: Config,
    offline: bool,
    baseline: Option<&str>,
    out: Output,
) -> Result<(Engine, std::sync::Arc<covtop::model::View>)> {
    let mut engine = open(cfg)?;
    engine.check_mappable()?;
    if let Some(b) = baseline {
        engine
            .set_baseline(b)
            .context("cannot compare with the baseline")?;
    }
    if !offline && !engine.targets().is_empty() {
        // Failures show below with every other diagnostic.
        runtime()?.block_on(engine.poll(&[]))?;
    }
    let view = engine.view();
    print_diagnostics(&view, out);
    for t in view.targets.iter().filter(|_| !out.quiet) {
        if !t.replicas.is_empty()
            && t.replicas
                .iter()
                .all(|r| matches!(r.state, ReplicaState::Down(_) | ReplicaState::Gone))
        {
            say_err!(
                "covtop: warning: no replica of {} answered; reporting the data stored so far",
                t.name
            );
        }
    }
    Ok((engine, view))
}

pub fn report(
    cfg: Config,
    format: report::Format,
    output: Option<&Path>,
    offline: bool,
    changed_only: bool,
    baseline: Option<&str>,
    out: Output,
) -> Result<ExitCode> {
    if format.needs_sources() && output.is_none() {
        bail!("--format {format} writes a folder: pass --output DIR");
    }
    let source_root = cfg.repo.path.clone();
    let (mut engine, view) = current_view(cfg, offline, baseline, out)?;
    // The build lines are encoded on their own thread while the report is written; saved after
    // it (also when writing it failed).
    let written = write_report(&engine, &view, format, output, changed_only, source_root);
    engine.save_build_lines();
    let gathered = written?;
    leave_to_exit((gathered, engine, view));
    Ok(ExitCode::SUCCESS)
}

/// Writes the report of `view` to `output` or standard output; returns what was gathered for
/// it, to be left to the process exit.
fn write_report(
    engine: &Engine,
    view: &covtop::model::View,
    format: report::Format,
    output: Option<&Path>,
    changed_only: bool,
    source_root: std::path::PathBuf,
) -> Result<report::Gathered> {
    // Export formats are for other tools and need the raw data too; HTML the sources.
    let gathered = report::Gathered::from_engine(engine, format)
        .context("cannot read sources from the repository")?;
    let inputs = gathered.inputs(view);
    let opts = report::WriteOptions {
        changed_only,
        source_root: Some(source_root),
        ..report::WriteOptions::default()
    };
    match output {
        Some(path) => {
            let written = report::write(format, &inputs, &opts, path)?;
            if let report::Written::Html(summary) = written {
                say!(
                    "Wrote {} ({} file pages)",
                    summary.index.display(),
                    summary.pages
                );
                for (path, why) in &summary.sources_unreadable {
                    say_err!(
                        "covtop: warning: cannot read the source {path}: {why}; its page shows coverage only"
                    );
                }
            }
        }
        None => {
            let bytes = report::bytes(format, &inputs, &opts)?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)
                .context("cannot write the report to standard output")?;
        }
    }
    Ok(gathered)
}

/// A percentage as text, precise enough that it never reads as reaching `threshold` when it
/// does not (77.77 is not printed as 77.8 against 77.78).
fn percent_against(p: f64, threshold: f64) -> String {
    for decimals in 1..=4 {
        let text = format!("{p:.decimals$}");
        let shown: f64 = text.parse().unwrap_or(p);
        if (shown >= threshold) == (p + 1e-9 >= threshold) {
            return text;
        }
    }
    format!("{p:.6}")
}

pub fn check(
    cfg: Config,
    fail_under: f64,
    offline: bool,
    allow_missing_data: bool,
    out: Output,
) -> Result<ExitCode> {
    if !(0.0..=100.0).contains(&fail_under) {
        bail!("--fail-under {fail_under} must be a percentage between 0 and 100");
    }
    let (mut engine, view) = current_view(cfg, offline, None, out)?;
    engine.save_build_lines();
    let rule = view.rule;
    let c = view.totals.changed;
    // A gate never passes on missing data.
    let mut missing = Vec::new();
    for t in view.targets.iter().filter(|t| !t.has_data) {
        missing.push(format!("target {} gave no data", t.name));
    }
    if c.no_data > 0 {
        let files = view.files.iter().filter(|f| f.no_data()).count();
        missing.push(format!(
            "{} changed code line(s) in {files} file(s) have no coverage data",
            c.no_data
        ));
    }
    if !missing.is_empty() && !allow_missing_data {
        say!(
            "FAIL: cannot check: {}. Run `covtop report` to see which; pass --allow-missing-data \
             to gate on the data there is.",
            missing.join("; ")
        );
        return Ok(ExitCode::from(2));
    }
    let covered = rule.covered(&c);
    match rule.percent(&c) {
        None => {
            say!("No coverable changed lines: nothing to check (pass).");
            Ok(ExitCode::SUCCESS)
        }
        Some(p) if p + 1e-9 >= fail_under => {
            say!(
                "Changed-line coverage {}% ({covered} of {} lines, {}) meets the required {fail_under}%.",
                percent_against(p, fail_under),
                c.coverable(),
                rule.describe()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            say!(
                "FAIL: changed-line coverage {}% ({covered} of {} lines, {}) is below the required {fail_under}%. \
                 Run `covtop report` to see the missed lines.",
                percent_against(p, fail_under),
                c.coverable(),
                rule.describe()
            );
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_against;

    #[test]
    fn a_percentage_never_reads_as_passing_when_it_fails() {
        assert_eq!(percent_against(77.7777, 77.78), "77.778");
        assert_eq!(percent_against(77.7777, 77.778), "77.7777");
        assert_eq!(percent_against(89.13, 90.0), "89.1");
        assert_eq!(percent_against(90.0, 90.0), "90.0");
        assert_eq!(percent_against(89.96, 90.0), "89.96");
    }
}
