//! `covtop init`: a commented example configuration, with the repository's Go modules.

use super::DiffArgs;
use anyhow::{Context, Result, bail};
use covtop::go::modules::module_path;
use covtop::vcs::Repo;
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
    let modules = find_go_modules(&repo_path);
    let base = diff
        .base
        .clone()
        .unwrap_or_else(|| default_base(&repo_path));
    let text = covtop::config::example(&modules, &base, &repo_path_for(output, &repo_path));
    std::fs::write(output, &text).with_context(|| format!("cannot write {}", output.display()))?;
    println!("Wrote {}", output.display());
    if modules.is_empty() {
        println!("No go.mod found; edit the [[target]] entries for your services.");
    } else {
        for (dir, m) in &modules {
            println!(
                "  Go module {m} in {}",
                if dir.is_empty() { "." } else { dir }
            );
        }
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

/// go.mod files at HEAD when the folder is a git repository, else on disk.
fn find_go_modules(repo_path: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(repo) = Repo::open(repo_path)
        && let Ok(head) = repo.resolve("HEAD")
        && let Ok(files) = repo.list_files(&head)
    {
        for f in files.iter().filter(|f| f.ends_with("go.mod")) {
            let (dir, name) = f.rsplit_once('/').unwrap_or(("", f.as_str()));
            if name != "go.mod" || dir.split('/').any(|c| c == "vendor" || c == "testdata") {
                continue;
            }
            if let Ok(Some(bytes)) = repo.read_file(&head, f)
                && let Some(m) = module_path(&String::from_utf8_lossy(&bytes))
            {
                out.push((dir.to_string(), m));
            }
        }
        return out;
    }
    walk(repo_path, repo_path, &mut out, 0);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>, depth: usize) {
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
            if !name.starts_with('.')
                && name != "vendor"
                && name != "node_modules"
                && name != "testdata"
            {
                walk(root, &p, out, depth + 1);
            }
        } else if name == "go.mod"
            && let Ok(text) = std::fs::read_to_string(&p)
            && let Some(m) = module_path(&text)
        {
            let rel = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            out.push((rel, m));
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
