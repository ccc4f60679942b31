//! The merged raw agent data: a Go cover profile and JaCoCo exec files.

use super::ReportError;
use crate::go::profile::Profile;
use crate::java::exec::ExecData;
use std::path::{Path, PathBuf};

/// The merged Go profile in the text format `go tool cover` reads.
pub(crate) fn go_profile(p: &Profile) -> Vec<u8> {
    p.to_bytes()
}

/// One exec file per JaCoCo target: `out` when there is one target, else `out` with `.TARGET`
/// inserted before the extension (`cov.exec` → `cov.orders.exec`).
pub(crate) fn jacoco_exec(
    targets: &[(String, ExecData)],
    out: &Path,
) -> Result<Vec<(PathBuf, Vec<u8>)>, ReportError> {
    let mut files = Vec::with_capacity(targets.len());
    for (name, data) in targets {
        let path = if targets.len() == 1 {
            out.to_path_buf()
        } else {
            per_target_path(out, name)
        };
        let bytes = data.to_bytes().map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        files.push((path, bytes));
    }
    Ok(files)
}

fn per_target_path(out: &Path, target: &str) -> PathBuf {
    // Target names come from the config; keep them to one path component.
    let safe: String = target
        .chars()
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    let stem = out
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.{safe}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{safe}"),
    };
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_targets_get_one_file_each() {
        assert_eq!(
            per_target_path(Path::new("/tmp/cov.exec"), "orders/v2"),
            PathBuf::from("/tmp/cov.orders_v2.exec")
        );
        assert_eq!(
            per_target_path(Path::new("cov"), "a"),
            PathBuf::from("cov.a")
        );
    }
}
