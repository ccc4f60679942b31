//! Drawing. Only the rows and lines on screen are built, so a 10,000-file tree or a 20,000-line
//! file costs no more per frame than a small one.

use super::app::{App, Focus};
use super::keymap::Scope;
use super::popup::Popup;
use super::source::{LoadState, expand_for_terminal, styled_pieces, uncovered_ranges};
use super::theme::{CARRIED_GLYPH, status_glyph};
use super::tree::{FileFilter, RowKind};
use crate::model::{
    Counts, CoverageRule, DiagnosticKind, LineStatus, ReplicaState, ReplicaStatus, SourceLanguage,
    View,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use std::time::{Duration, Instant, SystemTime};

/// Below this width only the focused pane is shown.
const TWO_PANES_MIN_WIDTH: u16 = 50;
const BAR_CELLS: usize = 8;

pub(crate) fn draw(app: &mut App, frame: &mut Frame) {
    let area = frame.area();
    let target_lines = header_target_lines(app, area);
    let baseline_lines = u16::from(app.view.baseline.is_some());
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1 + baseline_lines + target_lines.len() as u16),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let (tree_area, source_area) = if body.width < TWO_PANES_MIN_WIDTH {
        match app.focus {
            Focus::Tree => (body, Rect::default()),
            Focus::Source => (Rect::default(), body),
        }
    } else {
        let tree_width = (body.width * 2 / 5).clamp(24, 64);
        let [t, s] =
            Layout::horizontal([Constraint::Length(tree_width), Constraint::Min(10)]).areas(body);
        (t, s)
    };
    app.areas.tree = tree_area;
    app.areas.source = source_area;
    app.tree_height = tree_area.height.saturating_sub(2) as usize;
    app.source_height = source_area.height.saturating_sub(2) as usize;
    keep_visible(app);

    draw_header(app, frame, header, target_lines);
    if tree_area.area() > 0 {
        draw_tree(app, frame, tree_area);
    }
    if source_area.area() > 0 {
        draw_source(app, frame, source_area);
    }
    draw_footer(app, frame, footer);
    draw_toast(app, frame, body);
    for popup in &app.popups {
        draw_popup(app, popup, frame, area);
    }
}

fn keep_visible(app: &mut App) {
    let h = app.tree_height.max(1);
    if app.selected < app.tree_scroll {
        app.tree_scroll = app.selected;
    } else if app.selected >= app.tree_scroll + h {
        app.tree_scroll = app.selected + 1 - h;
    }
    let rows = app.tree.rows().len();
    app.tree_scroll = app.tree_scroll.min(rows.saturating_sub(h));
    let sh = app.source_height.max(1) as u32;
    if let Some(open) = &mut app.open {
        // Keep a little context around the cursor when the pane is tall enough.
        let margin = if sh > 10 { 3 } else { 0 };
        if open.cursor < open.scroll + margin {
            open.scroll = open.cursor.saturating_sub(margin).max(1);
        } else if open.cursor + margin >= open.scroll + sh {
            open.scroll = (open.cursor + margin + 1).saturating_sub(sh).max(1);
        }
        if let Some(t) = open.text() {
            let last_scroll = (t.line_count() as u32).saturating_sub(sh - 1).max(1);
            open.scroll = open.scroll.min(last_scroll).max(1);
        }
    }
}

// ---- header ----

/// Gap between two chips of a header row.
const CHIP_GAP: &str = "  ";
/// What starts a target's continuation rows (its chips then start at column 3, below the name).
const CHIP_INDENT: &str = " ";

/// Header rows for the targets: at most about a third of the screen, totals line included.
fn target_row_budget(app: &App, area: Rect) -> usize {
    let fixed = 1 + usize::from(app.view.baseline.is_some());
    (area.height as usize / 3).saturating_sub(fixed).max(1)
}

/// The target rows of the header: per target `name (kind)` and a chip per replica, wrapped onto
/// continuation rows within the row budget. Every replica is shown while the budget allows;
/// the rest are counted in a last `+N more (D)` chip. A down replica's error is in the
/// diagnostics panel, never here, so it cannot push other replicas off the screen.
fn header_target_lines(app: &App, area: Rect) -> Vec<Line<'static>> {
    let targets = &app.view.targets;
    if targets.is_empty() {
        return Vec::new();
    }
    let p = &app.palette;
    let width = area.width as usize;
    let budget = target_row_budget(app, area);
    let key = app
        .config
        .keymap
        .keys(super::keymap::Action::Diagnostics)
        .first()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    let more = |n: usize| Chip::new(vec![Span::styled(format!("+{n} more{key}"), p.warn)]);
    let id_width = (width / 3).clamp(12, 40);
    let laid: Vec<(Vec<Span<'static>>, Vec<Chip>)> = targets
        .iter()
        .map(|t| {
            let head = vec![
                Span::styled(format!(" {} ", t.name), p.title),
                Span::styled(format!("({})", t.kind), p.dim),
            ];
            let chips = if t.replicas.is_empty() {
                vec![Chip::new(vec![Span::styled("no replicas found", p.warn)])]
            } else {
                t.replicas
                    .iter()
                    .map(|r| replica_chip(app, r, id_width))
                    .collect()
            };
            (head, chips)
        })
        .collect();
    let needed: Vec<usize> = laid
        .iter()
        .map(|(head, chips)| wrap_chips(head.clone(), chips, width, usize::MAX, &more).len())
        .collect();
    let mut lines = Vec::new();
    if needed.iter().sum::<usize>() <= budget {
        for ((head, chips), n) in laid.into_iter().zip(needed) {
            lines.extend(wrap_chips(head, &chips, width, n, &more));
        }
        return lines;
    }
    if targets.len() > budget {
        // Not even a row per target: the first ones get one row each, the last row counts the
        // others.
        let shown = budget - 1;
        for (head, chips) in laid.into_iter().take(shown) {
            lines.extend(wrap_chips(head, &chips, width, 1, &more));
        }
        let hidden = &targets[shown..];
        let replicas: usize = hidden.iter().map(|t| t.replicas.len()).sum();
        lines.push(Line::from(vec![
            Span::raw(" "),
            Span::styled(
                format!(
                    "+{} more target{} ({replicas} replica{}){key}",
                    hidden.len(),
                    if hidden.len() == 1 { "" } else { "s" },
                    if replicas == 1 { "" } else { "s" },
                ),
                p.warn,
            ),
        ]));
        return lines;
    }
    // A row per target, the rest shared out one row at a time, in order.
    let mut rows = vec![1; targets.len()];
    let mut spare = budget - targets.len();
    while spare > 0 {
        let before = spare;
        for (r, n) in rows.iter_mut().zip(&needed) {
            if spare > 0 && *r < *n {
                *r += 1;
                spare -= 1;
            }
        }
        if spare == before {
            break;
        }
    }
    for ((head, chips), n) in laid.into_iter().zip(rows) {
        lines.extend(wrap_chips(head, &chips, width, n, &more));
    }
    lines
}

/// Spans that stay together on one header row.
#[derive(Clone)]
struct Chip {
    spans: Vec<Span<'static>>,
    width: usize,
}

impl Chip {
    fn new(spans: Vec<Span<'static>>) -> Chip {
        let width = spans.iter().map(Span::width).sum();
        Chip { spans, width }
    }
}

/// `● 10.0.0.7:7777 up 3s e1`: state, id (cut from the left, so the port stays), when it last
/// answered and its epoch. The state is one word; a down replica's error is a diagnostic.
fn replica_chip(app: &App, r: &ReplicaStatus, id_width: usize) -> Chip {
    let p = &app.palette;
    let id = cut_left(&r.id, id_width);
    let (text, style) = match &r.state {
        ReplicaState::Up => (format!("● {id} up"), p.covered),
        ReplicaState::Slow => (format!("◐ {id} slow"), p.partial),
        ReplicaState::Down(_) => (format!("✗ {id} down"), p.missed),
        ReplicaState::Gone => (format!("○ {id} gone"), p.dim),
    };
    let mut spans = vec![Span::styled(text, style)];
    if let Some(at) = r.last_poll {
        spans.push(Span::styled(
            format!(" {} e{}", format_age(app.wall_now, at), r.epoch),
            p.dim,
        ));
    }
    Chip::new(spans)
}

/// `s` if it fits in `width` characters, else its end after `…`.
fn cut_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (width - 1)));
    out
}

/// `head` and then the chips, wrapped at `width` onto at most `max_rows` rows; chips that do
/// not fit are replaced by `more(count)` at the end of the last row.
fn wrap_chips(
    head: Vec<Span<'static>>,
    chips: &[Chip],
    width: usize,
    max_rows: usize,
    more: &dyn Fn(usize) -> Chip,
) -> Vec<Line<'static>> {
    let gap = CHIP_GAP.len();
    let head_width = head.iter().map(Span::width).sum();
    let mut rows: Vec<(Vec<Span<'static>>, usize, Vec<&Chip>)> = vec![(head, head_width, vec![])];
    let used = |row: &(Vec<Span<'static>>, usize, Vec<&Chip>)| {
        row.1 + row.2.iter().map(|c| gap + c.width).sum::<usize>()
    };
    let mut placed = 0;
    for chip in chips {
        let row = rows.last().expect("a row");
        let fits = used(row) + gap + chip.width <= width;
        // A chip wider than a whole row still gets a continuation row of its own (cut at the
        // edge) rather than looping.
        let alone = rows.len() > 1 && row.2.is_empty();
        if !fits && !alone {
            if rows.len() >= max_rows {
                break;
            }
            rows.push((vec![Span::raw(CHIP_INDENT)], CHIP_INDENT.len(), vec![]));
        }
        rows.last_mut().expect("a row").2.push(chip);
        placed += 1;
    }
    let mut hidden = chips.len() - placed;
    let more_chip = if hidden > 0 {
        let last = rows.last_mut().expect("a row");
        while !last.2.is_empty() && used(last) + gap + more(hidden).width > width {
            last.2.pop();
            hidden += 1;
        }
        Some(more(hidden))
    } else {
        None
    };
    let count = rows.len();
    rows.into_iter()
        .enumerate()
        .map(|(i, (lead, _, chips))| {
            let mut spans = lead;
            for c in chips {
                spans.push(Span::raw(CHIP_GAP));
                spans.extend(c.spans.iter().cloned());
            }
            if i + 1 == count
                && let Some(m) = &more_chip
            {
                spans.push(Span::raw(CHIP_GAP));
                spans.extend(m.spans.iter().cloned());
            }
            Line::from(spans)
        })
        .collect()
}

fn draw_header(app: &App, frame: &mut Frame, area: Rect, target_lines: Vec<Line<'static>>) {
    let p = &app.palette;
    let view = &app.view;
    let mut spans = vec![Span::styled(" covtop ", p.title)];
    if view.demo {
        spans.push(Span::styled(" DEMO ", p.demo));
        spans.push(Span::raw(" "));
    }
    // Most important first: a narrow terminal cuts the end of the line.
    let changed = &view.totals.changed;
    spans.push(Span::styled("changed ", p.dim));
    let rule = view.rule;
    spans.push(Span::styled(
        percent_text(rule, changed),
        p.percent(rule.percent(changed)),
    ));
    spans.push(Span::styled(
        format!(" {}/{}", rule.covered(changed), changed.coverable()),
        p.dim,
    ));
    if changed.partial > 0 {
        // Which rule is in force, where it matters.
        spans.push(Span::styled(
            format!(
                " ({}~ {})",
                changed.partial,
                if rule.partial_as_covered {
                    "counted"
                } else {
                    "not counted"
                }
            ),
            p.partial,
        ));
    }
    if changed.no_data > 0 {
        spans.push(Span::styled(
            format!(" +{} no data", changed.no_data),
            p.warn,
        ));
    }
    if let Some(c) = view.totals.carried_changed_percent()
        && view.totals.carried_changed > 0
    {
        // Older builds' coverage, apart from this build's own.
        spans.push(Span::styled(
            format!(" +{c:.1}% {CARRIED_GLYPH}carried"),
            carried_style(p),
        ));
    }
    spans.push(Span::styled(" │ ", p.dim));
    spans.push(Span::styled("all ", p.dim));
    spans.push(Span::styled(
        percent_text(rule, &view.totals.whole),
        p.percent(rule.percent(&view.totals.whole)),
    ));
    if let Some((lines, changed)) = since_mark(view) {
        spans.push(Span::styled(" │ ", p.dim));
        spans.push(Span::styled(
            format!("since mark +{lines} lines ({changed} changed)"),
            p.newly,
        ));
    }
    spans.push(Span::styled(" │ ", p.dim));
    if app.is_paused() {
        spans.push(Span::styled("⏸ paused", p.warn));
    } else {
        spans.push(Span::styled(
            format!("⟳ every {}", format_interval(app.interval())),
            p.text,
        ));
    }
    if app.is_frozen() {
        spans.push(Span::styled(" │ ", p.dim));
        spans.push(Span::styled(" FROZEN ", p.demo));
    }
    if view.analysing {
        spans.push(Span::styled(" │ ", p.dim));
        spans.push(Span::styled("⧗ analysing classes…", p.warn));
    }
    if !view.diagnostics.is_empty() {
        // What did not map is easy to miss: say how much there is and where to look.
        let key = app
            .config
            .keymap
            .keys(super::keymap::Action::Diagnostics)
            .first()
            .map(|k| k.to_string());
        spans.push(Span::styled(" │ ", p.dim));
        spans.push(Span::styled(
            format!(
                "⚠ {} diagnostic{}{}",
                view.diagnostics.len(),
                if view.diagnostics.len() == 1 { "" } else { "s" },
                key.map(|k| format!(" ({k})")).unwrap_or_default()
            ),
            p.warn,
        ));
    }
    if !view.history.is_empty() {
        spans.push(Span::styled(" │ ", p.dim));
        spans.push(Span::styled(sparkline(&view.history, 20), p.title));
    }
    spans.push(Span::styled(" │ ", p.dim));
    let rev = if view.revision.is_empty() {
        "no revision yet".to_string()
    } else {
        short(&view.revision)
    };
    spans.push(Span::styled(rev, p.text));
    if !view.base.is_empty() {
        spans.push(Span::styled(format!(" vs {}", view.base), p.dim));
    }
    let mut lines = vec![Line::from(spans)];
    if let Some(b) = &view.baseline {
        let t = &b.totals;
        let mut spans = vec![
            Span::styled(format!(" vs baseline {} ", b.label), p.title),
            Span::styled(format!("({}) ", short(&b.revision)), p.dim),
            Span::styled(
                format!("UNC {}", t.unc),
                if t.unc > 0 { p.missed } else { p.dim },
            ),
            Span::styled(" · ", p.dim),
            Span::styled(
                format!("LBC {}", t.lbc),
                if t.lbc > 0 { p.missed } else { p.dim },
            ),
        ];
        spans.push(Span::styled(
            format!(
                " │ GNC {} · GBC {} · CBC {} · UBC {}",
                t.gnc, t.gbc, t.cbc, t.ubc
            ),
            p.dim,
        ));
        lines.push(Line::from(spans));
    }
    lines.extend(target_lines);
    frame.render_widget(Paragraph::new(lines), area);
}

/// Carried coverage: the covered colour, dimmed, beside its own glyph.
fn carried_style(p: &super::theme::Palette) -> ratatui::style::Style {
    p.covered.add_modifier(ratatui::style::Modifier::DIM)
}

fn short(revision: &str) -> String {
    revision.chars().take(10).collect()
}

/// Lines hit since the user's mark, and how many of them are changed lines; `None` without a mark.
fn since_mark(view: &View) -> Option<(usize, usize)> {
    let mut any = false;
    let (mut lines, mut changed) = (0, 0);
    for f in &view.files {
        if let Some(hit) = &f.hit_since_mark {
            any = true;
            lines += hit.len();
            if let Some(c) = &f.changed {
                changed += hit.iter().filter(|&&l| c.contains(l)).count();
            }
        }
    }
    any.then_some((lines, changed))
}

fn percent_text(rule: CoverageRule, c: &Counts) -> String {
    match rule.percent(c) {
        Some(p) => format!("{p:.1}%"),
        None => "–".to_string(),
    }
}

fn sparkline(values: &[f64], max: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let from = values.len().saturating_sub(max);
    values[from..]
        .iter()
        .map(|v| BARS[((v.clamp(0.0, 100.0) / 100.0) * 7.0).round() as usize])
        .collect()
}

pub(crate) fn format_interval(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) && ms < 60_000 {
        format!("{}s", ms / 1000)
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// How long ago, in one unit: `3s`, `2m`, `5h`, `3d`.
fn format_age(now: SystemTime, at: SystemTime) -> String {
    let secs = now.duration_since(at).map_or(0, |d| d.as_secs());
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86_400)
    }
}

// ---- tree ----

fn pane_block<'a>(app: &App, title: Line<'a>, focused: bool) -> Block<'a> {
    let p = &app.palette;
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { p.focus_border } else { p.border })
        .title(title)
}

fn draw_tree(app: &App, frame: &mut Frame, area: Rect) {
    let p = &app.palette;
    let filter = match app.tree.filter {
        FileFilter::Changed => "changed files",
        FileFilter::All => "all files",
    };
    let title = Line::from(vec![
        Span::styled(format!(" {filter} "), p.title),
        Span::styled(format!("· {} ", app.tree.sort.label()), p.dim),
    ]);
    let block = pane_block(app, title, app.focus == Focus::Tree);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = app.tree.rows();
    if rows.is_empty() {
        let msg = match app.tree.filter {
            FileFilter::Changed if app.view.files.is_empty() => "Waiting for coverage…".to_string(),
            FileFilter::Changed => format!(
                "No changed lines between {} and the deployed revision. Press {} to list all files.",
                if app.view.base.is_empty() {
                    "the base"
                } else {
                    &app.view.base
                },
                app.config
                    .keymap
                    .keys_label(super::keymap::Action::ToggleAllFiles)
            ),
            FileFilter::All => "No files with coverage yet.".to_string(),
        };
        frame.render_widget(
            Paragraph::new(msg).style(p.dim).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let width = inner.width as usize;
    let (show_bar, show_counts) = (width >= 40, width >= 28);
    // Marker (2), percent (5), then the bar (1 + 8) and the counts (10) when there is room.
    let right_width =
        2 + 5 + if show_bar { BAR_CELLS + 1 } else { 0 } + if show_counts { 10 } else { 0 };
    let mut lines = Vec::with_capacity(inner.height as usize);
    for (i, row) in rows
        .iter()
        .enumerate()
        .skip(app.tree_scroll)
        .take(inner.height as usize)
    {
        let indent = "  ".repeat(row.depth as usize);
        let (arrow, name_style) = match &row.kind {
            RowKind::Folder {
                collapsed: true, ..
            } => ("▸ ", p.title),
            RowKind::Folder {
                collapsed: false, ..
            } => ("▾ ", p.title),
            RowKind::File { .. } => ("", p.text),
        };
        let left_width = width.saturating_sub(right_width);
        let name = truncate(
            &format!("{indent}{arrow}{}", row.label(&app.view)),
            left_width,
        );
        let pad = left_width.saturating_sub(name.chars().count());
        let rule = app.view.rule;
        let pct = rule.percent(&row.counts);
        let no_data = row.counts.coverable() == 0 && row.counts.no_data > 0;
        let mut spans = vec![Span::styled(name, name_style), Span::raw(" ".repeat(pad))];
        let carried = match &row.kind {
            RowKind::File { index } => app
                .view
                .files
                .get(*index)
                .and_then(|f| app.view.carried.file(&f.path))
                .is_some_and(|c| c.changed > 0),
            RowKind::Folder { .. } => false,
        };
        spans.push(if row.newly_hit {
            Span::styled(" ●", p.newly)
        } else if carried {
            Span::styled(format!(" {CARRIED_GLYPH}"), carried_style(p))
        } else {
            Span::raw("  ")
        });
        if show_bar {
            let filled = rule.bar_cells(&row.counts, BAR_CELLS);
            spans.push(Span::raw(" "));
            spans.push(Span::styled("█".repeat(filled), p.percent(pct)));
            spans.push(Span::styled("░".repeat(BAR_CELLS - filled), p.dim));
        }
        let pct_text = pct.map_or("   –".to_string(), |v| {
            format!("{:>3}%", v.floor() as u64)
        });
        spans.push(Span::styled(format!("{pct_text:>5}"), p.percent(pct)));
        if show_counts {
            if no_data {
                spans.push(Span::styled(format!("{:>10}", "no data"), p.warn));
            } else {
                spans.push(Span::styled(
                    format!(
                        "{:>10}",
                        format!("{}/{}", rule.covered(&row.counts), row.counts.coverable())
                    ),
                    p.dim,
                ));
            }
        }
        let mut line = Line::from(spans);
        if i == app.selected {
            line = line.patch_style(p.selected);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

// ---- source ----

fn format_count(n: u64) -> String {
    if n < 10_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{}k", n / 1000)
    } else if n < 1_000_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}G", n / 1_000_000_000)
    }
}

fn draw_source(app: &App, frame: &mut Frame, area: Rect) {
    let p = &app.palette;
    let focused = app.focus == Focus::Source;
    let Some(open) = &app.open else {
        let block = pane_block(app, Line::styled(" source ", p.title), focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("Select a file on the left to see its lines.")
                .style(p.dim)
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };
    let file = app.file_view(&open.path);
    let mut title = vec![Span::styled(format!(" {} ", open.path), p.title)];
    if let Some(f) = file
        && f.has_changes()
    {
        let c = &f.changed_counts;
        if f.no_data() {
            title.push(Span::styled(
                format!("· no data for {} changed lines ", c.no_data),
                p.warn,
            ));
        } else {
            title.push(Span::styled(
                format!(
                    "· {}/{} changed lines covered · {} missed ",
                    app.view.rule.covered(c),
                    c.coverable(),
                    c.missed
                ),
                p.dim,
            ));
        }
        if let Some(cf) = app.view.carried.file(&f.path).filter(|c| c.changed > 0) {
            title.push(Span::styled(
                format!("· {} {CARRIED_GLYPH}carried ", cf.changed),
                carried_style(p),
            ));
        }
    }
    if open.highlight_pending && open.text().is_some() && p.syntax_theme.is_some() {
        title.push(Span::styled("· colouring… ", p.dim));
    }
    let block = pane_block(app, Line::from(title), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let text = match &open.state {
        LoadState::Ready(t) => t,
        LoadState::Loading { since } => {
            let msg = if since.elapsed() > Duration::from_secs(2) {
                "still reading…"
            } else {
                "reading…"
            };
            frame.render_widget(Paragraph::new(msg).style(p.dim), inner);
            return;
        }
        LoadState::Missing => {
            let msg = format!(
                "{} is not in the deployed revision {} (a file of another build?).",
                open.path,
                short(&app.view.revision)
            );
            frame.render_widget(
                Paragraph::new(msg).style(p.warn).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
        LoadState::Failed(e) => {
            let msg = format!("Cannot read {}: {e}", open.path);
            frame.render_widget(
                Paragraph::new(msg).style(p.error).wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
    };
    let coverage = file.and_then(|f| f.coverage.as_deref());
    let changed = file.and_then(|f| f.changed.as_deref());
    let java = file.and_then(|f| f.language) == Some(SourceLanguage::Java);
    let flash = app
        .flashes
        .get(&open.path)
        .filter(|(_, until)| *until > Instant::now());
    let carried = file.and_then(|f| app.view.carried.file(&f.path));
    let categories = app
        .view
        .baseline
        .as_ref()
        .map(|b| file.and_then(|f| b.files.get(&f.path)));
    let number_width = (text.line_count().max(1).ilog10() as usize + 1).max(3);
    let category_width = if categories.is_some() { 4 } else { 0 };
    let gutter_width = number_width + 1 + 5 + 1 + 3 + 2 + category_width;
    let code_cols = (inner.width as usize).saturating_sub(gutter_width);
    let mut lines = Vec::with_capacity(inner.height as usize);
    for n in open.scroll..open.scroll.saturating_add(u32::from(inner.height)) {
        if n as usize > text.line_count() {
            break;
        }
        let lc = coverage.and_then(|c| c.line(n));
        let status = lc.map_or(LineStatus::NotCoverable, |l| l.status);
        let is_changed = changed.is_some_and(|c| c.contains(n));
        let flashing = flash.is_some_and(|(lines, _)| lines.contains(&n));
        let hits = match lc {
            None => String::new(),
            Some(l) => match (l.hits, java) {
                (Some(h), false) => format_count(h),
                // JaCoCo knows hit or not, never how often.
                _ if status == LineStatus::Missed => "-".to_string(),
                _ => "hit".to_string(),
            },
        };
        let was = carried.and_then(|c| c.status(n));
        let status_style = if was.is_some() {
            carried_style(p)
        } else {
            p.status(status)
        };
        let glyph = if was.is_some() {
            CARRIED_GLYPH
        } else {
            status_glyph(status)
        };
        let number_style = if flashing { p.flash } else { p.dim };
        let mut spans = vec![
            Span::styled(format!("{n:>number_width$} "), number_style),
            Span::styled(
                format!("{hits:>5} "),
                if flashing { p.flash } else { status_style },
            ),
            Span::styled(glyph.to_string(), status_style),
            if is_changed {
                Span::styled("+", p.changed)
            } else {
                Span::raw(" ")
            },
            if flashing {
                Span::styled("»", p.flash)
            } else {
                Span::raw(" ")
            },
            Span::styled("│ ", p.dim),
        ];
        if let Some(cats) = categories {
            // The baseline category before the bar; the ones to act on stand out.
            let (text, style) = match cats.and_then(|c| c.category(n)) {
                Some(c) if c.needs_action() => (c.code(), p.missed),
                Some(c) => (c.code(), p.dim),
                None => ("", p.dim),
            };
            spans.insert(spans.len() - 1, Span::styled(format!("{text:<3} "), style));
        }
        let line = text.line(n);
        let overlay = if status == LineStatus::Partial {
            coverage
                .map(|c| uncovered_ranges(&c.spans, n, line.len()))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let syntax = open
            .highlight
            .as_ref()
            .and_then(|h| h.lines.get(n as usize - 1))
            .map(Vec::as_slice);
        let mut base = p.text;
        if n == open.cursor {
            base = base.patch(p.cursor_line);
        }
        let pieces = styled_pieces(line, base, syntax, &overlay, p.uncovered_code);
        for (s, style) in expand_for_terminal(pieces, app.config.tab_width, code_cols) {
            spans.push(Span::styled(s, style));
        }
        let mut l = Line::from(spans);
        if n == open.cursor {
            // Fill the rest of the cursor line so it reads as a bar.
            let used = l.width();
            l.spans.push(Span::styled(
                " ".repeat((inner.width as usize).saturating_sub(used)),
                base,
            ));
        }
        lines.push(l);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

// ---- footer, toast ----

fn draw_footer(app: &App, frame: &mut Frame, area: Rect) {
    let p = &app.palette;
    let mut spans = Vec::new();
    for (key, label) in app.footer_hints() {
        spans.push(Span::styled(format!(" {key}"), p.key));
        spans.push(Span::styled(format!(" {label} "), p.dim));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_toast(app: &App, frame: &mut Frame, body: Rect) {
    let Some(toast) = &app.toast else {
        return;
    };
    let p = &app.palette;
    let text = format!(" {} ", toast.text);
    let width = (text.chars().count() as u16).min(body.width);
    if width == 0 || body.height < 2 {
        return;
    }
    let area = Rect {
        x: body.x + body.width - width,
        y: body.y + body.height - 1,
        width,
        height: 1,
    };
    frame.render_widget(Clear, area);
    let style = if toast.error { p.error } else { p.key };
    frame.render_widget(
        Paragraph::new(Line::styled(text, style.patch(p.popup))),
        area,
    );
}

// ---- popups ----

fn popup_area(outer: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(outer.width);
    let h = height.min(outer.height);
    Rect {
        x: outer.x + (outer.width - w) / 2,
        y: outer.y + (outer.height - h) / 2,
        width: w,
        height: h,
    }
}

fn popup_frame(app: &App, frame: &mut Frame, area: Rect, title: &str) -> Rect {
    let p = &app.palette;
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(p.focus_border)
        .style(p.popup)
        .title(Line::styled(format!(" {title} "), p.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

fn draw_popup(app: &App, popup: &Popup, frame: &mut Frame, outer: Rect) {
    let p = &app.palette;
    match popup {
        Popup::Help { scroll } => {
            let mut lines = Vec::new();
            for scope in [Scope::Global, Scope::Tree, Scope::Source] {
                lines.push(Line::styled(scope.title(), p.title));
                for row in app
                    .config
                    .keymap
                    .help_rows()
                    .into_iter()
                    .filter(|r| r.scope == scope)
                {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {:<16}", row.keys), p.key),
                        Span::styled(row.description, p.text),
                    ]));
                }
            }
            lines.push(Line::styled("Gutter", p.title));
            lines.push(Line::from(vec![
                Span::styled("  ✓ covered  ~ partial  ✗ missed  ", p.text),
                Span::styled(format!("{CARRIED_GLYPH} carried"), carried_style(p)),
                Span::styled(" (an older build ran it)  + changed", p.text),
            ]));
            lines.push(Line::styled(
                "  --baseline: UNC new code not run · LBC lost coverage · GNC GBC CBC UBC",
                p.text,
            ));
            lines.push(Line::styled(
                format!(
                    "  Percentages: {} ([report] partial_as_covered), as in `report` and `check`",
                    app.view.rule.describe()
                ),
                p.text,
            ));
            lines.push(Line::styled(
                "esc or any other key closes · j/k scroll",
                p.dim,
            ));
            let area = popup_area(outer, 80, lines.len() as u16 + 2);
            let inner = popup_frame(app, frame, area, popup.title());
            frame.render_widget(Paragraph::new(lines).scroll((*scroll, 0)), inner);
        }
        Popup::ConfirmReset { targets } => {
            let mut lines = vec![
                Line::styled(
                    "Dump and store the coverage now, then reset the agents of:",
                    p.text,
                ),
                Line::raw(""),
            ];
            if targets.is_empty() {
                lines.push(Line::styled("  (no targets configured)", p.dim));
            }
            for t in targets {
                let replicas = if t.replicas.is_empty() {
                    "no replicas seen".to_string()
                } else {
                    t.replicas.join(", ")
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {} ", t.name), p.title),
                    Span::styled(format!("({}): ", t.kind), p.dim),
                    Span::styled(replicas, p.text),
                ]));
                if t.reset_is_global() {
                    lines.push(Line::styled(
                        "    ⚠ JaCoCo's reset is global to the JVM: everyone testing",
                        p.warn,
                    ));
                    lines.push(Line::styled(
                        "      against it loses the coverage not dumped yet",
                        p.warn,
                    ));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled(" y ", p.key),
                Span::styled("reset  ", p.text),
                Span::styled(" any other key ", p.key),
                Span::styled("cancel", p.text),
            ]));
            let area = popup_area(outer, 76, lines.len() as u16 + 2);
            let inner = popup_frame(app, frame, area, popup.title());
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
        Popup::Export(form) => {
            let mut lines = vec![Line::styled("Format:", p.text)];
            for (i, f) in form.formats.iter().enumerate() {
                let line = Line::styled(
                    format!("  {} {f}", if i == form.selected { "▸" } else { " " }),
                    if i == form.selected {
                        p.selected
                    } else {
                        p.text
                    },
                );
                lines.push(line);
            }
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("Path: ", p.text),
                Span::styled(format!("{}▏", form.path), p.key),
            ]));
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "enter export · ↑/↓ format · type to edit the path · esc cancel",
                p.dim,
            ));
            let area = popup_area(outer, 70, lines.len() as u16 + 2);
            let inner = popup_frame(app, frame, area, popup.title());
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Popup::Finder(finder) => {
            let height = outer.height.saturating_sub(4).clamp(5, 24);
            let area = popup_area(outer, 80, height);
            let inner = popup_frame(app, frame, area, popup.title());
            let mut lines = vec![Line::from(vec![
                Span::styled("/ ", p.key),
                Span::styled(format!("{}▏", finder.query), p.text),
                Span::styled(format!("  {} files", finder.matches.len()), p.dim),
            ])];
            let visible = inner.height.saturating_sub(1) as usize;
            let first = finder.selected.saturating_sub(visible.saturating_sub(1));
            for (i, (index, matched)) in finder.matches.iter().enumerate().skip(first).take(visible)
            {
                let path = finder.path(*index);
                let mut spans = vec![Span::raw(if i == finder.selected { "▸ " } else { "  " })];
                for (ci, ch) in path.chars().enumerate() {
                    let hit = matched.binary_search(&(ci as u32)).is_ok();
                    spans.push(Span::styled(
                        ch.to_string(),
                        if hit { p.key } else { p.text },
                    ));
                }
                let mut line = Line::from(spans);
                if i == finder.selected {
                    line = line.patch_style(p.selected);
                }
                lines.push(line);
            }
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Popup::Diagnostics { scroll } => {
            let mut lines = Vec::new();
            if app.view.diagnostics.is_empty() {
                lines.push(Line::styled(
                    "Nothing to report: all coverage mapped onto the repository.",
                    p.dim,
                ));
            }
            for d in &app.view.diagnostics {
                let kind = d.kind.label();
                let style = if d.kind == DiagnosticKind::TargetError {
                    p.error
                } else {
                    p.warn
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{kind}: "), style),
                    Span::styled(d.subject.clone(), p.title),
                ]));
                lines.push(Line::styled(format!("  {}", d.message), p.text));
                lines.push(Line::styled(format!("  fix: {}", d.fix), p.dim));
            }
            let height = (lines.len() as u16 + 2)
                .min(outer.height.saturating_sub(2))
                .max(5);
            let area = popup_area(outer, 90, height);
            let inner = popup_frame(app, frame, area, popup.title());
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0)),
                inner,
            );
        }
        Popup::Notices { scroll } => {
            let mut lines = Vec::new();
            if app.notices.is_empty() {
                lines.push(Line::styled("No messages yet.", p.dim));
            }
            for n in app.notices.iter().rev() {
                lines.push(match n {
                    crate::engine::Notice::Info(t) => Line::styled(format!("info: {t}"), p.text),
                    crate::engine::Notice::Error(t) => Line::styled(format!("error: {t}"), p.error),
                });
            }
            let height = (lines.len() as u16 + 2)
                .min(outer.height.saturating_sub(2))
                .max(5);
            let area = popup_area(outer, 90, height);
            let inner = popup_frame(app, frame, area, popup.title());
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0)),
                inner,
            );
        }
    }
}
