//! The HTML report: written from a real Engine View (goc agent serving a real `go test`
//! profile, real git repository), checked structurally and rendered in headless Chromium.

mod common;

use covtop::demo::gocserver::v1::{Agent, Center};
use covtop::demo::gocserver::{AgentProfile, SharedProfile};
use covtop::model::{
    ChangeKind, ChangedFile, ColumnSpan, Counts, FileCoverage, FileView, LineCoverage, LineStatus,
    SourceLanguage, SourceStore, View,
};
use covtop::report::html::{HtmlError, HtmlOptions, page_name, write_html};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn opts(changed_only: bool) -> HtmlOptions {
    HtmlOptions {
        changed_only,
        partial_as_covered: false,
        title: "shop coverage".to_string(),
        ..HtmlOptions::default()
    }
}

fn status_class(s: LineStatus) -> &'static str {
    match s {
        LineStatus::Covered => "s-covered",
        LineStatus::Partial => "s-partial",
        LineStatus::Missed => "s-missed",
        LineStatus::NotCoverable => "s-none",
    }
}

fn glyph(s: LineStatus) -> &'static str {
    match s {
        LineStatus::Covered => "✓",
        LineStatus::Partial => "~",
        LineStatus::Missed => "✗",
        LineStatus::NotCoverable => "",
    }
}

use common::page_row as line_row;

fn pct(c: &Counts) -> String {
    c.percent(false)
        .map_or("–".to_string(), |p| format!("{p:.1}%"))
}

/// Runs headless Chromium on `url`; returns its stdout. Killed after 90 s.
fn chromium(args: &[&str], url: &str, profile: &Path) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Decodes a PNG; returns (width, height, distinct RGB colours).
fn png_colours(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let bpp = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    for px in buf[..info.buffer_size()].chunks(bpp) {
        colours.insert((px[0], px.get(1).copied(), px.get(2).copied()));
    }
    (info.width, info.height, colours.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_a_real_engine_view_renders_in_chromium() {
    if !common::have_tool("go", "version") || !common::have_tool("git", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    common::sample_repo(&repo);
    let profile_text = common::go_test_profile(&repo, tmp.path());
    let center = Center::start().await.unwrap();
    let _agent = Agent::start(
        "shop",
        SharedProfile::new(AgentProfile::from_text(&profile_text).unwrap()),
        0,
        Some(&center.url()),
    )
    .await
    .unwrap();
    let config = tmp.path().join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[poll]\ntimeout = \"2s\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"goc\"\nurl = \"{}\"\n",
            repo.display(),
            tmp.path().join("sessions").display(),
            center.url()
        ),
    )
    .unwrap();
    let mut engine = covtop::engine::Engine::open(covtop::config::load(&config).unwrap()).unwrap();
    engine.poll(&[]).await.unwrap();
    let view = engine.view();
    let sources = covtop::vcs::GitSources::new(engine.repo(), engine.revision()).unwrap();

    let out = tmp.path().join("report");
    let summary = write_html(&view, &sources, &opts(false), &out).unwrap();
    assert_eq!(summary.index, out.join("index.html"));
    assert_eq!(summary.pages, view.files.len());
    assert!(summary.sources_missing.is_empty(), "{summary:?}");
    let index = std::fs::read_to_string(&summary.index).unwrap();

    // Header totals are the View's.
    assert!(index.contains(&format!(
        "<span class=\"big\" id=\"changed-pct\">changed lines {}</span>",
        pct(&view.totals.changed)
    )));
    assert!(index.contains(&format!(
        "id=\"whole-pct\">whole {}</span>",
        pct(&view.totals.whole)
    )));
    assert!(index.contains(&view.revision));

    let cart = view
        .files
        .iter()
        .find(|f| f.path == "cart/cart.go")
        .unwrap();
    let pricing = view
        .files
        .iter()
        .find(|f| f.path == "pricing/pricing.go")
        .unwrap();
    assert!(cart.has_changes() && pricing.has_changes());
    let mut changed_lines_checked = 0;
    let mut rows_in_order = Vec::new();
    for f in &view.files {
        if f.coverage.is_none() {
            assert!(index.contains(&format!("<li data-path=\"{}\">", f.path)));
            continue;
        }
        // The index row carries exactly the View's changed-line counts.
        let c = &f.changed_counts;
        let row = format!(
            "<tr data-path=\"{p}\"><td class=\"path\"><a href=\"files/{page}\">{p}</a></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            c.coverable(),
            c.covered,
            c.partial,
            c.missed,
            p = f.path,
            page = page_name(&f.path),
        );
        let at = index
            .find(&row)
            .unwrap_or_else(|| panic!("no row {row} in\n{index}"));
        rows_in_order.push((at, c.percent(false), f.path.clone()));

        // Every changed line's gutter shows its status by class and glyph.
        let page = std::fs::read_to_string(out.join("files").join(page_name(&f.path))).unwrap();
        let cov = f.coverage.as_ref().unwrap();
        for &n in f.changed.as_ref().map_or(&[][..], |c| &c.lines[..]) {
            let status = cov.status(n);
            let row = line_row(&page, n);
            assert!(
                row.contains(&format!("class=\"{} changed\"", status_class(status))),
                "{}:{n}: {row}",
                f.path
            );
            assert!(
                row.contains(&format!("\">{}</td><td class=\"chg\"", glyph(status)))
                    || (status == LineStatus::NotCoverable
                        && row.contains("<td class=\"st\"></td>")),
                "{}:{n} glyph: {row}",
                f.path
            );
            assert!(row.contains("title=\"changed since the base\">+"));
            // Go: the gutter shows the real count.
            if let Some(h) = cov.line(n).and_then(|l| l.hits) {
                assert!(
                    row.contains(&format!("<td class=\"hits\">{h}</td>")),
                    "{row}"
                );
            }
            changed_lines_checked += 1;
        }
    }
    assert!(changed_lines_checked >= 10, "{changed_lines_checked}");
    // Least covered first.
    rows_in_order.sort_by_key(|r| r.0);
    let percents: Vec<f64> = rows_in_order.iter().filter_map(|r| r.1).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "{rows_in_order:?}"
    );

    // pricing.go's `if percent >= 100` line is partial: the block after the condition did not
    // run, and exactly that part is marked (byte columns of the real profile).
    let pricing_src = std::fs::read_to_string(repo.join("pricing/pricing.go")).unwrap();
    let cap_if = pricing_src
        .lines()
        .position(|l| l.contains("if percent >= 100"))
        .unwrap() as u32
        + 1;
    let cov = pricing.coverage.as_ref().unwrap();
    assert_eq!(cov.status(cap_if), LineStatus::Partial);
    let page = std::fs::read_to_string(out.join("files").join(page_name(&pricing.path))).unwrap();
    let row = line_row(&page, cap_if);
    assert!(row.contains("class=\"unc\""), "{row}");
    let unc_text: String = row
        .split("<span class=\"unc\"")
        .skip(1)
        .map(|s| {
            let inner = &s[s.find('>').unwrap() + 1..];
            inner[..inner.find("</span>").unwrap()].to_string()
        })
        .collect();
    assert!(
        unc_text.contains('{'),
        "the body's brace did not run: {unc_text:?}"
    );
    assert!(
        !unc_text.contains("percent"),
        "the condition ran: {unc_text:?}"
    );

    // changed_only: only the two changed files get pages and rows.
    let out2 = tmp.path().join("changed");
    let s2 = write_html(&view, &sources, &opts(true), &out2).unwrap();
    assert_eq!(
        s2.pages,
        view.files.iter().filter(|f| f.has_changes()).count()
    );
    let mut pages: Vec<String> = std::fs::read_dir(out2.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        vec![page_name("cart/cart.go"), page_name("pricing/pricing.go")]
    );
    let index2 = std::fs::read_to_string(&s2.index).unwrap();
    assert!(!index2.contains("data-path=\"main.go\""));

    // Rendered by a real browser.
    if !common::have_tool("chromium", "--version") {
        return;
    }
    let profile = tmp.path().join("chromium-profile");
    let dom = chromium(&["--dump-dom"], &file_url(&summary.index), &profile);
    assert!(
        dom.contains("cart/cart.go") && dom.contains("pricing/pricing.go"),
        "{dom}"
    );
    assert!(dom.contains(&format!("changed lines {}", pct(&view.totals.changed))));
    assert!(dom.contains(&pct(&pricing.changed_counts)));
    let shot = tmp.path().join("index.png");
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
        &file_url(&summary.index),
        &profile,
    );
    let (w, h, colours) = png_colours(&shot);
    assert_eq!((w, h), (1200, 900));
    assert!(colours >= 8, "a blank screenshot: {colours} colours");

    let page_shot = tmp.path().join("pricing.png");
    chromium(
        &[
            &format!("--screenshot={}", page_shot.display()),
            "--window-size=1200,900",
        ],
        &file_url(&out.join("files").join(page_name(&pricing.path))),
        &profile,
    );
    let (_, _, colours) = png_colours(&page_shot);
    assert!(colours >= 8, "a blank page screenshot: {colours} colours");
    // Keep the figures visible when run with --nocapture.
    let _ = PathBuf::from(&shot);
}

/// Sources from memory.
struct MemSources(HashMap<String, Arc<[u8]>>);

impl SourceStore for MemSources {
    fn source(&self, path: &str) -> Result<Option<Arc<[u8]>>, String> {
        Ok(self.0.get(path).cloned())
    }
}

const HOSTILE_NAME: &str = "web/a<b>&\"c'.go";
const HOSTILE_LINE: &str = "\ts := \"</script><img src=x onerror=alert(1)>\"";

fn hostile_view() -> (View, MemSources) {
    let src = format!("package web\n\nfunc F() {{\n{HOSTILE_LINE}\n\t_ = s\n}}\n");
    let lines = vec![
        LineCoverage {
            line: 3,
            status: LineStatus::Covered,
            hits: Some(2),
            units: (1, 0),
            branches: (0, 0),
        },
        LineCoverage {
            line: 4,
            status: LineStatus::Partial,
            hits: Some(2),
            units: (1, 1),
            branches: (0, 0),
        },
        LineCoverage {
            line: 5,
            status: LineStatus::Missed,
            hits: Some(0),
            units: (0, 1),
            branches: (0, 0),
        },
    ];
    let cov = FileCoverage {
        path: HOSTILE_NAME.to_string(),
        lines,
        spans: vec![
            ColumnSpan {
                line: 4,
                start_col: 2,
                end_col: Some(7),
                covered: true,
            },
            ColumnSpan {
                line: 4,
                start_col: 7,
                end_col: None,
                covered: false,
            },
        ],
        units: (2, 4),
    };
    let mut counts = Counts::default();
    for l in &cov.lines {
        counts.add(l.status);
    }
    let changed = ChangedFile {
        path: HOSTILE_NAME.to_string(),
        kind: ChangeKind::Added,
        lines: vec![3, 4, 5],
        deletions_before: vec![],
    };
    let f = FileView {
        path: HOSTILE_NAME.to_string(),
        language: Some(SourceLanguage::Go),
        coverage: Some(Arc::new(cov)),
        changed: Some(Arc::new(changed)),
        changed_counts: counts,
        whole_counts: counts,
        newly_hit: vec![],
        hit_since_mark: None,
        targets: Default::default(),
    };
    let mut view = View {
        revision: "<rev>".to_string(),
        base: "main\"><script>".to_string(),
        files: vec![f],
        ..View::default()
    };
    view.totals.changed = counts;
    view.totals.whole = counts;
    let sources = MemSources(HashMap::from([(
        HOSTILE_NAME.to_string(),
        Arc::from(src.into_bytes().into_boxed_slice()),
    )]));
    (view, sources)
}

#[test]
fn names_and_sources_are_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let (view, sources) = hostile_view();
    let out = tmp.path().join("r");
    let mut o = opts(false);
    o.title = "<i>title</i>".to_string();
    let s = write_html(&view, &sources, &o, &out).unwrap();
    let index = std::fs::read_to_string(&s.index).unwrap();
    let page_path = out.join("files").join(page_name(HOSTILE_NAME));
    let page = std::fs::read_to_string(&page_path).unwrap();
    for html in [&index, &page] {
        for bad in ["<img", "<b>", "<script>", "</script>", "<rev>", "<i>"] {
            assert!(!html.contains(bad), "unescaped {bad} in\n{html}");
        }
        assert!(!html.contains("<script"), "reports carry no script");
    }
    assert!(index.contains("web/a&lt;b&gt;&amp;&quot;c&#39;.go"));
    assert!(page.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    // The partial line underlines what did not run: the string, not `s :`.
    let row = line_row(&page, 4);
    assert!(row.contains("class=\"s-partial changed\""));
    assert!(row.contains("<td class=\"hits\">2</td>"));
    let unc: String = row
        .split("<span class=\"unc\"")
        .skip(1)
        .map(|s| s[s.find('>').unwrap() + 1..s.find("</span>").unwrap()].to_string())
        .collect();
    assert!(unc.contains("onerror") && !unc.contains("s :"), "{unc:?}");
    assert!(line_row(&page, 5).contains("<td class=\"hits\">0</td>"));

    if !common::have_tool("chromium", "--version") {
        return;
    }
    // The browser's DOM of the page has no image and no script element.
    let dom = chromium(
        &["--dump-dom"],
        &file_url(&page_path),
        &tmp.path().join("profile"),
    );
    assert!(dom.contains("onerror=alert(1)"), "{dom}");
    assert!(!dom.contains("<img") && !dom.contains("<script"), "{dom}");
}

#[test]
fn java_lines_show_a_hit_mark_never_a_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut view, _) = hostile_view();
    let f = &mut view.files[0];
    f.path = "src/main/java/A.java".to_string();
    f.language = Some(SourceLanguage::Java);
    let mut cov = (**f.coverage.as_ref().unwrap()).clone();
    cov.spans.clear();
    for l in &mut cov.lines {
        l.hits = None;
    }
    f.coverage = Some(Arc::new(cov));
    let sources = MemSources(HashMap::from([(
        f.path.clone(),
        Arc::from(&b"class A {\n\n  void f() {\n    g();\n    h();\n  }\n}\n"[..]),
    )]));
    let out = tmp.path().join("r");
    write_html(&view, &sources, &opts(false), &out).unwrap();
    let page =
        std::fs::read_to_string(out.join("files").join(page_name("src/main/java/A.java"))).unwrap();
    assert!(line_row(&page, 3).contains("<td class=\"hits\">hit</td>"));
    assert!(line_row(&page, 4).contains("<td class=\"hits\">hit</td>"));
    // A missed line: `-`, as on the screen.
    assert!(line_row(&page, 5).contains("<td class=\"hits\">-</td>"));
    assert!(line_row(&page, 5).contains("✗"));
}

#[test]
fn replaces_a_previous_report_and_leaves_no_temporary_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let (view, sources) = hostile_view();
    let out = tmp.path().join("r");
    std::fs::create_dir_all(out.join("files")).unwrap();
    std::fs::write(out.join("files/stale.html"), "old").unwrap();
    write_html(&view, &sources, &opts(false), &out).unwrap();
    assert!(!out.join("files/stale.html").exists());
    assert!(out.join("index.html").exists());
    let entries: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["r".to_string()]);
}

#[test]
fn an_unwritable_destination_is_a_clear_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (view, sources) = hostile_view();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("report");
    let err = write_html(&view, &sources, &opts(false), &out).unwrap_err();
    assert!(matches!(err, HtmlError::CreateDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
    // A destination that is a file.
    let err = write_html(&view, &sources, &opts(false), &blocker).unwrap_err();
    assert!(matches!(err, HtmlError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[test]
fn changed_only_leaves_out_unchanged_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut view, sources) = hostile_view();
    let mut unchanged = view.files[0].clone();
    unchanged.path = "web/old.go".to_string();
    unchanged.changed = None;
    unchanged.changed_counts = Counts::default();
    view.files.push(unchanged);

    let all = tmp.path().join("all");
    let s = write_html(&view, &sources, &opts(false), &all).unwrap();
    assert_eq!(s.pages, 2);
    // web/old.go is not in the (in-memory) repository: its page says so and shows coverage.
    assert_eq!(s.sources_missing, vec!["web/old.go".to_string()]);
    let old_page =
        std::fs::read_to_string(all.join("files").join(page_name("web/old.go"))).unwrap();
    assert!(old_page.contains("not in the repository at this revision"));
    assert!(line_row(&old_page, 5).contains("s-missed"));
    assert!(
        std::fs::read_to_string(&s.index)
            .unwrap()
            .contains("data-path=\"web/old.go\"")
    );

    let changed = tmp.path().join("changed");
    let s = write_html(&view, &sources, &opts(true), &changed).unwrap();
    assert_eq!(s.pages, 1);
    assert!(!changed.join("files").join(page_name("web/old.go")).exists());
    assert!(
        !std::fs::read_to_string(&s.index)
            .unwrap()
            .contains("web/old.go")
    );
}

/// A source over the size limit in a real git repository (32 MiB of zeros: a few kilobytes
/// in the object database) is not read: its page shows coverage only, and the report's summary
/// names it with why (`covtop report` prints it on stderr, `watch` logs it, the screen's export
/// notice says it).
#[test]
fn a_source_over_the_size_limit_is_named_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let git = git2::Repository::init(tmp.path().join("repo")).unwrap();
    let huge = git
        .blob(&vec![0u8; covtop::vcs::MAX_SOURCE_BYTES as usize + 1])
        .unwrap();
    let mut web = git.treebuilder(None).unwrap();
    web.insert("huge.go", huge, 0o100644).unwrap();
    let web = web.write().unwrap();
    let mut root = git.treebuilder(None).unwrap();
    root.insert("web", web, 0o040000).unwrap();
    let tree = git.find_tree(root.write().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    git.commit(Some("HEAD"), &sig, &sig, "huge", &tree, &[])
        .unwrap();
    let repo = covtop::vcs::Repo::open(&tmp.path().join("repo")).unwrap();
    let sources = repo.sources(&repo.resolve("HEAD").unwrap()).unwrap();
    let (mut view, _) = hostile_view();
    view.files[0].path = "web/huge.go".into();
    let raw = covtop::report::RawData::default();
    let inputs = covtop::report::Inputs {
        view: &view,
        raw: &raw,
        sources: Some(&sources),
    };
    let out = tmp.path().join("html");
    let written = covtop::report::write(
        covtop::report::Format::Html,
        &inputs,
        &covtop::report::WriteOptions::default(),
        &out,
    )
    .unwrap();
    let covtop::report::Written::Html(summary) = &written else {
        panic!("{written:?}")
    };
    assert_eq!(summary.sources_unreadable.len(), 1, "{summary:?}");
    let (path, why) = &summary.sources_unreadable[0];
    assert_eq!(path, "web/huge.go");
    assert!(
        why.contains("33554433 bytes, more than covtop reads as a source"),
        "{why}"
    );
    assert!(summary.sources_missing.is_empty(), "{summary:?}");
    let said = written.describe(covtop::report::Format::Html);
    assert!(
        said.contains("the source of web/huge.go could not be read (")
            && said.contains("33554433 bytes"),
        "{said}"
    );
    let page = std::fs::read_to_string(out.join("files").join(page_name("web/huge.go"))).unwrap();
    assert!(
        page.contains("The source could not be read"),
        "the page says so"
    );
}
