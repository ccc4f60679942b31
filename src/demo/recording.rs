//! The recorded coverage session `covtop demo` replays: the block layout of the bookstore's
//! feature build once, then per capture the replica, its offset and every block's count.
//! Written by `scripts/record-demo.sh` from real instrumented processes; embedded in the binary.

use serde::Deserialize;

use crate::demo::gocserver::{AgentBlock, AgentProfile};

/// The recording shipped with covtop (`assets/demo/recording/session.json`).
pub const EMBEDDED: &str = include_str!("../../assets/demo/recording/session.json");

/// The only recording format this version reads.
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("format {found} is not the one this covtop reads ({FORMAT})")]
    Format { found: u32 },
    #[error("capture #{index} names replica {replica:?}, which `replicas` does not list")]
    UnknownReplica { index: usize, replica: String },
    #[error("capture #{index} ({replica} at {at_ms} ms) has {found} counts for {expected} blocks")]
    Counts {
        index: usize,
        replica: String,
        at_ms: u64,
        found: usize,
        expected: usize,
    },
    #[error("capture #{index} at {at_ms} ms comes before the previous one at {previous_ms} ms")]
    OutOfOrder {
        index: usize,
        at_ms: u64,
        previous_ms: u64,
    },
    #[error("replica {replica:?} has no capture")]
    NoCapture { replica: String },
}

/// Which goc server a recorded replica is replayed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReplicaKind {
    /// An agent registered with a goc v1 center.
    #[serde(rename = "goc")]
    GocV1,
    /// An agent of a goc v2 server.
    #[serde(rename = "goc-v2")]
    GocV2,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedReplica {
    pub name: String,
    pub kind: ReplicaKind,
}

/// One instrumented file: its goc name (import path + base name) and its blocks in counter
/// order as `[start line, start column, end line, end column, statements]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordedFile {
    pub name: String,
    pub blocks: Vec<[u32; 5]>,
}

/// One pull of one replica's `/v1/cover/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Capture {
    pub replica: String,
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// One count per block, in layout order (files in order, each file's blocks in order).
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recording {
    pub format: u32,
    /// How it was made (the script and `go version`).
    pub recorded: String,
    pub module: String,
    pub mode: String,
    pub every_ms: u64,
    pub replicas: Vec<RecordedReplica>,
    pub files: Vec<RecordedFile>,
    pub captures: Vec<Capture>,
}

impl Recording {
    /// Reads and checks a recording: every capture names a listed replica, has one count per
    /// block and does not go back in time, and every replica has a capture.
    pub fn parse(text: &str) -> Result<Recording, RecordingError> {
        let rec: Recording = serde_json::from_str(text).map_err(|e| RecordingError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if rec.format != FORMAT {
            return Err(RecordingError::Format { found: rec.format });
        }
        let blocks = rec.block_count();
        let mut previous_ms = 0;
        for (index, c) in rec.captures.iter().enumerate() {
            if !rec.replicas.iter().any(|r| r.name == c.replica) {
                return Err(RecordingError::UnknownReplica {
                    index,
                    replica: c.replica.clone(),
                });
            }
            if c.counts.len() != blocks {
                return Err(RecordingError::Counts {
                    index,
                    replica: c.replica.clone(),
                    at_ms: c.at_ms,
                    found: c.counts.len(),
                    expected: blocks,
                });
            }
            if c.at_ms < previous_ms {
                return Err(RecordingError::OutOfOrder {
                    index,
                    at_ms: c.at_ms,
                    previous_ms,
                });
            }
            previous_ms = c.at_ms;
        }
        for r in &rec.replicas {
            if !rec.captures.iter().any(|c| c.replica == r.name) {
                return Err(RecordingError::NoCapture {
                    replica: r.name.clone(),
                });
            }
        }
        Ok(rec)
    }

    /// The recording embedded in the binary.
    pub fn embedded() -> Result<Recording, RecordingError> {
        Recording::parse(EMBEDDED)
    }

    pub fn block_count(&self) -> usize {
        self.files.iter().map(|f| f.blocks.len()).sum()
    }

    /// The offset of the last capture: how long the session lasts in real time.
    pub fn length_ms(&self) -> u64 {
        self.captures.last().map_or(0, |c| c.at_ms)
    }

    /// The first and the last capture of a replica.
    pub fn first_capture(&self, replica: &str) -> Option<&Capture> {
        self.captures.iter().find(|c| c.replica == replica)
    }

    pub fn last_capture(&self, replica: &str) -> Option<&Capture> {
        self.captures.iter().rev().find(|c| c.replica == replica)
    }

    /// A replica's agent profile with the layout's blocks and the counts of `capture`.
    pub fn profile(&self, capture: &Capture) -> AgentProfile {
        let mut blocks = Vec::with_capacity(self.block_count());
        for f in &self.files {
            for &[start_line, start_col, end_line, end_col, num_stmt] in &f.blocks {
                blocks.push(AgentBlock {
                    file: f.name.clone(),
                    start_line,
                    start_col,
                    end_line,
                    end_col,
                    num_stmt,
                    count: 0,
                });
            }
        }
        let mut profile = AgentProfile {
            mode: self.mode.clone(),
            blocks,
        };
        apply(&mut profile, capture);
        profile
    }
}

/// Sets every block's count to the capture's (an agent's counters only grow, so a capture
/// replaces the previous one).
pub fn apply(profile: &mut AgentProfile, capture: &Capture) {
    for (b, &count) in profile.blocks.iter_mut().zip(&capture.counts) {
        b.count = u32::try_from(count).unwrap_or(u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"format":1,"recorded":"t","module":"m","mode":"count","every_ms":2000,
        "replicas":[{"name":"a","kind":"goc"},{"name":"c","kind":"goc-v2"}],
        "files":[{"name":"m/x.go","blocks":[[1,2,3,4,1],[5,1,6,2,2]]}],
        "captures":[{"replica":"a","at_ms":0,"counts":[0,0]},{"replica":"c","at_ms":0,"counts":[1,0]},
                    {"replica":"a","at_ms":2000,"counts":[3,1]}]}"#;

    #[test]
    fn parses_and_builds_agent_profiles() {
        let rec = Recording::parse(SMALL).unwrap();
        assert_eq!(rec.replicas[1].kind, ReplicaKind::GocV2);
        assert_eq!(rec.length_ms(), 2000);
        let last = rec.last_capture("a").unwrap();
        let p = rec.profile(last);
        assert_eq!(
            p.render(),
            "mode: count\nm/x.go:1.2,3.4 1 3\nm/x.go:5.1,6.2 2 1\n"
        );
        let mut p = rec.profile(rec.first_capture("a").unwrap());
        assert!(p.blocks.iter().all(|b| b.count == 0));
        apply(&mut p, last);
        assert_eq!(p.blocks[0].count, 3);
    }

    #[test]
    fn inconsistent_recordings_are_rejected_with_the_capture() {
        let short = SMALL.replace("[3,1]", "[3]");
        let err = Recording::parse(&short).unwrap_err().to_string();
        assert_eq!(err, "capture #2 (a at 2000 ms) has 1 counts for 2 blocks");
        let unknown = SMALL.replace(r#""replica":"c""#, r#""replica":"z""#);
        assert!(matches!(
            Recording::parse(&unknown),
            Err(RecordingError::UnknownReplica { index: 1, .. })
        ));
        let back = SMALL.replace(r#""at_ms":2000"#, r#""at_ms":0"#).replacen(
            r#""at_ms":0,"counts":[1,0]"#,
            r#""at_ms":5,"counts":[1,0]"#,
            1,
        );
        assert!(matches!(
            Recording::parse(&back),
            Err(RecordingError::OutOfOrder { index: 2, .. })
        ));
        let err = Recording::parse("{\n  \"format\": 1,\n  oops").unwrap_err();
        assert!(matches!(err, RecordingError::Json { line: 3, .. }), "{err}");
        let v2 = SMALL.replace(r#""format":1"#, r#""format":2"#);
        assert!(matches!(
            Recording::parse(&v2),
            Err(RecordingError::Format { found: 2 })
        ));
    }

    #[test]
    fn the_embedded_recording_is_consistent() {
        let rec = Recording::embedded().unwrap();
        assert!(rec.block_count() > 0);
        assert!(rec.length_ms() >= 30_000, "{}", rec.length_ms());
    }
}
