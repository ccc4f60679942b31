//! goc v2: the server's public routes (`/v2/agents`, `/v2/cover/profile`, the watch websocket)
//! and its registration route, with agents registered in-process.
//!
//! Real v2 agents dial out and answer JSON-RPC over a websocket; here each agent's counters come
//! from a [`ProfileSource`] instead (an in-memory profile, or the HTTP agent of a real
//! instrumented process), which is what the public routes observe anyway. Watch frames are
//! produced by polling every agent every ~200 ms and emitting one frame per block whose count
//! went up, or directly with [`Server::emit_watch`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::profile::{FileProfile, dump_profile, merge_profiles, parse_profile};
use super::{
    AgentProfile, GocServerError, ServeTask, SharedProfile, form_first, form_pairs, form_values,
    gin_json, gin_not_found, post_agent, random_token, respond, serve_loopback,
};

/// Agent status bits, as in `/v2/agents`.
pub const STATUS_DISCONNECT: u8 = 1;
pub const STATUS_RPC_CONNECT: u8 = 2;
pub const STATUS_WATCH_CONNECT: u8 = 4;

/// goc v2 collects each agent's profile with a 10 s timeout.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);
const WATCH_POLL: Duration = Duration::from_millis(200);
const PING_EVERY: Duration = Duration::from_secs(2);
const PONG_WITHIN: Duration = Duration::from_secs(5);
/// The delay before a `DELETE /v2/cover/profile` reaches the agents: the route answers first.
const RESET_DELAY: Duration = Duration::from_millis(50);

/// Where an agent's counters come from.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// Counters held in this process (tests, demo replay).
    Memory(SharedProfile),
    /// The HTTP agent of a real instrumented process (`/v1/cover/profile`, `/v1/cover/clear`).
    Pull(String),
    /// Nothing behind it (an agent that registered but never connected its RPC stream).
    Nothing,
}

/// What an agent tells the server when it registers.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub hostname: String,
    pub cmdline: String,
    pub pid: u32,
    pub extra: String,
    /// Whether the agent pushes watch events (status 6 instead of 2).
    pub watch_mode: bool,
    pub source: ProfileSource,
}

#[derive(Debug, Clone, Serialize)]
struct AgentJson {
    id: String,
    rpc_remoteip: String,
    watch_remoteip: String,
    hostname: String,
    cmdline: String,
    pid: String,
    extra: String,
    token: String,
    status: u8,
}

#[derive(Debug)]
struct AgentEntry {
    json: AgentJson,
    source: ProfileSource,
    /// Counts seen at the previous watch poll, to emit frames for blocks that went up.
    last_counts: Option<Vec<(String, u64)>>,
}

#[derive(Debug)]
struct ServerState {
    agents: Mutex<BTreeMap<u64, AgentEntry>>,
    next_id: AtomicU64,
    frames: broadcast::Sender<String>,
    closing: watch::Receiver<bool>,
    watch_now: AtomicU64,
    watch_total: AtomicU64,
    client: reqwest::Client,
}

impl ServerState {
    fn agents(&self) -> MutexGuard<'_, BTreeMap<u64, AgentEntry>> {
        self.agents.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A goc v2 server on 127.0.0.1.
#[derive(Debug)]
pub struct Server {
    serve: ServeTask,
    state: Arc<ServerState>,
    closing: watch::Sender<bool>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.closing.send(true);
        self.poller.abort();
    }
}

impl Server {
    pub async fn start() -> Result<Server, GocServerError> {
        Self::start_on(0).await
    }

    /// Starts on 127.0.0.1:`port` (a fixed port lets a test restart the server in place).
    pub async fn start_on(port: u16) -> Result<Server, GocServerError> {
        let (closing_tx, closing_rx) = watch::channel(false);
        let (frames, _) = broadcast::channel(1024);
        let state = Arc::new(ServerState {
            agents: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            frames,
            closing: closing_rx,
            watch_now: AtomicU64::new(0),
            watch_total: AtomicU64::new(0),
            client: super::loopback_client(),
        });
        let app = axum::Router::new()
            .route(
                "/v2/cover/ws/watch",
                get(watch_upgrade).fallback(|| async { gin_not_found() }),
            )
            .fallback(dispatch)
            .with_state(state.clone());
        let serve = serve_loopback(port, app).await?;
        let poller = tokio::spawn(watch_poller(state.clone()));
        Ok(Server {
            serve,
            state,
            closing: closing_tx,
            poller,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.serve.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.serve.addr)
    }

    /// Registers an agent whose streams are up; returns its id (sequential, from "1").
    pub fn add_agent(&self, spec: AgentSpec) -> String {
        let status = if matches!(spec.source, ProfileSource::Nothing) {
            STATUS_DISCONNECT
        } else if spec.watch_mode {
            STATUS_RPC_CONNECT | STATUS_WATCH_CONNECT
        } else {
            STATUS_RPC_CONNECT
        };
        let connected = status != STATUS_DISCONNECT;
        self.state.insert_agent(
            spec.hostname,
            spec.cmdline,
            spec.pid.to_string(),
            spec.extra,
            status,
            if connected { "127.0.0.1" } else { "" },
            if spec.watch_mode && connected {
                "127.0.0.1"
            } else {
                ""
            },
            spec.source,
        )
    }

    /// Sets an agent's status bits (e.g. [`STATUS_DISCONNECT`] after its process died).
    pub fn set_status(&self, id: &str, status: u8) {
        if let Ok(n) = id.parse::<u64>()
            && let Some(a) = self.state.agents().get_mut(&n)
        {
            a.json.status = status;
        }
    }

    /// Replaces where an agent's counters come from (e.g. a replica that restarted elsewhere).
    pub fn set_source(&self, id: &str, source: ProfileSource) {
        if let Ok(n) = id.parse::<u64>()
            && let Some(a) = self.state.agents().get_mut(&n)
        {
            a.source = source;
            a.last_counts = None;
        }
    }

    /// Sends one frame verbatim to every watch client.
    pub fn emit_watch(&self, frame: &str) {
        let _ = self.state.frames.send(frame.to_string());
    }

    /// Watch clients connected now.
    pub fn watch_clients(&self) -> u64 {
        self.state.watch_now.load(Ordering::SeqCst)
    }

    /// Watch connections accepted since start (a reconnect counts again).
    pub fn watch_connections_total(&self) -> u64 {
        self.state.watch_total.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every watch connection.
    pub fn stop(self) {
        drop(self);
    }
}

impl ServerState {
    #[allow(clippy::too_many_arguments)]
    fn insert_agent(
        &self,
        hostname: String,
        cmdline: String,
        pid: String,
        extra: String,
        status: u8,
        rpc_ip: &str,
        watch_ip: &str,
        source: ProfileSource,
    ) -> String {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let token = random_token();
        self.agents().insert(
            id,
            AgentEntry {
                json: AgentJson {
                    id: id.to_string(),
                    rpc_remoteip: rpc_ip.into(),
                    watch_remoteip: watch_ip.into(),
                    hostname,
                    cmdline,
                    pid,
                    extra,
                    token,
                    status,
                },
                source,
                last_counts: None,
            },
        );
        id.to_string()
    }
}

fn msg(status: StatusCode, text: impl Into<String>) -> Response {
    gin_json(status, &json!({ "msg": text.into() }))
}

/// The `id` parameter as goc v2 reads it: a comma list, repeated keys accepted.
fn comma_values(pairs: &[(String, String)], key: &str) -> Vec<String> {
    form_values(pairs, key)
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Agents selected by `id` and `extra` (a Go regexp, unanchored; empty matches all; an invalid
/// one matches nothing).
fn select(state: &ServerState, pairs: &[(String, String)]) -> Vec<(String, u8, ProfileSource)> {
    let ids = comma_values(pairs, "id");
    let extra = form_first(pairs, "extra").unwrap_or_default();
    let re = if extra.is_empty() {
        None
    } else {
        match regex::Regex::new(&extra) {
            Ok(r) => Some(r),
            Err(_) => return Vec::new(),
        }
    };
    state
        .agents()
        .values()
        .filter(|a| ids.is_empty() || ids.contains(&a.json.id))
        .filter(|a| re.as_ref().is_none_or(|r| r.is_match(&a.json.extra)))
        .map(|a| (a.json.id.clone(), a.json.status, a.source.clone()))
        .collect()
}

async fn fetch_source(client: &reqwest::Client, source: &ProfileSource) -> Result<String, String> {
    match source {
        ProfileSource::Memory(p) => Ok(p.lock().render()),
        ProfileSource::Pull(url) => post_agent(client, url, "/v1/cover/profile").await,
        ProfileSource::Nothing => Ok(String::new()),
    }
}

async fn dispatch(State(st): State<Arc<ServerState>>, req: Request) -> Response {
    let pairs = form_pairs(req.uri().query().unwrap_or_default().as_bytes());
    let method = req.method().clone();
    match (method, req.uri().path()) {
        (Method::GET, "/v2/agents") => {
            let ids = comma_values(&pairs, "id");
            let items: Vec<AgentJson> = st
                .agents()
                .values()
                .filter(|a| ids.is_empty() || ids.contains(&a.json.id))
                .map(|a| a.json.clone())
                .collect();
            #[derive(Serialize)]
            struct Items {
                items: Vec<AgentJson>,
            }
            gin_json(StatusCode::OK, &Items { items })
        }
        (Method::DELETE, "/v2/agents") => {
            let ids = comma_values(&pairs, "id");
            st.agents()
                .retain(|_, a| !(ids.is_empty() || ids.contains(&a.json.id)));
            gin_json(StatusCode::OK, &serde_json::Value::Null)
        }
        (Method::GET, "/v2/cover/profile") => get_profile(&st, &pairs).await,
        (Method::DELETE, "/v2/cover/profile") => {
            let targets = select(&st, &pairs);
            let client = st.client.clone();
            // Fire and forget, like goc's RPC: the 200 goes out before any agent is reset.
            tokio::spawn(async move {
                tokio::time::sleep(RESET_DELAY).await;
                for (_, status, source) in targets {
                    if status & STATUS_DISCONNECT != 0 {
                        continue;
                    }
                    match source {
                        ProfileSource::Memory(p) => p.lock().clear(),
                        ProfileSource::Pull(url) => {
                            let _ = tokio::time::timeout(
                                AGENT_TIMEOUT,
                                post_agent(&client, &url, "/v1/cover/clear"),
                            )
                            .await;
                        }
                        ProfileSource::Nothing => {}
                    }
                }
            });
            respond(StatusCode::OK, None, "")
        }
        (Method::GET, "/v2/internal/register") => {
            let get = |k| form_first(&pairs, k).unwrap_or_default();
            let (hostname, pid, cmdline, extra) =
                (get("hostname"), get("pid"), get("cmdline"), get("extra"));
            if hostname.is_empty() || pid.is_empty() || cmdline.is_empty() {
                return msg(StatusCode::BAD_REQUEST, "missing some params");
            }
            let id = st.insert_agent(
                hostname,
                cmdline,
                pid,
                extra,
                STATUS_DISCONNECT,
                "",
                "",
                ProfileSource::Nothing,
            );
            let token = st
                .agents()
                .get(&id.parse::<u64>().unwrap_or_default())
                .map(|a| a.json.token.clone())
                .unwrap_or_default();
            gin_json(StatusCode::OK, &json!({ "id": id, "token": token }))
        }
        (Method::GET, "/v2/internal/ws/rpcstream" | "/v2/internal/ws/watchstream") => {
            let id = form_first(&pairs, "id").unwrap_or_default();
            let token = form_first(&pairs, "token").unwrap_or_default();
            let known = id
                .parse::<u64>()
                .ok()
                .and_then(|n| st.agents().get(&n).map(|a| a.json.token.clone()));
            let text = match known {
                None => "agent not registered",
                Some(t) if t != token => "register token not match",
                // The JSON-RPC stream itself is not modelled: agents are attached in-process.
                Some(_) => "agent streams are attached in-process by this server",
            };
            gin_json(StatusCode::BAD_REQUEST, &json!({ "code": 1, "msg": text }))
        }
        _ => gin_not_found(),
    }
}

async fn get_profile(st: &ServerState, pairs: &[(String, String)]) -> Response {
    let targets = select(st, pairs);
    let skip = comma_values(pairs, "skippattern");
    let fetches = targets.into_iter().map(|(_, status, source)| {
        let client = st.client.clone();
        async move {
            if status & STATUS_DISCONNECT != 0 {
                return String::new();
            }
            // A failed or timed-out agent leaves goc's response empty, which then parses as an
            // empty profile: it contributes nothing rather than failing the request.
            match tokio::time::timeout(AGENT_TIMEOUT, fetch_source(&client, &source)).await {
                Ok(Ok(text)) => text,
                _ => String::new(),
            }
        }
    });
    let bodies = futures_util::future::join_all(fetches).await;
    let instances: Vec<Vec<FileProfile>> = bodies
        .iter()
        .filter_map(|b| parse_profile(b).ok())
        .collect();
    let merged = match merge_profiles(instances) {
        Ok(m) => m,
        Err(e) => return msg(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let kept: Vec<FileProfile> = merged
        .into_iter()
        .filter(|p| !skip.iter().any(|s| p.file_name.contains(s.as_str())))
        .collect();
    match dump_profile(&kept) {
        Ok(text) => gin_json(StatusCode::OK, &json!({ "profile": text })),
        Err(e) => msg(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn watch_upgrade(
    State(st): State<Arc<ServerState>>,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    ws.on_upgrade(move |socket| watch_client(st, socket))
}

async fn watch_client(st: Arc<ServerState>, socket: WebSocket) {
    st.watch_total.fetch_add(1, Ordering::SeqCst);
    st.watch_now.fetch_add(1, Ordering::SeqCst);
    serve_watch_client(&st, socket).await;
    st.watch_now.fetch_sub(1, Ordering::SeqCst);
}

async fn serve_watch_client(st: &ServerState, mut socket: WebSocket) {
    let mut frames = st.frames.subscribe();
    let mut closing = st.closing.clone();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_pong = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = closing.changed() => return,
            frame = frames.recv() => match frame {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // Overflow drops events, as goc's 1024-slot channel does.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if last_pong.elapsed() > PONG_WITHIN {
                    return;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(_))) => last_pong = tokio::time::Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Every ~200 ms, reads every connected agent and emits one frame per block whose count rose.
async fn watch_poller(st: Arc<ServerState>) {
    let mut tick = tokio::time::interval(WATCH_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let sources: Vec<(u64, ProfileSource)> = st
            .agents()
            .iter()
            .filter(|(_, a)| a.json.status & STATUS_DISCONNECT == 0)
            .map(|(id, a)| (*id, a.source.clone()))
            .collect();
        for (id, source) in sources {
            let text = match tokio::time::timeout(
                Duration::from_secs(1),
                fetch_source(&st.client, &source),
            )
            .await
            {
                Ok(Ok(t)) => t,
                _ => continue,
            };
            let Ok(profile) = AgentProfile::from_text(&text) else {
                continue;
            };
            let now: Vec<(String, u64)> = profile
                .blocks
                .iter()
                .map(|b| (b.line_with_count(1), u64::from(b.count)))
                .collect();
            let mut agents = st.agents();
            let Some(entry) = agents.get_mut(&id) else {
                continue;
            };
            if let Some(before) = &entry.last_counts
                && before.len() == now.len()
            {
                for ((line, count), (_, old)) in now.iter().zip(before) {
                    if count > old {
                        let _ = st.frames.send(line.clone());
                    }
                }
            }
            entry.last_counts = Some(now);
        }
    }
}
