//! `covtop init`: a commented example configuration, with the repository's Go modules and
//! Maven/Gradle projects.

use super::DiffArgs;
use anyhow::{Context, Result, bail};
use covtop::config::JvmProject;
use covtop::go::modules::module_path;
use covtop::vcs::{Repo, Revision};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(output: &Path, force: bool, diff: &DiffArgs) -> Result<ExitCode> {
    if output.exists() && !force {
        bail!(
            "{} already exists: pass --force to overwrite it",
            output.display()
        );
    }
    let repo_path = diff.repo.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let files = RepoFiles::read(&repo_path);
    let modules = find_go_modules(&files);
    let base = diff
        .base
        .clone()
        .unwrap_or_else(|| default_base(&repo_path));
    let named_repo = repo_path_for(output, &repo_path);
    let jvm = find_jvm_projects(&files.paths, &named_repo, &repo_path);
    let text = covtop::config::example(&modules, &jvm, &base, &named_repo);
    std::fs::write(output, &text).with_context(|| format!("cannot write {}", output.display()))?;
    println!("Wrote {}", output.display());
    if modules.is_empty() && jvm.is_empty() {
        println!(
            "No go.mod, Maven or Gradle project found; edit the [[target]] entries for your services."
        );
    }
    // Module paths and folders come from the repository: shown with control characters escaped.
    let field = |s: &str| covtop::escape::field(s).into_owned();
    for (dir, m) in &modules {
        println!(
            "  Go module {} in {}",
            field(m),
            field(if dir.is_empty() { "." } else { dir })
        );
    }
    for p in &jvm {
        println!(
            "  {} in {}: a commented JaCoCo target to complete",
            if p.build.is_empty() {
                "JVM sources".to_string()
            } else {
                format!("{} project", p.build)
            },
            field(if p.dir.is_empty() { "." } else { &p.dir })
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The repository as the configuration at `output` names it: relative paths in a configuration
/// are relative to its folder, so `--repo` is written relative to it (or absolute when it is
/// elsewhere).
fn repo_path_for(output: &Path, repo: &Path) -> String {
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (Ok(folder), Ok(repo)) = (folder.canonicalize(), repo.canonicalize()) else {
        return repo.display().to_string();
    };
    match repo.strip_prefix(&folder) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => repo.display().to_string(),
    }
}

/// The repository's files: at HEAD when the folder is a git repository, else on disk (without
/// hidden folders); `/`-separated, relative to the repository.
struct RepoFiles {
    paths: Vec<String>,
    /// The repository and its HEAD, to read files at HEAD.
    git: Option<(Repo, Revision)>,
    root: PathBuf,
}

impl RepoFiles {
    fn read(repo_path: &Path) -> RepoFiles {
        if let Ok(repo) = Repo::open(repo_path)
            && let Ok(head) = repo.resolve("HEAD")
            && let Ok(paths) = repo.list_files(&head)
        {
            return RepoFiles {
                paths,
                git: Some((repo, head)),
                root: repo_path.to_path_buf(),
            };
        }
        let mut paths = Vec::new();
        walk(repo_path, repo_path, &mut paths, 0);
        paths.sort();
        RepoFiles {
            paths,
            git: None,
            root: repo_path.to_path_buf(),
        }
    }

    fn text(&self, path: &str) -> Option<String> {
        match &self.git {
            Some((repo, head)) => repo
                .read_file(head, path)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            None => covtop::bounded_read::read_regular(
                &self.root.join(path),
                covtop::vcs::MAX_SOURCE_BYTES,
            )
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

/// Folders whose files are never the project's own (vendored, generated, build output).
fn foreign(dir: &str) -> bool {
    dir.split('/').any(|c| {
        matches!(
            c,
            "vendor" | "testdata" | "node_modules" | "target" | "build"
        )
    })
}

/// The go.mod files: (folder, module path).
fn find_go_modules(files: &RepoFiles) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in &files.paths {
        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f.as_str()));
        if name != "go.mod" || foreign(dir) {
            continue;
        }
        if let Some(m) = files.text(f).as_deref().and_then(module_path) {
            out.push((dir.to_string(), m));
        }
    }
    out
}

/// Maven and Gradle projects: the folders holding `src/main/java`, with their build file (when
/// no folder holds sources, the folders with a build file). `named_repo` is the repository as
/// the configuration names it, to name the classes relative to the configuration.
fn find_jvm_projects(paths: &[String], named_repo: &str, repo_path: &Path) -> Vec<JvmProject> {
    let mut builds: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut sources: BTreeSet<String> = BTreeSet::new();
    for f in paths {
        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f.as_str()));
        let build = match name {
            "pom.xml" => "Maven",
            "build.gradle" | "build.gradle.kts" => "Gradle",
            _ => "",
        };
        if !build.is_empty() && !foreign(dir) {
            builds.insert(dir.to_string(), build);
        }
        let at = if f.starts_with("src/main/java/") {
            Some(0)
        } else {
            f.find("/src/main/java/")
        };
        if let Some(at) = at
            && !foreign(&f[..at])
        {
            sources.insert(f[..at].to_string());
        }
    }
    let dirs: Vec<String> = if sources.is_empty() {
        builds.keys().cloned().collect()
    } else {
        sources.into_iter().collect()
    };
    let root_name = repo_path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "my-service".to_string());
    dirs.into_iter()
        .map(|dir| {
            let build = builds.get(&dir).copied().unwrap_or("");
            let output = if build == "Gradle" {
                "build/classes/java/main"
            } else {
                "target/classes"
            };
            let classes = [named_repo, dir.as_str(), output]
                .iter()
                .filter(|p| !p.is_empty() && **p != ".")
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            JvmProject {
                name: dir
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .map_or_else(|| root_name.clone(), str::to_string),
                dir,
                build,
                classes,
            }
        })
        .collect()
}

/// Every file under `dir`, relative to `root` (hidden folders skipped, 12 levels at most).
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>, depth: usize) {
    if depth > 12 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !name.starts_with('.') && name != "node_modules" {
                walk(root, &p, out, depth + 1);
            }
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// `origin/main` or `origin/master`, whichever exists, else `main`.
fn default_base(repo_path: &Path) -> String {
    if let Ok(repo) = Repo::open(repo_path) {
        for cand in ["origin/main", "origin/master", "main", "master"] {
            if repo.resolve(cand).is_ok() {
                return cand.to_string();
            }
        }
    }
    "origin/main".to_string()
}
