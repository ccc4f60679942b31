//! See docs/ARCHITECTURE.md.

pub mod analysis;
pub mod classfile;
