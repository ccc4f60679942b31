//! See docs/ARCHITECTURE.md.
pub mod archive;
pub mod crc64;
pub mod exec;
pub mod sources;
