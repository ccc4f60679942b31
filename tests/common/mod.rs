//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::Command;

/// True when running under CI (`CI=true`), where a missing tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns true if `tool` can be run (`tool <version_arg>` exits 0). Locally a missing tool
/// skips the test (with a message); under `CI=true` it fails it, since CI installs every tool.
pub fn have_tool(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{tool} is required under CI=true; the README's test command installs it"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// Returns true if `path` exists; same skip/fail rule as [`have_tool`].
pub fn have_file(path: &str) -> bool {
    let ok = std::path::Path::new(path).exists();
    if !ok {
        assert!(!in_ci(), "{path} is required under CI=true");
        eprintln!("skipping: {path} is missing");
    }
    ok
}
