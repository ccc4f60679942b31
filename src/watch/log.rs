//! Structured event logs: one line per event, JSON (`{"ts","level","event",...fields}`) for log
//! collectors, or text (`ts LEVEL event key=value ...`) for people.

use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes events to a sink (standard error in the binary). Write errors are ignored: a closed
/// log pipe must not stop the loop that stores coverage.
pub struct EventLog {
    format: LogFormat,
    min: Level,
    sink: Mutex<Box<dyn Write + Send>>,
    /// Diagnostics already logged: each is logged once, when it first appears.
    seen: Mutex<std::collections::HashSet<String>>,
}

impl EventLog {
    pub fn new(format: LogFormat, min: Level, sink: Box<dyn Write + Send>) -> Self {
        EventLog {
            format,
            min,
            sink: Mutex::new(sink),
            seen: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Logs each of the View's diagnostics the first time it appears (the screen shows the same
    /// list in its diagnostics panel).
    pub fn diagnostics(&self, round: u64, diagnostics: &[crate::model::Diagnostic]) {
        for d in diagnostics {
            let key = format!("{:?}\u{1f}{}\u{1f}{}", d.kind, d.subject, d.message);
            let new = self.seen.lock().map(|mut s| s.insert(key)).unwrap_or(true);
            if new {
                let level = match d.kind {
                    crate::model::DiagnosticKind::External => Level::Info,
                    _ => Level::Warn,
                };
                self.event(
                    level,
                    "diagnostic",
                    serde_json::json!({
                        "round": round,
                        "kind": d.kind.label(),
                        "subject": d.subject,
                        "message": d.message,
                        "fix": d.fix,
                    }),
                );
            }
        }
    }

    /// Logs `event` with `fields` (a JSON object; anything else is logged under "value").
    pub fn event(&self, level: Level, event: &str, fields: Value) {
        if level < self.min {
            return;
        }
        // Credentials from the configuration never reach a log, nor raw control characters from
        // agents or file names (one event, one line).
        let line = self.line(SystemTime::now(), level, event, fields);
        let line = crate::escape::lines(&crate::redact::redact(&line)).into_owned();
        if let Ok(mut sink) = self.sink.lock() {
            let _ = sink.write_all(line.as_bytes());
            let _ = sink.flush();
        }
    }

    fn line(&self, at: SystemTime, level: Level, event: &str, fields: Value) -> String {
        let ts = humantime::format_rfc3339_millis(at).to_string();
        let fields = match fields {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        match self.format {
            LogFormat::Json => {
                let mut m = Map::new();
                m.insert("ts".into(), Value::String(ts));
                m.insert("level".into(), Value::String(level.name().into()));
                m.insert("event".into(), Value::String(event.into()));
                for (k, v) in fields {
                    m.entry(k).or_insert(v);
                }
                let mut s = Value::Object(m).to_string();
                s.push('\n');
                s
            }
            LogFormat::Text => {
                let mut s = format!("{ts} {:<5} {event}", level.name().to_ascii_uppercase());
                for (k, v) in fields {
                    if v.is_null() {
                        continue;
                    }
                    let v = match v {
                        Value::String(t) if !t.contains([' ', '\n', '"']) && !t.is_empty() => t,
                        Value::String(t) => format!("{t:?}"),
                        other => other.to_string(),
                    };
                    s.push_str(&format!(" {k}={v}"));
                }
                s.push('\n');
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_ts_level_event_and_fields() {
        let buf = Buffer::default();
        let log = EventLog::new(LogFormat::Json, Level::Info, Box::new(buf.clone()));
        log.event(Level::Debug, "hidden", json!({}));
        log.event(
            Level::Error,
            "export_failed",
            json!({"path": "/x", "level": "spoof"}),
        );
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["event"], "export_failed");
        assert_eq!(v["path"], "/x");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_lines_quote_values_with_spaces() {
        let buf = Buffer::default();
        let log = EventLog::new(LogFormat::Text, Level::Debug, Box::new(buf.clone()));
        log.event(
            Level::Warn,
            "replica_down",
            json!({"error": "connection refused", "round": 3, "x": null}),
        );
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("WARN  replica_down error=\"connection refused\" round=3\n"),
            "{text}"
        );
    }
}
