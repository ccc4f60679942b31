//! End to end in a real terminal: tmux runs `covtop` against a goc center and the real
//! instrumented shop service; the test sends requests to the service and reads the screen.

mod common;
mod goc_support;

use covtop::demo::gocserver::v1::Center;
use goc_support::{ShopReplica, http_get};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(session: &str, width: u16, height: u16, command: &str) -> Tmux {
        // `=name` matches the session exactly: a bare name is also a prefix, and would kill
        // another test's `covtop-e2e-...` session.
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &format!("={session}")])
            .status();
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", session])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux {
            session: session.to_string(),
        }
    }

    /// The session's pane, matched exactly.
    fn pane(&self) -> String {
        format!("={}:", self.session)
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.pane()])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The screen with its colours (SGR escape sequences).
    fn screen_with_colours(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-e", "-p", "-t", &self.pane()])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux")
                .args(["send-keys", "-t", &self.pane(), k])
                .status()
                .expect("tmux send-keys")
                .success();
            assert!(ok);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Types `text` literally (not as key names).
    fn type_text(&self, text: &str) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("tmux send-keys")
            .success();
        assert!(ok);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until `check` accepts the screen; panics with the last screen after `within`.
    fn wait_for(&self, what: &str, within: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let s = self.screen();
            if check(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &format!("={}", self.session)])
            .status();
    }
}

/// The screen row showing the source line that contains `code`.
fn row<'a>(screen: &'a str, code: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(code))
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Sum of the counts of the blocks of `file` starting on `line`, straight from the agent.
fn agent_count(agent_url: &str, file: &str, line: u32) -> u64 {
    let body = http_get(&format!("{agent_url}/v1/cover/profile")).expect("agent answers");
    body.lines()
        .filter(|l| l.starts_with(&format!("{file}:{line}.")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn live_screen_turns_a_missed_changed_line_covered_dumps_resets_and_quits() {
    if !common::have_tool("tmux", "-V") || !common::have_tool("git", "--version") {
        return;
    }
    let Some(shop) = goc_support::shop_binary() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let center = rt.block_on(Center::start()).unwrap();
    let replica = ShopReplica::start(shop, 0, Some(&center.url()));

    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let sessions = tmp.path().join("sessions");
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ninterval = \"300ms\"\ntimeout = \"2s\"\n\
             [session]\ndir = \"{}\"\n[[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            repo.display(),
            sessions.display(),
            center.url()
        ),
    )
    .unwrap();
    let marker = tmp.path().join("after-exit.txt");
    let command = format!(
        "{} --config {}; stty -a > {}; echo COVTOP-EXITED; sleep 60",
        env!("CARGO_BIN_EXE_covtop"),
        config.display(),
        marker.display()
    );
    let term = Tmux::start("covtop-e2e", 150, 62, &command);

    // The first changed file (cart/cart.go) is shown; Cart.Remove never ran yet.
    let s = term.wait_for("the missed Remove body", Duration::from_secs(20), |s| {
        row(s, "delete(c.lines, item)").is_some_and(|r| r.contains('✗'))
    });
    assert!(s.contains("cart.go") && s.contains("pricing.go"), "{s}");

    // The tester clicks through the feature: add an item, then remove it.
    http_get(&format!(
        "{}/add?item=pen&qty=1&price=300",
        replica.shop_url
    ))
    .unwrap();
    http_get(&format!("{}/remove?item=pen", replica.shop_url)).unwrap();
    let s = term.wait_for(
        "the Remove body to turn covered",
        Duration::from_secs(15),
        |s| row(s, "delete(c.lines, item)").is_some_and(|r| r.contains('✓')),
    );
    // The "missing item" branch is still missed.
    assert!(
        row(&s, "return false").is_some_and(|r| r.contains('✗')),
        "{s}"
    );

    // d: a snapshot is stored and the screen says where.
    let store = sessions.join("sessions/default");
    let before = count_files(&store);
    term.keys(&["d"]);
    term.wait_for("the snapshot notice", Duration::from_secs(10), |s| {
        s.contains("snapshot stored")
    });
    assert!(count_files(&store) > before, "a dump file was written");

    // r asks first; anything but y cancels and nothing is reset.
    let remove_line = {
        let src = std::fs::read_to_string(repo.join("cart/cart.go")).unwrap();
        src.lines()
            .position(|l| l.contains("delete(c.lines, item)"))
            .unwrap() as u32
            + 1
    };
    assert!(
        agent_count(
            &replica.agent_url,
            "example.com/shop/cart/cart.go",
            remove_line
        ) > 0
    );
    term.keys(&["r"]);
    let s = term.wait_for("the reset confirmation", Duration::from_secs(5), |s| {
        s.contains("then reset the agents of")
    });
    assert!(s.contains("shop") && s.contains(&replica.agent_url), "{s}");
    term.keys(&["n"]);
    term.wait_for("the popup to close", Duration::from_secs(5), |s| {
        !s.contains("then reset the agents of")
    });
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        agent_count(
            &replica.agent_url,
            "example.com/shop/cart/cart.go",
            remove_line
        ) > 0,
        "cancelled: not reset"
    );

    // r, y: dumped and stored first, then reset; the screen keeps what ran.
    let before = count_files(&store);
    term.keys(&["r", "y"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent_count(
        &replica.agent_url,
        "example.com/shop/cart/cart.go",
        remove_line,
    ) > 0
    {
        assert!(Instant::now() < deadline, "the agent was never reset");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        count_files(&store) > before,
        "the dump before the reset is on disk"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let s = term.screen();
    assert!(
        row(&s, "delete(c.lines, item)").is_some_and(|r| r.contains('✓')),
        "coverage from before the reset is kept:\n{s}"
    );

    // z zooms the focused pane (the tree) to the whole width, and back.
    term.keys(&["z"]);
    term.wait_for("the tree alone", Duration::from_secs(5), |s| {
        !s.contains("delete(c.lines, item)") && s.contains("cart.go")
    });
    term.keys(&["z"]);
    term.wait_for("both panes again", Duration::from_secs(5), |s| {
        s.contains("delete(c.lines, item)")
    });

    // L: every message stays in a log, with its time.
    term.keys(&["L"]);
    let s = term.wait_for("the messages log", Duration::from_secs(5), |s| {
        s.contains("┌ messages")
    });
    let logged = row(&s, "info: snapshot stored").expect("the snapshot message is logged");
    let at = logged
        .split("info: snapshot stored")
        .next()
        .and_then(|before| before.trim_end().rsplit(['│', ' ']).next())
        .unwrap_or("");
    assert!(
        at.len() == 8 && at.chars().filter(|c| *c == ':').count() == 2,
        "a HH:MM:SS time before the message: {logged:?}"
    );
    term.keys(&["Escape"]);
    term.wait_for("the log to close", Duration::from_secs(5), |s| {
        !s.contains("┌ messages")
    });

    // e offers every format, HTML first, and writes it beside the screen.
    term.keys(&["e"]);
    let s = term.wait_for("the export dialog", Duration::from_secs(5), |s| {
        s.contains("export a report")
    });
    assert!(
        s.contains("▸ html") && s.contains("jacoco-exec") && s.contains("cobertura"),
        "{s}"
    );
    let html = tmp.path().join("html-report");
    term.keys(&["C-u"]);
    term.type_text(&html.display().to_string());
    term.keys(&["Enter"]);
    term.wait_for("the export to be written", Duration::from_secs(30), |s| {
        s.contains("exported html to")
    });
    let index = std::fs::read_to_string(html.join("index.html")).expect("index.html");
    assert!(
        index.contains("cart/cart.go"),
        "the report lists the changed files"
    );

    // q: covtop exits and the terminal is restored (cooked mode, main screen).
    term.keys(&["q"]);
    let s = term.wait_for("covtop to exit", Duration::from_secs(10), |s| {
        s.contains("COVTOP-EXITED")
    });
    assert!(
        !s.contains("changed files"),
        "the alternate screen is gone:\n{s}"
    );
    let stty = std::fs::read_to_string(&marker).unwrap();
    assert!(
        stty.split_whitespace().any(|w| w == "icanon")
            && stty.split_whitespace().any(|w| w == "echo"),
        "terminal left in raw mode: {stty}"
    );
    drop(center);
}

#[test]
fn sigterm_restores_the_terminal() {
    if !common::have_tool("tmux", "-V") || !common::have_tool("pgrep", "-V") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("after-term.txt");
    // A speed nobody else uses, to find this very process.
    let speed = "1.2345";
    let command = format!(
        "{} demo --speed {speed}; echo \"exit=$?\" > {m}.code; stty -a > {m}; echo COVTOP-EXITED; sleep 60",
        env!("CARGO_BIN_EXE_covtop"),
        m = marker.display()
    );
    let term = Tmux::start("covtop-e2e-term", 120, 40, &command);
    term.wait_for("the demo screen", Duration::from_secs(20), |s| {
        s.contains("DEMO") && s.contains("changed files")
    });
    let pids = Command::new("pgrep")
        .args([
            "-f",
            &format!("^{} demo --speed {speed}", env!("CARGO_BIN_EXE_covtop")),
        ])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout)
        .lines()
        .next()
        .expect("covtop's pid")
        .trim()
        .to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let s = term.wait_for("covtop to exit on SIGTERM", Duration::from_secs(10), |s| {
        s.contains("COVTOP-EXITED")
    });
    assert!(
        !s.contains("changed files"),
        "the alternate screen is gone:\n{s}"
    );
    assert_cooked(&marker);
}

/// `covtop --config FILE demo` previews that file's `[ui]` theme and `[keys]`: the light theme's
/// selection colour is on screen (not the dark one's) and the remapped quit key quits.
#[test]
fn the_demo_takes_the_theme_and_keys_of_the_given_config() {
    if !common::have_tool("tmux", "-V") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("look.toml");
    std::fs::write(
        &config,
        "[ui]\ntheme = \"light\"\n\n[keys]\nquit = [\"x\"]\n",
    )
    .unwrap();
    let command = format!(
        "{} --config {} demo; echo COVTOP-EXITED; sleep 60",
        env!("CARGO_BIN_EXE_covtop"),
        config.display()
    );
    let term = Tmux::start("covtop-e2e-demo-look", 120, 40, &command);
    term.wait_for("the demo screen", Duration::from_secs(20), |s| {
        s.contains("DEMO") && s.contains("changed files")
    });
    // The selected tree row: Theme::Light's background, not Theme::Dark's.
    let coloured = term.screen_with_colours();
    assert!(
        coloured.contains("48;2;200;215;240") && !coloured.contains("48;2;50;60;80"),
        "light theme expected:\n{coloured}"
    );
    term.keys(&["q"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !term.screen().contains("COVTOP-EXITED"),
        "q is no longer quit"
    );
    term.keys(&["x"]);
    term.wait_for("x to quit", Duration::from_secs(10), |s| {
        s.contains("COVTOP-EXITED")
    });
    drop(term);
    // A config that cannot be read is an error naming it, not silently the defaults.
    let out = Command::new(env!("CARGO_BIN_EXE_covtop"))
        .args(["--config", "/nonexistent/look.toml", "demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/look.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The terminal's settings written by `stty -a` after covtop exited are cooked (not raw).
fn assert_cooked(marker: &Path) {
    let stty = std::fs::read_to_string(marker).unwrap();
    assert!(
        stty.split_whitespace().any(|w| w == "icanon")
            && stty.split_whitespace().any(|w| w == "echo"),
        "terminal left in raw mode: {stty}"
    );
}

#[test]
fn a_panic_restores_the_terminal_then_prints_the_panic() {
    if !common::have_tool("tmux", "-V") {
        assert!(!common::in_ci(), "tmux is needed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("after-panic.txt");
    // A debug build panics once its first frame is drawn when COVTOP_TEST_PANIC is set.
    let command = format!(
        "COVTOP_TEST_PANIC=1 RUST_BACKTRACE=0 {} demo; echo \"exit=$?\" > {m}.code; stty -a > {m}; echo COVTOP-EXITED; sleep 60",
        env!("CARGO_BIN_EXE_covtop"),
        m = marker.display()
    );
    let term = Tmux::start("covtop-e2e-panic", 120, 40, &command);
    let s = term.wait_for(
        "covtop to exit on its panic",
        Duration::from_secs(30),
        |s| s.contains("COVTOP-EXITED"),
    );
    // The panic is printed on the normal screen, readable, after the screen was left.
    assert!(s.contains("COVTOP_TEST_PANIC is set"), "{s}");
    assert!(
        !s.contains("changed files"),
        "the alternate screen is gone:\n{s}"
    );
    let code = std::fs::read_to_string(format!("{}.code", marker.display())).unwrap();
    assert_eq!(code.trim(), "exit=101");
    // Neither on the alternate screen nor capturing the mouse any more.
    assert_eq!(alternate_and_mouse(&term), "0 0");
    assert_cooked(&marker);
}

/// tmux's view of the pane: is it on the alternate screen, does it capture the mouse.
fn alternate_and_mouse(term: &Tmux) -> String {
    let flags = Command::new("tmux")
        .args([
            "display-message",
            "-p",
            "-t",
            &term.pane(),
            "#{alternate_on} #{mouse_any_flag}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&flags.stdout).trim().to_string()
}

/// `o` at 80×24: the screen is left (cooked terminal, no alternate screen, no mouse capture)
/// while `$EDITOR` runs on the working-tree file at the cursor's line, and comes back, keys
/// working, when it exits. Without an editor it says which variable to set.
#[test]
fn o_suspends_the_screen_for_the_editor_and_comes_back() {
    if !common::have_tool("tmux", "-V") {
        assert!(!common::in_ci(), "tmux is needed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = tmp.path().join("editor-args.txt");
    let stty = tmp.path().join("editor-stty.txt");
    let editor = tmp.path().join("editor.sh");
    // Stands for the editor: notes what it was given and the terminal's mode, waits for a line.
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {a}\nstty -a > {s}\necho FAKE-EDITOR-RUNNING\nread line\n",
            a = args.display(),
            s = stty.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let command = format!(
        "VISUAL= EDITOR='{}' {} demo; echo COVTOP-EXITED; sleep 60",
        editor.display(),
        env!("CARGO_BIN_EXE_covtop"),
    );
    let term = Tmux::start("covtop-e2e-editor", 80, 24, &command);
    term.wait_for("the demo screen", Duration::from_secs(20), |s| {
        s.contains("DEMO")
    });
    assert_eq!(alternate_and_mouse(&term), "1 1");
    // To the source, three lines down, then o.
    term.keys(&["2", "j", "j", "j", "o"]);
    term.wait_for("the editor", Duration::from_secs(10), |s| {
        s.contains("FAKE-EDITOR-RUNNING") && !s.contains("DEMO")
    });
    assert_eq!(alternate_and_mouse(&term), "0 0", "the screen is left");
    assert_cooked(&stty);
    let given = std::fs::read_to_string(&args).unwrap();
    let given: Vec<&str> = given.lines().collect();
    assert_eq!(given.len(), 2, "{given:?}");
    let line: u32 = given[0]
        .strip_prefix('+')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("+line expected: {given:?}"));
    assert!(line >= 1);
    let file = Path::new(given[1]);
    assert!(file.is_file(), "a working-tree file: {file:?}");
    // The editor exits: the screen is back and takes keys.
    term.keys(&["Enter"]);
    term.wait_for("the screen back", Duration::from_secs(10), |s| {
        s.contains("DEMO")
    });
    assert_eq!(alternate_and_mouse(&term), "1 1", "the screen is back");
    term.keys(&["L"]);
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    term.wait_for("the log names the return", Duration::from_secs(10), |s| {
        s.contains("back from the editor") && s.contains(&format!("{name}:{line}"))
    });
    // ctrl-c in the editor ends the editor, not covtop (which shares its terminal).
    term.keys(&["Escape", "o"]);
    term.wait_for("the editor again", Duration::from_secs(10), |s| {
        s.contains("FAKE-EDITOR-RUNNING") && !s.contains("DEMO")
    });
    term.keys(&["C-c"]);
    let s = term.wait_for("the screen back", Duration::from_secs(10), |s| {
        s.contains("DEMO") || s.contains("COVTOP-EXITED")
    });
    assert!(
        !s.contains("COVTOP-EXITED"),
        "ctrl-c in the editor ended covtop:\n{s}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!term.screen().contains("COVTOP-EXITED"));
    term.keys(&["q"]);
    term.wait_for("q to quit", Duration::from_secs(10), |s| {
        s.contains("COVTOP-EXITED")
    });
    drop(term);

    // No editor set: the screen stays and says what to set.
    let command = format!(
        "VISUAL= EDITOR= {} demo; echo COVTOP-EXITED; sleep 60",
        env!("CARGO_BIN_EXE_covtop"),
    );
    let term = Tmux::start("covtop-e2e-no-editor", 80, 24, &command);
    term.wait_for("the demo screen", Duration::from_secs(20), |s| {
        s.contains("DEMO")
    });
    term.keys(&["o", "L"]);
    term.wait_for("the message", Duration::from_secs(10), |s| {
        s.contains("no editor is set") && s.contains("DEMO")
    });
    assert_eq!(alternate_and_mouse(&term), "1 1");
}
