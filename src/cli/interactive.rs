//! `covtop` without a subcommand: the live screen.

use anyhow::{Context, Result};
use covtop::config::Config;
use covtop::engine::{Command, Engine, live};
use covtop::model::SourceStore;
use covtop::tui::{App, KeyMap, TargetInfo, Theme, UiConfig};
use covtop::vcs::{GitSources, WorktreeSources};
use std::process::ExitCode;
use std::sync::Arc;

/// Builds the screen's settings from the configuration (key overrides, theme, NO_COLOR).
fn ui_config(cfg: &Config) -> Result<UiConfig> {
    let keymap = KeyMap::from_config(cfg).context("invalid configuration")?;
    let theme = match cfg.ui.theme.as_deref() {
        Some("light") => Theme::Light,
        Some("no-color") => Theme::NoColor,
        _ => Theme::Dark,
    }
    .honour_no_color(std::env::var("NO_COLOR").ok().as_deref());
    Ok(UiConfig {
        keymap,
        theme,
        targets: cfg
            .targets
            .iter()
            .map(|t| TargetInfo {
                name: t.name.clone(),
                kind: t.kind.name().to_string(),
            })
            .collect(),
        // ~/.local/state/covtop/screen.json: the filter, sort and pane sizes of the last session.
        state_file: dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|d| d.join("covtop").join("screen.json")),
        ..UiConfig::default()
    })
}

/// Runs the live screen until the user quits; `demo` marks the header.
pub async fn screen(cfg: Config, demo: bool, baseline: Option<&str>, attach: bool) -> Result<()> {
    let ui = ui_config(&cfg)?;
    // The first frame comes before the JaCoCo classes are analysed (they are analysed beside
    // the screen); a baseline needs them at once.
    let mut engine = if baseline.is_some() {
        Engine::open(cfg)
    } else {
        Engine::open_deferred(cfg)
    }
    .context("cannot open the session")?;
    engine.demo = demo;
    engine.attached = attach;
    if let Some(b) = baseline {
        engine
            .set_baseline(b)
            .context("cannot compare with the baseline")?;
    }
    // With working-tree changes counted, changed lines are numbered on the checked-out files.
    let sources: Arc<dyn SourceStore> = match engine.repo().workdir() {
        Some(dir) if engine.config().repo.working_tree => Arc::new(WorktreeSources::new(dir)),
        _ => Arc::new(
            GitSources::new(engine.repo(), engine.revision())
                .context("cannot read sources from the repository")?,
        ),
    };
    let app = App::new(
        UiConfig {
            workdir: engine.repo().workdir(),
            ..ui
        },
        sources,
    );
    let (handles, join) = live::spawn(engine);
    let commands = handles.commands.clone();
    let result = covtop::tui::run(handles.views, handles.commands, handles.notices, app).await;
    let _ = commands.send(Command::Quit).await;
    let _ = join.await;
    result.context("the terminal failed")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The live screen needs a terminal on both ends; elsewhere (a pipe, CI, a pod) say what to use.
fn need_terminal() -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "the live screen needs a terminal (standard input and output are not both one); \
         without one use `covtop report` for a report now, `covtop check` for a CI gate or \
         `covtop watch` for a headless loop"
    )
}

pub fn run(cfg: Config, baseline: Option<&str>, attach: bool) -> Result<ExitCode> {
    need_terminal()?;
    runtime()?.block_on(screen(cfg, false, baseline, attach))?;
    Ok(ExitCode::SUCCESS)
}

/// `covtop demo`: the screen over a temporary repository and replayed agents; `look` (the
/// `--config` given) lends its `[ui]` and `[keys]`, nothing else.
pub fn demo(speed: f64, look: Option<Config>) -> Result<ExitCode> {
    need_terminal()?;
    runtime()?.block_on(async {
        let demo = covtop::demo::Demo::start(speed)
            .await
            .context("cannot start the demo")?;
        let mut cfg = demo.config().clone();
        if let Some(look) = look {
            cfg.ui = look.ui;
            cfg.keys = look.keys;
        }
        screen(cfg, true, None, false).await
    })?;
    Ok(ExitCode::SUCCESS)
}
