//! From import-path file names (`example.com/shop/cart/cart.go`) to repository paths
//! (`cart/cart.go`), through the `module` lines of the repository's go.mod files (spec goc.md
//! §1.6). Vendored or replaced packages keep their import path, so they map to no module of the
//! repository and are listed as external by the projection.

use rustc_hash::FxHashMap;

/// The module path declared by a go.mod file: `module example.com/shop`, also in the quoted
/// (`"..."` or `` `...` ``) and block (`module ( ... )`) forms, with `//` comments anywhere.
/// `None` when there is no module directive.
pub fn module_path(go_mod: &str) -> Option<String> {
    let mut in_block = false;
    for raw in go_mod.lines() {
        let line = raw.trim();
        if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            if let Some(path) = first_token(line) {
                return Some(path);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("module") else {
            continue;
        };
        // `modulex foo` is another word, not the directive.
        if !rest.starts_with([' ', '\t', '"', '`', '(']) {
            continue;
        }
        let rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('(') {
            match first_token(after.trim_start()) {
                Some(path) => return Some(path),
                None => in_block = !after.trim_start().starts_with(')'),
            }
            continue;
        }
        return first_token(rest);
    }
    None
}

/// The first token of a go.mod line: a quoted string (unquoted) or a bare word, before any `//`
/// comment. `None` when the line is empty, a comment, or a broken quoted string.
fn first_token(s: &str) -> Option<String> {
    if s.is_empty() || s.starts_with("//") {
        return None;
    }
    if let Some(raw) = s.strip_prefix('`') {
        let end = raw.find('`')?;
        return non_empty(raw[..end].to_owned());
    }
    if let Some(quoted) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        loop {
            match chars.next()? {
                '"' => return non_empty(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
    }
    let end = s
        .find(|c: char| c.is_whitespace())
        .unwrap_or(s.len())
        .min(s.find("//").unwrap_or(s.len()));
    non_empty(s[..end].to_owned())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The repository's Go modules: module path → repository directory of its go.mod.
#[derive(Debug, Clone, Default)]
pub struct ModuleMap {
    dirs: FxHashMap<String, String>,
}

/// `./a/b/` → `a/b`, `.` → ``, backslashes → slashes.
fn normalize_dir(dir: &str) -> String {
    let dir = dir.replace('\\', "/");
    let mut d = dir.as_str();
    while let Some(rest) = d.strip_prefix("./") {
        d = rest;
    }
    let d = d.trim_matches('/');
    if d == "." {
        String::new()
    } else {
        d.to_owned()
    }
}

impl ModuleMap {
    /// `mods` are (repository directory of the go.mod, "" for the root; module path). When two
    /// directories declare the same module, the lexically first directory wins, so the result
    /// does not depend on the order of `mods`.
    pub fn new(mods: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut dirs: FxHashMap<String, String> = FxHashMap::default();
        for (dir, module) in mods {
            let module = module.trim().trim_end_matches('/').to_owned();
            if module.is_empty() {
                continue;
            }
            let dir = normalize_dir(&dir);
            dirs.entry(module)
                .and_modify(|d| {
                    if dir < *d {
                        d.clone_from(&dir);
                    }
                })
                .or_insert(dir);
        }
        ModuleMap { dirs }
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// (module path, repository directory) pairs, sorted by module path.
    pub fn modules(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<_> = self
            .dirs
            .iter()
            .map(|(m, d)| (m.as_str(), d.as_str()))
            .collect();
        v.sort_unstable();
        v
    }

    /// The repository path of a profile file name, through the module with the longest path
    /// that contains it (so nested modules win over their parent). `None` when no module of the
    /// repository contains the file (a dependency, or a module the map does not know).
    pub fn resolve(&self, profile_file: &str) -> Option<String> {
        let mut end = profile_file.len();
        while let Some(slash) = profile_file[..end].rfind('/') {
            if let Some(dir) = self.dirs.get(&profile_file[..slash]) {
                let rest = &profile_file[slash + 1..];
                if rest.is_empty() {
                    return None;
                }
                return Some(if dir.is_empty() {
                    rest.to_owned()
                } else {
                    format!("{dir}/{rest}")
                });
            }
            end = slash;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ModuleMap {
        ModuleMap::new(pairs.iter().map(|(d, m)| (d.to_string(), m.to_string())))
    }

    #[test]
    fn module_line_forms() {
        assert_eq!(
            module_path("module example.com/shop\n\ngo 1.19\n").as_deref(),
            Some("example.com/shop")
        );
        assert_eq!(
            module_path("// Deprecated: use v2\nmodule \"example.com/q\" // quoted\n").as_deref(),
            Some("example.com/q")
        );
        assert_eq!(
            module_path("module `example.com/raw`\n").as_deref(),
            Some("example.com/raw")
        );
        assert_eq!(
            module_path("module example.com/c// trailing comment\n").as_deref(),
            Some("example.com/c")
        );
        assert_eq!(
            module_path("module (\n  // comment\n  example.com/block\n)\n").as_deref(),
            Some("example.com/block")
        );
        assert_eq!(
            module_path("\t module   example.com/ws   \r\n").as_deref(),
            Some("example.com/ws")
        );
        assert_eq!(
            module_path("modulex example.com/no\n// module example.com/commented\ngo 1.19\n"),
            None
        );
        assert_eq!(module_path("module \"unterminated\n"), None);
        assert_eq!(module_path("module\n"), None);
        assert_eq!(module_path(""), None);
        assert_eq!(module_path("module \"a\\\"b\"\n").as_deref(), Some("a\"b"));
    }

    #[test]
    fn resolves_root_module() {
        let m = map(&[("", "example.com/shop")]);
        assert_eq!(
            m.resolve("example.com/shop/cart/cart.go").as_deref(),
            Some("cart/cart.go")
        );
        assert_eq!(
            m.resolve("example.com/shop/main.go").as_deref(),
            Some("main.go")
        );
        // A longer path that merely starts with the module path is another module.
        assert_eq!(m.resolve("example.com/shopping/x.go"), None);
        assert_eq!(m.resolve("github.com/other/x.go"), None);
        assert_eq!(m.resolve("example.com/shop"), None);
        assert_eq!(m.resolve("example.com/shop/"), None);
        assert_eq!(m.resolve("main.go"), None);
        assert!(!m.is_empty());
        assert!(ModuleMap::default().is_empty());
    }

    #[test]
    fn longest_module_wins_for_nested_modules() {
        let m = map(&[
            ("", "example.com/shop"),
            ("./tools/gen/", "example.com/shop/tools/gen"),
            ("libs\\money", "example.com/money"),
        ]);
        assert_eq!(
            m.resolve("example.com/shop/tools/gen/gen.go").as_deref(),
            Some("tools/gen/gen.go")
        );
        assert_eq!(
            m.resolve("example.com/shop/tools/other.go").as_deref(),
            Some("tools/other.go")
        );
        assert_eq!(
            m.resolve("example.com/money/cents/cents.go").as_deref(),
            Some("libs/money/cents/cents.go")
        );
        assert_eq!(
            m.modules(),
            vec![
                ("example.com/money", "libs/money"),
                ("example.com/shop", ""),
                ("example.com/shop/tools/gen", "tools/gen"),
            ]
        );
    }

    #[test]
    fn nested_module_in_unrelated_dir_wins() {
        // The nested module lives in a directory that does not match its path: the file must
        // go there, not to the parent's directory of the same name.
        let m = map(&[("", "example.com/a"), ("mods/b", "example.com/a/b")]);
        assert_eq!(
            m.resolve("example.com/a/b/x.go").as_deref(),
            Some("mods/b/x.go")
        );
    }

    #[test]
    fn duplicate_module_paths_pick_first_dir_whatever_the_order() {
        let a = map(&[("z", "example.com/m"), ("a", "example.com/m")]);
        let b = map(&[("a", "example.com/m"), ("z", "example.com/m")]);
        assert_eq!(a.resolve("example.com/m/x.go").as_deref(), Some("a/x.go"));
        assert_eq!(b.resolve("example.com/m/x.go").as_deref(), Some("a/x.go"));
    }
}
