//! Reads the captures of real goc sessions: `### <title>` sections, each an HTTP response
//! (status line, CRLF headers, body cut at Content-Length) or a bare body.

use std::path::Path;

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// Exact when the capture had a Content-Length; otherwise trailing newlines are trimmed.
    pub body: String,
    pub exact: bool,
}

pub struct Capture {
    pub sections: Vec<Section>,
}

impl Capture {
    pub fn load(name: &str) -> Capture {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/goc-agent/captures")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Capture::parse(&text)
    }

    pub fn parse(text: &str) -> Capture {
        let mut sections = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("### ") {
            let after = &rest[start + 4..];
            let (title, body) = after.split_once('\n').unwrap_or((after, ""));
            let end = body.find("\n### ").map_or(body.len(), |i| i + 1);
            sections.push(section(title.trim(), &body[..end]));
            rest = &body[end..];
        }
        Capture { sections }
    }

    /// The section titled `prefix`, else the first whose title starts with it; panics if
    /// there is none.
    pub fn get(&self, prefix: &str) -> &Section {
        self.sections
            .iter()
            .find(|s| s.title == prefix)
            .or_else(|| self.sections.iter().find(|s| s.title.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no capture section {prefix:?}"))
    }
}

fn section(title: &str, raw: &str) -> Section {
    let Some(head) = raw.strip_prefix("HTTP/1.1 ") else {
        return Section {
            title: title.into(),
            status: None,
            content_type: None,
            body: raw.trim_end_matches('\n').to_string(),
            exact: false,
        };
    };
    let status = head.get(..3).and_then(|s| s.parse().ok());
    let (headers, body) = head.split_once("\r\n\r\n").unwrap_or((head, ""));
    let mut content_type = None;
    let mut length = None;
    for line in headers.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(": ") {
            match k.to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(v.to_string()),
                "content-length" => length = v.parse::<usize>().ok(),
                _ => {}
            }
        }
    }
    let (body, exact) = match length {
        Some(n) if n <= body.len() => (body[..n].to_string(), true),
        _ => (body.trim_end_matches('\n').to_string(), false),
    };
    Section {
        title: title.into(),
        status,
        content_type,
        body,
        exact,
    }
}
