//! `o`: the file at the cursor's line in the user's editor. [`plan`] decides what to run (pure:
//! the environment and the working tree are its arguments, so it is unit-tested); the terminal
//! loop suspends the screen, runs it and comes back ([`super::run`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What to run for one file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorPlan {
    /// The editor as the user wrote it (`vim`, `code --wait`): run by `sh -c`, as git runs
    /// `$EDITOR`, so options and quoting in it work.
    pub editor: String,
    /// The arguments after it: the line and the file, in the form this editor takes.
    pub args: Vec<OsString>,
    /// The working-tree file.
    pub file: PathBuf,
}

impl EditorPlan {
    /// The command: `sh -c '<editor> "$@"' <editor> <args…>`.
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(format!("{} \"$@\"", self.editor))
            .arg(&self.editor)
            .args(&self.args);
        c
    }
}

/// Why the file cannot be opened: said on the status line and in the messages log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditorError {
    #[error(
        "no editor is set: set $VISUAL or $EDITOR (e.g. export EDITOR=vim) and start covtop again"
    )]
    NoEditor,
    #[error(
        "{path} cannot be opened: the repository has no working tree (a bare repository); open it from a checkout"
    )]
    NoWorkTree { path: String },
    #[error(
        "{path} is not in the working tree ({}); the screen shows it at the deployed revision: check that revision out to edit it",
        dir.display()
    )]
    NotInWorkTree { path: String, dir: PathBuf },
}

/// What to run to open `path` (repository-relative) at `line`: `$VISUAL`, else `$EDITOR` (an
/// empty one is unset), on the file in `workdir`, which must exist there.
pub fn plan(
    visual: Option<OsString>,
    editor: Option<OsString>,
    workdir: Option<&Path>,
    path: &str,
    line: u32,
) -> Result<EditorPlan, EditorError> {
    let editor = [visual, editor]
        .into_iter()
        .flatten()
        .map(|e| e.to_string_lossy().trim().to_string())
        .find(|e| !e.is_empty())
        .ok_or(EditorError::NoEditor)?;
    let dir = workdir.ok_or_else(|| EditorError::NoWorkTree {
        path: path.to_string(),
    })?;
    let file = dir.join(path);
    if !file.is_file() {
        return Err(EditorError::NotInWorkTree {
            path: path.to_string(),
            dir: dir.to_path_buf(),
        });
    }
    let line = line.max(1);
    // The program's own name, without its folder and options.
    let program = editor
        .split_whitespace()
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or("");
    let mut at_line = file.clone().into_os_string();
    at_line.push(format!(":{line}"));
    let args = match program {
        // VS Code and its builds take `-g file:line`.
        "code" | "codium" | "code-insiders" | "cursor" => vec!["-g".into(), at_line],
        // These take `file:line`.
        "subl" | "hx" | "helix" | "zed" | "idea" | "goland" => vec![at_line],
        // vi, vim, nvim, nano, emacs, micro, kak, joe, mg, ne and most others: `+line file`.
        _ => vec![format!("+{line}").into(), file.clone().into_os_string()],
    };
    Ok(EditorPlan { editor, args, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(s.into())
    }

    #[test]
    fn visual_wins_and_the_line_takes_each_editors_form() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cart")).unwrap();
        std::fs::write(dir.path().join("cart/cart.go"), "package cart\n").unwrap();
        let file = dir.path().join("cart/cart.go");
        let p = plan(os("nvim"), os("nano"), Some(dir.path()), "cart/cart.go", 12).unwrap();
        assert_eq!(p.editor, "nvim");
        assert_eq!(
            p.args,
            vec![OsString::from("+12"), file.clone().into_os_string()]
        );
        let p = plan(None, os("nano"), Some(dir.path()), "cart/cart.go", 3).unwrap();
        assert_eq!(p.editor, "nano");
        // An empty $VISUAL is unset.
        let p = plan(
            os(" "),
            os("/usr/bin/code --wait"),
            Some(dir.path()),
            "cart/cart.go",
            7,
        )
        .unwrap();
        assert_eq!(p.editor, "/usr/bin/code --wait");
        assert_eq!(
            p.args,
            vec![
                OsString::from("-g"),
                OsString::from(format!("{}:7", file.display()))
            ]
        );
        let p = plan(os("hx"), None, Some(dir.path()), "cart/cart.go", 0).unwrap();
        assert_eq!(
            p.args,
            vec![OsString::from(format!("{}:1", file.display()))]
        );
        // Run by sh: the editor's own options and the arguments arrive as given.
        let c = p.command();
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(c.get_program(), "sh");
        assert_eq!(args[0], "-c");
        assert_eq!(args[1], "hx \"$@\"");
    }

    #[test]
    fn no_editor_no_work_tree_or_a_file_not_there_are_said() {
        let dir = tempfile::tempdir().unwrap();
        let e = plan(None, os(""), Some(dir.path()), "a.go", 1).unwrap_err();
        assert_eq!(e, EditorError::NoEditor);
        assert!(e.to_string().contains("$VISUAL or $EDITOR"), "{e}");
        let e = plan(os("vim"), None, None, "a.go", 1).unwrap_err();
        assert!(e.to_string().contains("a.go") && e.to_string().contains("bare"));
        let e = plan(os("vim"), None, Some(dir.path()), "gone/a.go", 1).unwrap_err();
        assert!(
            e.to_string()
                .contains("gone/a.go is not in the working tree"),
            "{e}"
        );
    }

    /// The plan really runs: a script standing for the editor receives the line and the file.
    #[test]
    fn the_command_runs_the_editor_with_line_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a b.go"), "package a\n").unwrap();
        let log = dir.path().join("args.log");
        let script = dir.path().join("ed.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", log.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = plan(
            None,
            Some(script.clone().into_os_string()),
            Some(dir.path()),
            "a b.go",
            42,
        )
        .unwrap();
        assert!(p.command().status().unwrap().success());
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("+42\n{}\n", dir.path().join("a b.go").display())
        );
    }
}
