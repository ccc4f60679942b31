//! The screen shows carried lines with their own gutter mark and the baseline's categories in
//! the header and the gutter (TestBackend + insta, like tests/tui_snapshots.rs).

mod tui_support;

use covtop::model::{
    BaselineComparison, Carried, CarriedFile, CarriedLine, Category, CategoryCounts,
    FileCategories, LineStatus, View,
};
use covtop::tui::Theme;
use crossterm::event::KeyCode;
use std::collections::BTreeMap;
use std::sync::Arc;
use tui_support::*;

const W: u16 = 110;
const H: u16 = 30;

/// pricing.go: lines 8 and 18 (missed by this build) were covered by the older build.
fn with_carried(v: &View) -> View {
    let mut v = v.clone();
    let file = CarriedFile {
        lines: vec![
            CarriedLine {
                line: 8,
                status: LineStatus::Covered,
            },
            CarriedLine {
                line: 18,
                status: LineStatus::Partial,
            },
        ],
        changed: 2,
    };
    v.carried = Arc::new(Carried {
        from: vec!["1a2b3c4d5e".into()],
        files: BTreeMap::from([(PRICING.to_string(), Arc::new(file))]),
    });
    v.totals.carried_changed = 2;
    v.totals.carried_whole = 2;
    v
}

/// pricing.go against a baseline at the base: line 6 unchanged and covered in both, the changed
/// lines new code; memory.go's unchanged lines 5-6 lost the coverage the baseline had.
fn with_baseline(v: &View) -> View {
    use Category::*;
    let mut v = v.clone();
    let mut files = BTreeMap::new();
    let mut totals = CategoryCounts::default();
    for (path, lines) in [
        (
            PRICING,
            vec![
                (6, Cbc),
                (7, Gnc),
                (8, Unc),
                (10, Gnc),
                (14, Gnc),
                (15, Gnc),
                (18, Unc),
                (19, Unc),
            ],
        ),
        (MEMORY, vec![(5, Lbc), (6, Lbc), (9, Cbc), (10, Cbc)]),
    ] {
        let mut counts = CategoryCounts::default();
        for &(_, c) in &lines {
            counts.add(c);
        }
        totals.merge(&counts);
        files.insert(path.to_string(), Arc::new(FileCategories { lines, counts }));
    }
    v.baseline = Some(Arc::new(BaselineComparison {
        label: "yesterday".into(),
        revision: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".into(),
        totals,
        files,
    }));
    v
}

fn open_pricing(app: &mut covtop::tui::App) {
    let t = render(app, W, H);
    let row = find_row(&t, "pricing.go").expect("pricing.go in the tree");
    app.handle_event(click(3, row));
    settle(app);
    app.handle_event(key(KeyCode::Tab));
}

#[test]
fn carried_lines_have_their_own_gutter_mark_and_headline() {
    let mut app = app(Theme::Dark);
    app.on_view(Arc::new(with_carried(&view(1))));
    open_pricing(&mut app);
    let t = render(&mut app, W, H);
    let header = row_text(&t, 0);
    assert!(header.contains("+10.5% ↻carried"), "{header}");
    let line8 = row_text(&t, find_row(&t, "│  8 ").expect("line 8 shown"));
    assert!(line8.contains('↻') && !line8.contains('✗'), "{line8}");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn baseline_header_and_category_gutter() {
    let mut app = app(Theme::Dark);
    app.on_view(Arc::new(with_baseline(&view(1))));
    open_pricing(&mut app);
    let t = render(&mut app, W, H);
    let line1 = row_text(&t, 1);
    assert!(line1.contains("vs baseline yesterday"), "{line1}");
    assert!(line1.contains("UNC 3 · LBC 2"), "{line1}");
    let line8 = row_text(&t, find_row(&t, "│  8 ").expect("line 8 shown"));
    assert!(line8.contains("UNC"), "{line8}");
    insta::assert_snapshot!(t.backend());
}
