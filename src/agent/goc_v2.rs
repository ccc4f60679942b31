//! goc v2 client: lists a server's agents, fetches each agent's profile on its own
//! (`GET /v2/cover/profile?id=N`, unwrapping `{"profile"}`), resets by id, and follows the
//! `/v2/cover/ws/watch` stream as "something ran in this file" hints.
//!
//! Reset is asynchronous on the server: `DELETE /v2/cover/profile` answers 200 before any agent
//! has been reset, so a caller that wants to see the zeros polls again after about
//! [`RESET_SETTLE`].

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub use super::goc_v1::GocError;
use super::goc_v1::{MAX_JSON_BYTES, MAX_PROFILE_BYTES, exchange, http_client, normalize_url};
use super::{PollResult, ReplicaDump, ReplicaFailure, ResetOutcome};

/// How long after a reset the agents have surely applied it (goc resets by fire-and-forget RPC).
pub const RESET_SETTLE: Duration = Duration::from_millis(200);

/// Status bit of an agent whose connection is gone.
pub const STATUS_DISCONNECT: u32 = 1;

/// One agent as `/v2/agents` lists it. Every field is a string except `status`, a bitmask
/// (1 = disconnected, 2 = RPC stream up, 4 = watch stream up).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentInfo {
    pub id: String,
    pub rpc_remoteip: String,
    pub watch_remoteip: String,
    pub hostname: String,
    pub cmdline: String,
    pub pid: String,
    pub extra: String,
    pub token: String,
    pub status: u32,
}

impl AgentInfo {
    pub fn is_disconnected(&self) -> bool {
        self.status & STATUS_DISCONNECT != 0
    }

    /// The replica name covtop uses: the process as the agent describes itself
    /// (`hostname/pid`), not its registration id. goc gives the same process a new id when its
    /// registration is deleted or the server loses its store, and may hand an old id to another
    /// process: keyed by id, the same counters would be counted twice. `id=N` only when the
    /// agent tells neither hostname nor pid (`pid=P` without a hostname).
    pub fn replica(&self) -> String {
        match (self.hostname.is_empty(), self.pid.is_empty()) {
            (false, _) => format!("{}/{}", self.hostname, self.pid),
            (true, false) => format!("pid={}", self.pid),
            (true, true) => format!("id={}", self.id),
        }
    }

    /// The process identity (hostname, pid, command line, extra), without the registration id:
    /// a new process under the same name opens a new epoch, the same process under a new id
    /// continues its epoch.
    pub fn instance(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.hostname, self.pid, self.cmdline, self.extra
        )
    }
}

/// A block the watch stream reported as executed. The frame carries no agent id (goc's format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchHint {
    /// Import path plus base name, e.g. `example.com/shop/cart/cart.go`.
    pub file: String,
    /// The frame as received (`file:l0.c0,l1.c1 numstmt 1`).
    pub line: String,
}

impl WatchHint {
    /// Reads a frame from the right (file names may contain ':' or spaces); None if it is not a
    /// block line.
    pub fn parse(frame: &str) -> Option<WatchHint> {
        let line = frame.trim();
        let (rest, count) = line.rsplit_once(' ')?;
        let (rest, stmts) = rest.rsplit_once(' ')?;
        let (file, span) = rest.rsplit_once(':')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let span_ok = span.split([',', '.']).filter(|p| digits(p)).count() == 4
            && span.matches(',').count() == 1;
        if file.is_empty() || !digits(count) || !digits(stmts) || !span_ok {
            return None;
        }
        Some(WatchHint {
            file: file.to_string(),
            line: line.to_string(),
        })
    }
}

#[derive(Deserialize)]
struct AgentList {
    #[serde(default)]
    items: Option<Vec<AgentInfo>>,
}

#[derive(Deserialize)]
struct ProfileAnswer {
    profile: String,
}

/// A goc v2 server, narrowed to some agent ids and/or an `extra` regexp.
#[derive(Debug, Clone)]
pub struct GocV2Target {
    server: String,
    ids: Vec<String>,
    extra: Option<regex::Regex>,
    timeout: Duration,
    client: reqwest::Client,
}

impl GocV2Target {
    /// `ids` accepts `N` or `id=N`; empty means all. `extra` is a Go-style regexp matched
    /// (unanchored) against each agent's extra, as the server does; empty matches all.
    pub fn new(
        server: &str,
        ids: Vec<String>,
        extra: Option<String>,
        timeout: Duration,
    ) -> Result<Self, GocError> {
        let server = normalize_url(server)?;
        let client = http_client(&server);
        let extra = match extra.filter(|e| !e.is_empty()) {
            Some(pattern) => {
                Some(
                    regex::Regex::new(&pattern).map_err(|e| GocError::InvalidFilter {
                        pattern: pattern.clone(),
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        Ok(GocV2Target {
            server,
            ids: ids.iter().map(|i| bare_id(i).to_string()).collect(),
            extra,
            timeout,
            client,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET /v2/agents`, sorted by numeric id (the server answers in random order).
    pub async fn agents(&self) -> Result<Vec<AgentInfo>, GocError> {
        let url = format!("{}/v2/agents", self.server);
        let answer = exchange(self.client.get(&url), &url, self.timeout, MAX_JSON_BYTES).await?;
        if answer.status != 200 {
            return Err(answer.failure(&url, "a JSON agent list"));
        }
        let list: AgentList = answer.json(&url)?;
        let mut items = list.items.unwrap_or_default();
        items.sort_by_key(|a| (a.id.parse::<u64>().unwrap_or(u64::MAX), a.id.clone()));
        Ok(items)
    }

    /// The agents this target covers, and failures for configured ids the server lacks.
    fn select(&self, agents: Vec<AgentInfo>) -> (Vec<AgentInfo>, Vec<ReplicaFailure>) {
        let mut failures = Vec::new();
        for id in &self.ids {
            if !agents.iter().any(|a| &a.id == id) {
                failures.push(ReplicaFailure {
                    replica: format!("id={id}"),
                    error: GocError::NotRegistered {
                        url: self.server.clone(),
                        what: format!("agent id={id}"),
                    }
                    .to_string(),
                });
            }
        }
        let selected = agents
            .into_iter()
            .filter(|a| self.ids.is_empty() || self.ids.contains(&a.id))
            .filter(|a| self.extra.as_ref().is_none_or(|r| r.is_match(&a.extra)))
            .collect();
        (selected, failures)
    }

    /// Fetches one agent's profile (raw text, unwrapped from `{"profile"}`).
    pub async fn fetch(&self, id: &str) -> Result<Vec<u8>, GocError> {
        let id = bare_id(id);
        if id.is_empty() {
            // `?id=` would answer with every agent's profile merged.
            return Err(GocError::NotRegistered {
                url: self.server.clone(),
                what: "an agent with an empty id (covtop never asks for all agents at once)".into(),
            });
        }
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let url = format!("{}/v2/cover/profile?id={id}", self.server);
        let answer = exchange(self.client.get(&url), &url, self.timeout, MAX_PROFILE_BYTES).await?;
        if answer.status != 200 {
            let err = answer.failure(&url, "a JSON-wrapped profile");
            // goc v2 turns a failed or timed-out agent into an empty profile, which it then
            // refuses to write: say what that means.
            if let GocError::Server {
                url,
                status,
                message,
            } = &err
                && message == "can't write an empty profile"
            {
                return Err(GocError::Server {
                    url: url.clone(),
                    status: *status,
                    message: format!(
                        "{message} (the server got nothing from this agent: it failed, timed out or has no blocks)"
                    ),
                });
            }
            return Err(err);
        }
        let wrapped: ProfileAnswer = answer.json(&url)?;
        if !wrapped.profile.starts_with("mode:") {
            return Err(GocError::Unexpected {
                url,
                status: answer.status,
                found: "a profile field without a `mode:` line".into(),
                expected: "a Go cover profile",
                excerpt: wrapped.profile.chars().take(120).collect(),
            });
        }
        Ok(wrapped.profile.into_bytes())
    }

    /// The connected agents this target covers now (one per process), and failures: the list
    /// itself (named after the server), a server that lists no agents at all, configured ids
    /// it lacks, disconnected agents.
    pub async fn replicas(&self) -> (Vec<AgentInfo>, Vec<ReplicaFailure>) {
        let agents = match self.agents().await {
            Ok(a) => a,
            Err(e) => {
                return (
                    Vec::new(),
                    vec![ReplicaFailure {
                        replica: self.server.clone(),
                        error: e.to_string(),
                    }],
                );
            }
        };
        if agents.is_empty() {
            return (
                Vec::new(),
                vec![ReplicaFailure {
                    replica: self.server.clone(),
                    error: GocError::NoAgents {
                        url: self.server.clone(),
                    }
                    .to_string(),
                }],
            );
        }
        let (selected, mut failures) = self.select(agents);
        // A process that re-registered (new id) may still be listed under its old id as
        // disconnected: the live registration speaks for it.
        let live_processes: std::collections::HashSet<String> = selected
            .iter()
            .filter(|a| !a.is_disconnected())
            .map(AgentInfo::replica)
            .collect();
        let mut live = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for agent in selected {
            if agent.is_disconnected() && live_processes.contains(&agent.replica()) {
                continue;
            }
            if !seen.insert(agent.replica()) {
                // Two live registrations of one process (a race while it re-registers): fetch
                // it once.
                continue;
            }
            if agent.is_disconnected() {
                failures.push(ReplicaFailure {
                    replica: agent.replica(),
                    error: format!(
                        "disconnected: {} reports agent id={} (pid {}) with status {}",
                        self.server, agent.id, agent.pid, agent.status
                    ),
                });
            } else {
                live.push(agent);
            }
        }
        (live, failures)
    }

    /// One agent's dump, or why not.
    pub async fn fetch_dump(&self, agent: &AgentInfo) -> Result<ReplicaDump, ReplicaFailure> {
        let started = Instant::now();
        let fetched = self.fetch(&agent.id).await;
        let extra = Some(agent.extra.clone()).filter(|x| !x.is_empty());
        super::go_outcome(
            agent.replica(),
            Some(agent.instance()),
            extra,
            started,
            fetched,
        )
    }

    /// Lists and filters agents, then fetches each connected one concurrently. A disconnected
    /// agent is a failure ("disconnected") and is not fetched.
    pub async fn poll(&self) -> PollResult {
        let (live, failures) = self.replicas().await;
        let results = futures_util::future::join_all(live.iter().map(|a| self.fetch_dump(a))).await;
        super::gather(results, failures)
    }

    /// `DELETE /v2/cover/profile?id=N` per agent (all the target's agents when None). The
    /// server answers before resetting: poll again after [`RESET_SETTLE`] to see the zeros.
    pub async fn reset(&self, replicas: Option<&[String]>) -> Vec<ResetOutcome> {
        let mut skipped = Vec::new();
        let ids: Vec<(String, String)> = match replicas {
            // Replicas are processes: find each one's registration now (its id may have changed
            // since it was polled). Never an empty id: the server would reset every agent.
            Some(r) => match self.agents().await {
                Ok(agents) => {
                    let mut ids = Vec::new();
                    for replica in r {
                        let found = agents
                            .iter()
                            .filter(|a| !a.is_disconnected() && !a.id.is_empty())
                            .find(|a| {
                                &a.replica() == replica
                                    || (replica.starts_with("id=") && a.id == bare_id(replica))
                            });
                        match found {
                            Some(a) => ids.push((a.replica(), a.id.clone())),
                            None => skipped.push(ResetOutcome {
                                replica: replica.clone(),
                                result: Err(format!(
                                    "not reset: {} lists no connected agent for {replica} any more",
                                    self.server
                                )),
                            }),
                        }
                    }
                    ids
                }
                Err(e) => {
                    return r
                        .iter()
                        .map(|replica| ResetOutcome {
                            replica: replica.clone(),
                            result: Err(e.to_string()),
                        })
                        .collect();
                }
            },
            None => match self.agents().await {
                Ok(a) => {
                    let (live, gone): (Vec<_>, Vec<_>) = self
                        .select(a)
                        .0
                        .into_iter()
                        .partition(|a| !a.is_disconnected());
                    // The server would answer 200 for them and reset nothing: say so instead.
                    skipped = gone
                        .into_iter()
                        .map(|a| ResetOutcome {
                            replica: a.replica(),
                            result: Err(format!(
                                "disconnected: {} cannot reset agent id={} (status {})",
                                self.server, a.id, a.status
                            )),
                        })
                        .collect();
                    live.into_iter()
                        .filter(|a| !a.id.is_empty())
                        .map(|a| (a.replica(), a.id))
                        .collect()
                }
                Err(e) => {
                    return vec![ResetOutcome {
                        replica: self.server.clone(),
                        result: Err(e.to_string()),
                    }];
                }
            },
        };
        let resets =
            ids.iter().map(|(replica, id)| async move {
                let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
                let url = format!("{}/v2/cover/profile?id={id}", self.server);
                let result =
                    match exchange(self.client.delete(&url), &url, self.timeout, MAX_JSON_BYTES)
                        .await
                    {
                        Ok(a) if a.status == 200 => Ok(()),
                        Ok(a) => Err(a.failure(&url, "an empty 200").to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                ResetOutcome {
                    replica: replica.clone(),
                    result,
                }
            });
        let mut outcomes = futures_util::future::join_all(resets).await;
        outcomes.extend(skipped);
        outcomes
    }

    /// The websocket URL of the watch stream.
    pub fn watch_url(&self) -> String {
        let rest = self
            .server
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.server
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.server.clone());
        format!("{rest}/v2/cover/ws/watch")
    }

    /// Follows `/v2/cover/ws/watch`: every text frame that is a block line becomes a hint.
    /// Pings are answered while reading; a dropped or refused connection is retried with
    /// backoff (200 ms doubling to 5 s). The task ends when `hints`' receiver is dropped.
    pub fn watch(&self, hints: mpsc::Sender<WatchHint>) -> tokio::task::JoinHandle<()> {
        let url = self.watch_url();
        tokio::spawn(async move {
            let mut backoff = WATCH_BACKOFF_MIN;
            while !hints.is_closed() {
                let connect = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio_tungstenite::connect_async(url.as_str()),
                );
                let stream = tokio::select! {
                    _ = hints.closed() => return,
                    r = connect => r,
                };
                match stream {
                    Ok(Ok((ws, _))) => {
                        backoff = WATCH_BACKOFF_MIN;
                        tracing::debug!("goc watch connected to {url}");
                        if follow(ws, &hints).await == Followed::ReceiverGone {
                            return;
                        }
                        tracing::info!("goc watch stream {url} dropped; reconnecting");
                    }
                    Ok(Err(e)) => tracing::debug!("goc watch cannot connect to {url}: {e}"),
                    Err(_) => tracing::debug!("goc watch connecting to {url} timed out"),
                }
                tokio::select! {
                    _ = hints.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(WATCH_BACKOFF_MAX);
            }
        })
    }
}

const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(200);
const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(PartialEq, Eq)]
enum Followed {
    Dropped,
    ReceiverGone,
}

async fn follow<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    hints: &mpsc::Sender<WatchHint>,
) -> Followed
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let next = tokio::select! {
            _ = hints.closed() => {
                let _ = ws.close(None).await;
                return Followed::ReceiverGone;
            }
            m = ws.next() => m,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                if let Some(hint) = WatchHint::parse(text.as_str())
                    && hints.send(hint).await.is_err()
                {
                    return Followed::ReceiverGone;
                }
            }
            Some(Ok(Message::Ping(_))) => {
                // tungstenite queues the pong itself; flushing makes it leave now.
                if ws.flush().await.is_err() {
                    return Followed::Dropped;
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Followed::Dropped,
            Some(Ok(_)) => {}
        }
    }
}

/// `id=N` or `N` -> `N`.
fn bare_id(replica: &str) -> &str {
    replica.trim().strip_prefix("id=").unwrap_or(replica.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_frames_become_hints() {
        let h = WatchHint::parse("example.com/demo/main.go:17.76,19.17 2 1").unwrap();
        assert_eq!(h.file, "example.com/demo/main.go");
        assert_eq!(
            WatchHint::parse("c:/odd dir/x.go:1.2,3.4 1 1")
                .unwrap()
                .file,
            "c:/odd dir/x.go"
        );
        for bad in [
            "",
            "hello",
            "x.go:1.2 1 1",
            "x.go:1.2,3.4 a 1",
            ":1.2,3.4 1 1",
        ] {
            assert_eq!(WatchHint::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_and_urls() {
        let t = GocV2Target::new(
            "127.0.0.1:7777",
            vec!["id=3".into(), "4".into()],
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(t.ids, vec!["3", "4"]);
        assert_eq!(t.watch_url(), "ws://127.0.0.1:7777/v2/cover/ws/watch");
        let s = GocV2Target::new(
            "https://goc.example/",
            vec![],
            Some("ns=(".into()),
            Duration::from_secs(1),
        );
        assert!(matches!(s, Err(GocError::InvalidFilter { .. })));
        let s =
            GocV2Target::new("https://goc.example/", vec![], None, Duration::from_secs(1)).unwrap();
        assert_eq!(s.watch_url(), "wss://goc.example/v2/cover/ws/watch");
    }
}
