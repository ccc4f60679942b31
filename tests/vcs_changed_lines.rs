//! Changed lines from a real git repository, checked against hand-computed expectations and
//! against the git CLI's own `git diff -U0` (parsed with `parse_unified_diff`).

mod common;
mod vcs_fixture;

use covtop::model::{ChangeKind, ChangedFile, ChangedLines};
use covtop::vcs::{DiffSpec, RangeMode, Repo, VcsError, parse_unified_diff};
use vcs_fixture::Fixture;

fn expected(files: &[(&str, ChangeKind, &[u32], &[u32])]) -> ChangedLines {
    let mut changed = ChangedLines::default();
    for (path, kind, lines, deletions) in files {
        changed.files.insert(
            path.to_string(),
            ChangedFile {
                path: path.to_string(),
                kind: kind.clone(),
                lines: lines.to_vec(),
                deletions_before: deletions.to_vec(),
            },
        );
    }
    changed
}

fn renamed() -> ChangeKind {
    ChangeKind::Renamed {
        from: "src/old_name.txt".into(),
    }
}

use ChangeKind::{Added, Modified, Untracked};

/// Three-dot `main...feature`, committed changes only.
fn committed_feature() -> Vec<(&'static str, ChangeKind, &'static [u32], &'static [u32])> {
    vec![
        ("src/a.txt", Modified, &[3, 7, 8], &[11]),
        ("src/b.txt", Modified, &[7], &[1]),
        ("src/new_file.txt", Added, &[1, 2, 3, 4], &[]),
        ("src/new_name.txt", renamed(), &[5, 13], &[]),
        ("src/ws.txt", Modified, &[2, 4], &[]),
        ("src/ws_only.txt", Modified, &[1], &[]),
    ]
}

fn setup() -> Option<(Fixture, Repo)> {
    if !common::have_tool("git", "--version") {
        return None;
    }
    let fixture = Fixture::build();
    let repo = Repo::open(fixture.path()).expect("open fixture repo");
    Some((fixture, repo))
}

#[test]
fn three_dot_counts_only_the_branch_changes() {
    let Some((_f, repo)) = setup() else { return };
    let changed = repo
        .changed_lines(&DiffSpec::new("main", "feature"))
        .unwrap();
    // main_only.txt changed on main after the fork; gone.txt is deleted; logo.bin is binary.
    assert_eq!(changed, expected(&committed_feature()));
}

#[test]
fn two_dot_also_shows_what_main_did_after_the_fork() {
    let Some((_f, repo)) = setup() else { return };
    let spec = DiffSpec {
        range: RangeMode::TwoDot,
        ..DiffSpec::new("main", "feature")
    };
    let mut files = committed_feature();
    // main's line 2 differs from feature's; main_added.txt is a deletion seen from feature.
    files.push(("src/main_only.txt", Modified, &[2], &[]));
    assert_eq!(repo.changed_lines(&spec).unwrap(), expected(&files));
}

#[test]
fn ignore_whitespace_drops_whitespace_only_edits() {
    let Some((_f, repo)) = setup() else { return };
    let spec = DiffSpec {
        ignore_whitespace: true,
        ..DiffSpec::new("main", "feature")
    };
    let files: Vec<_> = committed_feature()
        .into_iter()
        .filter(|(p, ..)| *p != "src/ws_only.txt")
        .map(|f| {
            if f.0 == "src/ws.txt" {
                ("src/ws.txt", Modified, &[4][..], &[][..])
            } else {
                f
            }
        })
        .collect();
    assert_eq!(repo.changed_lines(&spec).unwrap(), expected(&files));
}

#[test]
fn without_rename_detection_a_renamed_file_counts_whole() {
    let Some((_f, repo)) = setup() else { return };
    let spec = DiffSpec {
        detect_renames: false,
        ..DiffSpec::new("main", "feature")
    };
    let all: Vec<u32> = (1..=13).collect();
    let files: Vec<_> = committed_feature()
        .into_iter()
        .map(|f| {
            if f.0 == "src/new_name.txt" {
                ("src/new_name.txt", Added, &all[..], &[][..])
            } else {
                f
            }
        })
        .collect();
    assert_eq!(repo.changed_lines(&spec).unwrap(), expected(&files));
}

/// The working tree adds staged and unstaged edits, numbered on the working-tree side.
fn working_tree_feature() -> Vec<(&'static str, ChangeKind, &'static [u32], &'static [u32])> {
    vec![
        // Two staged lines on top shift the committed changes 3,7,8 to 5,9,10 and the
        // deletion marker from 11 to 13.
        ("src/a.txt", Modified, &[1, 2, 5, 9, 10], &[13]),
        ("src/b.txt", Modified, &[3, 7], &[1]),
        ("src/new_file.txt", Added, &[1, 2, 3, 4], &[]),
        ("src/new_name.txt", renamed(), &[1, 5, 13], &[]),
        // Line 4 was edited back to its base content: only the whitespace edit remains.
        ("src/ws.txt", Modified, &[2], &[]),
        ("src/ws_only.txt", Modified, &[1], &[]),
        ("src/staged_new.txt", Added, &[1, 2], &[]),
    ]
}

#[test]
fn working_tree_combines_staged_unstaged_and_committed() {
    let Some((_f, repo)) = setup() else { return };
    let spec = DiffSpec {
        working_tree: true,
        ..DiffSpec::new("main", "HEAD")
    };
    assert_eq!(
        repo.changed_lines(&spec).unwrap(),
        expected(&working_tree_feature())
    );
}

#[test]
fn untracked_files_count_whole_but_ignored_and_binary_ones_do_not() {
    let Some((_f, repo)) = setup() else { return };
    let untracked: [(&str, ChangeKind, &[u32], &[u32]); 2] = [
        ("notes/todo.txt", Untracked, &[1, 2], &[]),
        ("src/untracked.txt", Untracked, &[1, 2, 3], &[]),
    ];

    let spec = DiffSpec {
        working_tree: true,
        untracked: true,
        ..DiffSpec::new("main", "feature")
    };
    let mut files = working_tree_feature();
    files.extend(untracked.iter().cloned());
    assert_eq!(repo.changed_lines(&spec).unwrap(), expected(&files));

    // Untracked without the working tree: committed changes plus untracked files; the staged
    // new file is tracked, so it is not listed.
    let spec = DiffSpec {
        untracked: true,
        ..DiffSpec::new("main", "feature")
    };
    let mut files = committed_feature();
    files.extend(untracked.iter().cloned());
    assert_eq!(repo.changed_lines(&spec).unwrap(), expected(&files));
}

#[test]
fn working_tree_needs_the_checked_out_revision() {
    let Some((f, repo)) = setup() else { return };
    for spec in [
        DiffSpec {
            working_tree: true,
            ..DiffSpec::new("main~1", "main")
        },
        DiffSpec {
            untracked: true,
            ..DiffSpec::new("main~1", "main")
        },
    ] {
        let err = repo.changed_lines(&spec).unwrap_err();
        match &err {
            VcsError::WorkingTreeNotHead { revision, head, .. } => {
                assert_eq!(revision, "main");
                assert_eq!(head, &f.rev_parse("HEAD"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("check out `main`"), "{err}");
    }
}

#[test]
fn unrelated_histories_have_no_merge_base_but_two_dot_works() {
    let Some((_f, repo)) = setup() else { return };
    let err = repo
        .changed_lines(&DiffSpec::new("lonely", "feature"))
        .unwrap_err();
    assert!(matches!(err, VcsError::NoMergeBase { .. }), "{err:?}");
    assert!(err.to_string().contains("`lonely`"), "{err}");
    let two_dot = DiffSpec {
        range: RangeMode::TwoDot,
        ..DiffSpec::new("lonely", "feature")
    };
    let changed = repo.changed_lines(&two_dot).unwrap();
    assert_eq!(
        changed.file("src/a.txt").map(|f| f.kind.clone()),
        Some(Added)
    );
}

#[test]
fn shallow_clone_reports_the_missing_merge_base() {
    let Some((f, _repo)) = setup() else { return };
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", f.path().display());
    vcs_fixture::git_in(
        clones.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            &url,
            "shallow",
        ],
    );
    let repo = Repo::open(&clones.path().join("shallow")).unwrap();
    let err = repo
        .changed_lines(&DiffSpec::new("origin/main", "origin/feature"))
        .unwrap_err();
    assert!(matches!(err, VcsError::NoMergeBase { .. }), "{err:?}");
    assert!(err.to_string().contains("git fetch --unshallow"), "{err}");
}

#[test]
fn bare_repository_has_no_working_tree() {
    let Some((f, _repo)) = setup() else { return };
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", f.path().display());
    vcs_fixture::git_in(clones.path(), &["clone", "-q", "--bare", &url, "bare.git"]);
    let repo = Repo::open(&clones.path().join("bare.git")).unwrap();
    assert_eq!(repo.workdir(), None);
    let spec = DiffSpec {
        working_tree: true,
        ..DiffSpec::new("main", "HEAD")
    };
    let err = repo.changed_lines(&spec).unwrap_err();
    assert!(matches!(err, VcsError::NoWorkingTree { .. }), "{err:?}");
    // Committed changes need no working tree.
    let changed = repo
        .changed_lines(&DiffSpec::new("main", "feature"))
        .unwrap();
    assert_eq!(changed, expected(&committed_feature()));
}

// Differential: git's own diff, parsed, must give the same lines.

fn cli_diff(f: &Fixture, args: &[&str]) -> ChangedLines {
    let mut full = vec!["diff", "--no-color", "--no-ext-diff", "-U0"];
    full.extend_from_slice(args);
    let text = f.git(&full);
    parse_unified_diff(&text, &format!("git {}", full.join(" "))).unwrap()
}

#[test]
fn matches_git_diff_three_dot() {
    let Some((f, repo)) = setup() else { return };
    let ours = repo
        .changed_lines(&DiffSpec::new("main", "feature"))
        .unwrap();
    assert_eq!(cli_diff(&f, &["-M", "main...feature"]), ours);
}

#[test]
fn matches_git_diff_ignore_all_space() {
    let Some((f, repo)) = setup() else { return };
    let spec = DiffSpec {
        ignore_whitespace: true,
        ..DiffSpec::new("main", "feature")
    };
    let ours = repo.changed_lines(&spec).unwrap();
    assert_eq!(cli_diff(&f, &["-M", "-w", "main...feature"]), ours);
}

#[test]
fn matches_git_diff_without_renames() {
    let Some((f, repo)) = setup() else { return };
    let spec = DiffSpec {
        detect_renames: false,
        ..DiffSpec::new("main", "feature")
    };
    let ours = repo.changed_lines(&spec).unwrap();
    assert_eq!(cli_diff(&f, &["--no-renames", "main...feature"]), ours);
}

#[test]
fn matches_git_diff_two_dot() {
    let Some((f, repo)) = setup() else { return };
    let spec = DiffSpec {
        range: RangeMode::TwoDot,
        ..DiffSpec::new("main", "feature")
    };
    let ours = repo.changed_lines(&spec).unwrap();
    assert_eq!(cli_diff(&f, &["-M", "main", "feature"]), ours);
}

#[test]
fn matches_git_diff_of_the_merge_base_against_the_working_tree() {
    let Some((f, repo)) = setup() else { return };
    let spec = DiffSpec {
        working_tree: true,
        ..DiffSpec::new("main", "HEAD")
    };
    let ours = repo.changed_lines(&spec).unwrap();
    let merge_base = f.git(&["merge-base", "main", "HEAD"]);
    assert_eq!(cli_diff(&f, &["-M", merge_base.trim()]), ours);
}
