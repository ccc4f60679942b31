//! Dumps of a session that cannot be used are set aside, never fatal: a stored dump that does
//! not decode, exceeds a budget or made covtop fail is moved into the session's `quarantine/`
//! folder with its reason, and named in a diagnostic, so every later command reads the session
//! without it.

use crate::model::{Diagnostic, DiagnosticKind};
use crate::session::DumpStore;
use std::path::{Path, PathBuf};

/// Moves `path` into quarantine for `reason`; the diagnostic names the file, the reason and
/// what to do, and the path says where it went. When the move itself fails the dump stays
/// where it is (`None`), and the diagnostic says so (it is then skipped again next time).
pub(super) fn set_aside(
    store: &dyn DumpStore,
    path: &Path,
    reason: &str,
) -> (Diagnostic, Option<PathBuf>) {
    match store.quarantine(path, reason) {
        Ok(to) => (
            Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: path.display().to_string(),
                message: format!(
                    "stored dump cannot be used: {reason}; moved to {}",
                    to.display()
                ),
                fix: format!(
                    "the other dumps are used; the reason is kept {}: delete it, or keep it to \
                 report the agent that sent it",
                    store.quarantine_place().1
                ),
            },
            Some(to),
        ),
        Err(e) => (
            Diagnostic {
                kind: DiagnosticKind::Mismatch,
                subject: path.display().to_string(),
                message: format!("stored dump cannot be used: {reason}; and not moved aside: {e}"),
                fix: "the other dumps are used; move the file out of the session folder".into(),
            },
            None,
        ),
    }
}

/// One diagnostic for the dumps set aside earlier, if any.
pub(super) fn earlier(store: &dyn DumpStore) -> Option<Diagnostic> {
    let paths = store.quarantined();
    if paths.is_empty() {
        return None;
    }
    let (place, reasons) = store.quarantine_place();
    let names: Vec<String> = paths
        .iter()
        .take(8)
        .map(|p| {
            let p = p.display().to_string();
            p.strip_prefix(&place)
                .map_or(p.as_str(), |n| n.trim_start_matches('/'))
                .to_string()
        })
        .collect();
    Some(Diagnostic {
        kind: DiagnosticKind::Mismatch,
        subject: place,
        message: format!(
            "{} stored dump(s) set aside earlier, not used: {}{}",
            paths.len(),
            names.join(", "),
            if paths.len() > names.len() {
                ", …"
            } else {
                ""
            }
        ),
        fix: format!("each one's reason is kept {reasons}; delete them when done"),
    })
}
