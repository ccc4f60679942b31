//! JaCoCo: exec data, CRC64 class ids, class-file containers, the source index, and the native
//! probe analysis that equals JaCoCo's line by line. See docs/ARCHITECTURE.md.

pub mod analysis;
pub mod archive;
pub mod classfile;
pub mod crc64;
pub mod exec;
pub(crate) mod parallel;
pub mod probes;
pub mod sources;
