//! Revisions, files read from git objects, line maps and the git-backed SourceStore, on a real
//! repository (see `vcs_fixture`).

mod common;
mod vcs_fixture;

use covtop::model::SourceStore;
use covtop::vcs::{GitSources, Repo, VcsError};
use vcs_fixture::Fixture;

fn setup() -> Option<(Fixture, Repo)> {
    if !common::have_tool("git", "--version") {
        return None;
    }
    let fixture = Fixture::build();
    let repo = Repo::open(fixture.path()).expect("open fixture repo");
    Some((fixture, repo))
}

#[test]
fn open_discovers_the_repository_from_a_subdirectory() {
    let Some((f, _repo)) = setup() else { return };
    let repo = Repo::open(&f.path().join("src")).unwrap();
    let workdir = repo.workdir().unwrap().canonicalize().unwrap();
    assert_eq!(workdir, f.path().canonicalize().unwrap());
}

#[test]
fn open_outside_a_repository_says_so() {
    if !common::have_tool("git", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inside_a_repo = std::process::Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .current_dir(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if inside_a_repo {
        eprintln!("skipping: the temp dir is inside a git repository");
        return;
    }
    let err = Repo::open(dir.path()).unwrap_err();
    assert!(matches!(err, VcsError::NotARepository { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("not inside a git repository"), "{message}");
}

#[test]
fn resolve_names_commits_like_git() {
    let Some((f, repo)) = setup() else { return };
    let feature = repo.resolve("feature").unwrap();
    assert_eq!(feature.oid, f.rev_parse("feature"));
    assert_eq!(feature.oid.len(), 40);
    assert!(feature.oid.starts_with(&feature.short) && feature.short.len() >= 7);
    assert_eq!(feature.summary, "feature 2");
    assert_eq!(repo.resolve("feature~1").unwrap().summary, "feature 1");
    assert_eq!(repo.head().unwrap(), feature);
    // A full and an abbreviated id resolve to the same commit.
    assert_eq!(repo.resolve(&feature.short).unwrap(), feature);
}

#[test]
fn resolve_unknown_revision_suggests_fetching() {
    let Some((_f, repo)) = setup() else { return };
    let err = repo.resolve("origin/main").unwrap_err();
    assert!(matches!(&err, VcsError::UnknownRevision { rev, .. } if rev == "origin/main"));
    let message = err.to_string();
    assert!(message.contains("`origin/main`"), "{message}");
    assert!(message.contains("git fetch"), "{message}");
}

#[test]
fn read_file_reads_the_committed_blob_not_the_checkout() {
    let Some((f, repo)) = setup() else { return };
    let feature = repo.resolve("feature").unwrap();
    let on_disk = std::fs::read_to_string(f.path().join("src/a.txt")).unwrap();
    assert!(on_disk.starts_with("top 1\n"), "the working tree differs");
    let committed = repo.read_file(&feature, "src/a.txt").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(committed).unwrap(),
        f.git(&["show", "feature:src/a.txt"])
    );
    let base = repo.resolve("main~1").unwrap();
    assert_eq!(
        repo.read_file(&base, "src/a.txt").unwrap().unwrap(),
        f.git(&["show", "main~1:src/a.txt"]).into_bytes()
    );
    // Deleted on the branch, present at the base; directories and unknown paths are not files.
    assert_eq!(repo.read_file(&feature, "src/gone.txt").unwrap(), None);
    assert!(repo.read_file(&base, "src/gone.txt").unwrap().is_some());
    assert_eq!(repo.read_file(&feature, "src").unwrap(), None);
    assert_eq!(repo.read_file(&feature, "no/such/file.go").unwrap(), None);
    assert_eq!(repo.read_file(&feature, "").unwrap(), None);
    // Binary blobs come back byte for byte.
    assert_eq!(
        repo.read_file(&feature, "assets/logo.bin")
            .unwrap()
            .unwrap(),
        vec![0u8, 9, 9, 0, 255, 254, 0, 10, 3, 0, 7]
    );
}

#[test]
fn list_files_lists_every_blob_sorted() {
    let Some((f, repo)) = setup() else { return };
    let feature = repo.resolve("feature").unwrap();
    let files = repo.list_files(&feature).unwrap();
    assert_eq!(
        files,
        [
            ".gitignore",
            "assets/logo.bin",
            "src/a.txt",
            "src/b.txt",
            "src/main_only.txt",
            "src/new_file.txt",
            "src/new_name.txt",
            "src/ws.txt",
            "src/ws_only.txt",
        ]
    );
    // Same set as git's own listing, for another revision.
    let mut cli: Vec<String> = f
        .git(&["ls-tree", "-r", "--name-only", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    cli.sort();
    assert_eq!(
        repo.list_files(&repo.resolve("main").unwrap()).unwrap(),
        cli
    );
}

#[test]
fn line_map_follows_edits_deletions_and_a_rename() {
    let Some((_f, repo)) = setup() else { return };
    let old = repo.resolve("main~1").unwrap();
    let new = repo.resolve("feature").unwrap();
    let maps = repo.line_map(&old, &new).unwrap();
    let map = |path: &str, line: u32| maps.map(path, line);
    let at = |path: &str, line: u32| Some((path.to_string(), line));

    // a.txt: 3 modified, two lines inserted after 6, 9 deleted.
    let a: Vec<_> = (1..=10).map(|l| map("src/a.txt", l)).collect();
    assert_eq!(
        a,
        vec![
            at("src/a.txt", 1),
            at("src/a.txt", 2),
            None,
            at("src/a.txt", 4),
            at("src/a.txt", 5),
            at("src/a.txt", 6),
            at("src/a.txt", 9),
            at("src/a.txt", 10),
            None,
            at("src/a.txt", 11),
        ]
    );
    // b.txt: lines 1-2 deleted.
    assert_eq!(map("src/b.txt", 1), None);
    assert_eq!(map("src/b.txt", 3), at("src/b.txt", 1));
    assert_eq!(map("src/b.txt", 8), at("src/b.txt", 6));
    // Renamed with an edit on line 5.
    assert_eq!(map("src/old_name.txt", 1), at("src/new_name.txt", 1));
    assert_eq!(map("src/old_name.txt", 5), None);
    assert_eq!(map("src/old_name.txt", 12), at("src/new_name.txt", 12));
    assert_eq!(maps.new_path("src/old_name.txt"), Some("src/new_name.txt"));
    // Deleted and changed binary files map nowhere; whitespace edits count as edits here.
    assert_eq!(map("src/gone.txt", 1), None);
    assert_eq!(maps.new_path("src/gone.txt"), None);
    assert_eq!(map("assets/logo.bin", 1), None);
    assert_eq!(map("src/ws.txt", 2), None);
    assert_eq!(map("src/ws.txt", 3), at("src/ws.txt", 3));
    // Untouched files map to themselves.
    assert_eq!(map(".gitignore", 1), at(".gitignore", 1));
    assert_eq!(map("src/main_only.txt", 2), at("src/main_only.txt", 2));
    assert!(!maps.is_identity());
    assert!(repo.line_map(&new, &new).unwrap().is_identity());
}

#[test]
fn line_map_agrees_with_the_contents_it_maps() {
    // Every mapped line must hold the same text on both sides.
    let Some((_f, repo)) = setup() else { return };
    let pairs = [
        ("main~1", "feature"),
        ("main", "feature"),
        ("feature", "main"),
    ];
    for (old_rev, new_rev) in pairs {
        let old = repo.resolve(old_rev).unwrap();
        let new = repo.resolve(new_rev).unwrap();
        let maps = repo.line_map(&old, &new).unwrap();
        for path in repo.list_files(&old).unwrap() {
            let old_text = repo.read_file(&old, &path).unwrap().unwrap();
            let Ok(old_text) = String::from_utf8(old_text) else {
                continue;
            };
            for (i, line) in old_text.lines().enumerate() {
                let Some((new_path, new_line)) = maps.map(&path, i as u32 + 1) else {
                    continue;
                };
                let new_text = repo.read_file(&new, &new_path).unwrap().unwrap();
                let new_text = String::from_utf8(new_text).unwrap();
                assert_eq!(
                    new_text.lines().nth(new_line as usize - 1),
                    Some(line),
                    "{old_rev}:{path}:{} -> {new_rev}:{new_path}:{new_line}",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn git_sources_serve_the_revision_from_many_threads() {
    let Some((f, repo)) = setup() else { return };
    let feature = repo.resolve("feature").unwrap();
    let sources = std::sync::Arc::new(repo.sources(&feature).unwrap());
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    assert_send_sync(&*sources);
    assert_eq!(sources.revision(), &feature);

    let committed = f.git(&["show", "feature:src/a.txt"]).into_bytes();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let sources = sources.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| sources.source("src/a.txt").unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for thread in threads {
        for bytes in thread.join().unwrap() {
            assert_eq!(bytes.as_deref(), Some(committed.as_slice()));
        }
    }
    assert_eq!(sources.source("src/gone.txt").unwrap(), None);
    // Reading more files than the cache holds still gives each file's own content.
    for round in 0..2 {
        for path in repo.list_files(&feature).unwrap() {
            let expected = repo.read_file(&feature, &path).unwrap();
            let got = sources.source(&path).unwrap().map(|b| b.to_vec());
            assert_eq!(got, expected, "round {round}: {path}");
        }
    }
}

#[test]
fn git_sources_for_a_bare_clone() {
    let Some((f, _repo)) = setup() else { return };
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", f.path().display());
    vcs_fixture::git_in(clones.path(), &["clone", "-q", "--bare", &url, "bare.git"]);
    let repo = Repo::open(&clones.path().join("bare.git")).unwrap();
    let main = repo.resolve("main").unwrap();
    let sources = GitSources::new(&repo, &main).unwrap();
    assert_eq!(
        sources.source("src/main_only.txt").unwrap().as_deref(),
        Some(&b"m1\nm2 on main\nm3\nm4\n"[..])
    );
}

#[test]
fn merge_base_and_diff_base_name_the_fork_point() {
    let Some((f, repo)) = setup() else { return };
    let main = repo.resolve("main").unwrap();
    let feature = repo.resolve("feature").unwrap();
    let fork = repo.merge_base(&main, &feature).unwrap();
    assert_eq!(fork.oid, f.git(&["merge-base", "main", "feature"]).trim());
    assert_eq!(fork.summary, "base");
    let three_dot = covtop::vcs::DiffSpec::new("main", "feature");
    assert_eq!(repo.diff_base(&three_dot).unwrap(), fork);
    let two_dot = covtop::vcs::DiffSpec {
        range: covtop::vcs::RangeMode::TwoDot,
        ..three_dot
    };
    assert_eq!(repo.diff_base(&two_dot).unwrap(), main);
}

#[test]
fn worktree_sources_read_the_checkout_and_stay_inside_it() {
    let Some((f, _repo)) = setup() else { return };
    let sources = covtop::vcs::WorktreeSources::new(f.path());
    let on_disk = std::fs::read(f.path().join("src/a.txt")).unwrap();
    assert_eq!(
        sources.source("src/a.txt").unwrap().as_deref(),
        Some(on_disk.as_slice())
    );
    assert!(on_disk.starts_with(b"top 1\n"));
    assert_eq!(
        sources.source("src/untracked.txt").unwrap().as_deref(),
        Some(&b"u1\nu2\nu3\n"[..])
    );
    assert_eq!(sources.source("src/gone.txt").unwrap(), None);
    assert_eq!(sources.source("src").unwrap(), None);
    for escape in ["../etc/passwd", "/etc/passwd", "src/../../x", ""] {
        let err = sources.source(escape).unwrap_err();
        assert!(err.contains("not a repository path"), "{escape}: {err}");
    }
}

#[test]
fn linked_worktrees_open_with_their_own_head() {
    let Some((f, _repo)) = setup() else { return };
    let other = tempfile::tempdir().unwrap();
    let path = other.path().join("wt");
    let path_str = path.to_str().unwrap();
    f.git(&["worktree", "add", "-q", path_str, "main"]);
    let repo = Repo::open(&path).unwrap();
    assert_eq!(repo.head().unwrap().oid, f.rev_parse("main"));
    // The working tree of the linked checkout is `main` itself: no edits there.
    let spec = covtop::vcs::DiffSpec {
        working_tree: true,
        untracked: true,
        range: covtop::vcs::RangeMode::TwoDot,
        ..covtop::vcs::DiffSpec::new("main", "HEAD")
    };
    assert!(repo.changed_lines(&spec).unwrap().files.is_empty());
}
