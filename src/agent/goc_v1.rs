//! goc v1 client: lists a center's agents and fetches every agent address on its own through
//! the center (`POST /v1/cover/profile {"address":[a]}`), each with a timeout, so one dead, slow
//! or black-holed replica becomes a failure while the others still report. It never asks for
//! the center's merged profile (a version skew between replicas fails it with 500).
//!
//! This file also holds the HTTP layer both goc clients share: URL normalisation, bounded body
//! reads, and error classification ([`GocError`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{PollResult, ReplicaDump, ReplicaFailure, ResetOutcome};

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest profile accepted from a center or server.
pub const MAX_PROFILE_BYTES: usize = 256 << 20;
/// Largest JSON document accepted (lists, agents, errors).
pub const MAX_JSON_BYTES: usize = 16 << 20;

/// Everything that can go wrong talking to goc. Every message names the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GocError {
    #[error("invalid goc URL {url:?}: {reason}; write it like http://127.0.0.1:7777")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid extra filter regexp {pattern:?}: {reason}")]
    InvalidFilter { pattern: String, reason: String },
    #[error("cannot connect to {url}: {reason}; check that goc runs there")]
    Connect { url: String, reason: String },
    #[error("{url} did not answer within {timeout:?}; the agent may be hung or unreachable")]
    Timeout { url: String, timeout: Duration },
    #[error("request to {url} failed: {reason}")]
    Http { url: String, reason: String },
    #[error("{url} closed the connection before the body was complete: {reason}")]
    Truncated { url: String, reason: String },
    #[error("{url} sent a body larger than {limit} bytes; refusing it")]
    TooLarge { url: String, limit: usize },
    #[error(
        "{url} answered HTTP {status} with {found} where {expected} was expected: {excerpt:?}; is this a goc server?"
    )]
    Unexpected {
        url: String,
        status: u16,
        found: String,
        expected: &'static str,
        excerpt: String,
    },
    #[error("{url} answered broken JSON at line {line} column {column}: {reason}")]
    BadJson {
        url: String,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{url} answered HTTP {status}: {message:?}")]
    Server {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what} is not registered at {url}")]
    NotRegistered { url: String, what: String },
    #[error(
        "{url}: the HTTP proxy between covtop and goc answered 407 Proxy Authentication Required (goc itself never asks for it); put the proxy's credentials in HTTP_PROXY/HTTPS_PROXY (http://user:password@proxy:port), or add the goc host to NO_PROXY"
    )]
    ProxyAuth { url: String },
    #[error(
        "{url}: the responses being read from all agents hold covtop's memory budget of {limit} bytes; this one was given up (fewer replicas at once, or smaller dumps)"
    )]
    MemoryBudget { url: String, limit: usize },
    #[error(
        "{url} lists no agents: no service built with goc is registered there (start one, or check the URL)"
    )]
    NoAgents { url: String },
}

/// Normalises a configured URL: trims it, adds `http://` when there is no scheme, accepts only
/// http and https, and drops a trailing `/`.
pub fn normalize_url(raw: &str) -> Result<String, GocError> {
    let trimmed = raw.trim();
    let invalid = |reason: &str| GocError::InvalidUrl {
        url: raw.to_string(),
        reason: reason.to_string(),
    };
    if trimmed.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let parsed = reqwest::Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(invalid(&format!("scheme {other:?} is not http or https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment"));
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// The HTTP client both goc targets use. No global timeout: each exchange has its own.
/// The HTTP client for a server at `url`. Proxies from the environment (`HTTP_PROXY`, ...) are
/// honoured, except for loopback servers, which a proxy could never reach.
pub(crate) fn http_client(url: &str) -> reqwest::Client {
    // No idle connections kept: every open connection holds one of the process's connection
    // slots (`limits::connection`), so the descriptors in use stay within the limit.
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("covtop/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0);
    if is_loopback_url(url) {
        builder = builder.no_proxy();
    }
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]` URLs.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod proxy_tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_urls_bypass_proxies() {
        for u in [
            "http://127.0.0.1:7777",
            "http://127.8.0.1",
            "http://localhost:1",
            "http://[::1]:80",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "http://10.0.0.1:7777",
            "http://goc.example.com",
            "not a url",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }
}

/// A POST with a JSON body, as goc's CLI sends it.
fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

/// One HTTP answer, body read in full (bounded).
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    fn looks_html(&self) -> bool {
        let start = self
            .body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(&[][..], |i| &self.body[i..]);
        self.content_type.contains("html") || start.starts_with(b"<")
    }

    fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(120)]).into_owned();
        text.replace(['\r', '\n'], " ")
    }

    fn found(&self) -> String {
        if self.body.is_empty() {
            "an empty body".to_string()
        } else if self.looks_html() {
            "HTML".to_string()
        } else if self.content_type.is_empty() {
            "an untyped body".to_string()
        } else {
            format!("{:?}", self.content_type)
        }
    }

    pub fn unexpected(&self, url: &str, expected: &'static str) -> GocError {
        GocError::Unexpected {
            url: url.to_string(),
            status: self.status,
            found: self.found(),
            expected,
            excerpt: self.excerpt(),
        }
    }

    /// The body as JSON, with HTML and truncation told apart from plain syntax errors.
    pub fn json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, GocError> {
        if self.looks_html() || self.body.is_empty() {
            return Err(self.unexpected(url, "JSON"));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            if !self.content_type.is_empty() && !self.content_type.contains("json") {
                self.unexpected(url, "JSON")
            } else if e.is_eof() {
                GocError::Truncated {
                    url: url.to_string(),
                    reason: format!(
                        "the JSON ends early at line {} column {}",
                        e.line(),
                        e.column()
                    ),
                }
            } else {
                GocError::BadJson {
                    url: url.to_string(),
                    line: e.line(),
                    column: e.column(),
                    reason: e.to_string(),
                }
            }
        })
    }

    /// A non-success answer turned into an error, quoting goc's `{"error"}`/`{"msg"}` text.
    pub fn failure(&self, url: &str, expected: &'static str) -> GocError {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&self.body) {
            for key in ["error", "msg"] {
                if let Some(serde_json::Value::String(message)) = m.get(key) {
                    return GocError::Server {
                        url: url.to_string(),
                        status: self.status,
                        message: message.clone(),
                    };
                }
            }
        }
        self.unexpected(url, expected)
    }
}

fn classify(url: &str, e: &reqwest::Error) -> GocError {
    let reason = error_text(e);
    if e.is_connect() {
        GocError::Connect {
            url: url.to_string(),
            reason,
        }
    } else if e.is_body() || e.is_decode() {
        GocError::Truncated {
            url: url.to_string(),
            reason,
        }
    } else {
        GocError::Http {
            url: url.to_string(),
            reason,
        }
    }
}

fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
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

/// Sends a request and reads the whole answer, all within `timeout` (a body that drips is cut
/// there too), refusing bodies over `limit` bytes (checked against Content-Length first, then
/// while reading). The exchange waits for one of the process's connection slots first (not
/// counted in `timeout`), and the body counts against the budget of all bodies in flight.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    url: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, GocError> {
    let _slot = super::limits::connection().await;
    let deadline = tokio::time::Instant::now() + timeout;
    let budget = super::limits::Budget::bodies();
    let work = async {
        let mut resp = request.send().await.map_err(|e| classify(url, &e))?;
        let status = resp.status().as_u16();
        if status == 407 {
            return Err(GocError::ProxyAuth {
                url: url.to_string(),
            });
        }
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(GocError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut body = Vec::new();
        let mut held = budget.hold();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(url, &e))? {
            if body.len() + chunk.len() > limit {
                return Err(GocError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            body.reserve(chunk.len());
            let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            held.grow_to(body.capacity(), wait)
                .await
                .map_err(|_| GocError::MemoryBudget {
                    url: url.to_string(),
                    limit: budget.total(),
                })?;
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            content_type,
            body,
        })
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(GocError::Timeout {
                url: url.to_string(),
                timeout,
            })
        })
}

/// A profile answer must be text starting with a `mode:` line; nothing more is checked here
/// (the `go` room decodes it).
pub(crate) fn check_profile_bytes(answer: &Answer, url: &str) -> Result<(), GocError> {
    if answer.body.starts_with(b"mode:") {
        Ok(())
    } else {
        Err(answer.unexpected(url, "a Go cover profile (`mode: ...`)"))
    }
}

/// What `POST /v1/cover/clear` answered, split into its parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearBody {
    /// Agent addresses the center reports as cleared, in order.
    pub cleared: Vec<String>,
    /// The `{"error":...}` the center appended after a partial failure (200 status), if any.
    pub error: Option<String>,
}

/// Splits a clear body: `Register service <addr> coverage counter <agent answer>` lines, then,
/// after a partial failure, an appended `{"error":"..."}` (goc writes it after the 200).
pub fn parse_clear_body(body: &str) -> ClearBody {
    let (lines, error) = match body.find("{\"error\"") {
        Some(i) => {
            let tail = &body[i..];
            let message = serde_json::from_str::<serde_json::Value>(tail.trim())
                .ok()
                .and_then(|v| v.get("error").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or_else(|| tail.trim().to_string());
            (&body[..i], Some(message))
        }
        None => (body, None),
    };
    let cleared = lines
        .lines()
        .filter_map(|l| l.strip_prefix("Register service "))
        .filter_map(|l| l.split_once(" coverage counter "))
        .map(|(addr, _)| addr.to_string())
        .collect();
    ClearBody { cleared, error }
}

/// A goc v1 center, narrowed to some services and/or agent addresses.
#[derive(Debug, Clone)]
pub struct GocV1Target {
    center: String,
    services: Vec<String>,
    addresses: Vec<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl GocV1Target {
    /// `center` without a scheme gets `http://`. Empty `services`/`addresses` mean all.
    pub fn new(
        center: &str,
        services: Vec<String>,
        addresses: Vec<String>,
        timeout: Duration,
    ) -> Result<Self, GocError> {
        let center = normalize_url(center)?;
        let client = http_client(&center);
        let addresses = addresses
            .iter()
            .map(|a| normalize_url(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GocV1Target {
            center,
            services,
            addresses,
            timeout,
            client,
        })
    }

    pub fn center(&self) -> &str {
        &self.center
    }

    /// `GET /v1/cover/list`: service name -> agent addresses.
    pub async fn list(&self) -> Result<BTreeMap<String, Vec<String>>, GocError> {
        let url = format!("{}/v1/cover/list", self.center);
        let answer = exchange(self.client.get(&url), &url, self.timeout, MAX_JSON_BYTES).await?;
        if answer.status != 200 {
            return Err(answer.failure(&url, "a JSON service list"));
        }
        answer.json(&url)
    }

    /// The addresses this target covers, and failures for configured services or addresses
    /// the center does not know.
    fn select(&self, listed: &BTreeMap<String, Vec<String>>) -> (Vec<String>, Vec<ReplicaFailure>) {
        let mut failures = Vec::new();
        let mut selected: Vec<String> = Vec::new();
        if self.services.is_empty() {
            selected.extend(listed.values().flatten().cloned());
        } else {
            for name in &self.services {
                match listed.get(name) {
                    Some(addrs) => selected.extend(addrs.iter().cloned()),
                    None => failures.push(ReplicaFailure {
                        replica: format!("service {name}"),
                        error: GocError::NotRegistered {
                            url: self.center.clone(),
                            what: format!("service {name:?}"),
                        }
                        .to_string(),
                    }),
                }
            }
        }
        if !self.addresses.is_empty() {
            selected.retain(|a| self.addresses.iter().any(|c| c == a.trim_end_matches('/')));
            for a in &self.addresses {
                if !selected.iter().any(|s| s.trim_end_matches('/') == a) {
                    failures.push(ReplicaFailure {
                        replica: a.clone(),
                        error: GocError::NotRegistered {
                            url: self.center.clone(),
                            what: format!("agent address {a}"),
                        }
                        .to_string(),
                    });
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        selected.retain(|a| seen.insert(a.clone()));
        (selected, failures)
    }

    /// Fetches one agent's own profile through the center. force=false so that a dead agent
    /// answers with its own error instead of "no profiles".
    pub async fn fetch(&self, address: &str) -> Result<Vec<u8>, GocError> {
        let url = format!("{}/v1/cover/profile", self.center);
        let label = format!("{url} (agent {address})");
        let request = post_json(
            &self.client,
            &url,
            &json!({ "address": [address], "force": false }),
        );
        let answer = exchange(request, &label, self.timeout, MAX_PROFILE_BYTES).await?;
        if answer.status != 200 {
            return Err(answer.failure(&label, "a Go cover profile"));
        }
        check_profile_bytes(&answer, &label)?;
        Ok(answer.body)
    }

    /// The agent addresses this target covers now, and failures for configured services or
    /// addresses the center does not list (or the list itself, named after the center).
    pub async fn replicas(&self) -> (Vec<String>, Vec<ReplicaFailure>) {
        match self.list().await {
            Ok(listed) => self.select(&listed),
            Err(e) => (
                Vec::new(),
                vec![ReplicaFailure {
                    replica: self.center.clone(),
                    error: e.to_string(),
                }],
            ),
        }
    }

    /// One agent's dump, or why not.
    pub async fn fetch_dump(&self, address: &str) -> Result<ReplicaDump, ReplicaFailure> {
        let started = Instant::now();
        let fetched = self.fetch(address).await;
        super::go_outcome(address.to_string(), None, None, started, fetched)
    }

    /// Lists, filters, then fetches every address separately and concurrently.
    pub async fn poll(&self) -> PollResult {
        let (addresses, failures) = self.replicas().await;
        let fetches = addresses.iter().map(|a| self.fetch_dump(a));
        let results = futures_util::future::join_all(fetches).await;
        super::gather(results, failures)
    }

    /// Clears agents one address at a time (all the target's addresses when `replicas` is
    /// None). A 200 is only a success if the body names the address and carries no appended
    /// `{"error"`: goc answers 200 for a partial failure, and an empty 200 for an unknown one.
    pub async fn reset(&self, replicas: Option<&[String]>) -> Vec<ResetOutcome> {
        let addresses: Vec<String> = match replicas {
            Some(r) => r
                .iter()
                .map(|a| a.trim_end_matches('/').to_string())
                .collect(),
            None => match self.list().await {
                Ok(listed) => self.select(&listed).0,
                Err(e) => {
                    return vec![ResetOutcome {
                        replica: self.center.clone(),
                        result: Err(e.to_string()),
                    }];
                }
            },
        };
        let clears = addresses.iter().map(|a| async move {
            let result = self
                .clear(json!({ "address": [a] }))
                .await
                .and_then(|body| {
                    if let Some(e) = body.error {
                        Err(e)
                    } else if body.cleared.iter().any(|c| c == a) {
                        Ok(())
                    } else {
                        Err(GocError::NotRegistered {
                            url: self.center.clone(),
                            what: format!("agent address {a} (the center cleared nothing)"),
                        }
                        .to_string())
                    }
                });
            ResetOutcome {
                replica: a.clone(),
                result,
            }
        });
        futures_util::future::join_all(clears).await
    }

    /// Clears a whole service in one request (`{"service":[name]}`), as goc's CLI does, and
    /// tells per address what happened: the center stops at the first unreachable agent, so the
    /// addresses after it are reported as not attempted.
    pub async fn clear_service(&self, service: &str) -> Vec<ResetOutcome> {
        let addrs = match self.list().await {
            Ok(listed) => match listed.get(service) {
                Some(a) => a.clone(),
                None => {
                    return vec![ResetOutcome {
                        replica: format!("service {service}"),
                        result: Err(GocError::NotRegistered {
                            url: self.center.clone(),
                            what: format!("service {service:?}"),
                        }
                        .to_string()),
                    }];
                }
            },
            Err(e) => {
                return vec![ResetOutcome {
                    replica: self.center.clone(),
                    result: Err(e.to_string()),
                }];
            }
        };
        let body = match self.clear(json!({ "service": [service] })).await {
            Ok(b) => b,
            Err(e) => ClearBody {
                cleared: Vec::new(),
                error: Some(e),
            },
        };
        let mut failed_named = false;
        addrs
            .into_iter()
            .map(|a| {
                let result = if body.cleared.contains(&a) {
                    Ok(())
                } else if let Some(e) = body
                    .error
                    .as_ref()
                    .filter(|e| !failed_named && e.contains(&format!("{a}/v1/cover/clear")))
                {
                    failed_named = true;
                    Err(e.clone())
                } else if let Some(e) = &body.error {
                    Err(format!(
                        "not attempted: the center stopped at an earlier failure ({e})"
                    ))
                } else {
                    Err("the center did not report clearing this address".to_string())
                };
                ResetOutcome { replica: a, result }
            })
            .collect()
    }

    /// `POST /v1/cover/clear` with a JSON selection; a non-200 becomes the error text.
    async fn clear(&self, selection: serde_json::Value) -> Result<ClearBody, String> {
        let url = format!("{}/v1/cover/clear", self.center);
        let request = post_json(&self.client, &url, &selection);
        let answer = exchange(request, &url, self.timeout, MAX_JSON_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(answer.failure(&url, "clear results").to_string());
        }
        Ok(parse_clear_body(&String::from_utf8_lossy(&answer.body)))
    }

    /// `POST /v1/cover/remove {"address":[address]}`: forgets a (dead) agent at the center.
    pub async fn remove(&self, address: &str) -> Result<(), GocError> {
        let address = address.trim_end_matches('/');
        let url = format!("{}/v1/cover/remove", self.center);
        let request = post_json(&self.client, &url, &json!({ "address": [address] }));
        let answer = exchange(request, &url, self.timeout, MAX_JSON_BYTES).await?;
        if answer.status != 200 {
            return Err(answer.failure(&url, "remove results"));
        }
        let body = String::from_utf8_lossy(&answer.body);
        if body.contains(&format!("Register service {address} removed")) {
            Ok(())
        } else {
            Err(GocError::NotRegistered {
                url: self.center.clone(),
                what: format!("agent address {address}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalize_url("127.0.0.1:7777").unwrap(),
            "http://127.0.0.1:7777"
        );
        assert_eq!(
            normalize_url(" https://goc.example/ ").unwrap(),
            "https://goc.example"
        );
        assert_eq!(
            normalize_url("http://h:1/prefix/").unwrap(),
            "http://h:1/prefix"
        );
        for bad in [
            "",
            "ftp://x:1",
            "http://",
            "http://h:99999",
            "http://h/?q=1",
        ] {
            let e = normalize_url(bad).unwrap_err();
            assert!(matches!(e, GocError::InvalidUrl { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("http://127.0.0.1:7777"));
        }
    }

    #[test]
    fn clear_bodies_are_split() {
        let ok =
            "Register service http://127.0.0.1:7778 coverage counter clear call successfully\n";
        assert_eq!(
            parse_clear_body(ok),
            ClearBody {
                cleared: vec!["http://127.0.0.1:7778".into()],
                error: None
            }
        );
        let partial = format!(
            "{ok}{}",
            r#"{"error":"Post \"http://127.0.0.1:7779/v1/cover/clear\": dial tcp 127.0.0.1:7779: connect: connection refused"}"#
        );
        let body = parse_clear_body(&partial);
        assert_eq!(body.cleared, vec!["http://127.0.0.1:7778"]);
        assert_eq!(
            body.error.as_deref(),
            Some(
                "Post \"http://127.0.0.1:7779/v1/cover/clear\": dial tcp 127.0.0.1:7779: connect: connection refused"
            )
        );
        assert_eq!(parse_clear_body(""), ClearBody::default());
    }
}
