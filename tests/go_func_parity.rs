//! covtop's Go statement totals against the real Go toolchain: `go tool cover -func` counts only
//! blocks inside function declarations, and so must covtop (`covtop::go::func_statements`).
//! The function extents the scanner finds are also checked against `go/parser` itself, on tricky
//! files and on the Go standard library's sources.
//!
//! Needs `go` (skipped locally without it, fails under CI=true). Go runs offline: GOPROXY=off,
//! private GOPATH, shared content-addressed GOCACHE, and the modules use the standard library only.

mod common;

use covtop::go::{
    ModuleMap, all_statements, func_extents, func_statements, module_path, parse, project,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

fn go_cmd(dir: &Path, args: &[&str]) -> Command {
    let shared = std::env::temp_dir().join("covtop-test-go");
    let mut cmd = Command::new("go");
    cmd.args(args)
        .current_dir(dir)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", shared.join("gopath"))
        .env("GOCACHE", shared.join("cache"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on");
    cmd
}

/// Runs go in `dir`, returns stdout; fails the test if go fails.
fn go(dir: &Path, args: &[&str]) -> String {
    let out = go_cmd(dir, args).output().expect("run go");
    assert!(
        out.status.success(),
        "go {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

const GO_MOD: &str = "module example.com/parity\n\ngo 1.18\n";

/// Functions, methods, generics, func literals inside functions, and the three kinds of
/// package-level func literals that `go tool cover -func` leaves out of its total.
const SVC: &str = r#"// Package svc is a small service for the parity test.
package svc

import (
	"fmt"
	"net/http"
	"strings"
)

// Ping answers health checks: a package-level func literal, outside every declaration.
var Ping = func(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	fmt.Fprintln(w, "pong")
}

// Ops is a package-level map of func literals.
var Ops = map[string]func(a, b int) int{
	"add": func(a, b int) int { return a + b },
	"sub": func(a, b int) int {
		return a - b
	},
	"mul": func(a, b int) int {
		r := 0
		for i := 0; i < b; i++ {
			r += a
		}
		return r
	},
}

// Command is shaped like a cobra command.
type Command struct {
	Use string
	Run func(args []string) string
}

// Root is a package-level struct literal with a func field.
var Root = &Command{
	Use: "root",
	Run: func(args []string) string {
		if len(args) == 0 {
			return "none"
		}
		return strings.Join(args, ",")
	},
}

type Stack[T any] struct{ items []T }

func (s *Stack[T]) Push(v T) { s.items = append(s.items, v) }

func (s *Stack[T]) Pop() (T, bool) {
	var zero T
	if len(s.items) == 0 {
		return zero, false
	}
	v := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return v, true
}

func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// Apply runs an operation by name.
func Apply(op string, a, b int) (int, error) {
	f, ok := Ops[op]
	if !ok {
		return 0, fmt.Errorf("unknown op %q", op)
	}
	return f(a, b), nil
}

// Shout uses a func literal inside a function.
func Shout(words []string) []string {
	upper := func(s string) string {
		if s == "" {
			return "!"
		}
		return strings.ToUpper(s) + "!" // } in a string and a comment {
	}
	return Map(words, upper)
}

func point() struct{ X, Y int } { return struct{ X, Y int }{1, 2} }

func empty() interface{} {
	m := map[string]struct{}{}
	return m
}

func counter() func() int {
	n := 0
	return func() int {
		n++
		return n
	}
}

const banner = `
func notAFunction() {
`
"#;

const SVC_TEST: &str = r#"package svc

import "testing"

func TestApply(t *testing.T) {
	if v, err := Apply("add", 2, 3); err != nil || v != 5 {
		t.Fatal(v, err)
	}
	if _, err := Apply("bogus", 1, 1); err == nil {
		t.Fatal("no error")
	}
}

func TestShoutAndStack(t *testing.T) {
	if got := Shout([]string{"a", ""}); got[0] != "A!" || got[1] != "!" {
		t.Fatal(got)
	}
	var s Stack[int]
	s.Push(1)
	if v, ok := s.Pop(); !ok || v != 1 {
		t.Fatal(v, ok)
	}
	c := counter()
	c()
	if point().X != 1 || banner == "" {
		t.Fatal("point")
	}
}
"#;

/// A second package whose file has only function declarations.
const UTIL: &str = r#"package util

// Clamp limits v to [lo, hi].
func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
"#;

const UTIL_TEST: &str = r#"package util

import "testing"

func TestClamp(t *testing.T) {
	if Clamp(5, 0, 3) != 3 {
		t.Fatal("clamp")
	}
}
"#;

/// `(file:line, function name) → percent` and the total percent of `go tool cover -func`.
struct FuncReport {
    funcs: BTreeMap<(String, u32, String), String>,
    total: String,
}

fn parse_func_report(report: &str) -> FuncReport {
    let mut funcs = BTreeMap::new();
    let mut total = None;
    for line in report.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["total:", "(statements)", pct] => total = Some(pct.trim_end_matches('%').to_owned()),
            [loc, name, pct] => {
                let loc = loc.trim_end_matches(':');
                let (file, line_no) = loc.rsplit_once(':').expect("file:line");
                funcs.insert(
                    (
                        file.to_owned(),
                        line_no.parse().expect("line number"),
                        (*name).to_owned(),
                    ),
                    pct.trim_end_matches('%').to_owned(),
                );
            }
            _ => panic!("unexpected line in go tool cover -func output: {line:?}"),
        }
    }
    FuncReport {
        funcs,
        total: total.expect("total: line"),
    }
}

fn pct((covered, total): (u64, u64)) -> String {
    let p = if total == 0 {
        0.0
    } else {
        100.0 * covered as f64 / total as f64
    };
    format!("{p:.1}")
}

#[test]
fn statement_total_equals_go_tool_cover_func() {
    if !common::have_tool("go", "version") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(root, "go.mod", GO_MOD);
    write(root, "svc/svc.go", SVC);
    write(root, "svc/svc_test.go", SVC_TEST);
    write(root, "util/util.go", UTIL);
    write(root, "util/util_test.go", UTIL_TEST);
    let profile_path = root.join("cover.out");
    go(
        root,
        &[
            "test",
            "-covermode=count",
            &format!("-coverprofile={}", profile_path.display()),
            "./...",
        ],
    );
    let report = parse_func_report(&go(
        root,
        &[
            "tool",
            "cover",
            &format!("-func={}", profile_path.display()),
        ],
    ));

    let bytes = std::fs::read(&profile_path).expect("profile");
    let profile = parse(&bytes, "go test").expect("profile parses");
    let module = module_path(GO_MOD).expect("module");
    let modules = ModuleMap::new([(String::new(), module)]);
    let source =
        |path: &str| -> Option<Arc<[u8]>> { std::fs::read(root.join(path)).ok().map(Arc::from) };

    // Per file through the public function, and independently: Go's loop written out plainly
    // over the scanner's extents, which also gives each function's percentage.
    let (mut ours, mut independent, mut every_block) = ((0, 0), (0u64, 0u64), (0, 0));
    let mut our_funcs = BTreeMap::new();
    for (name, blocks) in profile.files() {
        let path = modules.resolve(name).expect("file in the module");
        let src = source(&path).expect("source");
        let s = func_statements(blocks, &src);
        ours = (ours.0 + s.0, ours.1 + s.1);
        let a = all_statements(blocks);
        every_block = (every_block.0 + a.0, every_block.1 + a.1);
        for f in func_extents(&src) {
            let (mut c, mut t) = (0u64, 0u64);
            for b in blocks {
                if b.start_line > f.end_line
                    || (b.start_line == f.end_line && b.start_col >= f.end_col)
                {
                    break;
                }
                if b.end_line < f.start_line
                    || (b.end_line == f.start_line && b.end_col <= f.start_col)
                {
                    continue;
                }
                t += u64::from(b.num_stmt);
                if b.count > 0 {
                    c += u64::from(b.num_stmt);
                }
            }
            independent = (independent.0 + c, independent.1 + t);
            our_funcs.insert((name.to_owned(), f.start_line, f.name.clone()), pct((c, t)));
        }
    }
    eprintln!(
        "go tool cover -func total {}%; covtop {ours:?} = {}%; every block {every_block:?} = {}%",
        report.total,
        pct(ours),
        pct(every_block)
    );
    assert_eq!(ours, independent);
    // Every function go tool cover lists, at the same line with the same percentage.
    assert_eq!(our_funcs, report.funcs);
    assert_eq!(pct(ours), report.total, "covtop {ours:?}");
    // The package-level literals make a difference: counting every block is not Go's total.
    assert!(every_block.1 > ours.1, "{every_block:?} vs {ours:?}");
    assert_ne!(
        pct(every_block),
        report.total,
        "{every_block:?} vs {ours:?}"
    );

    // The way the engine gets it: project the profile with the repository's sources and sum
    // each file's statements.
    let projection = project(&profile, &modules, &source);
    assert!(projection.external.is_empty());
    let summed = projection
        .files
        .iter()
        .fold((0, 0), |(c, t), f| (c + f.units.0, t + f.units.1));
    assert_eq!(summed, ours);
    // Without the sources every block counts (and the lines of package-level literals are still
    // projected either way: `Ping`'s body is missed code).
    let blind = project(&profile, &modules, &|_: &str| None);
    let blind_sum = blind
        .files
        .iter()
        .fold((0, 0), |(c, t), f| (c + f.units.0, t + f.units.1));
    assert_eq!(blind_sum, every_block);
    let svc = projection
        .files
        .iter()
        .find(|f| f.path == "svc/svc.go")
        .expect("svc projected");
    let ping_body = SVC
        .lines()
        .position(|l| l.contains("w.WriteHeader"))
        .expect("Ping body") as u32
        + 1;
    assert_eq!(
        svc.status(ping_body),
        covtop::model::LineStatus::Missed,
        "line {ping_body}"
    );
}

/// Files for the parser oracle: every tricky case of the scanner, valid Go syntax (they are
/// parsed, never compiled).
const TRICKY: &[(&str, &str)] = &[
    (
        "braces.go",
        r#"package p

func F[T any, U interface{ ~int | ~string }](x T, u U) T { return x }
func (s *Stack[T]) Push(v T) { s.items = append(s.items, v) }
func f() struct{ x int } { return struct{ x int }{1} }
func g() interface{} { return nil }
func h() map[string]struct{} { return nil }
func k() func() int { return func() int { return 1 } }
func m() (a struct {
	x int
	y int
}, err error) {
	return
}
func n(fn func(struct{}) interface {
	M()
}) chan struct{} {
	return nil
}
func o(
	a int,
	b int,
) (int, error) {
	return 0, nil
}
func asm(x int) int
func stub()
func (r R) Method() { _ = '}'; _ = '\''; _ = "}\"{"; _ = `
}
func inRaw() {
` }
"#,
    ),
    (
        "package_level.go",
        "\u{feff}package p\r\n\r\nimport (\r\n\t\"fmt\"\r\n)\r\n\r\nvar Ping = func() {\r\n\tfmt.Println(\"pong\")\r\n}\r\n\r\nvar ops = map[string]func() int{\r\n\t\"a\": func() int { return 1 },\r\n}\r\n\r\nvar cmd = &Command{\r\n\tRun: func(args []string) {},\r\n}\r\n\r\nvar (\r\n\thook = func() {}\r\n\tfn   func()\r\n)\r\n\r\ntype Handler func(int) error\r\n\r\ntype I interface {\r\n\tM(func() int) func()\r\n}\r\n\r\nvar multi =\r\n\tfunc() {}\r\n\r\n/* func commented() {} */ func Real() { f := func() {}; f() } // func Later() {}\r\n\r\n// é ü\r\nfunc \u{e9}t\u{e9}() { x := \"\u{e9}\"; _ = x }\r\n",
    ),
];

/// (name, start line, start col, end line, end col) of a function declaration.
type Extent = (String, u32, u32, u32, u32);

/// Runs the `go/parser` oracle on `files`: per parsed file, its function declarations with a body
/// as (name, start line, start col, end line, end col); files Go cannot parse are left out.
fn parser_oracle(work: &Path, files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<Extent>> {
    const ORACLE: &str = r#"// Prints the extent of every function declaration with a body, as go tool cover -func
// sees it (positions without //line adjustment).
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
)

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		path := in.Text()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		fmt.Fprintf(out, "FILE\t%s\n", path)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			s := fset.PositionFor(fd.Pos(), false)
			e := fset.PositionFor(fd.Body.End(), false)
			fmt.Fprintf(out, "FUNC\t%s\t%d\t%d\t%d\t%d\n", fd.Name.Name, s.Line, s.Column, e.Line, e.Column)
		}
	}
}
"#;
    let oracle_dir = work.join("oracle");
    write(&oracle_dir, "go.mod", "module oracle\n\ngo 1.18\n");
    write(&oracle_dir, "main.go", ORACLE);
    go(&oracle_dir, &["build", "-o", "oracle", "."]);
    let mut child = Command::new(oracle_dir.join("oracle"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let list: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(list.as_bytes()).expect("write file list");
    });
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer");
    assert!(out.status.success(), "oracle failed");
    let mut result: BTreeMap<PathBuf, Vec<_>> = BTreeMap::new();
    let mut current: Option<PathBuf> = None;
    for line in String::from_utf8(out.stdout).expect("utf-8").lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["FILE", path] => {
                let p = PathBuf::from(path);
                result.insert(p.clone(), Vec::new());
                current = Some(p);
            }
            ["FUNC", name, sl, sc, el, ec] => {
                let n = |s: &str| s.parse::<u32>().expect("number");
                result
                    .get_mut(current.as_ref().expect("FILE first"))
                    .expect("file entry")
                    .push(((*name).to_owned(), n(sl), n(sc), n(el), n(ec)));
            }
            _ => panic!("unexpected oracle line {line:?}"),
        }
    }
    result
}

fn ours(path: &Path) -> Vec<Extent> {
    let src = std::fs::read(path).expect("read source");
    func_extents(&src)
        .into_iter()
        .map(|f| (f.name, f.start_line, f.start_col, f.end_line, f.end_col))
        .collect()
}

fn go_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        // Follow symlinks (Debian's GOROOT/src is one).
        if p.is_dir() {
            go_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "go") {
            out.push(p);
        }
    }
}

#[test]
fn function_extents_equal_go_parser() {
    if !common::have_tool("go", "version") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (name, text) in TRICKY {
        write(dir.path(), &format!("tricky/{name}"), text);
        files.push(dir.path().join("tricky").join(name));
    }
    write(dir.path(), "tricky/svc.go", SVC);
    files.push(dir.path().join("tricky/svc.go"));
    let tricky = files.len();
    // The standard library's sources: tens of thousands of real functions, assembly stubs
    // (runtime, math) and generated code.
    let goroot = go(dir.path(), &["env", "GOROOT"]);
    go_files(&Path::new(goroot.trim()).join("src"), &mut files);
    assert!(files.len() > tricky + 1000, "GOROOT/src has Go sources");

    let oracle = parser_oracle(dir.path(), &files);
    for f in &files[..tricky] {
        let want = oracle
            .get(f)
            .unwrap_or_else(|| panic!("{} parses", f.display()));
        assert_eq!(&ours(f), want, "{}", f.display());
    }
    let (mut checked, mut funcs, mut mismatches) = (0, 0, Vec::new());
    for (path, want) in &oracle {
        checked += 1;
        funcs += want.len();
        let got = ours(path);
        if &got != want {
            mismatches.push(format!(
                "{}: ours {:?}\n  go/parser {:?}",
                path.display(),
                got.iter().filter(|g| !want.contains(g)).collect::<Vec<_>>(),
                want.iter().filter(|w| !got.contains(w)).collect::<Vec<_>>()
            ));
        }
    }
    eprintln!("{funcs} functions in {checked} files parsed by go/parser");
    assert!(funcs > 10_000, "{funcs} functions in {checked} files");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} files differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}
