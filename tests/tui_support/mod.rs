//! A hand-built session for the TUI tests: Go and Java files with every line state, two targets,
//! diagnostics, and an in-memory SourceStore.
#![allow(dead_code)]

use covtop::engine::Command;
use covtop::model::{
    ChangeKind, ChangedFile, ColumnSpan, Counts, Diagnostic, DiagnosticKind, FileCoverage,
    FileView, LineCoverage, LineStatus, ReplicaState, ReplicaStatus, SourceLanguage, SourceStore,
    TargetStatus, Totals, View,
};
use covtop::tui::{App, Clock, TargetInfo, Theme, UiConfig};
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const PRICING_GO: &str = "package pricing

import \"errors\"

// Discount returns the price after a percentage discount.
func Discount(price, percent int) (int, error) {
\tif percent < 0 || percent > 100 {
\t\treturn 0, errors.New(\"percent out of range\")
\t}
\treturn price - price*percent/100, nil
}

// Tier names the customer tier for a total.
func Tier(total int) string {
\tif total > 1000 { return \"gold\" } else { return \"silver\" }
}

func unused() int {
\treturn 42
}
";

pub const CART_GO: &str = "package cart

type Cart struct{ items []int }

func (c *Cart) Add(price int) {
\tc.items = append(c.items, price)
}
";

pub const API_GO: &str = "package api

func Health() string {
\treturn \"ok\"
}
";

pub const MEMORY_GO: &str = "package store

var data = map[string]int{}

func Put(k string, v int) {
\tdata[k] = v
}

func Get(k string) int {
\treturn data[k]
}
";

pub const CART_SERVICE_JAVA: &str = "package com.example.shop;

public class CartService {
    private final Cart cart = new Cart();

    public int total() {
        int sum = 0;
        for (Item i : cart.items()) {
            sum += i.price();
        }
        return sum;
    }

    public void clear() {
        cart.clear();
    }
}
";

/// A Java file deep in a Maven layout, with a line far wider than any terminal.
pub const INVENTORY_JAVA: &str = "package bookstore.inventory;

public class InventoryService {
    public int reserve(String isbn, int copies) {
        return repository.findByIsbnOrThrow(isbn).reserveCopiesForCustomerOrderAndNotifyTheWarehouseWhenBelowThreshold(copies, WAREHOUSE_THRESHOLD) + END_OF_LINE_MARKER;
    }
}
";

pub const INVENTORY: &str = "inventory/src/main/java/bookstore/inventory/InventoryService.java";

pub const PRICING: &str = "pricing/pricing.go";
pub const CART: &str = "cart/cart.go";
pub const API: &str = "api/api.go";
pub const MEMORY: &str = "internal/store/memory.go";
pub const CART_SERVICE: &str = "src/main/java/com/example/shop/CartService.java";

/// The wall clock of every test: ages in the header are measured from it.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub struct MemorySources(pub HashMap<String, Arc<[u8]>>);

impl SourceStore for MemorySources {
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
        Ok(self.0.get(path).cloned())
    }
}

pub fn sources() -> Arc<MemorySources> {
    let mut m = HashMap::new();
    for (p, t) in [
        (PRICING, PRICING_GO),
        (CART, CART_GO),
        (API, API_GO),
        (MEMORY, MEMORY_GO),
        (CART_SERVICE, CART_SERVICE_JAVA),
        (INVENTORY, INVENTORY_JAVA),
    ] {
        m.insert(p.to_string(), Arc::<[u8]>::from(t.as_bytes()));
    }
    Arc::new(MemorySources(m))
}

fn go(line: u32, hits: u64, status: LineStatus) -> LineCoverage {
    LineCoverage {
        line,
        status,
        hits: Some(hits),
        units: (u32::from(hits > 0), u32::from(hits == 0)),
        branches: (0, 0),
    }
}

fn java(line: u32, status: LineStatus) -> LineCoverage {
    LineCoverage {
        line,
        status,
        hits: None,
        units: (1, 0),
        branches: (0, 0),
    }
}

/// 1-based byte column of `needle` in `line`.
fn col(line: &str, needle: &str) -> u32 {
    line.find(needle).map_or(1, |i| i as u32 + 1)
}

fn file(
    path: &str,
    language: SourceLanguage,
    lines: Vec<LineCoverage>,
    spans: Vec<ColumnSpan>,
    changed: &[u32],
    newly_hit: &[u32],
) -> FileView {
    let coverage = FileCoverage {
        path: path.into(),
        lines,
        spans,
        units: (0, 0),
    };
    let mut changed_counts = Counts::default();
    for &l in changed {
        changed_counts.add(coverage.status(l));
    }
    let whole_counts = coverage.counts();
    FileView {
        path: path.into(),
        language: Some(language),
        coverage: if coverage.lines.is_empty() {
            None
        } else {
            Some(Arc::new(coverage))
        },
        changed: if changed.is_empty() {
            None
        } else {
            Some(Arc::new(ChangedFile {
                path: path.into(),
                kind: ChangeKind::Modified,
                lines: changed.to_vec(),
                deletions_before: Vec::new(),
            }))
        },
        changed_counts,
        whole_counts,
        newly_hit: newly_hit.to_vec(),
        hit_since_mark: None,
        targets: Default::default(),
    }
}

pub fn pricing(newly_hit: &[u32]) -> FileView {
    use LineStatus::*;
    let tier = PRICING_GO.lines().nth(14).unwrap_or("");
    file(
        PRICING,
        SourceLanguage::Go,
        vec![
            go(6, 12, Covered),
            go(7, 12, Covered),
            go(8, 0, Missed),
            go(10, 12, Covered),
            go(14, 5, Covered),
            go(15, 5, Partial),
            go(18, 0, Missed),
            go(19, 0, Missed),
        ],
        vec![
            ColumnSpan {
                line: 15,
                start_col: col(tier, "if"),
                end_col: Some(col(tier, "return \"gold\"")),
                covered: true,
            },
            ColumnSpan {
                line: 15,
                start_col: col(tier, "return \"gold\""),
                end_col: Some(col(tier, "} else")),
                covered: true,
            },
            ColumnSpan {
                line: 15,
                start_col: col(tier, "return \"silver\""),
                end_col: None,
                covered: false,
            },
        ],
        &[5, 7, 8, 10, 14, 15, 18, 19],
        newly_hit,
    )
}

pub fn cart(hits: u64) -> FileView {
    use LineStatus::*;
    file(
        CART,
        SourceLanguage::Go,
        vec![go(5, hits, Covered), go(6, hits, Covered)],
        vec![],
        &[5, 6],
        &[],
    )
}

/// A root-level Go file none of whose two changed lines ran.
pub fn root_file() -> FileView {
    use LineStatus::*;
    file(
        "main.go",
        SourceLanguage::Go,
        vec![go(5, 0, Missed), go(6, 0, Missed)],
        vec![],
        &[5, 6],
        &[],
    )
}

pub fn api() -> FileView {
    use LineStatus::*;
    file(
        API,
        SourceLanguage::Go,
        vec![go(3, 40, Covered), go(4, 40, Covered)],
        vec![],
        &[],
        &[],
    )
}

pub fn memory() -> FileView {
    use LineStatus::*;
    file(
        MEMORY,
        SourceLanguage::Go,
        vec![
            go(5, 0, Missed),
            go(6, 0, Missed),
            go(9, 3, Covered),
            go(10, 3, Covered),
        ],
        vec![],
        &[5, 6, 9, 10],
        &[],
    )
}

pub fn cart_service() -> FileView {
    use LineStatus::*;
    file(
        CART_SERVICE,
        SourceLanguage::Java,
        vec![
            java(3, Covered),
            java(4, Covered),
            java(6, Covered),
            java(7, Covered),
            LineCoverage {
                line: 8,
                status: Partial,
                hits: None,
                units: (3, 1),
                branches: (1, 1),
            },
            java(9, Covered),
            java(11, Covered),
            LineCoverage {
                line: 14,
                status: Missed,
                hits: None,
                units: (0, 1),
                branches: (0, 0),
            },
            LineCoverage {
                line: 15,
                status: Missed,
                hits: None,
                units: (0, 3),
                branches: (0, 0),
            },
        ],
        vec![],
        &[7, 8, 9, 11, 14, 15],
        &[],
    )
}

pub fn inventory() -> FileView {
    use LineStatus::*;
    file(
        INVENTORY,
        SourceLanguage::Java,
        vec![java(3, Covered), java(5, Missed)],
        vec![],
        &[5],
        &[],
    )
}

/// The View of [`view`] with [`inventory`] added: a long path and a long line.
pub fn long_path_view() -> Arc<View> {
    let mut v = (*view(1)).clone();
    v.files.push(inventory());
    v.files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut totals = Totals::default();
    for f in &v.files {
        totals.changed.merge(f.changed_counts);
        totals.whole.merge(f.whole_counts);
    }
    v.totals = totals;
    Arc::new(v)
}

pub fn targets() -> Vec<TargetStatus> {
    vec![
        TargetStatus {
            name: "shop-api".into(),
            kind: "goc-v2".into(),
            replicas: vec![
                ReplicaStatus {
                    id: "10.0.0.7:7777".into(),
                    state: ReplicaState::Up,
                    last_poll: Some(now() - Duration::from_secs(3)),
                    epoch: 1,
                },
                ReplicaStatus {
                    id: "10.0.0.8:7777".into(),
                    state: ReplicaState::Down("connection refused".into()),
                    last_poll: Some(now() - Duration::from_secs(125)),
                    epoch: 2,
                },
            ],
            has_data: true,
        },
        TargetStatus {
            name: "billing".into(),
            kind: "jacoco".into(),
            replicas: vec![ReplicaStatus {
                id: "10.0.1.4:6300".into(),
                state: ReplicaState::Slow,
                last_poll: Some(now() - Duration::from_secs(1)),
                epoch: 1,
            }],
            has_data: true,
        },
    ]
}

/// Three targets of four replicas each: up, slow, down with long errors (one never answered),
/// gone, and a goc v1 address as id.
pub fn many_replicas() -> Vec<TargetStatus> {
    let replica = |id: &str, state: ReplicaState, ago: Option<u64>, epoch: u32| ReplicaStatus {
        id: id.into(),
        state,
        last_poll: ago.map(|s| now() - Duration::from_secs(s)),
        epoch,
    };
    let refused = "dial tcp 10.0.0.8:7777: connect: connection refused (the agent did not answer \
                   within 2s; is the pod running and is the goc agent listening on this port?)";
    vec![
        TargetStatus {
            name: "shop-api".into(),
            kind: "goc-v2".into(),
            replicas: vec![
                replica("10.0.0.7:7777", ReplicaState::Up, Some(3), 1),
                replica("10.0.0.8:7777", ReplicaState::Down(refused.into()), Some(125), 2),
                replica("10.0.0.9:7777", ReplicaState::Up, Some(3), 1),
                replica("10.0.0.10:7777", ReplicaState::Slow, Some(4), 3),
            ],
            has_data: true,
        },
        TargetStatus {
            name: "checkout".into(),
            kind: "goc".into(),
            replicas: vec![
                replica("http://10.0.2.11:7778", ReplicaState::Up, Some(2), 1),
                replica("http://10.0.2.12:7778", ReplicaState::Gone, Some(600), 1),
                replica(
                    "service payments",
                    ReplicaState::Down(format!(
                        "service \"payments\" is not registered at http://goc-center.tools.svc.cluster.local:7777; {}",
                        "registered: checkout, inventory, notifications, search, shop-api, recommendations"
                    )),
                    None,
                    0,
                ),
                replica("http://10.0.2.14:7778", ReplicaState::Up, Some(2), 2),
            ],
            has_data: true,
        },
        TargetStatus {
            name: "billing".into(),
            kind: "jacoco".into(),
            replicas: vec![
                replica("10.0.1.4:6300", ReplicaState::Slow, Some(1), 1),
                replica("10.0.1.5:6300", ReplicaState::Up, Some(1), 1),
                replica(
                    "10.0.1.6:6300",
                    ReplicaState::Down(
                        "reading the JaCoCo session header: connection reset by peer after 0 of 5 bytes; \
                         a tcpserver agent answers with 0xC0C0 and the format version"
                            .into(),
                    ),
                    Some(3700),
                    4,
                ),
                replica("10.0.1.7:6300", ReplicaState::Up, Some(1), 1),
            ],
            has_data: true,
        },
    ]
}

/// The session View with [`many_replicas`] as its targets and a target error per down replica,
/// as the engine makes them.
pub fn many_replicas_view() -> Arc<View> {
    let mut v = (*view(1)).clone();
    v.targets = many_replicas();
    v.diagnostics
        .retain(|d| d.kind != DiagnosticKind::TargetError);
    for t in &v.targets {
        for r in &t.replicas {
            if let ReplicaState::Down(e) = &r.state {
                v.diagnostics.push(Diagnostic {
                    kind: DiagnosticKind::TargetError,
                    subject: format!("{} {}", t.name, r.id),
                    message: e.clone(),
                    fix: "check that the agent runs and is reachable from here".into(),
                });
            }
        }
    }
    Arc::new(v)
}

pub fn diagnostics() -> Vec<Diagnostic> {
    vec![
        Diagnostic {
            kind: DiagnosticKind::Unmapped,
            subject: "example.com/vendor/lib/x.go".into(),
            message: "no repository file matches this import path".into(),
            fix: "add a [[map]] rule in covtop.toml or set [go].module".into(),
        },
        Diagnostic {
            kind: DiagnosticKind::TargetError,
            subject: "shop-api 10.0.0.8:7777".into(),
            message: "connection refused".into(),
            fix: "check that the goc agent runs and the address is reachable".into(),
        },
    ]
}

/// A View of the session; `generation` 1 has no newly hit lines, later ones flash pricing.go.
pub fn view(generation: u64) -> Arc<View> {
    let newly: &[u32] = if generation > 1 { &[14, 15] } else { &[] };
    let mut files = vec![api(), cart(2), memory(), pricing(newly), cart_service()];
    // The target whose data holds each file with coverage: Go files shop-api's (targets()[0]),
    // Java files billing's (targets()[1]).
    for f in &mut files {
        if f.coverage.is_some() {
            let t: u16 = if f.language == Some(SourceLanguage::Java) {
                1
            } else {
                0
            };
            f.targets = Arc::from(&[t][..]);
        }
    }
    let mut totals = Totals::default();
    for f in &files {
        totals.changed.merge(f.changed_counts);
        totals.whole.merge(f.whole_counts);
    }
    Arc::new(View {
        generation,
        created: Some(now()),
        revision: "4f2a9c1e7b3d5a6f8e9d0c1b2a3f4e5d6c7b8a9f".into(),
        base: "origin/main".into(),
        files,
        totals,
        targets: targets(),
        diagnostics: diagnostics(),
        history: vec![10.0, 25.0, 40.0, 42.5, 57.1],
        demo: false,
        paused: false,
        interval: Duration::from_secs(2),
        ..View::default()
    })
}

pub fn config(theme: Theme) -> UiConfig {
    UiConfig {
        theme,
        targets: vec![
            TargetInfo {
                name: "shop-api".into(),
                kind: "goc-v2".into(),
            },
            TargetInfo {
                name: "billing".into(),
                kind: "jacoco".into(),
            },
        ],
        clock: Clock::Fixed(now()),
        // Long enough that a slow machine never sees a flash expire mid-test.
        flash: Duration::from_secs(60),
        ..UiConfig::default()
    }
}

/// An App with the first View, its source read and highlighted.
pub fn app(theme: Theme) -> App {
    let mut app = App::new(config(theme), sources());
    app.on_view(view(1));
    settle(&mut app);
    app
}

pub fn settle(app: &mut App) {
    assert!(
        app.settle(Duration::from_secs(30)),
        "the source worker did not answer in 30 s"
    );
}

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

pub fn ch(c: char) -> Event {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Event::Key(KeyEvent {
        code: KeyCode::Char(c),
        modifiers,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

pub fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::CONTROL,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

pub fn click(column: u16, row: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

pub fn wheel_down(column: u16, row: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

/// Sends keys (each char a key press) and collects the commands.
pub fn press(app: &mut App, keys: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in keys.chars() {
        out.extend(app.handle_event(ch(c)));
    }
    settle(app);
    out
}

pub fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    app.resize(width, height);
    terminal.draw(|f| app.draw(f)).expect("draw");
    terminal
}

/// The text of screen row `y`.
pub fn row_text(terminal: &Terminal<TestBackend>, y: u16) -> String {
    let buf = terminal.backend().buffer();
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// The first screen row containing `needle`.
pub fn find_row(terminal: &Terminal<TestBackend>, needle: &str) -> Option<u16> {
    let h = terminal.backend().buffer().area.height;
    (0..h).find(|&y| row_text(terminal, y).contains(needle))
}
