//! A file looks the same on the screen and in the HTML report: both cut a line into pieces with
//! the one highlighter (`present::source`), so every character of the code has the same colour
//! on the screen's light theme and in the HTML page (the same `LIGHT_SYNTAX` colours), and both gutters
//! show the same hit marks and glyphs (`present`). The HTML page is also opened in headless
//! Chromium, which must render those colours.

mod common;
mod tui_support;

use covtop::report::html::{HtmlOptions, page_name, write_html};
use covtop::tui::Theme;
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use tui_support::*;

type Rgb = Option<(u8, u8, u8)>;

use common::page_row;

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every non-blank character of a page row's code cell with its colour (`color:#rrggbb`).
fn html_colours(row: &str) -> Vec<(char, Rgb)> {
    let code = &row[row.find("<td class=\"code\">").unwrap() + "<td class=\"code\">".len()..];
    let code = &code[..code.rfind("</td>").unwrap()];
    let mut out = Vec::new();
    let mut rest = code;
    while !rest.is_empty() {
        let (text, colour, after) = match rest.strip_prefix("<span") {
            Some(span) => {
                let open_end = span.find('>').unwrap();
                let attrs = &span[..open_end];
                let colour = attrs.find("color:#").map(|i| {
                    let hex = &attrs[i + 7..i + 13];
                    let byte = |k: usize| u8::from_str_radix(&hex[k..k + 2], 16).unwrap();
                    (byte(0), byte(2), byte(4))
                });
                let body = &span[open_end + 1..];
                let close = body.find("</span>").unwrap();
                (&body[..close], colour, &body[close + "</span>".len()..])
            }
            None => {
                let end = rest.find('<').unwrap_or(rest.len());
                (&rest[..end], None, &rest[end..])
            }
        };
        out.extend(
            unescape(text)
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| (c, colour)),
        );
        rest = after;
    }
    out
}

/// Every non-blank character of the screen row `y` from the cell where `code` starts to the
/// pane's border, with its foreground colour.
fn screen_colours(t: &Terminal<TestBackend>, y: u16, code: &str) -> Vec<(char, Rgb)> {
    let buf = t.backend().buffer();
    let cells: Vec<(char, Color)> = (0..buf.area.width)
        .map(|x| {
            let c = &buf[(x, y)];
            (c.symbol().chars().next().unwrap_or(' '), c.fg)
        })
        .collect();
    let needle: Vec<char> = code.chars().collect();
    let at = (0..cells.len())
        .find(|&x| {
            needle
                .iter()
                .enumerate()
                .all(|(i, c)| cells.get(x + i).is_some_and(|(d, _)| d == c))
        })
        .unwrap_or_else(|| panic!("{code:?} is not on row {y}"));
    cells[at..]
        .iter()
        .take_while(|(c, _)| *c != '│')
        .filter(|(c, _)| !c.is_whitespace())
        .map(|(c, fg)| {
            let rgb = match fg {
                Color::Rgb(r, g, b) => Some((*r, *g, *b)),
                _ => None,
            };
            (*c, rgb)
        })
        .collect()
}

/// The same line: same characters, same colour each, on the screen (as far as the pane shows it)
/// and in the page.
fn assert_same_look(t: &Terminal<TestBackend>, page: &str, n: u32, code: &str) {
    let y = find_row(t, code).unwrap_or_else(|| panic!("{code:?} is not on the screen"));
    let screen = screen_colours(t, y, code);
    let html = html_colours(page_row(page, n));
    assert!(
        screen.len() >= 10,
        "line {n}: too little to compare: {screen:?}"
    );
    // Highlighted: some of the line in a syntax colour, not all of it in one (code outside every
    // token keeps the text colour, which is no RGB colour on the screen and none in the page).
    let colours: std::collections::HashSet<Rgb> = screen.iter().map(|(_, c)| *c).collect();
    assert!(
        colours.len() >= 2 && colours.iter().any(Option::is_some),
        "line {n} is not highlighted on the screen: {screen:?}"
    );
    assert_eq!(
        &html[..screen.len()],
        &screen[..],
        "line {n} {code:?}: screen and HTML colour it differently"
    );
}

#[test]
fn a_go_and_a_java_file_look_the_same_on_the_screen_and_in_html() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("html");
    let view = view(1);
    let store = sources();
    write_html(
        &view,
        &*store,
        &HtmlOptions {
            title: "same look".into(),
            ..HtmlOptions::default()
        },
        &out,
    )
    .unwrap();
    let read =
        |path: &str| std::fs::read_to_string(out.join("files").join(page_name(path))).unwrap();

    let mut app = app(Theme::Light);
    assert_eq!(app.source_cursor().map(|(p, _)| p), Some(CART));
    let t = render(&mut app, 160, 40);
    let cart = read(CART);
    assert_same_look(&t, &cart, 3, "type Cart struct{ items []int }");
    assert_same_look(&t, &cart, 5, "func (c *Cart) Add(price int) {");
    // The gutters: Go's count, the glyph, the changed mark.
    let y = find_row(&t, "func (c *Cart) Add").unwrap();
    assert!(row_text(&t, y).contains("    2 ✓+"), "{}", row_text(&t, y));
    let row = page_row(&cart, 5);
    assert!(
        row.contains("<td class=\"hits\">2</td>")
            && row.contains(">✓</td>")
            && row.contains(">+</td>"),
        "{row}"
    );

    press(&mut app, "/CartServ");
    app.handle_event(key(KeyCode::Enter));
    settle(&mut app);
    let t = render(&mut app, 160, 40);
    let java = read(CART_SERVICE);
    assert_same_look(&t, &java, 3, "public class CartService {");
    assert_same_look(&t, &java, 6, "public int total() {");
    assert_same_look(&t, &java, 11, "return sum;");
    // JaCoCo's marks, never a count: `hit`, and `-` on a missed line, in both.
    let y = find_row(&t, "cart.clear();").unwrap();
    assert!(row_text(&t, y).contains("    - ✗+"), "{}", row_text(&t, y));
    let row = page_row(&java, 15);
    assert!(
        row.contains("<td class=\"hits\">-</td>") && row.contains(">✗</td>"),
        "{row}"
    );
    let y = find_row(&t, "return sum;").unwrap();
    assert!(row_text(&t, y).contains("  hit ✓+"), "{}", row_text(&t, y));
    assert!(page_row(&java, 11).contains("<td class=\"hits\">hit</td>"));

    // A real browser renders the page with those colours: a keyword's colour is on its text.
    if !common::have_tool("chromium", "--version") {
        assert!(!common::in_ci(), "chromium is needed");
        return;
    }
    let (keyword_colour, _) = html_colours(page_row(&java, 3))
        .first()
        .map(|(_, c)| (c.unwrap(), ()))
        .unwrap();
    let profile = tmp.path().join("chromium-profile");
    // The page as written, with a script that puts the browser's colour of line 3's first
    // piece in the title.
    let probe = tmp.path().join("probe.html");
    std::fs::write(
        &probe,
        java.replace(
            "</body>",
            "<script>var s=document.querySelector('#L3 td.code span');\
             document.title=getComputedStyle(s).color+'|'+s.textContent;</script></body>",
        ),
    )
    .unwrap();
    let dom = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", probe.display()),
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let (r, g, b) = keyword_colour;
    assert!(
        dom.contains(&format!("<title>rgb({r}, {g}, {b})|public</title>")),
        "chromium's colour of `public` on line 3: {dom}"
    );
}
