//! Function extents of Go source and statement totals counted the way `go tool cover -func`
//! counts them.
//!
//! `go tool cover -func` parses each file and, for every top-level function declaration with a
//! body (methods and generic functions included, assembly stubs without a body excluded), counts
//! the profile blocks that overlap the declaration's extent: from its `func` keyword (doc comments
//! excluded) to one byte past the body's closing `}`. Its `total:` line sums those counts, so
//! blocks outside every function declaration — a package-level `var Ping = func(..) {..}`, a map
//! of func literals, a struct literal with a `Run: func(..) {..}` field — are left out, while func
//! literals inside a declaration are counted.
//!
//! [`func_extents`] finds those extents with a small lexer (comments, interpreted and raw strings,
//! runes, automatic semicolons) instead of a Go parser: a `func` token starts a declaration when it
//! is at bracket depth 0 and the first token of a top-level declaration. Invalid or unbalanced
//! input never panics; it just yields fewer functions.

use super::profile::Block;

/// The extent of one top-level function declaration with a body: 1-based lines and byte columns,
/// from the `func` keyword (inclusive) to one past the closing `}` of the body (exclusive), the
/// way `go/token` reports `FuncDecl.Pos()` and `FuncDecl.Body.End()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncExtent {
    /// The function's name (a method's name, without its receiver); empty if it has none.
    pub name: String,
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Open,
    Close,
    /// An explicit `;` or one inserted at a newline (or the end of the input).
    Semi,
    /// Literals and operators: nothing the scanner looks at except for semicolon insertion.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Keywords after which a newline does not insert a semicolon (every keyword except `break`,
/// `continue`, `fallthrough` and `return`).
const NO_SEMI_KEYWORDS: [&[u8]; 21] = [
    b"case",
    b"chan",
    b"const",
    b"default",
    b"defer",
    b"else",
    b"for",
    b"func",
    b"go",
    b"goto",
    b"if",
    b"import",
    b"interface",
    b"map",
    b"package",
    b"range",
    b"select",
    b"struct",
    b"switch",
    b"type",
    b"var",
];

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Splits Go source into the tokens the scanner needs, inserting semicolons as Go's scanner
/// does: at a newline (or a comment spanning one, or the end) after an identifier, a literal,
/// `break`/`continue`/`fallthrough`/`return`, `++`, `--`, `)`, `]` or `}`.
fn tokens(src: &[u8]) -> Vec<Token> {
    let n = src.len();
    let mut out = Vec::with_capacity(n / 4);
    let mut i = if src.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // Whether a newline here inserts a semicolon.
    let mut insert = false;
    let push = |out: &mut Vec<Token>, kind, start, end| out.push(Token { kind, start, end });
    while i < n {
        let c = src[i];
        let next = src.get(i + 1).copied();
        match c {
            b'\n' => {
                if insert {
                    push(&mut out, Kind::Semi, i, i);
                    insert = false;
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'/' if next == Some(b'/') => {
                // The newline that ends the comment is handled as a newline.
                i = memchr::memchr(b'\n', &src[i..]).map_or(n, |k| i + k);
            }
            b'/' if next == Some(b'*') => {
                let end = memchr::memmem::find(&src[i + 2..], b"*/").map_or(n, |k| i + 2 + k + 2);
                // A comment spanning a newline acts like one.
                if insert && memchr::memchr(b'\n', &src[i..end]).is_some() {
                    push(&mut out, Kind::Semi, i, i);
                    insert = false;
                }
                i = end;
            }
            b'"' | b'\'' => {
                // Ends at the closing quote or, if broken, before the newline.
                let mut j = i + 1;
                while j < n && src[j] != c && src[j] != b'\n' {
                    j += if src[j] == b'\\' && j + 1 < n && src[j + 1] != b'\n' {
                        2
                    } else {
                        1
                    };
                }
                let end = if j < n && src[j] == c { j + 1 } else { j };
                push(&mut out, Kind::Other, i, end);
                insert = true;
                i = end;
            }
            b'`' => {
                let end = memchr::memchr(b'`', &src[i + 1..]).map_or(n, |k| i + 1 + k + 1);
                push(&mut out, Kind::Other, i, end);
                insert = true;
                i = end;
            }
            b'(' | b'[' | b'{' => {
                push(&mut out, Kind::Open, i, i + 1);
                insert = false;
                i += 1;
            }
            b')' | b']' | b'}' => {
                push(&mut out, Kind::Close, i, i + 1);
                insert = true;
                i += 1;
            }
            b';' => {
                push(&mut out, Kind::Semi, i, i + 1);
                insert = false;
                i += 1;
            }
            b'+' | b'-' if next == Some(c) => {
                push(&mut out, Kind::Other, i, i + 2);
                insert = true;
                i += 2;
            }
            _ if c.is_ascii_digit() || (c == b'.' && next.is_some_and(|d| d.is_ascii_digit())) => {
                // Numbers, loosely: an exponent's sign becomes an operator, which changes
                // nothing here (the literal after it inserts the semicolon all the same).
                let mut j = i + 1;
                while j < n && (is_ident_byte(src[j]) || src[j] == b'.') {
                    j += 1;
                }
                push(&mut out, Kind::Other, i, j);
                insert = true;
                i = j;
            }
            _ if is_ident_byte(c) => {
                let mut j = i + 1;
                while j < n && is_ident_byte(src[j]) {
                    j += 1;
                }
                push(&mut out, Kind::Ident, i, j);
                insert = !NO_SEMI_KEYWORDS.contains(&&src[i..j]);
                i = j;
            }
            _ => {
                push(&mut out, Kind::Other, i, i + 1);
                insert = false;
                i += 1;
            }
        }
    }
    if insert {
        push(&mut out, Kind::Semi, n, n);
    }
    out
}

/// What follows a `func` that starts a top-level declaration.
enum Decl {
    /// A body: the indexes of the name token (if any) and of the closing `}`.
    Body { name: Option<usize>, close: usize },
    /// No body: the index of the `;` that ends the declaration.
    NoBody { semi: usize },
    /// Not a declaration the scanner understands (or the input ends first).
    Broken,
}

/// Reads the declaration whose `func` keyword is `toks[at]`.
fn declaration(toks: &[Token], src: &[u8], at: usize) -> Decl {
    let text = |t: &Token| &src[t.start..t.end];
    let mut depth = 0usize;
    let mut name = None;
    let mut i = at + 1;
    // The signature: receiver, name, type parameters, parameters and results, up to the body's
    // `{` (the first `{` at depth 0 that does not open a `struct` or `interface` type).
    let open = loop {
        let Some(t) = toks.get(i) else {
            return Decl::Broken;
        };
        match t.kind {
            Kind::Ident if depth == 0 && name.is_none() => name = Some(i),
            Kind::Open if depth == 0 && src[t.start] == b'{' => {
                let type_brace = i > at + 1
                    && toks[i - 1].kind == Kind::Ident
                    && matches!(text(&toks[i - 1]), b"struct" | b"interface");
                if !type_brace {
                    break i;
                }
                depth += 1;
            }
            Kind::Open => depth += 1,
            Kind::Close if depth == 0 => return Decl::Broken,
            Kind::Close => depth -= 1,
            Kind::Semi if depth == 0 => return Decl::NoBody { semi: i },
            _ => {}
        }
        i += 1;
    };
    // The body, up to its matching `}`.
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return if src[t.start] == b'}' {
                        Decl::Body { name, close: k }
                    } else {
                        Decl::Broken
                    };
                }
            }
            _ => {}
        }
    }
    Decl::Broken
}

/// Byte offsets → 1-based (line, column), columns counted in bytes like `go/token`.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(src: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', src).map(|k| k + 1));
        LineIndex { starts }
    }

    fn position(&self, offset: usize) -> (u32, u32) {
        // starts[0] == 0 <= offset, so the line is at least 1.
        let line = self.starts.partition_point(|&s| s <= offset);
        let col = offset - self.starts[line - 1] + 1;
        (clamp(line), clamp(col))
    }
}

fn clamp(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The extents of the top-level function declarations with a body in Go source, in source
/// order. Declarations without a body (implemented in assembly) and `func` tokens that start no
/// declaration (func literals and func types in package-level `var`, `const` and `type`
/// declarations) are not functions here, as in `go tool cover -func`.
pub fn func_extents(src: &[u8]) -> Vec<FuncExtent> {
    let toks = tokens(src);
    let index = LineIndex::new(src);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // The next token starts a top-level declaration.
    let mut at_start = true;
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            Kind::Ident if depth == 0 && at_start && &src[t.start..t.end] == b"func" => {
                match declaration(&toks, src, i) {
                    Decl::Body { name, close } => {
                        let (start_line, start_col) = index.position(t.start);
                        let (end_line, end_col) = index.position(toks[close].end);
                        out.push(FuncExtent {
                            name: name.map_or_else(String::new, |k| {
                                String::from_utf8_lossy(&src[toks[k].start..toks[k].end])
                                    .into_owned()
                            }),
                            start_line,
                            start_col,
                            end_line,
                            end_col,
                        });
                        at_start = false;
                        i = close + 1;
                        continue;
                    }
                    Decl::NoBody { semi } => {
                        i = semi;
                        continue;
                    }
                    Decl::Broken => {}
                }
            }
            _ => {}
        }
        at_start = t.kind == Kind::Semi;
        i += 1;
    }
    out
}

fn start(b: &Block) -> (u32, u32) {
    (b.start_line, b.start_col)
}

fn end(b: &Block) -> (u32, u32) {
    (b.end_line, b.end_col)
}

/// `(covered, total)` statements of a file's blocks the way `go tool cover -func` counts them
/// for its `total:` line: for each function of `src` ([`func_extents`]), the statements of the
/// blocks that end after the function starts and start before it ends (a block overlapping two
/// functions counts in both, as in Go). Blocks outside every function declaration are left out.
///
/// `blocks` are one file's merged blocks (as [`Profile::files`](super::Profile::files) gives
/// them); any order is accepted.
pub fn func_statements(blocks: &[Block], src: &[u8]) -> (u64, u64) {
    statements_in_funcs(blocks, &func_extents(src))
}

/// [`func_statements`] over function extents already found ([`func_extents`] of the source).
pub fn statements_in_funcs(blocks: &[Block], funcs: &[FuncExtent]) -> (u64, u64) {
    if funcs.is_empty() || blocks.is_empty() {
        return (0, 0);
    }
    let sorted;
    let blocks = if blocks.is_sorted_by_key(start) {
        blocks
    } else {
        let mut v = blocks.to_vec();
        v.sort_by_key(start);
        sorted = v;
        &sorted[..]
    };
    // max_end[i] = the largest end among blocks[..i]: blocks that start before a function can
    // only reach into it when they end after its start.
    let mut max_end = Vec::with_capacity(blocks.len() + 1);
    max_end.push((0, 0));
    for b in blocks {
        let last = *max_end.last().unwrap_or(&(0, 0));
        max_end.push(last.max(end(b)));
    }
    let (mut covered, mut total) = (0u64, 0u64);
    let mut add = |b: &Block| {
        total += u64::from(b.num_stmt);
        if b.count > 0 {
            covered += u64::from(b.num_stmt);
        }
    };
    for f in funcs {
        let (f_start, f_end) = ((f.start_line, f.start_col), (f.end_line, f.end_col));
        // Go stops at the first block (by start) that starts at or after the function's end.
        let stop = blocks.partition_point(|b| start(b) < f_end);
        let inside = blocks[..stop].partition_point(|b| start(b) < f_start);
        for b in &blocks[inside..stop] {
            if end(b) > f_start {
                add(b);
            }
        }
        let mut k = inside;
        while k > 0 && max_end[k] > f_start {
            k -= 1;
            if end(&blocks[k]) > f_start {
                add(&blocks[k]);
            }
        }
    }
    (covered, total)
}

/// `(covered, total)` statements of one file for the whole-project total: with the source,
/// [`func_statements`] (what `go tool cover -func` counts); **without it, every block counts**
/// (the parser has nothing to find functions in, so blocks outside functions are included).
pub fn file_statements(blocks: &[Block], src: Option<&[u8]>) -> (u64, u64) {
    match src {
        Some(src) => func_statements(blocks, src),
        None => all_statements(blocks),
    }
}

/// `(covered, total)` statements of every block.
pub fn all_statements(blocks: &[Block]) -> (u64, u64) {
    let (mut covered, mut total) = (0u64, 0u64);
    for b in blocks {
        total += u64::from(b.num_stmt);
        if b.count > 0 {
            covered += u64::from(b.num_stmt);
        }
    }
    (covered, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        func_extents(src.as_bytes())
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    fn extents(src: &str) -> Vec<(String, u32, u32, u32, u32)> {
        func_extents(src.as_bytes())
            .into_iter()
            .map(|f| (f.name, f.start_line, f.start_col, f.end_line, f.end_col))
            .collect()
    }

    fn block(sl: u32, sc: u32, el: u32, ec: u32, n: u32, count: u64) -> Block {
        Block {
            start_line: sl,
            start_col: sc,
            end_line: el,
            end_col: ec,
            num_stmt: n,
            count,
        }
    }

    #[test]
    fn extents_start_at_func_and_end_past_the_brace() {
        let src =
            "package p\n\n// F does.\nfunc F() int {\n\treturn 1\n}\n\nfunc (r *R) M(x int) {}";
        assert_eq!(
            extents(src),
            vec![("F".into(), 4, 1, 6, 2), ("M".into(), 8, 1, 8, 24)]
        );
        // Columns are bytes: a tab and a multi-byte character count as 1 and 2.
        let src = "package p\n/* é */ func\tG() { x := \"é\" }\n";
        assert_eq!(extents(src), vec![("G".into(), 2, 10, 2, 32)]);
    }

    #[test]
    fn comments_strings_and_runes_hide_braces_and_funcs() {
        let src = r#"package p

// func Hidden() {
/* func Hidden2() { */
func A() {
	s := "}\"}" // }
	r := '}'
	q := '\''
	b := '\\'
	raw := `
}
func Hidden3() {
`
	/* } */
	_ = s + string(r) + string(q) + string(b) + raw
}

func B() {}
"#;
        assert_eq!(names(src), vec!["A", "B"]);
    }

    #[test]
    fn generics_receivers_and_braces_in_result_types() {
        let src = r#"package p

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
"#;
        assert_eq!(
            names(src),
            vec!["F", "Push", "f", "g", "h", "k", "m", "n", "o"]
        );
        let ext = extents(src);
        assert_eq!(ext[6], ("m".into(), 9, 1, 14, 2));
    }

    #[test]
    fn declarations_without_body_are_skipped() {
        let src = "package p\n\nfunc asm(x int) int\nfunc stub()\n\nfunc real() {}\nfunc alsoAsm() (a, b int); func last() {}\nfunc eof(x int)";
        assert_eq!(names(src), vec!["real", "last"]);
    }

    #[test]
    fn funcs_that_start_no_declaration_are_not_functions() {
        let src = r#"package p

import (
	"fmt"
	"net/http"
)

var Ping = func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "pong")
}

var handlers = map[string]func() int{
	"a": func() int { return 1 },
}

var cmd = &Command{
	Run: func(args []string) {
		fmt.Println(args)
	},
}

var (
	hook = func() {}
	fn   func()
)

type Handler func(int) error
type Iface interface {
	M(func() int) func()
}

const c = 1

var multi =
	func() {}

func Real() {
	f := func() {}
	f()
}
"#;
        assert_eq!(names(src), vec!["Real"]);
    }

    #[test]
    fn semicolons_and_comments_end_statements_like_go() {
        // A block comment spanning a newline ends the `var` line; one on the line does not.
        let src = "package p\nvar x = 1 /*\n*/ func A() {}\nvar y = /* c */ func() {}\nfunc B() {}";
        assert_eq!(names(src), vec!["A", "B"]);
        // `x++` at a line end inserts a semicolon (not valid at top level, but lexed alike).
        let src = "package p\nvar z = x++\nfunc C() {}\nvar w = 1.5e+3\nfunc D() {}";
        assert_eq!(names(src), vec!["C", "D"]);
        // A BOM, CRLF line ends.
        let src = "\u{feff}package p\r\nfunc E() {\r\n}\r\n";
        assert_eq!(extents(src), vec![("E".into(), 2, 1, 3, 2)]);
    }

    #[test]
    fn garbage_never_panics_and_unbalanced_input_yields_fewer_functions() {
        for src in [
            "",
            "func",
            "func (",
            "func F() {",
            "func F() { func G() {} ",
            "func ) {}",
            "}}}}func F() {}",
            "func F() struct {",
            "func F() { \"unterminated\n}",
            "func F() { `raw never ends }",
            "func F() { /* comment never ends }",
            "func F() { 'x }",
            "func F() { '\\",
            "\"\\",
            "func F() ( ] {}",
            "func F() { ) }",
            "\u{feff}",
            "\u{feff}func",
        ] {
            let _ = func_extents(src.as_bytes());
        }
        assert!(names("func F() {").is_empty());
        assert!(names("func F() { `raw never ends }").is_empty());
        // A broken declaration does not hide the next one once the brackets balance again.
        assert_eq!(names("func F() ) {}\nfunc G() {}"), vec!["G"]);
        // Bytes of every kind, in random order: no panic, and extents are ordered.
        let alphabet = b"func F(){}[]()\n\t;'\"`/*\\x\xff+-.1struct";
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let len = (next() % 60) as usize;
            let src: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let f = func_extents(&src);
            assert!(
                f.iter()
                    .all(|e| (e.start_line, e.start_col) < (e.end_line, e.end_col)),
                "{:?}",
                String::from_utf8_lossy(&src)
            );
            assert!(
                f.windows(2)
                    .all(|w| (w[0].end_line, w[0].end_col) <= (w[1].start_line, w[1].start_col))
            );
            let _ = func_statements(&[block(1, 1, 3, 2, 1, 1)], &src);
        }
    }

    #[test]
    fn statements_count_blocks_inside_function_declarations_only() {
        // line 1  package p
        // line 3  var Ping = func() {      block 3.19,5.2 (1 stmt, ran)
        // line 4  	x()
        // line 5  }
        // line 7  func F() {               block 7.10,10.2 (2 stmts, ran)
        // line 8  	f := func() {           literal block 8.14,8.22 (1, not run)
        // line 9  	f()
        // line 10 }
        let src = b"package p\n\nvar Ping = func() {\n\tx()\n}\n\nfunc F() {\n\tf := func() { y() }\n\tf()\n}\n";
        let blocks = [
            block(3, 19, 5, 2, 1, 1),
            block(7, 10, 10, 2, 2, 1),
            block(8, 14, 8, 22, 1, 0),
        ];
        assert_eq!(func_statements(&blocks, src), (2, 3));
        assert_eq!(file_statements(&blocks, Some(src)), (2, 3));
        assert_eq!(file_statements(&blocks, None), (3, 4));
        assert_eq!(all_statements(&blocks), (3, 4));
        // Order does not matter.
        let rev = [blocks[2], blocks[1], blocks[0]];
        assert_eq!(func_statements(&rev, src), (2, 3));
    }

    #[test]
    fn statements_follow_go_boundary_rules() {
        // func at 2.1, body ends at 4.2 (exclusive).
        let src = b"package p\nfunc F() {\n\tx()\n}\n";
        let one = |b: Block| func_statements(&[b], src);
        // Ends exactly where the function starts: before it.
        assert_eq!(one(block(1, 1, 2, 1, 1, 1)), (0, 0));
        // Ends one column into it: counts.
        assert_eq!(one(block(1, 1, 2, 2, 1, 1)), (1, 1));
        // Starts exactly at the end: after it.
        assert_eq!(one(block(4, 2, 4, 9, 1, 1)), (0, 0));
        // Starts one column before the end: counts.
        assert_eq!(one(block(4, 1, 4, 9, 1, 0)), (0, 1));
        // Spans the whole function from before it: counts.
        assert_eq!(one(block(1, 1, 9, 1, 3, 2)), (3, 3));
        // A block spanning two functions counts in both, as in Go.
        let two = b"func A() {}\nfunc B() {}\n";
        assert_eq!(func_statements(&[block(1, 5, 2, 5, 1, 1)], two), (2, 2));
        // Many blocks before a function that end before it are skipped; one long one is not.
        let mut blocks: Vec<Block> = (1..50).map(|c| block(1, c, 1, c + 1, 1, 1)).collect();
        blocks.push(block(1, 60, 3, 1, 4, 0));
        assert_eq!(func_statements(&blocks, src), (0, 4));
        // No functions, no blocks.
        assert_eq!(func_statements(&blocks, b"package p\nvar x = 1\n"), (0, 0));
        assert_eq!(func_statements(&[], src), (0, 0));
    }
}
