//! The commands that run without a screen: dump, reset, report, check.

use anyhow::{Context, Result, bail};
use covtop::config::Config;
use covtop::engine::{Engine, TargetPoll};
use covtop::model::ReplicaState;
use covtop::report;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn open(cfg: Config) -> Result<Engine> {
    let engine = Engine::open(cfg).context("cannot open the session")?;
    for p in engine.session_problems() {
        eprintln!("covtop: warning: {}: {} ({})", p.subject, p.message, p.fix);
    }
    Ok(engine)
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
    println!(
        "{t}: {} replica(s) dumped, {} failed",
        p.stored.len(),
        p.failures.len()
    );
    for (replica, path) in &p.stored {
        println!("  {replica}: stored {}", path.display());
    }
    for (replica, err) in &p.undecodable {
        println!("  {replica}: stored but not readable: {err}");
    }
    for (replica, err) in &p.failures {
        println!("  {replica}: DOWN: {err}");
    }
    !p.stored.is_empty()
}

pub fn dump(cfg: Config, targets: &[String]) -> Result<ExitCode> {
    if cfg.targets.is_empty() {
        bail!("no [[target]] is configured: add one to the configuration (see `covtop init`)");
    }
    let mut engine = open(cfg)?;
    let polls = runtime()?.block_on(engine.poll(targets))?;
    let mut dead = Vec::new();
    for p in &polls {
        if !print_poll(&engine, p) {
            dead.push(p.target.clone());
        }
    }
    let view = engine.view();
    let s = view.totals.whole_statements;
    if s.1 > 0 {
        println!(
            "Session total: {}/{} statements ({:.1}%), session folder {}",
            s.0,
            s.1,
            s.0 as f64 * 100.0 / s.1 as f64,
            engine.session_dir().display()
        );
    }
    if !dead.is_empty() {
        bail!(
            "no replica of {} answered: check the target's url/address and that the agents run",
            dead.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(cfg: Config, targets: &[String], yes: bool) -> Result<ExitCode> {
    if cfg.targets.is_empty() {
        bail!("no [[target]] is configured: add one to the configuration (see `covtop init`)");
    }
    let names: Vec<String> = if targets.is_empty() {
        cfg.targets.iter().map(|t| t.to_string()).collect()
    } else {
        targets.to_vec()
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to reset without confirmation: pass --yes to reset {}",
                names.join(", ")
            );
        }
        print!(
            "Reset the coverage counters of {}? The data is dumped and stored first. [y/N] ",
            names.join(", ")
        );
        std::io::stdout().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Not reset.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut engine = open(cfg)?;
    let resets = runtime()?.block_on(engine.reset(targets))?;
    let mut failed = false;
    for r in &resets {
        print_poll(&engine, &r.dump);
        for o in &r.outcomes {
            match &o.result {
                Ok(()) => println!("  {}: reset", o.replica),
                Err(e) => {
                    failed = true;
                    println!("  {}: RESET FAILED: {e}", o.replica);
                }
            }
        }
        for (replica, why) in &r.skipped {
            failed = true;
            println!("  {replica}: {why}");
        }
    }
    if failed {
        bail!("some replicas were not reset (see above); their data is kept");
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the session, polls unless offline (a failing target is a warning: stored data is
/// still reported), and builds the View.
fn current_view(
    cfg: Config,
    offline: bool,
    baseline: Option<&str>,
) -> Result<(Engine, std::sync::Arc<covtop::model::View>)> {
    let mut engine = open(cfg)?;
    engine.check_mappable()?;
    if let Some(b) = baseline {
        engine
            .set_baseline(b)
            .context("cannot compare with the baseline")?;
    }
    if !offline && !engine.targets().is_empty() {
        let polls = runtime()?.block_on(engine.poll(&[]))?;
        for p in &polls {
            for (replica, err) in &p.failures {
                eprintln!("covtop: warning: {} {replica}: {err}", p.target);
            }
        }
    }
    let view = engine.view();
    for t in &view.targets {
        if !t.replicas.is_empty()
            && t.replicas
                .iter()
                .all(|r| matches!(r.state, ReplicaState::Down(_)))
        {
            eprintln!(
                "covtop: warning: no replica of {} answered; reporting the data stored so far",
                t.name
            );
        }
    }
    Ok((engine, view))
}

pub fn report(
    cfg: Config,
    format: &str,
    output: Option<&Path>,
    offline: bool,
    changed_only: bool,
    baseline: Option<&str>,
) -> Result<ExitCode> {
    let partial = cfg.report.partial_as_covered;
    if format == "html" {
        let Some(dir) = output else {
            bail!("--format html writes a folder: pass --output DIR");
        };
        let (engine, view) = current_view(cfg, offline, baseline)?;
        let sources = covtop::vcs::GitSources::new(engine.repo(), engine.revision())
            .context("cannot read sources from the repository")?;
        let opts = report::html::HtmlOptions {
            changed_only,
            partial_as_covered: partial,
            title: "covtop".to_string(),
        };
        let summary = report::html::write_html(&view, &sources, &opts, dir)?;
        println!(
            "Wrote {} ({} file pages)",
            summary.index.display(),
            summary.pages
        );
        return Ok(ExitCode::SUCCESS);
    }
    if report::EXPORT_FORMATS.contains(&format) {
        // Export formats are for other tools and need the raw data too.
        let opts = report::ExportOptions {
            changed_only,
            partial_as_covered: partial,
            source_root: Some(cfg.repo.path.clone()),
        };
        let (engine, view) = current_view(cfg, offline, baseline)?;
        let raw = report::RawData {
            go: engine.go_total(),
            java: engine.java_totals(),
        };
        match output {
            Some(path) => report::export(&view, &raw, format, &opts, path)?,
            None => {
                let bytes = report::export_bytes(&view, &raw, format, &opts)?;
                std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)
                    .context("cannot write the report to standard output")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !report::FORMATS.contains(&format) && format != "md" {
        bail!(report::ReportError::UnknownFormat(format.to_string()));
    }
    let (_engine, view) = current_view(cfg, offline, baseline)?;
    let text = report::render(&view, format, partial)?;
    match output {
        Some(path) => report::write_report(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(cfg: Config, fail_under: f64, offline: bool) -> Result<ExitCode> {
    if !(0.0..=100.0).contains(&fail_under) {
        bail!("--fail-under {fail_under} must be a percentage between 0 and 100");
    }
    let partial = cfg.report.partial_as_covered;
    let (_engine, view) = current_view(cfg, offline, None)?;
    let c = view.totals.changed;
    match c.percent(partial) {
        None => {
            println!("No coverable changed lines: nothing to check (pass).");
            Ok(ExitCode::SUCCESS)
        }
        Some(p) if p + 1e-9 >= fail_under => {
            println!(
                "Changed-line coverage {p:.1}% ({} of {} lines) meets the required {fail_under}%.",
                c.covered + if partial { c.partial } else { 0 },
                c.coverable()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            println!(
                "FAIL: changed-line coverage {p:.1}% ({} of {} lines) is below the required {fail_under}%. \
                 Run `covtop report` to see the missed lines.",
                c.covered + if partial { c.partial } else { 0 },
                c.coverable()
            );
            Ok(ExitCode::from(1))
        }
    }
}
