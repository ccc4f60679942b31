//! The demo's JVM service: the inventory service's feature build (class files compiled by
//! `scripts/record-demo-java.sh` with `javac --release 11 -g`) and the coverage session
//! recorded from the real JaCoCo agent running it. Each capture is the agent's raw tcpserver
//! reply minus its CMDOK, i.e. an exec file, parsed with covtop's own reader.

use serde::Deserialize;

use crate::java::exec::{self, ClassProbes, ExecData};

/// The recording (`assets/demo/recording/java-session.json`).
pub const EMBEDDED: &str = include_str!("../../assets/demo/recording/java-session.json");

/// The class files the recording belongs to: path under the class directory, bytes.
pub const CLASSES: &[(&str, &[u8])] = &[
    (
        "bookstore/inventory/InventoryServer.class",
        include_bytes!(
            "../../assets/demo/recording/java/classes/bookstore/inventory/InventoryServer.class"
        ),
    ),
    (
        "bookstore/inventory/ReservationRule.class",
        include_bytes!(
            "../../assets/demo/recording/java/classes/bookstore/inventory/ReservationRule.class"
        ),
    ),
    (
        "bookstore/inventory/StockLedger.class",
        include_bytes!(
            "../../assets/demo/recording/java/classes/bookstore/inventory/StockLedger.class"
        ),
    ),
];

/// The only format this version reads.
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum JavaRecordingError {
    #[error("java-session.json line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("java-session.json has format {found}; this covtop reads {FORMAT}")]
    Format { found: u32 },
    #[error("java-session.json capture #{index}: `exec` is not hex at character {position}")]
    Hex { index: usize, position: usize },
    #[error("java-session.json capture #{index}: {source}")]
    Exec {
        index: usize,
        #[source]
        source: exec::ExecError,
    },
    #[error(
        "java-session.json capture #{index} at {at_ms} ms comes before the previous one at {previous_ms} ms"
    )]
    OutOfOrder {
        index: usize,
        at_ms: u64,
        previous_ms: u64,
    },
    #[error("java-session.json has no capture")]
    Empty,
}

#[derive(Debug, Deserialize)]
struct RawRecording {
    format: u32,
    captures: Vec<RawCapture>,
}

#[derive(Debug, Deserialize)]
struct RawCapture {
    at_ms: u64,
    exec: String,
}

/// One dump of the agent: when (since the session started) and what it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaCapture {
    pub at_ms: u64,
    pub data: ExecData,
}

/// The recorded session, captures in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaRecording {
    pub captures: Vec<JavaCapture>,
}

impl JavaRecording {
    /// The recording shipped with covtop.
    pub fn embedded() -> Result<JavaRecording, JavaRecordingError> {
        Self::parse(EMBEDDED)
    }

    pub fn parse(text: &str) -> Result<JavaRecording, JavaRecordingError> {
        let raw: RawRecording =
            serde_json::from_str(text).map_err(|e| JavaRecordingError::Json {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        if raw.format != FORMAT {
            return Err(JavaRecordingError::Format { found: raw.format });
        }
        let mut captures = Vec::with_capacity(raw.captures.len());
        let mut previous_ms = 0;
        for (index, c) in raw.captures.iter().enumerate() {
            if c.at_ms < previous_ms {
                return Err(JavaRecordingError::OutOfOrder {
                    index,
                    at_ms: c.at_ms,
                    previous_ms,
                });
            }
            previous_ms = c.at_ms;
            let bytes = decode_hex(&c.exec)
                .map_err(|position| JavaRecordingError::Hex { index, position })?;
            let data = exec::parse(&bytes, "java-session.json")
                .map_err(|source| JavaRecordingError::Exec { index, source })?;
            captures.push(JavaCapture {
                at_ms: c.at_ms,
                data,
            });
        }
        if captures.is_empty() {
            return Err(JavaRecordingError::Empty);
        }
        Ok(JavaRecording { captures })
    }

    /// The offset of the last capture.
    pub fn length_ms(&self) -> u64 {
        self.captures.last().map_or(0, |c| c.at_ms)
    }
}

/// Hex to bytes; the error is the position of the first bad character.
fn decode_hex(text: &str) -> Result<Vec<u8>, usize> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(digits.len());
    }
    let value = |i: usize| (digits[i] as char).to_digit(16).ok_or(i);
    (0..digits.len())
        .step_by(2)
        .map(|i| Ok((value(i)? * 16 + value(i + 1)?) as u8))
        .collect()
}

/// The probes `now` has set that `before` had not (classes missing from `before` count as
/// all-false): what ran between two captures.
pub fn newly_hit(
    before: &ExecData,
    now: &ExecData,
) -> std::collections::BTreeMap<u64, ClassProbes> {
    let mut out = std::collections::BTreeMap::new();
    for (id, class) in &now.classes {
        let old = before.classes.get(id);
        let probes: crate::java::exec::Probes = class
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| p && !old.is_some_and(|o| o.probes.get(i)))
            .collect();
        if probes.any() {
            out.insert(
                *id,
                ClassProbes {
                    name: class.name.clone(),
                    probes,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors_name_the_position() {
        assert_eq!(decode_hex("01c0ff").unwrap(), vec![0x01, 0xc0, 0xff]);
        assert_eq!(decode_hex("01c"), Err(3));
        assert_eq!(decode_hex("01zz"), Err(2));
    }

    #[test]
    fn malformed_recordings_are_refused_with_the_capture_named() {
        let bad_hex = r#"{"format":1,"captures":[{"at_ms":0,"exec":"0x"}]}"#;
        let err = JavaRecording::parse(bad_hex).unwrap_err().to_string();
        assert!(
            err.contains("capture #0") && err.contains("character 1"),
            "{err}"
        );
        let not_exec = r#"{"format":1,"captures":[{"at_ms":0,"exec":"0011"}]}"#;
        assert!(matches!(
            JavaRecording::parse(not_exec),
            Err(JavaRecordingError::Exec { index: 0, .. })
        ));
        let backwards = r#"{"format":1,"captures":[{"at_ms":5,"exec":"01c0c01007"},{"at_ms":4,"exec":"01c0c01007"}]}"#;
        assert!(matches!(
            JavaRecording::parse(backwards),
            Err(JavaRecordingError::OutOfOrder { index: 1, .. })
        ));
        assert!(matches!(
            JavaRecording::parse(r#"{"format":2,"captures":[]}"#),
            Err(JavaRecordingError::Format { found: 2 })
        ));
        assert!(matches!(
            JavaRecording::parse(r#"{"format":1,"captures":[]}"#),
            Err(JavaRecordingError::Empty)
        ));
    }

    #[test]
    fn the_embedded_recording_grows_and_covers_every_embedded_class() {
        let rec = JavaRecording::embedded().unwrap();
        assert!(rec.captures.len() >= 20, "{} captures", rec.captures.len());
        assert!(rec.length_ms() >= 50_000);
        let first = rec.captures.first().unwrap();
        let last = rec.captures.last().unwrap();
        let hits = |d: &ExecData| d.classes.values().map(|c| c.hit_count()).sum::<usize>();
        assert!(hits(&last.data) > hits(&first.data));
        let ids: Vec<u64> = CLASSES
            .iter()
            .map(|(_, b)| crate::java::crc64::class_id(b))
            .collect();
        for id in last.data.classes.keys() {
            assert!(
                ids.contains(id),
                "class id {id:016x} is not an embedded class"
            );
        }
        assert_eq!(last.data.classes.len(), CLASSES.len());
    }

    /// A class file the recording script writes must be embedded too.
    #[test]
    fn every_recorded_class_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/demo/recording/java/classes/bookstore/inventory");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                format!(
                    "bookstore/inventory/{}",
                    e.unwrap().file_name().to_string_lossy()
                )
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = CLASSES.iter().map(|(p, _)| *p).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn newly_hit_keeps_only_probes_set_since() {
        let class = |bits: &[bool]| ClassProbes {
            name: "a/B".into(),
            probes: bits.into(),
        };
        let mut before = ExecData::default();
        before.classes.insert(1, class(&[true, false, false]));
        let mut now = ExecData::default();
        now.classes.insert(1, class(&[true, true, false]));
        now.classes.insert(2, class(&[true]));
        let new = newly_hit(&before, &now);
        assert_eq!(new[&1].probes, [false, true, false]);
        assert_eq!(new[&2].probes, [true]);
        assert!(newly_hit(&now, &now).is_empty());
    }
}
