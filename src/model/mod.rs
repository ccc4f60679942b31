//! Language-neutral coverage: what every decoder produces and every view, report and screen
//! consumes. This room depends on nothing else in the crate.

mod carry;
mod changed;
mod coverage;
mod view;

pub use carry::{
    BaselineComparison, Carried, CarriedFile, CarriedLine, Category, CategoryCounts, FileCategories,
};
pub use changed::{ChangeKind, ChangedFile, ChangedLines};
pub use coverage::{
    ColumnSpan, Counts, CoverageRule, FileCoverage, LineCoverage, LineStatus, SourceLanguage,
};
pub use view::{
    Diagnostic, DiagnosticKind, FileView, ReplicaState, ReplicaStatus, SourceStore, StoreState,
    TargetStatus, Totals, View,
};
