//! Protocol-faithful goc servers: a v1 center, an in-process v1 agent and a v2 server. They
//! answer what the real goc answers (routes, status codes, content types, texts, quirks), so
//! covtop's clients are tested against goc's real behaviour and `covtop demo` can replay recorded
//! sessions through them. Every server listens on 127.0.0.1 only.

pub mod profile;
pub mod v1;
pub mod v2;

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Largest request body the servers read (a register form or a profile query is tiny).
const MAX_REQUEST_BODY: usize = 16 << 20;
/// Largest agent profile the servers pull.
const MAX_AGENT_PROFILE: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum GocServerError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}; pick another port or 0 for any")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("agent profile line {line}: {reason}")]
    BadProfile { line: usize, reason: String },
    #[error("registering with the goc center {url} failed: {reason}")]
    Register { url: String, reason: String },
}

/// One block of an agent's counters, in counter-index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBlock {
    /// Import path plus base name, as goc writes it (`example.com/shop/cart/cart.go`).
    pub file: String,
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
    pub num_stmt: u32,
    pub count: u32,
}

impl AgentBlock {
    /// The block in profile syntax with the given count (`file:l0.c0,l1.c1 n count`).
    pub fn line_with_count(&self, count: u64) -> String {
        format!(
            "{}:{}.{},{}.{} {} {}",
            self.file,
            self.start_line,
            self.start_col,
            self.end_line,
            self.end_col,
            self.num_stmt,
            count
        )
    }
}

/// The counters of one simulated instrumented process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub mode: String,
    pub blocks: Vec<AgentBlock>,
}

impl AgentProfile {
    /// Reads a profile text, keeping the block order (an agent reports in counter order).
    pub fn from_text(text: &str) -> Result<Self, GocServerError> {
        let mut lines = text.lines().enumerate();
        let mode = match lines.next() {
            Some((_, l)) => l
                .strip_prefix("mode: ")
                .filter(|m| !m.is_empty())
                .ok_or_else(|| GocServerError::BadProfile {
                    line: 1,
                    reason: format!("expected `mode: <mode>`, found {l:?}"),
                })?
                .to_string(),
            None => {
                return Err(GocServerError::BadProfile {
                    line: 1,
                    reason: "empty profile: expected `mode: <mode>`".into(),
                });
            }
        };
        let mut blocks = Vec::new();
        for (i, line) in lines {
            if line.is_empty() {
                continue;
            }
            let (file, b) =
                profile::parse_block_line(line).ok_or_else(|| GocServerError::BadProfile {
                    line: i + 1,
                    reason: format!("expected `file:l0.c0,l1.c1 numstmt count`, found {line:?}"),
                })?;
            blocks.push(AgentBlock {
                file: file.to_string(),
                start_line: b.start_line,
                start_col: b.start_col,
                end_line: b.end_line,
                end_col: b.end_col,
                num_stmt: b.num_stmt,
                count: u32::try_from(b.count).unwrap_or(u32::MAX),
            });
        }
        Ok(AgentProfile { mode, blocks })
    }

    /// The agent's `/v1/cover/profile` body.
    pub fn render(&self) -> String {
        let mut out = format!("mode: {}\n", self.mode);
        for b in &self.blocks {
            out.push_str(&b.line_with_count(u64::from(b.count)));
            out.push('\n');
        }
        out
    }

    /// The agent's `/v1/cover/coverage` body: the fraction of blocks hit, Go's `%f`.
    pub fn coverage_text(&self) -> String {
        if self.blocks.is_empty() {
            return "NaN".into();
        }
        let hit = self.blocks.iter().filter(|b| b.count > 0).count();
        format!("{:.6}", hit as f64 / self.blocks.len() as f64)
    }

    pub fn clear(&mut self) {
        for b in &mut self.blocks {
            b.count = 0;
        }
    }

    /// Runs block `index` `times` times (what an instrumented statement does). Out of range is
    /// ignored, as a replayed session may come from another build.
    pub fn hit(&mut self, index: usize, times: u32) {
        if let Some(b) = self.blocks.get_mut(index) {
            b.count = b.count.saturating_add(times);
        }
    }
}

/// An agent profile shared between the server that serves it and whoever drives it.
#[derive(Debug, Clone)]
pub struct SharedProfile(Arc<Mutex<AgentProfile>>);

impl SharedProfile {
    pub fn new(profile: AgentProfile) -> Self {
        SharedProfile(Arc::new(Mutex::new(profile)))
    }

    /// Locks the profile; a poisoned lock still holds valid counters, so it is recovered.
    pub fn lock(&self) -> MutexGuard<'_, AgentProfile> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running server; dropping it stops accepting and closes idle keep-alive connections (axum's
/// graceful shutdown), so a "stopped" server really looks gone to its clients.
#[derive(Debug)]
struct ServeTask {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for ServeTask {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_loopback(port: u16, app: axum::Router) -> Result<ServeTask, GocServerError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| GocServerError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| GocServerError::Bind { port, source })?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("goc test server on {addr} stopped: {e}");
        }
    });
    Ok(ServeTask {
        addr,
        stop: Some(stop),
    })
}

fn respond(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: impl Into<Body>,
) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

/// encoding/json's output: like serde_json, but `<`, `>` and `&` are escaped as Go does.
fn go_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// gin's `c.JSON`.
fn gin_json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    respond(
        status,
        Some("application/json; charset=utf-8"),
        go_json(value),
    )
}

/// gin's body written with `c.String`/`fmt.Fprintf`: net/http sniffs text/plain.
fn gin_text(status: StatusCode, body: String) -> Response {
    if body.is_empty() {
        return respond(status, None, body);
    }
    respond(status, Some("text/plain; charset=utf-8"), body)
}

/// gin's default for an unknown route or method.
fn gin_not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        Some("text/plain"),
        "404 page not found",
    )
}

/// Decoded `key=value` pairs of a query or form, keys repeated as sent.
fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

fn form_first(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// A 32-hex-digit token like goc v2's.
fn random_token() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut a = state.build_hasher();
    a.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut b = state.build_hasher();
    b.write_u64(a.finish());
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// Pulls one agent like goc's `Worker` (`POST <agent><route>`), returning Go-like error texts
/// (`Post "<url>": dial tcp <addr>: connect: connection refused`). No timeout: goc uses
/// `http.DefaultClient`; a caller that needs one wraps the future.
async fn post_agent(client: &reqwest::Client, agent: &str, route: &str) -> Result<String, String> {
    let url = format!("{}{route}", agent.trim_end_matches('/'));
    let go_err = |detail: String| format!("Post \"{url}\": {detail}");
    let resp = client.post(&url).send().await.map_err(|e| {
        let refused = error_chain_has(&e, std::io::ErrorKind::ConnectionRefused);
        if refused {
            let hostport = url
                .split("://")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .unwrap_or_default()
                .to_string();
            go_err(format!("dial tcp {hostport}: connect: connection refused"))
        } else {
            go_err(error_chain_text(&e))
        }
    })?;
    let status = resp.status();
    let body = read_limited(resp, MAX_AGENT_PROFILE)
        .await
        .map_err(go_err)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status != reqwest::StatusCode::OK {
        return Err(text);
    }
    Ok(text)
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain_text(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("body larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn error_chain_has(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == kind
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn error_chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// A client for loopback servers: never through a proxy from the environment.
pub(crate) fn loopback_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_profile_round_trips_in_counter_order() {
        let text = "mode: count\na/b.go:4.29,5.11 1 3\na/b.go:1.1,2.2 1 0\n";
        let mut p = AgentProfile::from_text(text).unwrap();
        assert_eq!(p.render(), text);
        assert_eq!(p.coverage_text(), "0.500000");
        p.hit(1, 2);
        p.hit(99, 1);
        assert_eq!(p.blocks[1].count, 2);
        p.clear();
        assert!(p.blocks.iter().all(|b| b.count == 0));
        let err = AgentProfile::from_text("mode: set\nbroken\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn tokens_are_hex_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_token());
    }
}
