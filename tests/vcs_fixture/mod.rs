//! A real git repository for the vcs tests, built with the git CLI in a temp dir.
//!
//! History (`main` is the base, `feature` the branch under test, checked out):
//!
//! ```text
//! C0 (main~1) ── M1 (main: edits src/main_only.txt, adds src/main_added.txt)
//!   └─ F1 ── F2 (feature)
//! ```
//!
//! F1: src/a.txt modifies line 3, inserts two lines after 6, deletes old line 9; src/b.txt
//! deletes lines 1-2 and appends a line; adds src/new_file.txt; deletes src/gone.txt.
//! F2: renames src/old_name.txt to src/new_name.txt, edits line 5 and appends line 13;
//! src/ws.txt: whitespace-only edit on line 2, real edit on line 4; src/ws_only.txt:
//! whitespace-only edit on line 1; assets/logo.bin (binary) changes.
//!
//! Working tree on top of F2: staged: two lines prepended to src/a.txt, new file
//! src/staged_new.txt; unstaged: src/b.txt line 3, src/new_file.txt line 2,
//! src/new_name.txt line 1, src/ws.txt line 4 edited back to its base content; untracked:
//! src/untracked.txt, notes/todo.txt, scratch.bin (binary), debug.log (ignored).
//! A branch `lonely` has an unrelated root commit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("{prefix} {i}\n")).collect()
}

impl Fixture {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository with a clean, fixed configuration; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create fixture dir");
        }
        std::fs::write(full, content).expect("write fixture file");
    }

    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim().to_string()
    }

    /// An empty repository with branch `main` unborn.
    pub fn empty() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        fixture.git(&["init", "-q", "-b", "main"]);
        fixture
    }

    /// Builds the whole history and working tree described in the module docs.
    pub fn build() -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let f = &fixture;
        f.git(&["init", "-q", "-b", "main"]);

        f.write(".gitignore", "*.log\n");
        f.write("src/a.txt", numbered("alpha", 1..=10));
        f.write(
            "src/b.txt",
            (1..=8).map(|i| format!("b{i}\n")).collect::<String>(),
        );
        f.write("src/old_name.txt", numbered("rename line", 1..=12));
        f.write("src/ws.txt", "one\n  two\nthree\nfour\nfive\n");
        f.write("src/ws_only.txt", "x = 1\ny = 2\n");
        f.write("src/gone.txt", "g1\ng2\ng3\n");
        f.write("src/main_only.txt", "m1\nm2\nm3\nm4\n");
        f.write("assets/logo.bin", [0u8, 1, 2, 0, 255, 254, 0, 10, 3, 0]);
        f.commit_all("base", 1);

        f.git(&["checkout", "-q", "-b", "feature"]);
        f.write(
            "src/a.txt",
            "alpha 1\nalpha 2\nalpha three\nalpha 4\nalpha 5\nalpha 6\nX\nY\nalpha 7\nalpha 8\nalpha 10\n",
        );
        f.write("src/b.txt", "b3\nb4\nb5\nb6\nb7\nb8\nb9\n");
        f.write("src/new_file.txt", "n1\nn2\nn3\nn4\n");
        f.git(&["rm", "-q", "src/gone.txt"]);
        f.commit_all("feature 1", 2);

        f.git(&["mv", "src/old_name.txt", "src/new_name.txt"]);
        let renamed =
            numbered("rename line", 1..=13).replace("rename line 5\n", "renamed line five\n");
        f.write("src/new_name.txt", renamed);
        f.write("src/ws.txt", "one\n\ttwo\nthree\nFOUR\nfive\n");
        f.write("src/ws_only.txt", "x  =  1\ny = 2\n");
        f.write("assets/logo.bin", [0u8, 9, 9, 0, 255, 254, 0, 10, 3, 0, 7]);
        f.commit_all("feature 2", 3);

        f.git(&["checkout", "-q", "main"]);
        f.write("src/main_only.txt", "m1\nm2 on main\nm3\nm4\n");
        f.write("src/main_added.txt", "ma\n");
        f.commit_all("main after fork", 4);

        // An unrelated root commit, made with plumbing so the checkout stays untouched.
        let blob = f.git_stdin(&["hash-object", "-w", "--stdin"], "lonely\n");
        let tree = f.git_stdin(
            &["mktree"],
            &format!("100644 blob {}\tlonely.txt\n", blob.trim()),
        );
        let root = f.git(&["commit-tree", tree.trim(), "-m", "lonely root"]);
        f.git(&["branch", "lonely", root.trim()]);

        f.git(&["checkout", "-q", "feature"]);
        f.write(
            "src/a.txt",
            "top 1\ntop 2\nalpha 1\nalpha 2\nalpha three\nalpha 4\nalpha 5\nalpha 6\nX\nY\nalpha 7\nalpha 8\nalpha 10\n",
        );
        f.write("src/staged_new.txt", "s1\ns2\n");
        f.git(&["add", "src/a.txt", "src/staged_new.txt"]);
        f.write("src/b.txt", "b3\nb4\nb5 edited\nb6\nb7\nb8\nb9\n");
        f.write("src/new_file.txt", "n1\nn2 edited\nn3\nn4\n");
        let renamed = numbered("rename line", 1..=13)
            .replace("rename line 5\n", "renamed line five\n")
            .replace("rename line 1\n", "renamed line one\n");
        f.write("src/new_name.txt", renamed);
        f.write("src/ws.txt", "one\n\ttwo\nthree\nfour\nfive\n");
        f.write("src/untracked.txt", "u1\nu2\nu3\n");
        f.write("notes/todo.txt", "t1\nt2\n");
        f.write("scratch.bin", [0u8, 0, 1, 2, 3]);
        f.write("debug.log", "ignored\n");
        fixture
    }

    pub fn commit_all(&self, message: &str, day: u32) {
        self.git(&["add", "-A"]);
        let date = format!("2024-01-0{day}T12:00:00Z");
        let out = Command::new("git")
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .current_dir(self.path())
            .envs(git_env())
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("run git commit");
        assert!(
            out.status.success(),
            "git commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn git_stdin(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .envs(git_env())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn git");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait git");
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

/// An isolated git environment: no user or system config, fixed identity.
fn git_env() -> Vec<(&'static str, String)> {
    vec![
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
        ("GIT_AUTHOR_NAME", "Covtop Test".into()),
        ("GIT_AUTHOR_EMAIL", "test@example.com".into()),
        ("GIT_COMMITTER_NAME", "Covtop Test".into()),
        ("GIT_COMMITTER_EMAIL", "test@example.com".into()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
    ]
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(git_env())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git output is utf-8")
}

pub fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
