//! The one highlighter: a hand-written lexer for the languages covtop measures — Go, and the JVM
//! languages Java (and AspectJ), Kotlin, Groovy and Scala. It finds comments, strings, numbers,
//! keywords, built-in types, constants, declared function names and annotations; every other
//! file is plain text.
//!
//! Why not a grammar engine (syntect, used before): a report of a 5,000-file project has ~600k
//! lines, and syntect's regex grammars coloured them at a few thousand lines per second per
//! core here (73.7 s for the report). This scanner is one pass over the bytes, with state carried
//! across lines only for block comments and multi-line strings, and colours the token kinds a
//! reader relies on. The screen and the HTML report both call it (`present::source`).

use std::ops::Range;

/// What a highlighted piece of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Comment,
    Str,
    Number,
    Keyword,
    Type,
    Constant,
    Function,
    Annotation,
}

impl Token {
    pub const ALL: [Token; 8] = [
        Token::Comment,
        Token::Str,
        Token::Number,
        Token::Keyword,
        Token::Type,
        Token::Constant,
        Token::Function,
        Token::Annotation,
    ];
}

/// The lexical rules of one language. Word lists are sorted (looked up by binary search).
#[derive(Debug)]
pub struct Language {
    /// Keyword lists (a language may share another's list and add its own).
    keywords: &'static [&'static [&'static str]],
    types: &'static [&'static str],
    constants: &'static [&'static str],
    /// Keywords after which an identifier is a declared function's name.
    declares_function: &'static [&'static str],
    /// Keywords after which an identifier is a declared type's name (`type Cart`, `class A`).
    declares_type: &'static [&'static str],
    /// Built-in functions, coloured as function names where they are called (Go's `append(`).
    builtins: &'static [&'static str],
    /// Go's `` `raw` `` strings, which may span lines.
    backtick_strings: bool,
    /// The quotes that open a string of three (`"""` Java text blocks, Kotlin/Scala/Groovy raw
    /// strings, Groovy's `\'\'\'`), which may span lines.
    triple_quotes: &'static [u8],
    /// `@Name` annotations.
    annotations: bool,
}

const GO: Language = Language {
    keywords: &[&[
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ]],
    types: &[
        "any",
        "bool",
        "byte",
        "complex128",
        "complex64",
        "error",
        "float32",
        "float64",
        "int",
        "int16",
        "int32",
        "int64",
        "int8",
        "rune",
        "string",
        "uint",
        "uint16",
        "uint32",
        "uint64",
        "uint8",
        "uintptr",
    ],
    constants: &["false", "iota", "nil", "true"],
    declares_function: &["func"],
    declares_type: &["type"],
    builtins: &[
        "append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len", "make",
        "max", "min", "new", "panic", "print", "println", "real", "recover",
    ],
    backtick_strings: true,
    triple_quotes: b"",
    annotations: false,
};

const JAVA_KEYWORDS: &[&str] = &[
    "abstract",
    "assert",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "interface",
    "native",
    "new",
    "package",
    "permits",
    "private",
    "protected",
    "public",
    "record",
    "return",
    "sealed",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "var",
    "volatile",
    "while",
    "yield",
];

/// Java (and AspectJ), and the defaults of the other JVM languages.
const JAVA: Language = Language {
    keywords: &[JAVA_KEYWORDS],
    types: &[
        "boolean", "byte", "char", "double", "float", "int", "long", "short", "void",
    ],
    constants: &["false", "null", "true"],
    declares_function: &[],
    declares_type: &["class", "enum", "interface", "record"],
    builtins: &[],
    backtick_strings: false,
    triple_quotes: b"\"",
    annotations: true,
};

/// The common types of Kotlin and Scala (a class name to the JVM, a type to the reader).
const KOTLIN_SCALA_TYPES: &[&str] = &[
    "Any", "AnyRef", "Array", "Boolean", "Byte", "Char", "Double", "Float", "Int", "List", "Long",
    "Map", "Nothing", "Set", "Short", "String", "Unit",
];

const KOTLIN: Language = Language {
    types: KOTLIN_SCALA_TYPES,
    declares_function: &["fun"],
    declares_type: &["class", "interface", "object", "typealias"],
    keywords: &[&[
        "abstract",
        "annotation",
        "as",
        "break",
        "by",
        "catch",
        "class",
        "companion",
        "const",
        "constructor",
        "continue",
        "crossinline",
        "data",
        "do",
        "else",
        "enum",
        "external",
        "final",
        "finally",
        "for",
        "fun",
        "if",
        "import",
        "in",
        "infix",
        "init",
        "inline",
        "inner",
        "interface",
        "internal",
        "is",
        "lateinit",
        "noinline",
        "object",
        "open",
        "operator",
        "out",
        "override",
        "package",
        "private",
        "protected",
        "public",
        "reified",
        "return",
        "sealed",
        "super",
        "suspend",
        "tailrec",
        "this",
        "throw",
        "try",
        "typealias",
        "val",
        "var",
        "vararg",
        "when",
        "where",
        "while",
    ]],
    ..JAVA
};

const SCALA: Language = Language {
    types: KOTLIN_SCALA_TYPES,
    declares_function: &["def"],
    declares_type: &["class", "object", "trait", "type"],
    keywords: &[&[
        "abstract",
        "case",
        "catch",
        "class",
        "def",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "final",
        "finally",
        "for",
        "given",
        "if",
        "implicit",
        "import",
        "lazy",
        "match",
        "new",
        "object",
        "override",
        "package",
        "private",
        "protected",
        "return",
        "sealed",
        "super",
        "then",
        "this",
        "throw",
        "trait",
        "try",
        "type",
        "using",
        "val",
        "var",
        "while",
        "with",
        "yield",
    ]],
    ..JAVA
};

const GROOVY: Language = Language {
    declares_type: &["class", "enum", "interface", "trait"],
    triple_quotes: b"\"'",
    // Groovy takes Java's syntax (reserved words included) and adds these.
    keywords: &[JAVA_KEYWORDS, &["as", "def", "in", "trait"]],
    ..JAVA
};

/// The language of `path` by extension, when this highlighter knows it.
pub fn language_for(path: &str) -> Option<&'static Language> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "go" => Some(&GO),
        "java" => Some(&JAVA),
        "aj" => Some(&JAVA),
        "kt" | "kts" => Some(&KOTLIN),
        "scala" | "sc" => Some(&SCALA),
        "groovy" | "gvy" | "gradle" => Some(&GROOVY),
        _ => None,
    }
}

/// What is still open at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    BlockComment,
    Backtick,
    /// A string of three of this quote.
    TripleQuote(u8),
}

/// Highlights a file line by line, carrying block comments and multi-line strings over.
pub struct LineScanner {
    lang: &'static Language,
    open: Open,
    /// Where we are in a function declaration (`func (r T) Name(`, `fun name`, `def name`).
    decl: Decl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decl {
    None,
    /// Right after `func`/`fun`/`def`: the next word is the name.
    Keyword,
    /// Inside the parentheses right after the keyword (a Go receiver, or a function literal's
    /// parameters).
    Receiver,
    /// After those parentheses: a word followed by `(` is a method name.
    AfterReceiver,
    /// Right after `class`/`type`/…: the next word is the type's name.
    TypeName,
}

fn is_word_byte(b: u8) -> bool {
    // Bytes of multi-byte characters count as word bytes, so a cut never splits a character.
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn find(line: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    line.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| from + p)
}

impl LineScanner {
    pub fn new(lang: &'static Language) -> Self {
        LineScanner {
            lang,
            open: Open::Nothing,
            decl: Decl::None,
        }
    }

    /// Appends the tokens of `line` (byte ranges, in order, not overlapping, on char
    /// boundaries) to `out`.
    pub fn line(&mut self, line: &str, out: &mut Vec<(Range<u32>, Token)>) {
        let b = line.as_bytes();
        let len = b.len();
        let mut push = |r: Range<usize>, t: Token| {
            if r.start < r.end {
                out.push((r.start as u32..r.end as u32, t));
            }
        };
        let mut i = 0;
        // Close what the previous line left open.
        match self.open {
            Open::Nothing => {}
            Open::BlockComment => match find(b, 0, b"*/") {
                Some(p) => {
                    push(0..p + 2, Token::Comment);
                    i = p + 2;
                    self.open = Open::Nothing;
                }
                None => return push(0..len, Token::Comment),
            },
            Open::Backtick => match memchr::memchr(b'`', b) {
                Some(p) => {
                    push(0..p + 1, Token::Str);
                    i = p + 1;
                    self.open = Open::Nothing;
                }
                None => return push(0..len, Token::Str),
            },
            Open::TripleQuote(q) => match find(b, 0, &[q; 3]) {
                Some(p) => {
                    push(0..p + 3, Token::Str);
                    i = p + 3;
                    self.open = Open::Nothing;
                }
                None => return push(0..len, Token::Str),
            },
        }
        while i < len {
            let c = b[i];
            match c {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    push(i..len, Token::Comment);
                    return;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => match find(b, i + 2, b"*/") {
                    Some(p) => {
                        push(i..p + 2, Token::Comment);
                        i = p + 2;
                    }
                    None => {
                        push(i..len, Token::Comment);
                        self.open = Open::BlockComment;
                        return;
                    }
                },
                q @ (b'"' | b'\'')
                    if self.lang.triple_quotes.contains(&q) && b[i..].starts_with(&[q; 3]) =>
                {
                    match find(b, i + 3, &[q; 3]) {
                        Some(p) => {
                            push(i..p + 3, Token::Str);
                            i = p + 3;
                        }
                        None => {
                            push(i..len, Token::Str);
                            self.open = Open::TripleQuote(q);
                            return;
                        }
                    }
                }
                b'"' => {
                    let end = quoted_end(b, i, b'"');
                    push(i..end, Token::Str);
                    i = end;
                }
                b'\'' => {
                    // A character literal when it closes soon; Scala's 'symbol does not.
                    let end = quoted_end(b, i, b'\'');
                    if end - i <= 12 && b[end - 1] == b'\'' && end - i >= 3 {
                        push(i..end, Token::Str);
                        i = end;
                    } else {
                        i += 1;
                    }
                }
                b'`' if self.lang.backtick_strings => match memchr::memchr(b'`', &b[i + 1..]) {
                    Some(p) => {
                        push(i..i + p + 2, Token::Str);
                        i += p + 2;
                    }
                    None => {
                        push(i..len, Token::Str);
                        self.open = Open::Backtick;
                        return;
                    }
                },
                b'@' if self.lang.annotations
                    && b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic()) =>
                {
                    let mut end = i + 1;
                    while end < len && (is_word_byte(b[end]) || b[end] == b'.') {
                        end += 1;
                    }
                    push(i..end, Token::Annotation);
                    i = end;
                }
                b'0'..=b'9' => {
                    let mut end = i + 1;
                    while end < len
                        && (b[end].is_ascii_alphanumeric()
                            || b[end] == b'_'
                            || (b[end] == b'.' && b.get(end + 1).is_some_and(u8::is_ascii_digit)))
                    {
                        end += 1;
                    }
                    push(i..end, Token::Number);
                    i = end;
                }
                c if is_word_byte(c) => {
                    let mut end = i + 1;
                    while end < len && is_word_byte(b[end]) {
                        end += 1;
                    }
                    let word = &line[i..end];
                    let is_name = match self.decl {
                        Decl::Keyword => true,
                        Decl::AfterReceiver => b.get(end) == Some(&b'('),
                        _ => false,
                    };
                    let is_type_name = self.decl == Decl::TypeName;
                    if self.decl != Decl::Receiver {
                        self.decl = Decl::None;
                    }
                    if self
                        .lang
                        .keywords
                        .iter()
                        .any(|k| k.binary_search(&word).is_ok())
                    {
                        push(i..end, Token::Keyword);
                        if self.lang.declares_function.contains(&word) {
                            self.decl = Decl::Keyword;
                        } else if self.lang.declares_type.contains(&word) {
                            self.decl = Decl::TypeName;
                        }
                    } else if is_type_name || self.lang.types.binary_search(&word).is_ok() {
                        push(i..end, Token::Type);
                    } else if self.lang.constants.binary_search(&word).is_ok() {
                        push(i..end, Token::Constant);
                    } else if is_name
                        || (b.get(end) == Some(&b'(')
                            && self.lang.builtins.binary_search(&word).is_ok())
                    {
                        push(i..end, Token::Function);
                    }
                    i = end;
                }
                b'(' => {
                    if self.decl == Decl::Keyword {
                        self.decl = Decl::Receiver;
                    }
                    i += 1;
                }
                b')' => {
                    if self.decl == Decl::Receiver {
                        self.decl = Decl::AfterReceiver;
                    }
                    i += 1;
                }
                b' ' | b'\t' => i += 1,
                _ => {
                    if self.decl != Decl::Receiver {
                        self.decl = Decl::None;
                    }
                    i += 1;
                }
            }
        }
    }
}

/// The end (exclusive) of a quoted literal starting at `start`, honouring backslash escapes;
/// the end of the line when it does not close.
fn quoted_end(b: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            q if q == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(lang: &'static Language, lines: &[&str]) -> Vec<Vec<(String, Token)>> {
        let mut s = LineScanner::new(lang);
        lines
            .iter()
            .map(|l| {
                let mut out = Vec::new();
                s.line(l, &mut out);
                out.into_iter()
                    .map(|(r, t)| (l[r.start as usize..r.end as usize].to_string(), t))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn go_keywords_strings_comments_and_function_names() {
        let t = tokens(
            &GO,
            &[
                "func (c *Cart) Total(x int) string { // sum",
                "\treturn `a",
                "b` + \"q\\\"\" /* c */ + 0x1F",
            ],
        );
        let expect = |v: &[(&str, Token)]| -> Vec<(String, Token)> {
            v.iter().map(|(s, t)| (s.to_string(), *t)).collect()
        };
        let lines = [
            expect(&[
                ("func", Token::Keyword),
                ("Total", Token::Function),
                ("int", Token::Type),
                ("string", Token::Type),
                ("// sum", Token::Comment),
            ]),
            expect(&[("return", Token::Keyword), ("`a", Token::Str)]),
            expect(&[
                ("b`", Token::Str),
                ("\"q\\\"\"", Token::Str),
                ("/* c */", Token::Comment),
                ("0x1F", Token::Number),
            ]),
        ];
        assert_eq!(t, lines);
    }

    #[test]
    fn block_comments_and_text_blocks_span_lines() {
        let t = tokens(
            &JAVA,
            &[
                "@Override /* a",
                "still */ String s = \"\"\"",
                "  x \"quoted\" ",
                "\"\"\"; char c = '\\n'; int n = 3;",
            ],
        );
        assert_eq!(t[0][0], ("@Override".to_string(), Token::Annotation));
        assert_eq!(t[0][1], ("/* a".to_string(), Token::Comment));
        assert_eq!(t[1][0], ("still */".to_string(), Token::Comment));
        assert_eq!(t[1][1], ("\"\"\"".to_string(), Token::Str));
        assert_eq!(t[2], vec![("  x \"quoted\" ".to_string(), Token::Str)]);
        assert_eq!(t[3][0], ("\"\"\"".to_string(), Token::Str));
        assert!(t[3].contains(&("'\\n'".to_string(), Token::Str)));
        assert!(t[3].contains(&("3".to_string(), Token::Number)));
        assert!(t[3].contains(&("char".to_string(), Token::Type)));
    }

    #[test]
    fn multibyte_text_is_never_split() {
        let line = "x := \"héllo\" // wörld ünïcode";
        let mut out = Vec::new();
        LineScanner::new(&GO).line(line, &mut out);
        for (r, _) in &out {
            assert!(
                line.is_char_boundary(r.start as usize) && line.is_char_boundary(r.end as usize)
            );
        }
        let mut out = Vec::new();
        LineScanner::new(&SCALA).line("val ü = 'sym + 'c' + ünïcode", &mut out);
        assert!(out.iter().any(|(_, t)| *t == Token::Str));
    }

    /// Any text (a file is input): no panic, and the tokens of every line are in order, apart,
    /// inside the line and on char boundaries, whatever the language.
    #[test]
    fn arbitrary_text_gives_ordered_tokens_on_char_boundaries() {
        const PIECES: [&str; 16] = [
            "\"", "'", "`", "/*", "*/", "//", "\"\"\"", "\\", "@A", "0x1", "func", "class", "é",
            "€'", " ", "(x)",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut tokens_seen = 0;
        for lang in [&GO, &JAVA, &KOTLIN, &SCALA, &GROOVY] {
            let mut scanner = LineScanner::new(lang);
            for _ in 0..2000 {
                let mut line = String::new();
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                for _ in 0..(seed >> 33) % 12 {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    line.push_str(PIECES[(seed >> 60) as usize]);
                }
                let mut out = Vec::new();
                scanner.line(&line, &mut out);
                tokens_seen += out.len();
                let mut at = 0;
                for (r, _) in &out {
                    let (start, end) = (r.start as usize, r.end as usize);
                    assert!(
                        at <= start && start < end && end <= line.len(),
                        "{line:?}: {out:?}"
                    );
                    assert!(line.is_char_boundary(start) && line.is_char_boundary(end));
                    at = end;
                }
            }
        }
        assert!(
            tokens_seen > 10_000,
            "too little was tokenised: {tokens_seen}"
        );
    }

    #[test]
    fn word_lists_are_sorted_and_extensions_known() {
        for lang in [&GO, &JAVA, &KOTLIN, &SCALA, &GROOVY] {
            let lists = [lang.types, lang.constants, lang.builtins];
            for list in lang.keywords.iter().chain(&lists) {
                assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            }
        }
        for path in [
            "a/b.go", "A.java", "A.aj", "A.kt", "b.kts", "A.scala", "A.groovy", "b.gradle",
        ] {
            assert!(language_for(path).is_some(), "{path}");
        }
        assert!(language_for("a/b.yaml").is_none() && language_for("Makefile").is_none());
    }

    #[test]
    fn declared_type_names_are_types_and_go_builtins_functions() {
        let t = tokens(&GO, &["type Cart struct{ items []int }"]);
        assert_eq!(t[0][1], ("Cart".to_string(), Token::Type));
        let t = tokens(
            &JAVA,
            &["public final class CartService {", "x(Cart.class);"],
        );
        assert_eq!(t[0][3], ("CartService".to_string(), Token::Type));
        // `Foo.class` declares nothing: what follows it is not a type.
        assert_eq!(t[1], vec![("class".to_string(), Token::Keyword)]);
        let t = tokens(&GO, &["c.items = append(c.items, len)"]);
        assert_eq!(t[0], vec![("append".to_string(), Token::Function)]);
        let t = tokens(&SCALA, &["object Main extends App"]);
        assert_eq!(t[0][1], ("Main".to_string(), Token::Type));
    }

    #[test]
    fn groovy_and_kotlin_strings_of_three_quotes_span_lines() {
        let t = tokens(&GROOVY, &["def s = \'\'\'a", "b \" c\'\'\' + 1"]);
        assert_eq!(t[0][0], ("def".to_string(), Token::Keyword));
        assert_eq!(t[0][1], ("\'\'\'a".to_string(), Token::Str));
        assert_eq!(t[1][0], ("b \" c\'\'\'".to_string(), Token::Str));
        assert_eq!(t[1][1], ("1".to_string(), Token::Number));
        let t = tokens(&KOTLIN, &["val n: Int = \"\"\"x", "\"\"\".length // n"]);
        assert_eq!(t[0][0], ("val".to_string(), Token::Keyword));
        assert_eq!(t[0][1], ("Int".to_string(), Token::Type));
        assert_eq!(t[1][1], ("// n".to_string(), Token::Comment));
    }
}
