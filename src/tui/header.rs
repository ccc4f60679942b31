//! The header: totals, polling state, diagnostics count, revision, the baseline's categories and
//! one block of rows per target with a chip per replica.

use super::component::{CommandInfo, Component, Ctx};
use super::keymap::Action;
use super::text::{cut_left, format_age, format_interval, percent_text, short, sparkline};
use super::theme::{CARRIED_GLYPH, carried_style};
use crate::model::{ReplicaState, ReplicaStatus, View};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The header has no state of its own: it shows the View and the polling state.
#[derive(Debug, Default)]
pub(crate) struct Header;

impl Header {
    /// The rows the header needs on the screen `ctx.screen`.
    pub fn height(&self, ctx: &Ctx) -> u16 {
        1 + u16::from(ctx.view.baseline.is_some()) + header_target_lines(ctx).len() as u16
    }
}

impl Component for Header {
    fn commands(&self, _ctx: &Ctx) -> Vec<CommandInfo> {
        Vec::new()
    }

    fn draw(&self, ctx: &Ctx, frame: &mut Frame, area: Rect) {
        draw_header(ctx, frame, area, header_target_lines(ctx));
    }
}

/// Gap between two chips of a header row.
const CHIP_GAP: &str = "  ";
/// What starts a target's continuation rows (its chips then start at column 3, below the name).
const CHIP_INDENT: &str = " ";

/// Header rows for the targets: at most about a third of the screen, totals line included.
fn target_row_budget(ctx: &Ctx) -> usize {
    let fixed = 1 + usize::from(ctx.view.baseline.is_some());
    (ctx.screen.height as usize / 3)
        .saturating_sub(fixed)
        .max(1)
}

/// The target rows of the header: per target `name (kind)` and a chip per replica, wrapped onto
/// continuation rows within the row budget. Every replica is shown while the budget allows;
/// the rest are counted in a last `+N more (D)` chip. A down replica's error is in the
/// diagnostics panel, never here, so it cannot push other replicas off the screen.
fn header_target_lines(ctx: &Ctx) -> Vec<Line<'static>> {
    let targets = &ctx.view.targets;
    if targets.is_empty() {
        return Vec::new();
    }
    let p = ctx.palette;
    let width = ctx.screen.width as usize;
    let budget = target_row_budget(ctx);
    let key = ctx
        .keymap
        .keys(Action::Diagnostics)
        .first()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    let more = |n: usize| Chip::new(vec![Span::styled(format!("+{n} more{key}"), p.warn)]);
    let id_width = (width / 3).clamp(12, 40);
    let laid: Vec<(Vec<Span<'static>>, Vec<Chip>)> = targets
        .iter()
        .map(|t| {
            let head = vec![
                Span::styled(format!(" {} ", crate::escape::field(&t.name)), p.title),
                Span::styled(format!("({})", t.kind), p.dim),
            ];
            let chips = if t.replicas.is_empty() {
                vec![Chip::new(vec![Span::styled("no replicas found", p.warn)])]
            } else {
                t.replicas
                    .iter()
                    .map(|r| replica_chip(ctx, r, id_width))
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
fn replica_chip(ctx: &Ctx, r: &ReplicaStatus, id_width: usize) -> Chip {
    let p = ctx.palette;
    // Ids and addresses come from agents: a control character is shown, never sent.
    let id = cut_left(&crate::escape::field(&r.id), id_width);
    let (text, style) = match &r.state {
        ReplicaState::Up => (format!("● {id} up"), p.covered),
        ReplicaState::Slow => (format!("◐ {id} slow"), p.partial),
        ReplicaState::Down(_) => (format!("✗ {id} down"), p.missed),
        ReplicaState::Gone => (format!("○ {id} gone"), p.dim),
    };
    let mut spans = vec![Span::styled(text, style)];
    if let Some(at) = r.last_poll {
        spans.push(Span::styled(
            format!(" {} e{}", format_age(ctx.now, at), r.epoch),
            p.dim,
        ));
    }
    Chip::new(spans)
}

/// `s` if it fits in `width` characters, else its end after `…`.
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

/// The headline's pieces and how much each matters: when the line is wider than the screen the
/// least important go first, so the diagnostics count and its key are never cut off the end.
struct Headline {
    pieces: Vec<(u8, Vec<Span<'static>>)>,
}

impl Headline {
    fn push(&mut self, keep: u8, spans: Vec<Span<'static>>) {
        self.pieces.push((keep, spans));
    }

    /// The pieces that fit in `width`, taken most important first (a small piece of less
    /// importance still goes in when a larger one did not fit), shown in their order.
    fn line(self, width: usize) -> Line<'static> {
        let widths: Vec<usize> = self
            .pieces
            .iter()
            .map(|(_, s)| s.iter().map(Span::width).sum())
            .collect();
        let mut order: Vec<usize> = (0..self.pieces.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.pieces[i].0));
        let mut keep = vec![false; self.pieces.len()];
        let mut used = 0;
        for i in order {
            if self.pieces[i].0 == KEEP_ALWAYS || used + widths[i] <= width {
                keep[i] = true;
                used += widths[i];
            }
        }
        Line::from(
            self.pieces
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .flat_map(|((_, s), _)| s)
                .collect::<Vec<_>>(),
        )
    }
}

const KEEP_ALWAYS: u8 = u8::MAX;

/// Widest a store's location or problem is shown in the headline (the whole problem is a
/// diagnostic).
const STORE_TEXT: usize = 32;

/// ` │ store postgres://db/coverage ✓`, or `⚠` and the first words of what is wrong (up to a
/// parenthesis or colon: `⚠ unreachable`): for a shared store always, for the local folder only
/// when something is wrong with it. Three pieces, so that a narrow screen drops the location
/// first and keeps a problem.
fn store_pieces(ctx: &Ctx) -> Vec<(u8, Vec<Span<'static>>)> {
    let p = ctx.palette;
    let Some(store) = ctx.view.store.as_ref() else {
        return Vec::new();
    };
    if !store.shared && store.problem.is_none() {
        return Vec::new();
    }
    let (keep, state) = match &store.problem {
        None => (35, Span::styled(" ✓", p.covered)),
        Some(problem) => {
            let problem = crate::escape::field(problem);
            let head = problem.split(['(', ':']).next().unwrap_or_default().trim();
            let mut words: String = head.chars().take(STORE_TEXT).collect();
            if head.chars().count() > STORE_TEXT {
                words.push('…');
            }
            (90, Span::styled(format!(" ⚠ {words}"), p.warn))
        }
    };
    let location = cut_left(&crate::escape::field(&store.location), STORE_TEXT);
    vec![
        (
            keep,
            vec![Span::styled(" │ ", p.dim), Span::styled("store", p.dim)],
        ),
        (keep - 5, vec![Span::styled(format!(" {location}"), p.text)]),
        (keep, vec![state]),
    ]
}

fn draw_header(ctx: &Ctx, frame: &mut Frame, area: Rect, target_lines: Vec<Line<'static>>) {
    let p = ctx.palette;
    let view = ctx.view;
    let sep = || Span::styled(" │ ", p.dim);
    let mut head = Headline { pieces: Vec::new() };
    head.push(KEEP_ALWAYS, vec![Span::styled(" covtop ", p.title)]);
    if view.demo {
        head.push(
            KEEP_ALWAYS,
            vec![Span::styled(" DEMO ", p.demo), Span::raw(" ")],
        );
    }
    let changed = &view.totals.changed;
    let rule = view.rule;
    // Nothing coverable is never shown as `– 0/0`, which reads as "nothing changed".
    let headline = if changed.coverable() > 0 {
        vec![
            Span::styled("changed ", p.dim),
            Span::styled(
                percent_text(rule, changed),
                p.percent(rule.percent(changed)),
            ),
            Span::styled(
                format!(" {}/{}", rule.covered(changed), changed.coverable()),
                p.dim,
            ),
        ]
    } else if changed.no_data > 0 {
        vec![
            Span::styled("changed ", p.dim),
            Span::styled(format!("no data yet ({} lines)", changed.no_data), p.warn),
        ]
    } else if view.files.iter().any(|f| f.has_changes()) {
        vec![Span::styled("changed lines hold no code", p.dim)]
    } else {
        vec![Span::styled("no changed lines yet", p.dim)]
    };
    head.push(KEEP_ALWAYS, headline);
    if changed.partial > 0 {
        // Which rule is in force, where it matters.
        head.push(
            30,
            vec![Span::styled(
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
            )],
        );
    }
    if changed.no_data > 0 && changed.coverable() > 0 {
        head.push(
            70,
            vec![Span::styled(
                format!(" +{} no data", changed.no_data),
                p.warn,
            )],
        );
    }
    if let Some(c) = view.totals.carried_changed_percent()
        && view.totals.carried_changed > 0
    {
        // Older builds' coverage, apart from this build's own.
        head.push(
            40,
            vec![Span::styled(
                format!(" +{c:.1}% {CARRIED_GLYPH}carried"),
                carried_style(p),
            )],
        );
    }
    head.push(
        50,
        vec![
            sep(),
            Span::styled("all ", p.dim),
            Span::styled(
                percent_text(rule, &view.totals.whole),
                p.percent(rule.percent(&view.totals.whole)),
            ),
        ],
    );
    if let Some((lines, changed)) = since_mark(view) {
        head.push(
            45,
            vec![
                sep(),
                Span::styled(
                    format!("since mark +{lines} lines ({changed} changed)"),
                    p.newly,
                ),
            ],
        );
    }
    let polling = if ctx.paused {
        Span::styled("⏸ paused", p.warn)
    } else {
        Span::styled(format!("⟳ every {}", format_interval(ctx.interval)), p.text)
    };
    head.push(80, vec![sep(), polling]);
    for (keep, spans) in store_pieces(ctx) {
        head.push(keep, spans);
    }
    if ctx.frozen {
        head.push(85, vec![sep(), Span::styled(" FROZEN ", p.demo)]);
    }
    if view.analysing {
        head.push(
            75,
            vec![sep(), Span::styled("⧗ analysing classes…", p.warn)],
        );
    }
    if !view.diagnostics.is_empty() {
        // What did not map is easy to miss: say how much there is and where to look.
        let key = ctx
            .keymap
            .keys(Action::Diagnostics)
            .first()
            .map(|k| k.to_string());
        head.push(
            95,
            vec![
                sep(),
                Span::styled(
                    format!(
                        "⚠ {} diagnostic{}{}",
                        view.diagnostics.len(),
                        if view.diagnostics.len() == 1 { "" } else { "s" },
                        key.map(|k| format!(" ({k})")).unwrap_or_default()
                    ),
                    p.warn,
                ),
            ],
        );
    }
    if !view.history.is_empty() {
        head.push(
            10,
            vec![sep(), Span::styled(sparkline(&view.history, 20), p.title)],
        );
    }
    let rev = if view.revision.is_empty() {
        "no revision yet".to_string()
    } else {
        short(&view.revision)
    };
    head.push(20, vec![sep(), Span::styled(rev, p.text)]);
    if !view.base.is_empty() {
        head.push(
            15,
            vec![Span::styled(
                format!(" vs {}", crate::escape::field(&view.base)),
                p.dim,
            )],
        );
    }
    let mut lines = vec![head.line(area.width as usize)];
    if let Some(b) = &view.baseline {
        let t = &b.totals;
        let mut spans = vec![
            Span::styled(
                format!(" vs baseline {} ", crate::escape::field(&b.label)),
                p.title,
            ),
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
