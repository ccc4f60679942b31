//! The real terminal loop: raw mode, alternate screen and mouse capture around an [`App`], fed by
//! a tokio `select!` over terminal events, new Views, engine notices, a render tick and signals.
//! The terminal is restored on quit, on error, on panic and on SIGTERM/SIGINT.

use super::app::App;
use crate::engine::{Command, Notice};
use crate::model::View;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use futures_util::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

/// How often flashes expire and background results are picked up. Redraws happen only when
/// something changed.
const TICK: Duration = Duration::from_millis(100);
/// How soon a file read or highlighted in the background shows up.
const BACKGROUND_POLL: Duration = Duration::from_millis(15);
/// Terminal events handled at most between two frames.
const COALESCE_MAX: usize = 64;

/// Runs the interactive monitor until the user quits or a signal arrives.
pub async fn run(
    mut views: watch::Receiver<Arc<View>>,
    commands: mpsc::Sender<Command>,
    mut notices: mpsc::Receiver<Notice>,
    mut app: App,
) -> io::Result<()> {
    let mut terminal = TerminalSession::enter()?;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut signals = Signals::new()?;

    let size = terminal.terminal.size()?;
    app.resize(size.width, size.height);
    app.on_view(views.borrow_and_update().clone());
    let (mut views_open, mut notices_open) = (true, true);
    let mut dirty = true;
    loop {
        if let Some((path, line)) = app.take_edit() {
            let plan = super::editor::plan(
                std::env::var_os("VISUAL"),
                std::env::var_os("EDITOR"),
                app.workdir(),
                &path,
                line,
            );
            match plan {
                Err(e) => app.on_notice(Notice::Error(e.to_string())),
                Ok(plan) => {
                    // The editor reads the terminal alone: the event stream's reader thread
                    // stops first and a new one starts once the editor is done.
                    drop(events);
                    let ran = terminal.suspended(plan.command()).await;
                    events = EventStream::new();
                    // ctrl-c in the editor's cooked terminal went to covtop too: it was meant
                    // for the editor.
                    signals.forget_interrupts();
                    let size = terminal.terminal.size()?;
                    app.resize(size.width, size.height);
                    app.on_notice(match ran {
                        Ok(status) if status.success() => {
                            Notice::Info(format!("back from the editor ({path}:{line})"))
                        }
                        Ok(status) => Notice::Error(format!(
                            "the editor ({}) ended with {status} on {path}:{line}",
                            plan.editor
                        )),
                        Err(e) => Notice::Error(format!(
                            "cannot run the editor {:?}: {e}; check $VISUAL / $EDITOR",
                            plan.editor
                        )),
                    });
                }
            }
            dirty = true;
        }
        if dirty {
            terminal.draw(&app)?;
            dirty = false;
            inject_panic_for_tests();
        }
        if app.should_quit() {
            break;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    on_terminal_event(event, &mut terminal, &mut app, &commands)?;
                    // Take what else is already queued (key repeat, a wheel burst) before the
                    // next frame: one frame per batch, not one per event.
                    for _ in 0..COALESCE_MAX {
                        match events.next().now_or_never() {
                            Some(Some(Ok(event))) => on_terminal_event(event, &mut terminal, &mut app, &commands)?,
                            Some(Some(Err(e))) => return Err(e),
                            Some(None) | None => break,
                        }
                    }
                    dirty = true;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            },
            changed = views.changed(), if views_open => match changed {
                Ok(()) => {
                    let view = views.borrow_and_update().clone();
                    app.on_view(view);
                    dirty = true;
                }
                Err(_) => {
                    views_open = false;
                    app.on_notice(Notice::Error("the engine stopped: no more updates".into()));
                    dirty = true;
                }
            },
            notice = notices.recv(), if notices_open => match notice {
                Some(n) => {
                    app.on_notice(n);
                    dirty = true;
                }
                None => notices_open = false,
            },
            _ = tick.tick() => dirty |= app.tick(Instant::now()),
            _ = tokio::time::sleep(BACKGROUND_POLL), if app.awaiting_background() => {
                dirty |= app.tick(Instant::now())
            }
            _ = signals.recv() => {
                let _ = commands.try_send(Command::Quit);
                break;
            }
        }
    }
    // Remembered for the next start; a failure is said once the screen is back.
    let saved = app.save_state();
    drop(terminal);
    if let Err(e) = saved {
        eprintln!("covtop: warning: {e}");
    }
    Ok(())
}

/// Debug builds only: with `COVTOP_TEST_PANIC` set, the screen panics once a frame is drawn, so
/// a test can check that a panic leaves the terminal as it found it (`tests/tui_terminal.rs`).
fn inject_panic_for_tests() {
    #[cfg(debug_assertions)]
    if std::env::var_os("COVTOP_TEST_PANIC").is_some() {
        panic!("COVTOP_TEST_PANIC is set: a panic injected after the first frame");
    }
}

fn on_terminal_event(
    event: Event,
    terminal: &mut TerminalSession,
    app: &mut App,
    commands: &mpsc::Sender<Command>,
) -> io::Result<()> {
    if matches!(event, Event::Resize(..)) {
        // The App lays out from the Resize event's size, the terminal from its own.
        terminal.terminal.autoresize()?;
    }
    for command in app.handle_event(event) {
        send(commands, command, app);
    }
    if let Some(text) = app.take_clipboard() {
        // OSC 52: the terminal (also over ssh and in tmux with set-clipboard on) puts it on the
        // system clipboard.
        use std::io::Write as _;
        let mut out = io::stdout();
        write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()))?;
        out.flush()?;
    }
    Ok(())
}

/// Never waits on the engine: a full queue drops the command and says so.
fn send(commands: &mpsc::Sender<Command>, command: Command, app: &mut App) {
    match commands.try_send(command) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(c)) => app.on_notice(Notice::Error(format!(
            "the engine is busy; {c:?} was dropped, press the key again"
        ))),
        Err(mpsc::error::TrySendError::Closed(c)) if c != Command::Quit => app.on_notice(
            Notice::Error(format!("the engine stopped; {c:?} was not sent")),
        ),
        Err(_) => {}
    }
}

/// Standard base64 with padding (RFC 4648), for OSC 52.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct TerminalSession {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalSession {
    fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
            restore_terminal();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(TerminalSession { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }

    /// Leaves the screen (raw mode, alternate screen, mouse), runs `command` on the terminal and
    /// comes back; the next frame is drawn whole.
    async fn suspended(
        &mut self,
        command: std::process::Command,
    ) -> io::Result<std::process::ExitStatus> {
        restore_terminal();
        let _ = self.terminal.show_cursor();
        let ran = tokio::process::Command::from(command).status().await;
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        self.terminal.hide_cursor()?;
        self.terminal.clear()?;
        ran
    }

    /// One frame inside a synchronized update, so the terminal never shows half of it.
    fn draw(&mut self, app: &App) -> io::Result<()> {
        execute!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        let drawn = self.terminal.draw(|frame| app.draw(frame)).map(|_| ());
        execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        drawn
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        restore_terminal();
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves raw mode and the alternate screen; safe to call twice.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        EndSynchronizedUpdate
    );
}

fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        // One panic message at a time: a panic on the main thread stops the runtime, and a
        // task still running on a worker may panic too while it shuts down; printed at once,
        // the two messages would be interleaved and the first unreadable.
        static PRINTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        std::panic::set_hook(Box::new(move |info| {
            let _one_at_a_time = PRINTING.lock().unwrap_or_else(|e| e.into_inner());
            // Restore first so the panic message is readable on the normal screen. The source
            // worker catches its panics and goes on, so the screen stays for those.
            if std::thread::current().name() != Some(super::source::WORKER_THREAD) {
                restore_terminal();
            }
            previous(info);
        }));
    });
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }

    /// Drops the SIGINTs already received (SIGTERM still ends covtop).
    fn forget_interrupts(&mut self) {
        while let Some(Some(())) = self.int.recv().now_or_never() {}
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> io::Result<Self> {
        Ok(Signals)
    }

    async fn recv(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }

    fn forget_interrupts(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caller may `tokio::spawn` the loop: it and the App must be Send.
    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"cart/cart.go:12"), "Y2FydC9jYXJ0LmdvOjEy");
    }

    #[test]
    fn the_loop_can_be_spawned() {
        fn is_send<T: Send>(_: &T) {}
        let check = |views, commands, notices, app: App| {
            let fut = run(views, commands, notices, app);
            is_send(&fut);
        };
        let _ = check;
    }
}
