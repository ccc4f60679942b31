//! Maps a class's source file (package + `SourceFile` attribute) onto a repository path.
//!
//! A class file only says `demo/sub` and `App.java`; the repository may keep it under
//! `src/main/java`, `service/src/main/kotlin`, or anywhere. Configured source roots are tried
//! first (`root/package/File`); without a hit, any JVM-language file whose path ends with
//! `package/File` matches. Two or more candidates are reported as ambiguous rather than guessed,
//! so the user can configure a root.

use std::collections::{HashMap, HashSet};

/// Extensions of the JVM languages whose sources JaCoCo reports. `.aj` is AspectJ: classes
/// compiled or woven by ajc name their aspect source (`SourceFile` = `Tracing.aj`).
const JVM_SOURCE_EXTENSIONS: [&str; 7] =
    [".java", ".kt", ".kts", ".scala", ".groovy", ".gvy", ".aj"];

/// The result of resolving one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMatch {
    Found(String),
    /// Several repository files fit; sorted.
    Ambiguous(Vec<String>),
    Missing,
}

/// An index of the repository's JVM source files.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    files: HashSet<String>,
    by_name: HashMap<String, Vec<String>>,
    roots: Vec<String>,
}

fn is_jvm_source(path: &str) -> bool {
    JVM_SOURCE_EXTENSIONS.iter().any(|e| path.ends_with(e))
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

impl SourceIndex {
    /// `repo_files`: repository-relative paths with `/` separators. `source_roots`: directories
    /// such as `src/main/java` (leading `./` and slashes are ignored; `""` is the repository root).
    pub fn new(repo_files: &[String], source_roots: &[String]) -> Self {
        let mut files = HashSet::new();
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for f in repo_files {
            let f = f.strip_prefix("./").unwrap_or(f);
            if !is_jvm_source(f) {
                continue;
            }
            if files.insert(f.to_string()) {
                by_name
                    .entry(file_name(f).to_string())
                    .or_default()
                    .push(f.to_string());
            }
        }
        let roots = source_roots
            .iter()
            .map(|r| join(&[r.strip_prefix("./").unwrap_or(r)]))
            .collect();
        SourceIndex {
            files,
            by_name,
            roots,
        }
    }

    /// Finds the repository file for `package` (VM form, `demo/sub`; dots are accepted too) and
    /// `source_file` (the `SourceFile` attribute, `App.java`).
    pub fn resolve(&self, package: &str, source_file: &str) -> SourceMatch {
        let package = package.replace('.', "/");
        let mut hits: Vec<String> = self
            .roots
            .iter()
            .map(|root| join(&[root, &package, source_file]))
            .filter(|p| self.files.contains(p))
            .collect();
        hits.sort();
        hits.dedup();
        if hits.is_empty() {
            let suffix = join(&[&package, source_file]);
            if let Some(candidates) = self.by_name.get(source_file) {
                hits = candidates
                    .iter()
                    .filter(|c| {
                        c.as_str() == suffix
                            || (c.ends_with(&suffix)
                                && c.as_bytes()[c.len() - suffix.len() - 1] == b'/')
                    })
                    .cloned()
                    .collect();
                // Kotlin does not tie directories to packages: a file name that is unique in the
                // repository is taken wherever it lives.
                if hits.is_empty()
                    && (source_file.ends_with(".kt") || source_file.ends_with(".kts"))
                    && candidates.len() == 1
                {
                    hits = candidates.clone();
                }
            }
            hits.sort();
        }
        match hits.len() {
            0 => SourceMatch::Missing,
            1 => SourceMatch::Found(hits.remove(0)),
            _ => SourceMatch::Ambiguous(hits),
        }
    }

    /// [`SourceIndex::resolve`] for one version of a multi-release class: `release` is `Some(N)`
    /// for a `META-INF/versions/N/` class, `None` for a base class. Multi-release projects keep
    /// each version's sources in a root named after the release (Maven and Gradle conventions:
    /// `src/main/java11`, `src/main/java-11`), so the same `package/File` exists once per
    /// version. When the plain resolution is ambiguous, the candidate whose source root ends in
    /// the class's release (for a base class: the one whose root ends in no release number) is
    /// taken if it is the only one; otherwise the answer stays ambiguous.
    pub fn resolve_release(
        &self,
        package: &str,
        source_file: &str,
        release: Option<u32>,
    ) -> SourceMatch {
        let found = self.resolve(package, source_file);
        let SourceMatch::Ambiguous(candidates) = &found else {
            return found;
        };
        let suffix = join(&[&package.replace('.', "/"), source_file]);
        let mut fitting = candidates
            .iter()
            .filter(|c| match c.strip_suffix(suffix.as_str()) {
                Some(root) => root_release(root.trim_end_matches('/')) == release,
                None => release.is_none(),
            });
        match (fitting.next(), fitting.next()) {
            (Some(one), None) => SourceMatch::Found(one.clone()),
            _ => found,
        }
    }
}

/// The release a source root is named after: the number (9 or more) that ends its last
/// directory, as in `src/main/java11`, `src/main/java-11` or `versions/17`.
fn root_release(root: &str) -> Option<u32> {
    let last = file_name(root);
    let digits = last.len() - last.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 4 {
        return None;
    }
    let n: u32 = last[last.len() - digits..].parse().ok()?;
    (n >= 9).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn configured_roots_win_over_suffix_matches() {
        let repo = files(&[
            "svc/src/main/java/demo/App.java",
            "legacy/demo/App.java",
            "README.md",
        ]);
        let idx = SourceIndex::new(&repo, &files(&["svc/src/main/java/"]));
        assert_eq!(
            idx.resolve("demo", "App.java"),
            SourceMatch::Found("svc/src/main/java/demo/App.java".into())
        );
        let no_roots = SourceIndex::new(&repo, &[]);
        assert_eq!(
            no_roots.resolve("demo", "App.java"),
            SourceMatch::Ambiguous(files(&[
                "legacy/demo/App.java",
                "svc/src/main/java/demo/App.java"
            ]))
        );
    }

    #[test]
    fn suffix_match_needs_a_whole_directory_boundary() {
        let repo = files(&[
            "src/main/java/xdemo/App.java",
            "src/main/java/demo/sub/Cart.java",
        ]);
        let idx = SourceIndex::new(&repo, &[]);
        assert_eq!(idx.resolve("demo", "App.java"), SourceMatch::Missing);
        assert_eq!(
            idx.resolve("demo/sub", "Cart.java"),
            SourceMatch::Found("src/main/java/demo/sub/Cart.java".into())
        );
        assert_eq!(
            idx.resolve("demo.sub", "Cart.java"),
            SourceMatch::Found("src/main/java/demo/sub/Cart.java".into())
        );
    }

    #[test]
    fn default_package_and_root_level_files() {
        let repo = files(&["Main.java", "src/Other.scala"]);
        let idx = SourceIndex::new(&repo, &[String::new()]);
        assert_eq!(
            idx.resolve("", "Main.java"),
            SourceMatch::Found("Main.java".into())
        );
        assert_eq!(
            idx.resolve("", "Other.scala"),
            SourceMatch::Found("src/Other.scala".into())
        );
    }

    #[test]
    fn kotlin_files_outside_their_package_directory() {
        let repo = files(&[
            "app/src/main/kotlin/Util.kt",
            "app/src/main/kotlin/a/Dup.kt",
            "b/Dup.kt",
        ]);
        let idx = SourceIndex::new(&repo, &[]);
        assert_eq!(
            idx.resolve("com/x", "Util.kt"),
            SourceMatch::Found("app/src/main/kotlin/Util.kt".into())
        );
        assert_eq!(idx.resolve("com/x", "Dup.kt"), SourceMatch::Missing);
        // Java keeps the strict rule.
        let idx = SourceIndex::new(&files(&["x/Util.java"]), &[]);
        assert_eq!(idx.resolve("com/x", "Util.java"), SourceMatch::Missing);
    }

    #[test]
    fn aspectj_sources_resolve_like_java() {
        let repo = files(&[
            "src/main/aspect/demo/Tracing.aj",
            "src/main/java/demo/App.java",
            "other/demo/Tracing.ajx",
        ]);
        let idx = SourceIndex::new(&repo, &[]);
        assert_eq!(
            idx.resolve("demo", "Tracing.aj"),
            SourceMatch::Found("src/main/aspect/demo/Tracing.aj".into())
        );
        let rooted = SourceIndex::new(&repo, &files(&["src/main/aspect"]));
        assert_eq!(
            rooted.resolve("demo", "Tracing.aj"),
            SourceMatch::Found("src/main/aspect/demo/Tracing.aj".into())
        );
        // Like Java, an aspect is tied to its package directory.
        assert_eq!(idx.resolve("other", "Tracing.aj"), SourceMatch::Missing);
    }

    #[test]
    fn multi_release_versions_resolve_to_their_own_source_root() {
        let repo = files(&[
            "lib/src/main/java/demo/Greeter.java",
            "lib/src/main/java11/demo/Greeter.java",
            "lib/src/main/java-17/demo/Greeter.java",
            "lib/src/main/java/demo/Other.java",
        ]);
        let idx = SourceIndex::new(&repo, &[]);
        assert!(matches!(
            idx.resolve("demo", "Greeter.java"),
            SourceMatch::Ambiguous(_)
        ));
        assert_eq!(
            idx.resolve_release("demo", "Greeter.java", None),
            SourceMatch::Found("lib/src/main/java/demo/Greeter.java".into())
        );
        assert_eq!(
            idx.resolve_release("demo", "Greeter.java", Some(11)),
            SourceMatch::Found("lib/src/main/java11/demo/Greeter.java".into())
        );
        assert_eq!(
            idx.resolve_release("demo", "Greeter.java", Some(17)),
            SourceMatch::Found("lib/src/main/java-17/demo/Greeter.java".into())
        );
        // No root for release 21: still ambiguous, never guessed.
        assert!(matches!(
            idx.resolve_release("demo", "Greeter.java", Some(21)),
            SourceMatch::Ambiguous(_)
        ));
        // Unique files resolve as before, whatever the release.
        assert_eq!(
            idx.resolve_release("demo", "Other.java", Some(11)),
            SourceMatch::Found("lib/src/main/java/demo/Other.java".into())
        );
        // Two base roots stay ambiguous.
        let two = SourceIndex::new(&files(&["a/demo/Greeter.java", "b/demo/Greeter.java"]), &[]);
        assert!(matches!(
            two.resolve_release("demo", "Greeter.java", None),
            SourceMatch::Ambiguous(_)
        ));
        assert_eq!(root_release("src/main/java11"), Some(11));
        assert_eq!(root_release("src/main/java2"), None);
        assert_eq!(root_release("src/main/java"), None);
        assert_eq!(root_release(""), None);
    }

    #[test]
    fn non_jvm_files_are_ignored() {
        let idx = SourceIndex::new(&files(&["demo/App.java.orig", "demo/App.txt"]), &[]);
        assert_eq!(idx.resolve("demo", "App.java"), SourceMatch::Missing);
    }
}
