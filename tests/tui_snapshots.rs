//! Whole-screen snapshots of the monitor after scripted keys and Views (TestBackend + insta).
//! Review changes with `cargo insta review` before accepting them.

mod tui_support;

use covtop::tui::Theme;
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use std::fmt::Write;
use tui_support::*;

const W: u16 = 110;
const H: u16 = 30;

fn snap(app: &mut covtop::tui::App, w: u16, h: u16) -> Terminal<TestBackend> {
    render(app, w, h)
}

#[test]
fn changed_only_tree() {
    let mut app = app(Theme::Dark);
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn all_files_tree_sorted_by_least_covered() {
    let mut app = app(Theme::Dark);
    press(&mut app, "c");
    insta::assert_snapshot!("all_files_tree", snap(&mut app, W, H).backend());
    press(&mut app, "s");
    insta::assert_snapshot!("all_files_least_covered", snap(&mut app, W, H).backend());
}

/// pricing.go has covered, partial (with column spans), missed and not-coverable lines, changed
/// markers, and after the second View lines 14 and 15 flash as newly hit.
#[test]
fn go_source_with_every_gutter_state() {
    let mut app = app(Theme::Dark);
    app.on_view(view(2));
    // Select pricing.go in the tree (the last Go file under its folder).
    let t = snap(&mut app, W, H);
    let row = find_row(&t, "pricing.go").expect("pricing.go in the tree");
    app.handle_event(click(3, row));
    settle(&mut app);
    app.handle_event(key(KeyCode::Tab));
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn java_source_shows_hit_marks_not_counts() {
    let mut app = app(Theme::Dark);
    press(&mut app, "G");
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn help_overlay() {
    let mut app = app(Theme::Dark);
    press(&mut app, "?");
    insta::assert_snapshot!(snap(&mut app, W, 40).backend());
}

#[test]
fn confirm_reset_names_targets_and_warns_for_jacoco() {
    let mut app = app(Theme::Dark);
    press(&mut app, "r");
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn diagnostics_panel() {
    let mut app = app(Theme::Dark);
    press(&mut app, "D");
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn export_popup() {
    let mut app = app(Theme::Dark);
    press(&mut app, "e");
    app.handle_event(key(KeyCode::Down));
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn finder() {
    let mut app = app(Theme::Dark);
    press(&mut app, "/cart");
    insta::assert_snapshot!(snap(&mut app, W, H).backend());
}

#[test]
fn narrow_terminal() {
    let mut app = app(Theme::Dark);
    insta::assert_snapshot!("narrow_tree", snap(&mut app, 60, 20).backend());
    app.handle_event(key(KeyCode::Tab));
    insta::assert_snapshot!("narrow_source", snap(&mut app, 60, 20).backend());
    insta::assert_snapshot!("very_narrow_source", snap(&mut app, 40, 12).backend());
}

/// Style runs per row: `x..y fg bg modifiers`, so a snapshot also pins colours.
fn styles(t: &Terminal<TestBackend>, rows: std::ops::Range<u16>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in rows {
        let _ = write!(out, "{y:>2}:");
        let mut run_start = 0;
        for x in 0..=buf.area.width {
            let changed = x == buf.area.width || {
                let (a, b) = (&buf[(x, y)], &buf[(run_start, y)]);
                a.fg != b.fg || a.bg != b.bg || a.modifier != b.modifier
            };
            if changed && x > run_start {
                let c = &buf[(run_start, y)];
                if c.fg != Color::Reset || c.bg != Color::Reset || c.modifier != Modifier::empty() {
                    let _ = write!(
                        out,
                        " {run_start}..{x} {:?}/{:?}/{:?};",
                        c.fg, c.bg, c.modifier
                    );
                }
                run_start = x;
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn light_theme() {
    let mut app = app(Theme::Light);
    app.on_view(view(2));
    let t = snap(&mut app, 90, 16);
    insta::assert_snapshot!("light_text", t.backend());
    insta::assert_snapshot!("light_styles", styles(&t, 0..16));
}

#[test]
fn no_color_theme_uses_glyphs_and_no_colour() {
    let mut app = app(Theme::NoColor);
    app.on_view(view(2));
    let t = snap(&mut app, 90, 16);
    insta::assert_snapshot!("no_color_text", t.backend());
    insta::assert_snapshot!("no_color_styles", styles(&t, 0..16));
}

/// Three targets of four replicas, two down with long errors, one gone: every replica is in the
/// header at each size, a down one says only `down` (its error is in the diagnostics panel).
#[test]
fn header_shows_every_replica() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let mut app = app(Theme::Dark);
        app.on_view(many_replicas_view());
        settle(&mut app);
        insta::assert_snapshot!(
            format!("header_many_replicas_{w}x{h}"),
            snap(&mut app, w, h).backend()
        );
    }
}

/// A deep Maven path at 80×24, 120×40 and 200×60: the tree keeps the file name whole (folders
/// are cut from the left), the source title keeps the file name and the miss count, and the
/// panes share the width.
#[test]
fn long_paths_at_three_sizes() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let mut app = covtop::tui::App::new(config(Theme::Dark), sources());
        app.on_view(long_path_view());
        press(&mut app, "/InventoryServ");
        app.handle_event(key(KeyCode::Enter));
        settle(&mut app);
        let t = snap(&mut app, w, h);
        let screen: Vec<String> = (0..h).map(|y| row_text(&t, y)).collect();
        assert!(
            find_row(&t, "│  InventoryService.java ").is_some(),
            "{w}x{h}: the file name is whole in the tree:\n{}",
            screen.join("\n")
        );
        let title = (0..h)
            .map(|y| row_text(&t, y))
            .find(|r| r.contains("┌") && r.contains("InventoryService.java ·"))
            .unwrap_or_else(|| panic!("{w}x{h}: no source title with the file name"));
        assert!(title.contains("· 1 missed"), "{w}x{h}: {title}");
        insta::assert_snapshot!(format!("long_paths_{w}x{h}"), t.backend());
    }
}

/// The tree limited to one language at 80×24: the title says so.
#[test]
fn language_filter_80x24() {
    let mut app = app(Theme::Dark);
    press(&mut app, "t");
    let t = snap(&mut app, 80, 24);
    assert!(find_row(&t, ".go only").is_some());
    insta::assert_snapshot!(t.backend());
}
