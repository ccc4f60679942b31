//! What keys, mouse and Views do to the monitor, driven headless.

mod tui_support;

use covtop::engine::{Command, Notice};
use covtop::model::View;
use covtop::tui::{Action, App, Focus, KeyMap, KeyMapError, Theme};
use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tui_support::*;

fn view_with(f: impl FnOnce(&mut View)) -> Arc<View> {
    let mut v = (*view(1)).clone();
    f(&mut v);
    Arc::new(v)
}

#[test]
fn keys_produce_engine_commands() {
    let mut app = app(Theme::Dark);
    assert_eq!(press(&mut app, "d"), vec![Command::Dump]);
    assert_eq!(press(&mut app, "m"), vec![Command::Mark]);
    // A second m clears the mark, a third sets it again.
    assert_eq!(press(&mut app, "m"), vec![Command::Unmark]);
    assert_eq!(press(&mut app, "m"), vec![Command::Mark]);
    assert_eq!(press(&mut app, "p"), vec![Command::Pause(true)]);
    // The request shows before the engine confirms it, and a second press resumes.
    assert!(app.is_paused());
    assert_eq!(press(&mut app, "p"), vec![Command::Pause(false)]);
    assert_eq!(
        press(&mut app, "+"),
        vec![Command::SetInterval(Duration::from_secs(4))]
    );
    assert_eq!(
        press(&mut app, "-"),
        vec![Command::SetInterval(Duration::from_secs(2))]
    );
    assert_eq!(
        press(&mut app, "-"),
        vec![Command::SetInterval(Duration::from_secs(1))]
    );
    assert!(!app.should_quit());
    assert_eq!(press(&mut app, "q"), vec![Command::Quit]);
    assert!(app.should_quit());
}

#[test]
fn interval_stays_within_250ms_and_10min() {
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view_with(|v| v.interval = Duration::from_millis(300)));
    assert_eq!(
        press(&mut app, "-"),
        vec![Command::SetInterval(Duration::from_millis(250))]
    );
    assert_eq!(press(&mut app, "-"), vec![], "already at the floor");
    app.on_view(view_with(|v| v.interval = Duration::from_secs(400)));
    assert_eq!(
        press(&mut app, "+"),
        vec![Command::SetInterval(Duration::from_secs(600))]
    );
    assert_eq!(press(&mut app, "+"), vec![], "already at the ceiling");
}

#[test]
fn reset_asks_first_and_only_y_confirms() {
    let mut app = app(Theme::Dark);
    assert_eq!(press(&mut app, "r"), vec![]);
    assert_eq!(app.popup_titles(), vec!["reset coverage?"]);
    // Anything but y cancels, even a key bound to an action.
    assert_eq!(press(&mut app, "d"), vec![]);
    assert!(app.popup_titles().is_empty());
    press(&mut app, "r");
    assert_eq!(app.handle_event(key(KeyCode::Enter)), vec![]);
    assert!(app.popup_titles().is_empty());
    press(&mut app, "r");
    assert_eq!(
        press(&mut app, "y"),
        vec![Command::Reset { targets: vec![] }]
    );
    assert!(app.popup_titles().is_empty());
}

#[test]
fn export_sends_the_chosen_format_and_typed_path() {
    let mut app = app(Theme::Dark);
    press(&mut app, "e");
    // Every format the command line writes is offered, HTML first.
    let t = render(&mut app, 110, 30);
    for f in covtop::report::Format::ALL {
        assert!(
            find_row(&t, &format!(" {} ", f.name())).is_some(),
            "{f} is not offered"
        );
    }
    let sent = app.handle_event(key(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![Command::Export {
            format: covtop::report::Format::Html,
            path: "covtop-html".into(),
            progress: covtop::report::Progress::default(),
        }]
    );
    // It runs beside the screen: the footer says so until the engine answers, however long.
    app.tick(Instant::now() + Duration::from_secs(60));
    let t = render(&mut app, 110, 30);
    assert!(
        row_text(&t, 29).contains("⧗ exporting html to covtop-html…"),
        "{}",
        row_text(&t, 29)
    );
    // The writer counts the files it writes through the command's progress; the footer shows
    // them, and a tick redraws when they move.
    let Some(Command::Export { progress, .. }) = sent.first() else {
        unreachable!()
    };
    assert!(!app.tick(Instant::now()), "nothing moved");
    progress.set_total(5001);
    progress.advance(1200);
    assert!(app.tick(Instant::now()), "the count moved: redraw");
    let t = render(&mut app, 110, 30);
    assert!(
        row_text(&t, 29).contains("⧗ exporting html to covtop-html… 1200/5001"),
        "{}",
        row_text(&t, 29)
    );
    app.on_notice(Notice::Info(
        "exported html to covtop-html/index.html (5 file pages)".into(),
    ));
    assert!(app.exports_running().is_empty());
    let t = render(&mut app, 110, 30);
    assert!(row_text(&t, 29).contains("exported html to covtop-html/index.html"));
    press(&mut app, "e");
    for _ in 0..3 {
        app.handle_event(key(KeyCode::Down));
    }
    for _ in 0.."covtop-report.md".len() {
        app.handle_event(key(KeyCode::Backspace));
    }
    // Keys bound to actions are text here.
    press(&mut app, "out/q.md");
    assert_eq!(
        app.handle_event(key(KeyCode::Enter)),
        vec![Command::Export {
            format: covtop::report::Format::Markdown,
            path: "out/q.md".into(),
            progress: covtop::report::Progress::default(),
        }]
    );
    press(&mut app, "e");
    assert_eq!(app.handle_event(key(KeyCode::Esc)), vec![]);
    assert!(app.popup_titles().is_empty());
}

#[test]
fn popups_stack_and_close_top_first() {
    let mut app = app(Theme::Dark);
    press(&mut app, "r");
    // Help cannot open over the reset dialog by key (the dialog takes every key), but a notice
    // arrives meanwhile and the messages popup opens afterwards.
    app.on_notice(Notice::Info("snapshot stored at /tmp/s/0001.cov".into()));
    press(&mut app, "x");
    assert!(app.popup_titles().is_empty(), "x cancelled the reset");
    press(&mut app, "D?");
    assert_eq!(app.popup_titles(), vec!["diagnostics", "help"]);
    press(&mut app, "?");
    assert_eq!(app.popup_titles(), vec!["diagnostics"]);
    app.handle_event(key(KeyCode::Esc));
    press(&mut app, "L");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "info: snapshot stored at /tmp/s/0001.cov").is_some());
    app.handle_event(key(KeyCode::Esc));
    assert!(app.popup_titles().is_empty());
}

#[test]
fn footer_hints_come_from_the_help_table() {
    let mut overrides = BTreeMap::new();
    overrides.insert("dump".to_string(), vec!["ctrl-d".to_string()]);
    overrides.insert(
        "next-missed".to_string(),
        vec!["x".to_string(), "n".to_string()],
    );
    let keymap = KeyMap::with_overrides(&overrides).expect("valid overrides");
    for focus_source in [false, true] {
        let mut cfg = config(Theme::Dark);
        cfg.keymap = keymap.clone();
        let mut app = App::new(cfg, sources());
        app.on_view(view(1));
        if focus_source {
            app.handle_event(key(KeyCode::Tab));
        }
        let help = app.keymap().help_rows();
        let hints = app.footer_hints();
        assert!(!hints.is_empty());
        for (key, label) in &hints {
            let row = help
                .iter()
                .find(|r| {
                    r.keys.split(", ").next() == Some(key.as_str())
                        && Action::spec(r.action).hint == Some(label)
                })
                .unwrap_or_else(|| {
                    panic!("footer hint {key} {label} is not in the help table: {help:?}")
                });
            // And the key really does that action.
            assert_eq!(app.keymap().keys(row.action)[0].to_string(), *key);
        }
        // The footer on screen shows exactly those hints.
        let t = render(&mut app, 400, 30);
        let footer = row_text(&t, 29);
        let expected: String = hints.iter().map(|(k, l)| format!(" {k} {l} ")).collect();
        assert_eq!(footer.trim_end(), expected.trim_end());
    }
    // The remapped key works and the old one no longer does.
    let mut cfg = config(Theme::Dark);
    cfg.keymap = keymap;
    let mut app = App::new(cfg, sources());
    app.on_view(view(1));
    assert_eq!(app.handle_event(ctrl('d')), vec![Command::Dump]);
    assert_eq!(press(&mut app, "d"), vec![]);
    assert!(app.footer_hints().contains(&("ctrl-d".to_string(), "dump")));
}

#[test]
fn keymap_overrides_give_clear_errors() {
    let bad = |action: &str, keys: &[&str]| {
        let mut m = BTreeMap::new();
        m.insert(
            action.to_string(),
            keys.iter().map(|k| k.to_string()).collect(),
        );
        KeyMap::with_overrides(&m).expect_err("should be rejected")
    };
    let e = bad("dump", &["ctrl-pgdwn"]);
    assert!(matches!(&e, KeyMapError::BadKey { key, .. } if key == "ctrl-pgdwn"));
    let msg = e.to_string();
    assert!(
        msg.contains("\"ctrl-pgdwn\"") && msg.contains("dump"),
        "{msg}"
    );
    let e = bad("explode", &["x"]);
    assert!(
        e.to_string().contains("\"explode\"") && e.to_string().contains("dump"),
        "{e}"
    );
    let e = bad("dump", &["q"]);
    assert_eq!(
        e,
        KeyMapError::Conflict {
            key: "q".into(),
            first: "quit".into(),
            second: "dump".into()
        }
    );
    assert!(e.to_string().contains("\"q\""), "{e}");
    let e = bad("dump", &[]);
    assert!(matches!(e, KeyMapError::NoKeys { .. }));
    // Moving quit away frees q for another action.
    let mut m = BTreeMap::new();
    m.insert("quit".to_string(), vec!["ctrl-q".to_string()]);
    m.insert(
        "dump".to_string(),
        vec!["q".to_string(), "J".to_string(), "pgdown".to_string()],
    );
    let e = KeyMap::with_overrides(&m).expect_err("J is free but pgdown is page-down");
    assert!(e.to_string().contains("pgdown"), "{e}");
    m.insert("dump".to_string(), vec!["q".to_string(), "J".to_string()]);
    assert!(KeyMap::with_overrides(&m).is_ok());
}

#[test]
fn selection_survives_a_new_view() {
    let mut app = app(Theme::Dark);
    press(&mut app, "jj");
    assert_eq!(
        app.selected_key().as_deref(),
        Some("internal/store/memory.go")
    );
    // A new View adds a changed file that sorts before it: the row index moves, the selection not.
    let v = view_with(|v| {
        let mut extra = cart(1);
        extra.path = "aaa/first.go".into();
        v.files.insert(0, extra);
        v.generation = 2;
    });
    app.on_view(v);
    assert_eq!(
        app.selected_key().as_deref(),
        Some("internal/store/memory.go")
    );
    assert_eq!(app.source_cursor().map(|(p, _)| p), Some(MEMORY));
    // The source scroll and cursor stay too.
    app.handle_event(key(KeyCode::Tab));
    press(&mut app, "j");
    let before = app.source_cursor().map(|(p, l)| (p.to_string(), l));
    app.on_view(view(3));
    assert_eq!(app.source_cursor().map(|(p, l)| (p.to_string(), l)), before);
}

#[test]
fn n_and_shift_n_walk_missed_changed_lines() {
    let mut app = app(Theme::Dark);
    press(&mut app, "/pricing");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    // Opening a file starts on its first changed line that did not fully run.
    assert_eq!(app.source_cursor(), Some((PRICING, 8)));
    let mut seen = vec![];
    for _ in 0..4 {
        press(&mut app, "n");
        seen.push(app.source_cursor().map_or(0, |c| c.1));
    }
    // 15 is partial, 18 and 19 missed, then it wraps to 8.
    assert_eq!(seen, vec![15, 18, 19, 8]);
    press(&mut app, "N");
    assert_eq!(app.source_cursor(), Some((PRICING, 19)));
    press(&mut app, "NN");
    assert_eq!(app.source_cursor(), Some((PRICING, 15)));
}

#[test]
fn next_file_with_misses_skips_fully_covered_files() {
    let mut app = app(Theme::Dark);
    assert_eq!(app.selected_key().as_deref(), Some(CART));
    let mut order = vec![];
    for _ in 0..4 {
        press(&mut app, "]");
        order.push(app.selected_key().unwrap_or_default());
    }
    assert_eq!(order, vec![MEMORY, PRICING, CART_SERVICE, MEMORY]);
    // It lands on the file's first missed changed line.
    assert_eq!(app.source_cursor(), Some((MEMORY, 5)));
}

#[test]
fn mouse_click_selects_a_row_and_focuses_panes() {
    let mut app = app(Theme::Dark);
    let t = render(&mut app, 110, 30);
    let row = find_row(&t, "pricing.go").expect("row on screen");
    app.handle_event(click(5, row));
    settle(&mut app);
    assert_eq!(app.selected_key().as_deref(), Some(PRICING));
    assert_eq!(app.source_cursor().map(|c| c.0), Some(PRICING));
    assert_eq!(app.focus(), Focus::Tree);
    // A click in the source focuses it and puts the cursor on the clicked line.
    let t = render(&mut app, 110, 30);
    let line_row = find_row(&t, "func unused() int").expect("line 18 on screen");
    app.handle_event(click(80, line_row));
    assert_eq!(app.focus(), Focus::Source);
    assert_eq!(app.source_cursor(), Some((PRICING, 18)));
    // Clicking a folder twice collapses it.
    let t = render(&mut app, 110, 30);
    let folder = find_row(&t, "▾ cart/").expect("folder row");
    app.handle_event(click(5, folder));
    app.handle_event(click(5, folder));
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "▸ cart/").is_some());
    assert!(find_row(&t, "cart.go ").is_none());
    // The frame of a pane is not a row.
    let before = app.selected_key();
    app.handle_event(click(5, 28));
    assert_eq!(
        app.selected_key(),
        before,
        "a click on the bottom border selects nothing"
    );
    // The wheel scrolls the pane under the pointer.
    app.handle_event(wheel_down(80, line_row));
    assert_eq!(
        app.source_cursor(),
        Some((PRICING, 20)),
        "clamped to the last line"
    );
}

#[test]
fn changed_only_and_all_files() {
    let mut app = app(Theme::Dark);
    let t = render(&mut app, 110, 30);
    assert!(
        find_row(&t, "api.go").is_none(),
        "api.go has no changed lines"
    );
    press(&mut app, "c");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "api.go").is_some());
    // The finder reaches a file hidden by the changed-only filter and switches the filter.
    press(&mut app, "c");
    press(&mut app, "/api.go");
    app.handle_event(key(KeyCode::Enter));
    assert_eq!(app.selected_key().as_deref(), Some(API));
}

#[test]
fn newly_hit_lines_flash_then_fade() {
    let mut app = app(Theme::Dark);
    press(&mut app, "/pricing");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    app.on_view(view(2));
    let t = render(&mut app, 110, 30);
    let row = find_row(&t, "func Tier").expect("line 14");
    assert!(row_text(&t, row).contains("»"));
    let tree_row = find_row(&t, "│  pricing.go").expect("tree row");
    assert!(
        row_text(&t, tree_row).contains("●"),
        "tree marks the file with new hits"
    );
    assert!(
        app.tick(Instant::now() + Duration::from_secs(61)),
        "expiry redraws"
    );
    let t = render(&mut app, 110, 30);
    let row = find_row(&t, "func Tier").expect("line 14");
    assert!(!row_text(&t, row).contains("»"));
    // The tree marker stays while the View says the file was newly hit.
    assert!(row_text(&t, find_row(&t, "│  pricing.go").expect("row")).contains("●"));
}

#[test]
fn uncovered_go_columns_are_marked_on_partial_lines() {
    let mut app = app(Theme::Dark);
    press(&mut app, "/pricing");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    let t = render(&mut app, 140, 30);
    let y = find_row(&t, "return \"silver\"").expect("line 15");
    let text = row_text(&t, y);
    let buf = t.backend().buffer();
    let chars: Vec<char> = text.chars().collect();
    let find = |needle: &str| {
        let at = text.find(needle).expect("on the row");
        text[..at].chars().count() as u16
    };
    let silver = find("return \"silver\"");
    let gold = find("return \"gold\"");
    assert!(chars.len() > silver as usize);
    for x in silver..silver + 15 {
        assert!(
            buf[(x, y)].modifier.contains(Modifier::UNDERLINED),
            "silver col {x} not marked"
        );
    }
    for x in gold..gold + 13 {
        assert!(
            !buf[(x, y)].modifier.contains(Modifier::UNDERLINED),
            "gold col {x} marked but it ran"
        );
    }
    // A fully missed line is not underlined: the gutter says it all.
    let y8 = find_row(&t, "percent out of range").expect("line 8");
    assert!((60..100).all(|x| !buf[(x, y8)].modifier.contains(Modifier::UNDERLINED)));
}

#[test]
fn no_color_uses_no_colour_at_all() {
    let mut app = app(Theme::NoColor);
    app.on_view(view(2));
    for keys in ["", "?", "r", "D", "e", "/c"] {
        press(&mut app, keys);
        let t = render(&mut app, 110, 30);
        let buf = t.backend().buffer();
        for c in &buf.content {
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "colour after {keys:?}"
            );
        }
        app.handle_event(key(KeyCode::Esc));
    }
    assert_eq!(Theme::Dark.honour_no_color(Some("1")), Theme::NoColor);
    assert_eq!(Theme::Light.honour_no_color(Some("")), Theme::Light);
    assert_eq!(Theme::Light.honour_no_color(None), Theme::Light);
}

#[test]
fn java_lines_never_show_a_count() {
    let mut app = app(Theme::Dark);
    press(&mut app, "G");
    let t = render(&mut app, 110, 30);
    for needle in ["int sum = 0;", "for (Item i", "cart.clear();"] {
        let row = row_text(&t, find_row(&t, needle).expect(needle));
        let gutter: String = row.split('│').nth(2).unwrap_or("").to_string();
        assert!(
            !gutter.chars().skip(4).any(|c| c.is_ascii_digit()),
            "a count in {gutter:?}"
        );
    }
}

#[test]
fn frozen_screen_holds_still_and_catches_up() {
    let mut app = app(Theme::Dark);
    press(&mut app, "f");
    app.on_view(view(5));
    assert_eq!(app.view().generation, 1);
    assert!(app.is_frozen());
    press(&mut app, "f");
    assert_eq!(app.view().generation, 5);
}

#[test]
fn sources_that_fail_or_are_missing_are_reported_in_the_pane() {
    struct Failing;
    impl covtop::model::SourceStore for Failing {
        fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
            if path == CART {
                Err("object 4f2a9c1 is corrupt".into())
            } else {
                Ok(None)
            }
        }
    }
    let mut app = App::new(config(Theme::Dark), Arc::new(Failing));
    app.on_view(view(1));
    settle(&mut app);
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "object 4f2a9c1 is corrupt").is_some());
    // Named in the messages log too, once however often the file is opened.
    press(&mut app, "jk");
    settle(&mut app);
    let named: Vec<_> = app
        .messages()
        .iter()
        .filter(|m| {
            m.error && m.text == format!("cannot read the source {CART}: object 4f2a9c1 is corrupt")
        })
        .collect();
    assert_eq!(named.len(), 1, "{:?}", app.messages());
    press(&mut app, "jj");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "is not in the deployed revision").is_some());
}

/// With `working_tree = true` the screen reads the checkout: a file over the source size limit
/// (sparse: no disk used) is named in the pane and the messages log, never read.
#[test]
fn an_oversized_working_tree_file_is_named_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cart")).unwrap();
    std::fs::File::create(dir.path().join(CART))
        .unwrap()
        .set_len(covtop::vcs::MAX_SOURCE_BYTES + 1)
        .unwrap();
    let store = covtop::vcs::WorktreeSources::new(dir.path());
    let mut app = App::new(config(Theme::Dark), Arc::new(store));
    app.on_view(view(1));
    settle(&mut app);
    let t = render(&mut app, 140, 30);
    let why = "33554433 bytes, more than covtop reads";
    assert!(find_row(&t, why).is_some(), "the pane says why");
    assert!(
        app.messages()
            .iter()
            .any(|m| m.error && m.text.contains(CART) && m.text.contains(why)),
        "{:?}",
        app.messages()
    );
}

#[test]
fn resize_and_tiny_terminals_do_not_panic() {
    let mut app = app(Theme::Dark);
    for (w, h) in [(1, 1), (10, 3), (30, 8), (200, 60), (49, 20), (50, 20)] {
        press(&mut app, "?");
        render(&mut app, w, h);
        app.handle_event(key(KeyCode::Esc));
        render(&mut app, w, h);
        press(&mut app, "/x");
        render(&mut app, w, h);
        app.handle_event(key(KeyCode::Esc));
    }
}

#[test]
fn sources_are_read_off_the_ui_thread() {
    use std::sync::Mutex;
    use std::sync::mpsc;
    /// A store that blocks until the test lets it answer, like a slow git object read.
    struct Gate(Mutex<mpsc::Receiver<()>>);
    impl covtop::model::SourceStore for Gate {
        fn source(&self, _: &str) -> Result<Option<Arc<[u8]>>, String> {
            let _ = self.0.lock().map(|rx| rx.recv());
            Ok(Some(Arc::from(CART_GO.as_bytes())))
        }
    }
    let (open, gate) = mpsc::channel();
    let mut app = App::new(config(Theme::Dark), Arc::new(Gate(Mutex::new(gate))));
    // None of this waits for the blocked store.
    app.on_view(view(1));
    app.tick(Instant::now());
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "reading…").is_some());
    assert!(
        !app.settle(Duration::from_millis(50)),
        "nothing can have been read yet"
    );
    open.send(()).expect("worker alive");
    settle(&mut app);
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "type Cart struct").is_some());
}

#[test]
fn demo_and_paused_states_show_in_the_header() {
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view_with(|v| {
        v.demo = true;
        v.paused = true;
    }));
    let t = render(&mut app, 110, 30);
    let header = row_text(&t, 0);
    assert!(header.contains(" DEMO "), "{header}");
    assert!(header.contains("paused"), "{header}");
    // p resumes: the engine's View said paused.
    assert_eq!(press(&mut app, "p"), vec![Command::Pause(false)]);
}

#[test]
fn lines_newly_hit_since_a_mark_flash_once() {
    let mut app = app(Theme::Dark);
    press(&mut app, "/pricing");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    app.on_view(view(2));
    assert!(app.tick(Instant::now() + Duration::from_secs(61)));
    // The engine repeats the same newly hit lines (measured from a mark): no second flash.
    app.on_view(view(3));
    let t = render(&mut app, 110, 30);
    assert!(!row_text(&t, find_row(&t, "func Tier").expect("line 14")).contains("»"));
}

#[test]
fn a_panicking_source_store_costs_the_file_not_the_screen() {
    struct Panics;
    impl covtop::model::SourceStore for Panics {
        fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
            if path == CART {
                panic!("store bug");
            }
            Ok(Some(Arc::from(MEMORY_GO.as_bytes())))
        }
    }
    let mut app = App::new(config(Theme::Dark), Arc::new(Panics));
    app.on_view(view(1));
    settle(&mut app);
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "the source store failed").is_some());
    // The worker lives on.
    press(&mut app, "jj");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "func Put").is_some());
}

/// The header rows: everything above the panes' top border.
fn header_rows(t: &ratatui::Terminal<ratatui::backend::TestBackend>) -> Vec<String> {
    let h = t.backend().buffer().area.height;
    (0..h)
        .map(|y| row_text(t, y))
        .take_while(|r| !r.starts_with('┌'))
        .collect()
}

/// Replica chips shown (by their state glyph) and replicas counted in `+N more` chips.
fn shown_and_hidden(rows: &[String]) -> (usize, usize) {
    let text = rows[1..].join("\n");
    let shown = text.matches(['●', '◐', '✗', '○']).count();
    let hidden = text
        .split('+')
        .skip(1)
        .filter_map(|s| {
            let (n, rest) = s.split_once(' ')?;
            rest.starts_with("more (D)")
                .then(|| n.parse::<usize>().ok())?
        })
        .sum();
    (shown, hidden)
}

#[test]
fn the_header_shows_every_replica_and_leaves_errors_to_the_diagnostics() {
    let view = many_replicas_view();
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let mut app = App::new(config(Theme::Dark), sources());
        app.on_view(view.clone());
        let t = render(&mut app, w, h);
        let rows = header_rows(&t);
        let header = rows.join("\n");
        for target in &view.targets {
            assert!(
                header.contains(&target.name),
                "{w}x{h}: {}\n{header}",
                target.name
            );
            for r in &target.replicas {
                assert!(header.contains(&r.id), "{w}x{h}: {}\n{header}", r.id);
            }
        }
        assert_eq!(shown_and_hidden(&rows), (12, 0), "{w}x{h}:\n{header}");
        assert!(
            rows.len() <= h as usize / 3,
            "{w}x{h}: at most a third of the screen, got {} rows",
            rows.len()
        );
        // A down replica says only "down"; what went wrong is in the diagnostics panel.
        assert!(header.contains("10.0.0.8:7777 down 2m"), "{header}");
        assert!(header.contains("service payments down"), "{header}");
        assert!(header.contains("10.0.2.12:7778 gone 10m"), "{header}");
        for needle in ["refused", "not registered", "connection reset"] {
            assert!(!header.contains(needle), "{w}x{h}: {needle}\n{header}");
        }
        press(&mut app, "D");
        let t = render(&mut app, w, h);
        assert!(find_row(&t, "connection refused").is_some(), "{w}x{h}");
        assert!(find_row(&t, "is not registered").is_some(), "{w}x{h}");
    }
}

#[test]
fn replicas_that_do_not_fit_the_header_are_counted_not_dropped() {
    // Six targets of four replicas at 80x24: the header keeps to a third of the screen, every
    // target keeps a row, and each replica is either shown or counted in a `+N more (D)` chip.
    let mut targets = many_replicas();
    targets.extend(many_replicas().into_iter().map(|mut t| {
        t.name = format!("{}-eu", t.name);
        t
    }));
    let six = view_with(|v| v.targets = targets.clone());
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(six);
    let t = render(&mut app, 80, 24);
    let rows = header_rows(&t);
    let header = rows.join("\n");
    assert!(rows.len() <= 8, "{header}");
    for target in &targets {
        assert!(header.contains(&format!(" {} (", target.name)), "{header}");
    }
    let (shown, hidden) = shown_and_hidden(&rows);
    assert!(hidden > 0, "{header}");
    assert_eq!(shown + hidden, 24, "{header}");

    // More targets than rows: the last row counts the targets left out, with their replicas.
    let mut twelve = targets.clone();
    twelve.extend(targets.iter().cloned().map(|mut t| {
        t.name = format!("{}-us", t.name);
        t
    }));
    app.on_view(view_with(|v| v.targets = twelve.clone()));
    let t = render(&mut app, 80, 24);
    let rows = header_rows(&t);
    assert!(rows.len() <= 8, "{rows:#?}");
    let last = rows.last().unwrap();
    assert!(
        last.contains(&format!("+{} more targets", 12 - (rows.len() - 2))),
        "{rows:#?}"
    );
}

#[test]
fn long_replica_ids_are_cut_from_the_left_keeping_the_port() {
    let long = "http://shop-7d9f8b6c5-x2x9q.shop-staging.svc.cluster.local:7778";
    let mut targets = many_replicas();
    targets[1].replicas[0].id = long.into();
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view_with(|v| v.targets = targets.clone()));
    let t = render(&mut app, 80, 24);
    let header = header_rows(&t).join("\n");
    assert!(!header.contains(long), "{header}");
    let tail = &long[long.len() - 20..];
    let row = header
        .lines()
        .find(|r| r.contains(&format!("{tail} up")))
        .unwrap_or_else(|| panic!("the id's end with its port:\n{header}"));
    assert!(row.contains("● …"), "cut on the left: {row}");
    assert!(
        header.contains("10.0.2.14:7778"),
        "the next replica still shows:\n{header}"
    );
}

/// An App showing the inventory file (a long path, a line wider than the screen), focus on the source.
fn inventory_app(w: u16, h: u16) -> App {
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(long_path_view());
    press(&mut app, "/InventoryServ");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    app.resize(w, h);
    assert_eq!(app.focus(), Focus::Source);
    assert_eq!(app.source_cursor(), Some((INVENTORY, 5)));
    app
}

#[test]
fn long_lines_scroll_sideways() {
    let mut app = inventory_app(80, 24);
    let t = render(&mut app, 80, 24);
    assert!(find_row(&t, "END_OF_LINE_MARKER").is_none(), "cut at first");
    press(&mut app, "l");
    assert_eq!(app.source_column(), 8);
    app.handle_event(key(KeyCode::Right));
    assert_eq!(app.source_column(), 16);
    app.handle_event(key(KeyCode::End));
    let t = render(&mut app, 80, 24);
    let row = find_row(&t, "END_OF_LINE_MARKER;").expect("the end of the line after End");
    // The gutter stays put: the line number is still at the left.
    assert!(
        row_text(&t, row).contains("  5     - ✗+"),
        "{}",
        row_text(&t, row)
    );
    assert!(
        find_row(&t, "· col ").is_some(),
        "the title says the source is scrolled"
    );
    // No further than the end of the widest line.
    let end = app.source_column();
    press(&mut app, "l");
    assert_eq!(app.source_column(), end);
    app.handle_event(key(KeyCode::Home));
    assert_eq!(app.source_column(), 0);
    // At the first column, left goes back to the tree; the tree stays where it was.
    press(&mut app, "h");
    assert_eq!(app.focus(), Focus::Tree);
    assert_eq!(app.selected_key().as_deref(), Some(INVENTORY));
    // Another file starts at the first column again.
    app.handle_event(key(KeyCode::Tab));
    press(&mut app, "$");
    assert!(app.source_column() > 0);
    app.handle_event(key(KeyCode::Tab));
    press(&mut app, "jj");
    assert_eq!(app.source_cursor().map(|(p, _)| p), Some(PRICING));
    assert_eq!(app.source_column(), 0);
}

#[test]
fn zoom_and_pane_widths() {
    let mut app = inventory_app(120, 40);
    let tree_width = |app: &mut App| {
        let t = render(app, 120, 40);
        let y = find_row(&t, "┌ changed files").expect("the tree");
        row_text(&t, y)
            .chars()
            .position(|c| c == '┐')
            .expect("its corner")
    };
    let before = tree_width(&mut app);
    assert_eq!(before, 47, "40% of 120 columns");
    press(&mut app, ">");
    assert!(tree_width(&mut app) > before);
    press(&mut app, "<<");
    assert!(tree_width(&mut app) < before);
    // z gives the focused pane (the source) the whole width, and z again gives it back.
    press(&mut app, "z");
    assert!(app.is_zoomed());
    let t = render(&mut app, 120, 40);
    assert!(find_row(&t, "┌ changed files").is_none());
    let title = find_row(&t, "InventoryService.java ·").expect("the source");
    assert!(row_text(&t, title).starts_with("┌ inventory/src/main/java/bookstore/inventory/"));
    press(&mut app, "z");
    assert!(find_row(&render(&mut app, 120, 40), "┌ changed files").is_some());
}

#[test]
fn left_and_right_fold_folders_and_move_between_panes() {
    let mut app = app(Theme::Dark);
    render(&mut app, 110, 30);
    assert_eq!(app.selected_key().as_deref(), Some(CART));
    press(&mut app, "h");
    assert_eq!(
        app.selected_key().as_deref(),
        Some("cart/"),
        "to the file's folder"
    );
    press(&mut app, "j");
    assert_eq!(app.selected_key().as_deref(), Some(CART));
    press(&mut app, "k");
    app.handle_event(key(KeyCode::Left));
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "▸ cart/").is_some(), "folded");
    assert!(find_row(&t, "│  cart.go").is_none());
    press(&mut app, "l");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "▾ cart/").is_some(), "unfolded");
    app.handle_event(key(KeyCode::Right));
    assert_eq!(app.selected_key().as_deref(), Some(CART), "into the folder");
    assert_eq!(app.focus(), Focus::Tree);
    press(&mut app, "l");
    assert_eq!(app.focus(), Focus::Source, "a file opens in the source");
}

#[test]
fn messages_stay_in_a_timestamped_log_and_show_together() {
    let mut app = app(Theme::Dark);
    app.on_notice(Notice::Info("reset shop-api: 2 replicas".into()));
    app.on_notice(Notice::Info("reset billing: 1 replica".into()));
    assert_eq!(
        app.status(),
        vec!["reset shop-api: 2 replicas", "reset billing: 1 replica"]
    );
    let t = render(&mut app, 140, 30);
    let footer = row_text(&t, 29);
    assert!(
        footer.contains("reset shop-api: 2 replicas · reset billing: 1 replica"),
        "{footer}"
    );
    // The border above the footer is whole: messages never cover a pane.
    assert!(row_text(&t, 28).starts_with("└──"), "{}", row_text(&t, 28));
    // They leave the footer after a while, not the log.
    assert!(app.tick(Instant::now() + Duration::from_secs(30)));
    assert!(app.status().is_empty());
    assert_eq!(app.messages().len(), 2);
    assert_eq!(app.messages()[0].at, now());
    press(&mut app, "L");
    let t = render(&mut app, 140, 30);
    // Newest first, each with its time (UTC).
    let newest = find_row(&t, "info: reset billing: 1 replica").expect("in the log");
    let oldest = find_row(&t, "info: reset shop-api: 2 replicas").expect("in the log");
    assert!(newest < oldest);
    assert!(
        row_text(&t, newest).contains("08:00:00 info"),
        "{}",
        row_text(&t, newest)
    );
}

#[test]
fn long_popups_use_the_height_and_say_there_is_more() {
    let mut app = app(Theme::Dark);
    press(&mut app, "?");
    let t = render(&mut app, 110, 24);
    let bottom = find_row(&t, "▼ 1–").expect("a scroll indicator");
    assert_eq!(bottom, 23, "the popup takes the whole height");
    press(&mut app, "G");
    let t = render(&mut app, 110, 24);
    assert!(find_row(&t, "▲ ").is_some());
    assert!(
        find_row(&t, "esc closes").is_some(),
        "the last row is reachable"
    );
    // While a popup is open, the footer lists its keys.
    assert!(app.footer_hints().contains(&("esc".to_string(), "close")));
}

/// A file no agent reported yet, and a first View where nothing has data: "no data", never `– 0/0`.
#[test]
fn files_without_data_say_so() {
    let only_no_data = view_with(|v| {
        for f in &mut v.files {
            f.coverage = None;
            let n = f.changed.as_ref().map_or(0, |c| c.lines.len() as u64);
            f.changed_counts = covtop::model::Counts {
                no_data: n,
                ..Default::default()
            };
        }
        v.totals.changed = v
            .files
            .iter()
            .fold(covtop::model::Counts::default(), |mut c, f| {
                c.merge(f.changed_counts);
                c
            });
    });
    for (w, h) in [(110, 30), (60, 20)] {
        let mut app = App::new(config(Theme::Dark), sources());
        app.on_view(only_no_data.clone());
        settle(&mut app);
        let t = render(&mut app, w, h);
        let row = find_row(&t, "│  cart.go").expect("cart.go in the tree");
        let text = row_text(&t, row);
        assert!(text.contains("no data"), "{w}: {text}");
        assert!(
            !text.contains("0/0") && !text.contains(" – "),
            "{w}: {text}"
        );
        assert!(
            row_text(&t, 0).contains("changed no data yet ("),
            "{}",
            row_text(&t, 0)
        );
        assert!(find_row(&t, "0/0").is_none(), "no 0/0 anywhere at {w}");
    }
    let t = render(&mut app_with(only_no_data), 110, 30);
    assert!(find_row(&t, "· no data yet for 2 changed lines").is_some());
}

fn app_with(view: Arc<View>) -> App {
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view);
    settle(&mut app);
    app
}

/// `?` explains every mark the screen draws and gives every action's name for `[keys]`.
#[test]
fn help_explains_every_mark_and_names_every_action() {
    let mut app = app(Theme::Dark);
    press(&mut app, "?");
    let mut help = String::new();
    // Read it page by page.
    for _ in 0..10 {
        let t = render(&mut app, 120, 30);
        for y in 0..30 {
            help.push_str(&row_text(&t, y));
            help.push('\n');
        }
        app.handle_event(key(KeyCode::PageDown));
    }
    for mark in [
        "✓ covered",
        "~ partial",
        "✗ missed",
        "· no code",
        "↻ carried",
        "+ the line is changed",
        "» newly hit",
        "hit / -",
        "● lines of the file ran",
        "no data",
        "● up ◐ slow ✗ down ○ gone",
        "e1 its epoch",
        "⟳ every",
        "⏸ paused",
        "FROZEN",
        "UNC",
    ] {
        assert!(help.contains(mark), "help does not explain {mark:?}");
    }
    for spec in covtop::tui::keymap::ACTIONS {
        assert!(
            help.contains(&format!("[{}]", spec.name)),
            "help does not name [{}]",
            spec.name
        );
    }
}

/// view(1) with a root-level Go file none of whose changed lines ran.
fn with_root_file() -> Arc<View> {
    view_with(|v| {
        v.files.push(root_file());
        v.files.sort_by(|a, b| a.path.cmp(&b.path));
    })
}

fn tree_rows(app: &mut App) -> Vec<String> {
    let t = render(app, 110, 30);
    (4..28)
        .map(|y| row_text(&t, y))
        .map(|r| r.split('│').nth(1).unwrap_or("").trim().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

#[test]
fn sorting_mixes_root_files_with_folders_shows_its_number_and_reverses() {
    let mut app = app_with(with_root_file());
    assert!(
        tree_rows(&mut app).last().unwrap().starts_with("main.go"),
        "by path: folders first"
    );
    press(&mut app, "s");
    let rows = tree_rows(&mut app);
    assert!(
        rows[0].starts_with("main.go"),
        "least covered first, root file included: {rows:?}"
    );
    press(&mut app, "s");
    // Most missed: the count it sorts by is the one shown.
    let rows = tree_rows(&mut app);
    let missed = |r: &String| -> u64 {
        let words: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(words.last(), Some(&"missed"), "{r}");
        words[words.len() - 2].parse().unwrap()
    };
    let main = rows
        .iter()
        .find(|r| r.starts_with("main.go"))
        .expect("main.go");
    assert_eq!(missed(main), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| missed(r) <= missed(&rows[0])),
        "{rows:?}"
    );
    // At 80×24 the tree has no room for the counts: the missed count takes the percent's place.
    let t = render(&mut app, 80, 24);
    let y = find_row(&t, "│main.go").unwrap();
    let row = row_text(&t, y);
    let cell = row.split('│').nth(1).unwrap().trim_end();
    assert!(cell.ends_with(" 2✗"), "{row}");
    assert!(!cell.contains('%'), "{row}");
    press(&mut app, "S");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "most missed, reversed").is_some());
    let rows = tree_rows(&mut app);
    assert!(
        rows[0].starts_with("▾ cart/"),
        "fewest misses first: {rows:?}"
    );
}

#[test]
fn the_tree_can_list_only_the_files_left_to_test() {
    let mut app = app(Theme::Dark);
    press(&mut app, "F");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "┌ files with misses").is_some());
    assert!(find_row(&t, "│  cart.go").is_none(), "cart.go ran fully");
    assert!(find_row(&t, "│  pricing.go").is_some());
    press(&mut app, "F");
    assert!(find_row(&render(&mut app, 110, 30), "│  cart.go").is_some());
}

#[test]
fn files_with_misses_go_both_ways_and_say_when_they_wrap() {
    let mut app = app(Theme::Dark);
    assert_eq!(app.selected_key().as_deref(), Some(CART));
    press(&mut app, "]");
    assert_eq!(app.selected_key().as_deref(), Some(MEMORY));
    press(&mut app, "[");
    let back = app.selected_key();
    assert!(
        app.status()
            .iter()
            .any(|s| s.contains("wrapped around to the last")),
        "{:?}",
        app.status()
    );
    assert_eq!(
        back.as_deref(),
        Some(CART_SERVICE),
        "the last file with misses"
    );
    press(&mut app, "]");
    assert!(
        app.status()
            .iter()
            .any(|s| s.contains("wrapped around to the first")),
        "{:?}",
        app.status()
    );
    assert_eq!(app.selected_key().as_deref(), Some(MEMORY));
}

#[test]
fn small_keys_a_tui_user_expects() {
    let mut app = app(Theme::Dark);
    // Number keys pick a pane.
    press(&mut app, "2");
    assert_eq!(app.focus(), Focus::Source);
    press(&mut app, "1");
    assert_eq!(app.focus(), Focus::Tree);
    // The pause key says "resume" while paused.
    press(&mut app, "p");
    assert!(app.footer_hints().contains(&("p".to_string(), "resume")));
    press(&mut app, "p");
    assert!(app.footer_hints().contains(&("p".to_string(), "pause")));
    // The mark key says "unmark" while a mark is set.
    press(&mut app, "m");
    assert!(app.footer_hints().contains(&("m".to_string(), "unmark")));
    press(&mut app, "m");
    assert!(app.footer_hints().contains(&("m".to_string(), "mark")));
    // y copies path:line of the cursor (the terminal loop sends it as OSC 52).
    press(&mut app, "2y");
    let (path, line) = app
        .source_cursor()
        .map(|(p, l)| (p.to_string(), l))
        .unwrap();
    assert_eq!(app.take_clipboard(), Some(format!("{path}:{line}")));
    assert_eq!(app.take_clipboard(), None);
    assert!(
        app.status()
            .iter()
            .any(|s| s.starts_with("copied cart/cart.go:"))
    );
    // At the fastest interval the notice says so.
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view_with(|v| v.interval = Duration::from_millis(300)));
    press(&mut app, "-");
    assert!(
        app.status().contains(&"polling every 250ms (the fastest)"),
        "{:?}",
        app.status()
    );
}

#[test]
fn filter_sort_and_pane_sizes_are_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state/covtop/screen.json");
    let start = || {
        let mut cfg = config(Theme::Dark);
        cfg.state_file = Some(state.clone());
        let mut app = App::new(cfg, sources());
        app.on_view(view(1));
        settle(&mut app);
        app
    };
    let mut app = start();
    press(&mut app, "csSt>z");
    app.save_state().unwrap();
    let mut again = start();
    assert!(again.is_zoomed());
    let t = render(&mut again, 110, 30);
    assert!(find_row(&t, "┌ all files · .go only · least covered, reversed").is_some());
    press(&mut again, "ttt");
    press(&mut again, "z");
    let t = render(&mut again, 110, 30);
    let y = find_row(&t, "┌ all files").unwrap();
    assert_eq!(
        row_text(&t, y).chars().position(|c| c == '┐'),
        Some(47),
        "44% of 110 columns"
    );
    // A broken file is named, and the screen starts with the defaults.
    std::fs::write(&state, "{ not json").unwrap();
    let broken = start();
    assert!(
        broken
            .messages()
            .iter()
            .any(|m| m.error && m.text.contains("ignored the saved screen state"))
    );
}

#[test]
fn colon_goes_to_a_line() {
    let mut app = app(Theme::Dark);
    press(&mut app, ":7");
    assert_eq!(app.popup_titles(), vec!["go to line"]);
    // Only digits are taken.
    press(&mut app, "x");
    app.handle_event(key(KeyCode::Enter));
    assert!(app.popup_titles().is_empty());
    assert_eq!(app.source_cursor(), Some((CART, 7)));
    assert_eq!(app.focus(), Focus::Source);
    // Past the end: the last line.
    press(&mut app, ":999");
    app.handle_event(key(KeyCode::Enter));
    assert_eq!(app.source_cursor(), Some((CART, 7)));
    press(&mut app, ":1");
    app.handle_event(key(KeyCode::Esc));
    assert_eq!(app.source_cursor(), Some((CART, 7)), "esc cancels");
}

/// Issue #11: the header shows the session store's state: a shared store with a check mark
/// when it works, its problem's first words when it does not (the whole problem is a
/// diagnostic), even at 80 columns where its location gives way; the local folder only when
/// something is wrong with it.
#[test]
fn the_header_shows_the_stores_state() {
    use covtop::model::StoreState;
    let state = |shared: bool, problem: Option<&str>| {
        view_with(|v| {
            v.store = Some(StoreState {
                location: "postgres://db/cov session team".into(),
                shared,
                problem: problem.map(str::to_string),
            })
        })
    };
    let header = |view: Arc<View>, width: u16| {
        let mut app = app(Theme::Dark);
        app.on_view(view);
        settle(&mut app);
        row_text(&render(&mut app, width, 30), 0)
    };
    let ok = header(state(true, None), 160);
    assert!(
        ok.contains("store postgres://db/cov session team ✓"),
        "{ok}"
    );
    let down = "unreachable (connection refused): dumps are kept in the local spool /s";
    let wide = header(state(true, Some(down)), 160);
    assert!(
        wide.contains("store postgres://db/cov session team ⚠ unreachable "),
        "{wide}"
    );
    assert!(!wide.contains("refused"), "only its first words: {wide}");
    let narrow = header(state(true, Some(down)), 80);
    assert!(narrow.contains("store ⚠ unreachable"), "{narrow}");
    let local = header(state(false, None), 160);
    assert!(!local.contains("store"), "{local}");
    let none = header(view(1), 160);
    assert!(!none.contains("store"), "{none}");
}

/// `o` asks the terminal loop to open the file at the cursor's line in the editor: from the
/// source at its cursor, from the tree on a file; on a folder it says to select a file.
#[test]
fn o_opens_the_file_at_the_cursor_in_the_editor() {
    let mut app = app(Theme::Dark);
    render(&mut app, 110, 30);
    assert_eq!(app.selected_key().as_deref(), Some(CART));
    // The selected file is the one open in the source: at the source's cursor.
    let at = app.source_cursor().map(|(p, l)| (p.to_string(), l));
    assert_eq!(at.as_ref().map(|(p, _)| p.as_str()), Some(CART));
    press(&mut app, "o");
    assert_eq!(app.take_edit(), at);
    assert_eq!(app.take_edit(), None, "taken once");
    // In the source, at the cursor's line; the tree then opens the same file at that line.
    press(&mut app, "2jjj");
    let (path, line) = app
        .source_cursor()
        .map(|(p, l)| (p.to_string(), l))
        .unwrap();
    assert!(line > 1);
    press(&mut app, "o");
    assert_eq!(app.take_edit(), Some((path.clone(), line)));
    press(&mut app, "1o");
    assert_eq!(app.take_edit(), Some((path, line)));
    // A folder: nothing to open.
    press(&mut app, "h");
    assert_eq!(app.selected_key().as_deref(), Some("cart/"));
    press(&mut app, "o");
    assert_eq!(app.take_edit(), None);
    assert!(
        app.status()
            .contains(&"select a file to open it in the editor"),
        "{:?}",
        app.status()
    );
    // Listed in the footer and bindable.
    assert!(app.footer_hints().contains(&("o".to_string(), "edit")));
    let mut overrides = BTreeMap::new();
    overrides.insert("edit".to_string(), vec!["ctrl-e".to_string()]);
    let mut app = App::new(
        covtop::tui::UiConfig {
            keymap: KeyMap::with_overrides(&overrides).unwrap(),
            ..config(Theme::Dark)
        },
        sources(),
    );
    app.on_view(view(1));
    press(&mut app, "o");
    assert_eq!(app.take_edit(), None, "o is no longer edit");
    app.handle_event(ctrl('e'));
    assert_eq!(app.take_edit(), at);
}

/// `t` limits the tree to one language at a time (by extension), says so in the tree's title,
/// and the header's totals stay every file's; the folders count what is listed.
#[test]
fn t_filters_the_tree_by_language_and_the_totals_stay_whole() {
    let mut app = app(Theme::Dark);
    let all = tree_rows(&mut app);
    let t = render(&mut app, 110, 30);
    let header = row_text(&t, 0);
    assert!(
        all.iter().any(|r| r.starts_with("CartService.java")),
        "{all:?}"
    );
    press(&mut app, "t");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "┌ changed files · .go only · path").is_some());
    assert_eq!(
        row_text(&t, 0),
        header,
        "the header's totals stay the whole picture"
    );
    let go = tree_rows(&mut app);
    assert!(
        !go.is_empty() && go.iter().all(|r| !r.contains(".java")),
        "{go:?}"
    );
    assert!(go.iter().any(|r| r.starts_with("cart.go")), "{go:?}");
    press(&mut app, "t");
    let java = tree_rows(&mut app);
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "· .java only ·").is_some());
    assert!(java.iter().all(|r| !r.contains(".go")), "{java:?}");
    assert!(
        java.iter().any(|r| r.starts_with("CartService.java")),
        "{java:?}"
    );
    // After the last language, every language again.
    press(&mut app, "t");
    assert_eq!(tree_rows(&mut app), all);
    // A file of another language found with / lifts the filter.
    press(&mut app, "t");
    press(&mut app, "/CartServ");
    app.handle_event(key(KeyCode::Enter));
    assert_eq!(app.selected_key().as_deref(), Some(CART_SERVICE));
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, " only ·").is_none());
    // Listed in the footer.
    press(&mut app, "1");
    assert!(app.footer_hints().contains(&("t".to_string(), "language")));
}

/// `T` lists only the files one target's data holds, each reporting target in turn; the
/// header's totals stay whole, the choice shows in the tree's title and is remembered.
#[test]
fn capital_t_filters_the_tree_by_target_and_the_totals_stay_whole() {
    let mut app = app(Theme::Dark);
    let all = tree_rows(&mut app);
    let header = row_text(&render(&mut app, 110, 30), 0);
    press(&mut app, "T");
    let t = render(&mut app, 110, 30);
    assert!(
        find_row(&t, "· target shop-api only ·").is_some(),
        "the title names the target"
    );
    assert_eq!(row_text(&t, 0), header, "the header's totals stay whole");
    let shop = tree_rows(&mut app);
    assert!(shop.iter().any(|r| r.starts_with("cart.go")), "{shop:?}");
    assert!(shop.iter().all(|r| !r.contains(".java")), "{shop:?}");
    press(&mut app, "T");
    let t = render(&mut app, 110, 30);
    assert!(find_row(&t, "· target billing only ·").is_some());
    let billing = tree_rows(&mut app);
    assert!(
        billing.iter().any(|r| r.starts_with("CartService.java")),
        "{billing:?}"
    );
    assert!(billing.iter().all(|r| !r.contains(".go")), "{billing:?}");
    // After the last reporting target, every file again.
    press(&mut app, "T");
    assert_eq!(tree_rows(&mut app), all);
    // Listed in the footer and in help under its action name.
    press(&mut app, "1");
    assert!(app.footer_hints().contains(&("T".to_string(), "target")));
}

/// At 80 columns the footer cannot list every command: help and quit come first, then what the
/// state changed (resume while paused, unmark while marked), then the focused pane's commands.
#[test]
fn an_80_column_footer_keeps_help_quit_and_what_changed() {
    let mut app = app(Theme::Dark);
    let t = render(&mut app, 80, 24);
    let footer = row_text(&t, 23);
    assert!(footer.starts_with(" q quit  ? help "), "{footer}");
    assert!(footer.contains("enter open"), "the tree's own: {footer}");
    assert!(!footer.contains("p pause"), "does not fit: {footer}");
    press(&mut app, "pm");
    // The messages of p and m go (they stay in the log).
    app.tick(Instant::now() + Duration::from_secs(30));
    let t = render(&mut app, 80, 24);
    let footer = row_text(&t, 23);
    assert!(
        footer.starts_with(" q quit  ? help  m unmark  p resume "),
        "{footer}"
    );
    press(&mut app, "2");
    let t = render(&mut app, 80, 24);
    let footer = row_text(&t, 23);
    assert!(footer.contains("n next miss"), "the source's own: {footer}");
}

/// Checked at 80×24: `-` pressed at the fastest interval says so once on the footer (the log
/// keeps every message), and the export form's hint is wrapped, not cut.
#[test]
fn a_repeated_message_shows_once_and_the_export_hint_is_whole_at_80_columns() {
    let mut app = app(Theme::Dark);
    press(&mut app, "-------");
    let fastest = "polling every 250ms (the fastest)";
    assert_eq!(
        app.status().iter().filter(|m| **m == fastest).count(),
        1,
        "{:?}",
        app.status()
    );
    assert!(app.messages().iter().filter(|m| m.text == fastest).count() >= 3);
    press(&mut app, "e");
    let t = render(&mut app, 80, 24);
    let text: String = (0..24)
        .map(|y| row_text(&t, y))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(find_row(&t, "until it is written.").is_some(), "{text}");
}

/// Text from agents and file names holding ESC, BEL and a newline: ratatui would drop the
/// control characters silently (`a\x1b[2Jb` drawn as `a[2Jb`, a forged look); the screen shows
/// them escaped, as the text outputs do — header (target name, replica id), tree and source
/// title (file name), diagnostics and the messages log.
#[test]
fn control_characters_from_agents_and_file_names_are_drawn_escaped() {
    let evil = "evil\u{1b}[31m\u{7}\nx.go";
    let view = view_with(|v| {
        let mut f = root_file();
        f.path = evil.into();
        v.files.push(f);
        v.files.sort_by(|a, b| a.path.cmp(&b.path));
        v.targets[0].replicas[0].id = "10.0.0.7\u{1b}[2J:7777".into();
        v.targets[1].name = "bill\u{7}ing\nx".into();
        v.diagnostics[0].subject = "example.com/\u{1b}]0;title\u{7}x.go".into();
    });
    let mut app = App::new(config(Theme::Dark), sources());
    app.on_view(view);
    app.on_notice(Notice::Error(
        "agent said \u{1b}[31mred\u{7}\nsecond".into(),
    ));
    let (w, h) = (200, 50);
    let t = render(&mut app, w, h);
    let header = header_rows(&t).join("\n");
    assert!(header.contains(r"10.0.0.7\u{1b}[2J:7777 up"), "{header}");
    assert!(header.contains(r"bill\u{7}ing\u{a}x"), "{header}");
    let escaped_name = r"evil\u{1b}[31m\u{7}\u{a}x.go";
    let row = find_row(&t, escaped_name).expect("the tree shows the file name escaped");
    // The source title, on the panes' top border, once the file is selected.
    let border = (0..h).find(|&y| row_text(&t, y).starts_with('┌')).unwrap();
    let mut selected = false;
    for _ in 0..20 {
        let t = render(&mut app, w, h);
        if row_text(&t, border).contains(escaped_name) {
            selected = true;
            break;
        }
        press(&mut app, "j");
    }
    assert!(
        selected,
        "the source title names the file escaped (tree row {row})"
    );
    press(&mut app, "D");
    let t = render(&mut app, w, h);
    assert!(
        find_row(&t, r"example.com/\u{1b}]0;title\u{7}x.go").is_some(),
        "the diagnostics name the subject escaped"
    );
    app.handle_event(key(KeyCode::Esc));
    press(&mut app, "L");
    let t = render(&mut app, w, h);
    assert!(
        find_row(&t, r"agent said \u{1b}[31mred\u{7}\u{a}second").is_some(),
        "the messages log shows the text escaped"
    );
}
