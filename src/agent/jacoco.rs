//! The JaCoCo agent in `output=tcpserver` mode: dump (and reset) every replica over TCP.
//!
//! One configured address (`host:port`) resolves to all its IPs, each a replica (a Kubernetes
//! headless Service gives one per pod). Per replica: connect with a timeout, send our header and
//! the dump command at once (agents from 0.8.15 hold back their own header until the first reply,
//! so waiting for it would deadlock), read blocks until CMDOK, and close at once: the agent serves
//! one connection at a time, and an idle open connection blocks every other client (CI's
//! `jacoco:dump`, a colleague's covtop). Requests to one agent are serialized here as well.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::agent::{Payload, PollResult, ReplicaDump, ReplicaFailure, ResetOutcome};
use crate::java::exec::{self, ExecError, ReplyScan};

/// The largest reply accepted from one agent (all replies in flight together are bounded by
/// [`crate::agent::limits::BODY_BUDGET`]). Real dumps are a few megabytes at most.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 256 << 20;

/// The dump command: block 0x40, then the `dump` and `reset` flags.
fn command(dump: bool, reset: bool) -> [u8; 8] {
    let h = exec::HEADER;
    [
        h[0],
        h[1],
        h[2],
        h[3],
        h[4],
        exec::BLOCK_CMDDUMP,
        u8::from(dump),
        u8::from(reset),
    ]
}

/// Why a JaCoCo agent could not be dumped. Every variant names the replica (`ip:port`) or the
/// configured address.
#[derive(Debug, thiserror::Error)]
pub enum JacocoError {
    #[error("JaCoCo address {address:?}: {detail} (expected host:port, e.g. my-svc-headless:6300)")]
    InvalidAddress { address: String, detail: String },
    #[error("{address}: cannot resolve host: {detail} (check the host name and DNS)")]
    Resolve { address: String, detail: String },
    #[error("{address}: the host name resolved to no addresses (no pods ready?)")]
    NoAddresses { address: String },
    #[error(
        "{replica}: connection refused (is the agent started with output=tcpserver and this port? with no address= option it listens on loopback only)"
    )]
    ConnectionRefused { replica: String },
    #[error("{replica}: cannot connect: {detail}")]
    Connect { replica: String, detail: String },
    #[error(
        "{replica}: connect timed out after {timeout:?} (firewall, wrong port, or the pod is gone)"
    )]
    ConnectTimeout { replica: String, timeout: Duration },
    #[error(
        "{replica}: no reply within {timeout:?} after {received} bytes (not a JaCoCo agent, or another client holds the agent's only connection: it serves one client at a time)"
    )]
    ReadTimeout {
        replica: String,
        timeout: Duration,
        received: usize,
    },
    #[error(
        "{replica}: socket closed unexpectedly after {received} bytes, before the end of the reply (the JVM may be shutting down, or the port is not a JaCoCo agent)"
    )]
    Closed { replica: String, received: usize },
    #[error(
        "{replica}: not a JaCoCo agent: got {got} (check the port: it should be the agent's tcpserver port, default 6300, not the service's HTTP port)"
    )]
    NotJacoco { replica: String, got: String },
    #[error(
        "{replica}: reply not complete after {limit:?} ({received} bytes so far): aborted (a very slow link, or not a JaCoCo agent)"
    )]
    TooSlow {
        replica: String,
        limit: Duration,
        received: usize,
    },
    #[error("{replica}: reply larger than {limit} bytes: aborted")]
    ReplyTooLarge { replica: String, limit: usize },
    #[error(
        "{replica}: the replies being read from all agents hold covtop's memory budget of {limit} bytes; this one was given up (fewer replicas at once, or smaller dumps)"
    )]
    MemoryBudget { replica: String, limit: usize },
    #[error(transparent)]
    Protocol(#[from] ExecError),
    #[error("{replica}: {detail}")]
    Io { replica: String, detail: String },
    #[error("{replica}: not a current replica of {address} (resolved: {resolved})")]
    UnknownReplica {
        replica: String,
        address: String,
        resolved: String,
    },
}

/// One JaCoCo target: one or more `host:port` addresses, each resolving to one or more replicas.
pub struct JacocoTarget {
    addresses: Vec<String>,
    /// The longest one exchange (connect, command, whole reply) may take.
    timeout: Duration,
    max_reply_bytes: usize,
    /// One lock per replica: the agent serves one connection at a time, so two of our own
    /// requests would only queue inside the agent, holding a socket open.
    locks: Mutex<HashMap<SocketAddr, Arc<tokio::sync::Mutex<()>>>>,
}

fn check_address(address: &str) -> Result<(), JacocoError> {
    let invalid = |detail: &str| JacocoError::InvalidAddress {
        address: address.to_string(),
        detail: detail.to_string(),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
    if host.is_empty() || host == "[]" {
        return Err(invalid("no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(invalid(
            "IPv6 addresses must be written in brackets, e.g. [::1]:6300",
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid("the port must be a number from 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

/// Shows the start of a non-JaCoCo reply: its first line, printable.
fn describe_foreign_reply(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(60)];
    let line_end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len());
    let text: String = String::from_utf8_lossy(&head[..line_end])
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if line_end < bytes.len() {
        format!("'{text}'...")
    } else {
        format!("'{text}'")
    }
}

impl JacocoTarget {
    /// A target for one `host:port`; the host is resolved to all its IPs at every poll.
    pub fn new(address: &str, timeout: Duration) -> Result<Self, JacocoError> {
        Self::with_addresses(&[address.to_string()], timeout)
    }

    /// A target for several `host:port` addresses (a fixed list of pods, or several hosts); each
    /// is resolved and its replicas joined.
    pub fn with_addresses(addresses: &[String], timeout: Duration) -> Result<Self, JacocoError> {
        if addresses.is_empty() {
            return Err(JacocoError::InvalidAddress {
                address: String::new(),
                detail: "no address configured".into(),
            });
        }
        for a in addresses {
            check_address(a)?;
        }
        Ok(JacocoTarget {
            addresses: addresses.to_vec(),
            timeout,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the largest reply accepted from one agent.
    pub fn with_max_reply_bytes(mut self, limit: usize) -> Self {
        self.max_reply_bytes = limit;
        self
    }

    /// The configured addresses, joined with `,`.
    pub fn address(&self) -> String {
        self.addresses.join(",")
    }

    /// Resolves every configured address to its replicas (sorted, without duplicates). An
    /// address that does not resolve is returned as a failure; the others still count.
    pub async fn resolve_replicas(&self) -> (Vec<SocketAddr>, Vec<ReplicaFailure>) {
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for address in &self.addresses {
            let lookup =
                tokio::time::timeout(self.timeout, tokio::net::lookup_host(address.as_str())).await;
            let err = match lookup {
                Ok(Ok(addrs)) => {
                    let before = found.len();
                    found.extend(addrs);
                    if found.len() > before {
                        continue;
                    }
                    JacocoError::NoAddresses {
                        address: address.clone(),
                    }
                }
                Ok(Err(e)) => JacocoError::Resolve {
                    address: address.clone(),
                    detail: e.to_string(),
                },
                Err(_) => JacocoError::Resolve {
                    address: address.clone(),
                    detail: format!("DNS lookup timed out after {:?}", self.timeout),
                },
            };
            failures.push(ReplicaFailure {
                replica: address.clone(),
                error: err.to_string(),
            });
        }
        found.sort();
        found.dedup();
        (found, failures)
    }

    fn lock_for(&self, replica: SocketAddr) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another thread panicked while inserting; the map itself is
        // still usable.
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(replica).or_default().clone()
    }

    /// Dumps every replica concurrently (without reset).
    pub async fn poll(&self) -> PollResult {
        self.dump_all(None, false).await
    }

    /// Dumps and resets the given replicas (all when `None`) in one agent step, returning the
    /// data dumped with the reset: persist it, it is the only copy of what ran since the last
    /// poll.
    pub async fn dump_and_reset(&self, replicas: Option<&[String]>) -> PollResult {
        self.dump_all(replicas, true).await
    }

    /// Resets the given replicas (all when `None`) with a dump-with-reset command. The caller
    /// persists a dump first; the data of the window between that dump and this reset is
    /// dropped here, so prefer [`JacocoTarget::dump_and_reset`] when that matters.
    pub async fn reset(&self, replicas: Option<&[String]>) -> Vec<ResetOutcome> {
        let result = self.dump_and_reset(replicas).await;
        let mut outcomes: Vec<ResetOutcome> = result
            .dumps
            .into_iter()
            .map(|d| ResetOutcome {
                replica: d.replica,
                result: Ok(()),
            })
            .chain(result.failures.into_iter().map(|f| ResetOutcome {
                replica: f.replica,
                result: Err(f.error),
            }))
            .collect();
        outcomes.sort_by(|a, b| a.replica.cmp(&b.replica));
        outcomes
    }

    async fn dump_all(&self, only: Option<&[String]>, reset: bool) -> PollResult {
        let (resolved, mut failures) = self.resolve_replicas().await;
        let mut targets: Vec<SocketAddr> = Vec::new();
        match only {
            None => targets = resolved.clone(),
            Some(names) => {
                for name in names {
                    match resolved.iter().find(|a| a.to_string() == *name) {
                        Some(a) => targets.push(*a),
                        None => failures.push(ReplicaFailure {
                            replica: name.clone(),
                            error: JacocoError::UnknownReplica {
                                replica: name.clone(),
                                address: self.address(),
                                resolved: resolved
                                    .iter()
                                    .map(|a| a.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            }
                            .to_string(),
                        }),
                    }
                }
            }
        }
        let results = join_all(targets.iter().map(|&a| self.dump_replica(a, reset))).await;
        let mut out = PollResult {
            dumps: Vec::new(),
            failures,
        };
        for (addr, r) in targets.iter().zip(results) {
            match r {
                Ok(d) => out.dumps.push(d),
                Err(e) => out.failures.push(ReplicaFailure {
                    replica: addr.to_string(),
                    error: e.to_string(),
                }),
            }
        }
        out
    }

    /// Dumps one replica (and resets it when `reset`). The payload is the agent's reply without
    /// the final CMDOK: a valid `.exec` file.
    pub async fn dump_replica(
        &self,
        replica: SocketAddr,
        reset: bool,
    ) -> Result<ReplicaDump, JacocoError> {
        let lock = self.lock_for(replica);
        let _serialized = lock.lock().await;
        let started = Instant::now();
        let fetched_at = SystemTime::now();
        let name = replica.to_string();
        let bytes = self.exchange(replica, &name, true, reset).await?;
        let parsed = exec::parse(&bytes, &name)?;
        let instance = parsed
            .sessions
            .last()
            .map(|s| format!("{} start={}", s.id, s.start));
        Ok(ReplicaDump {
            replica: name,
            instance,
            extra: None,
            fetched_at,
            elapsed: started.elapsed(),
            payload: Payload::JacocoExec(bytes),
        })
    }

    /// One command on a fresh connection: returns the reply up to (not including) CMDOK. The
    /// timeout bounds the whole exchange, however steadily a peer drips bytes; the connection
    /// waits for one of the process's connection slots first (not counted in the timeout).
    async fn exchange(
        &self,
        addr: SocketAddr,
        name: &str,
        dump: bool,
        reset: bool,
    ) -> Result<Vec<u8>, JacocoError> {
        let _slot = crate::agent::limits::connection().await;
        let timeout = self.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(JacocoError::ConnectTimeout {
                    replica: name.to_string(),
                    timeout,
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(JacocoError::ConnectionRefused {
                    replica: name.to_string(),
                });
            }
            Ok(Err(e)) => {
                return Err(JacocoError::Connect {
                    replica: name.to_string(),
                    detail: e.to_string(),
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let io_err = |e: std::io::Error| JacocoError::Io {
            replica: name.to_string(),
            detail: e.to_string(),
        };
        match tokio::time::timeout_at(deadline, stream.write_all(&command(dump, reset))).await {
            Err(_) => {
                return Err(JacocoError::ReadTimeout {
                    replica: name.to_string(),
                    timeout,
                    received: 0,
                });
            }
            Ok(r) => r.map_err(io_err)?,
        }
        let budget = crate::agent::limits::Budget::bodies();
        let mut held = budget.hold();
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut resume = 0;
        loop {
            let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                // Bytes came, but not the whole reply: a peer dripping them.
                Err(_) if !buf.is_empty() => {
                    return Err(self.stalled(name, &buf, || JacocoError::TooSlow {
                        replica: name.to_string(),
                        limit: timeout,
                        received: buf.len(),
                    }));
                }
                Err(_) => {
                    return Err(JacocoError::ReadTimeout {
                        replica: name.to_string(),
                        timeout,
                        received: 0,
                    });
                }
                Ok(Err(e)) => return Err(self.stalled(name, &buf, || io_err(e))),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Err(self.stalled(name, &buf, || JacocoError::Closed {
                    replica: name.to_string(),
                    received: buf.len(),
                }));
            }
            if buf.len() + n > self.max_reply_bytes {
                return Err(JacocoError::ReplyTooLarge {
                    replica: name.to_string(),
                    limit: self.max_reply_bytes,
                });
            }
            buf.reserve(n);
            let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            held.grow_to(buf.capacity(), wait)
                .await
                .map_err(|_| JacocoError::MemoryBudget {
                    replica: name.to_string(),
                    limit: budget.total(),
                })?;
            buf.extend_from_slice(&chunk[..n]);
            match exec::scan_reply(&buf, name, resume) {
                Ok(ReplyScan::Done { cmdok }) => {
                    buf.truncate(cmdok);
                    // Dropping the stream closes it: the agent goes back to accept().
                    drop(stream);
                    return Ok(buf);
                }
                Ok(ReplyScan::Incomplete { complete }) => resume = complete,
                Err(e) => return Err(Self::classify_format_error(name, &buf, e)),
            }
        }
    }

    /// When the reply stops early, a foreign first byte explains more than the timeout or EOF.
    fn stalled(
        &self,
        name: &str,
        buf: &[u8],
        otherwise: impl FnOnce() -> JacocoError,
    ) -> JacocoError {
        if buf.first().is_some_and(|&b| b != exec::BLOCK_HEADER) {
            return JacocoError::NotJacoco {
                replica: name.to_string(),
                got: describe_foreign_reply(buf),
            };
        }
        otherwise()
    }

    fn classify_format_error(name: &str, buf: &[u8], e: ExecError) -> JacocoError {
        match e {
            ExecError::NoHeader { .. } | ExecError::BadMagic { .. } => JacocoError::NotJacoco {
                replica: name.to_string(),
                got: describe_foreign_reply(buf),
            },
            other => JacocoError::Protocol(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn addresses_are_validated() {
        let t = Duration::from_secs(1);
        assert!(JacocoTarget::new("svc:6300", t).is_ok());
        assert!(JacocoTarget::new("[::1]:6300", t).is_ok());
        for bad in ["svc", "svc:", ":6300", "svc:0", "svc:70000", "::1:6300"] {
            let e = JacocoTarget::new(bad, t).err().expect(bad);
            assert!(e.to_string().contains("host:port"), "{e}");
        }
        assert!(JacocoTarget::with_addresses(&[], t).is_err());
    }

    #[test]
    fn futures_can_be_spawned() {
        // The engine runs polls as tokio tasks: the futures must be Send.
        fn is_send<T: Send>(_: &T) {}
        let t = JacocoTarget::new("svc:6300", Duration::from_secs(1)).unwrap();
        is_send(&t.poll());
        is_send(&t.reset(None));
        is_send(&t.dump_and_reset(None));
    }

    #[test]
    fn foreign_replies_are_shown_readably() {
        assert_eq!(
            describe_foreign_reply(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            "'HTTP/1.1 400 Bad Request'..."
        );
        assert_eq!(describe_foreign_reply(b"SSH-2.0-x"), "'SSH-2.0-x'");
        assert_eq!(describe_foreign_reply(&[0x7f, 0x41]), "'\\u{7f}A'");
    }

    #[tokio::test]
    async fn localhost_resolves_to_its_loopback_addresses() {
        let t = JacocoTarget::new("localhost:6300", Duration::from_secs(5)).unwrap();
        let (replicas, failures) = t.resolve_replicas().await;
        assert!(failures.is_empty(), "{failures:?}");
        assert!(
            replicas
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 6300),
            "{replicas:?}"
        );
        assert!(
            replicas.contains(&"127.0.0.1:6300".parse().unwrap()),
            "{replicas:?}"
        );
        let mut sorted = replicas.clone();
        sorted.dedup();
        assert_eq!(sorted, replicas);
        // Two addresses naming the same IP give one replica.
        let t = JacocoTarget::with_addresses(
            &["localhost:6300".into(), "127.0.0.1:6300".into()],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(t.resolve_replicas().await.0, replicas);
    }

    #[tokio::test]
    async fn unresolvable_host_is_a_failure_not_a_panic() {
        let t = JacocoTarget::new("no-such-host.invalid:6300", Duration::from_secs(5)).unwrap();
        let r = t.poll().await;
        assert!(r.dumps.is_empty());
        assert_eq!(r.failures.len(), 1);
        assert!(
            r.failures[0].error.contains("no-such-host.invalid:6300"),
            "{:?}",
            r.failures
        );
    }

    /// A scripted fake agent: reads the 8-byte command, answers `reply`, optionally hangs.
    async fn fake_agent(reply: Vec<u8>, hang: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut cmd = [0u8; 8];
                    let _ = s.read_exact(&mut cmd).await;
                    let _ = s.write_all(&reply).await;
                    if hang {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                });
            }
        });
        addr
    }

    fn target_for(addrs: &[SocketAddr], timeout_ms: u64) -> JacocoTarget {
        let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        JacocoTarget::with_addresses(&list, Duration::from_millis(timeout_ms)).unwrap()
    }

    fn dump_reply() -> Vec<u8> {
        let mut d = exec::ExecData::default();
        d.sessions.push(exec::SessionInfo {
            id: "pod-a".into(),
            start: 1000,
            dump: 2000,
        });
        d.classes.insert(
            42,
            exec::ClassProbes {
                name: "shop/Cart".into(),
                probes: vec![true, false, true].into(),
            },
        );
        let mut b = d.to_bytes().unwrap();
        b.push(exec::BLOCK_CMDOK);
        b
    }

    #[tokio::test]
    async fn good_replica_answers_while_a_silent_one_times_out() {
        let good = fake_agent(dump_reply(), false).await;
        let silent = fake_agent(Vec::new(), true).await;
        let t = target_for(&[good, silent], 300);
        let started = Instant::now();
        let r = t.poll().await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(r.dumps.len(), 1, "{r:?}");
        assert_eq!(r.dumps[0].replica, good.to_string());
        assert_eq!(r.dumps[0].instance.as_deref(), Some("pod-a start=1000"));
        let Payload::JacocoExec(bytes) = &r.dumps[0].payload else {
            panic!("not exec")
        };
        let reply = dump_reply();
        assert_eq!(bytes[..], reply[..reply.len() - 1]);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].replica, silent.to_string());
        assert!(
            r.failures[0].error.contains("no reply within"),
            "{}",
            r.failures[0].error
        );
    }

    #[tokio::test]
    async fn truncated_and_foreign_replies_are_named() {
        let mut cut = dump_reply();
        cut.truncate(20);
        let closes = fake_agent(cut, false).await;
        let ssh = fake_agent(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(), false).await;
        let mut bad_block = exec::HEADER.to_vec();
        bad_block.push(0x7f);
        let odd = fake_agent(bad_block, true).await;
        let mut v = exec::HEADER.to_vec();
        v[4] = 0x06;
        let old = fake_agent(v, true).await;
        let t = target_for(&[closes, ssh, odd, old], 2000);
        let r = t.poll().await;
        assert!(r.dumps.is_empty());
        let err = |a: SocketAddr| {
            r.failures
                .iter()
                .find(|f| f.replica == a.to_string())
                .map(|f| f.error.clone())
                .unwrap_or_default()
        };
        assert!(
            err(closes).contains("socket closed unexpectedly after 20 bytes"),
            "{}",
            err(closes)
        );
        assert!(
            err(ssh).contains("not a JaCoCo agent: got 'SSH-2.0-OpenSSH_9.2'..."),
            "{}",
            err(ssh)
        );
        assert!(err(odd).contains("unknown block type 0x7f"), "{}", err(odd));
        assert!(err(odd).contains(&odd.to_string()), "{}", err(odd));
        assert!(err(old).contains("version 0x1006"), "{}", err(old));
    }

    #[tokio::test]
    async fn refused_connection_and_oversized_reply() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let free = listener.local_addr().unwrap();
        drop(listener);
        let t = target_for(&[free], 1000);
        let r = t.poll().await;
        assert!(
            r.failures[0].error.contains("connection refused"),
            "{:?}",
            r.failures
        );

        let big = fake_agent(dump_reply(), false).await;
        let t = target_for(&[big], 1000).with_max_reply_bytes(10);
        let r = t.poll().await;
        assert!(
            r.failures[0].error.contains("larger than 10 bytes"),
            "{:?}",
            r.failures
        );
    }

    #[tokio::test]
    async fn a_dripping_peer_is_cut_off_by_the_configured_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut reply = exec::HEADER.to_vec();
                reply.extend_from_slice(&[exec::BLOCK_SESSIONINFO, 0x7f, 0xff]);
                reply.resize(200, b'x');
                for b in reply {
                    if s.write_all(&[b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        // The timeout bounds the whole exchange, not each read.
        let t = target_for(&[addr], 600);
        let r = t.poll().await;
        assert!(
            r.failures[0].error.contains("not complete after 600ms"),
            "{:?}",
            r.failures
        );
    }

    #[tokio::test]
    async fn requests_to_one_replica_are_serialized() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (a, m) = (active.clone(), most.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (a, m) = (a.clone(), m.clone());
                tokio::spawn(async move {
                    let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    let mut cmd = [0u8; 8];
                    let _ = s.read_exact(&mut cmd).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    a.fetch_sub(1, Ordering::SeqCst);
                    let _ = s.write_all(&dump_reply()).await;
                });
            }
        });
        let t = target_for(&[addr], 2000);
        let (r1, r2, r3) = tokio::join!(t.poll(), t.poll(), t.dump_and_reset(None));
        for r in [r1, r2, r3] {
            assert_eq!(r.dumps.len(), 1, "{r:?}");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reset_of_an_unknown_replica_is_reported() {
        let good = fake_agent(dump_reply(), false).await;
        let t = target_for(&[good], 1000);
        let out = t
            .reset(Some(&["10.9.9.9:6300".to_string(), good.to_string()]))
            .await;
        assert_eq!(out.len(), 2);
        let unknown = out.iter().find(|o| o.replica == "10.9.9.9:6300").unwrap();
        assert!(
            unknown
                .result
                .as_ref()
                .unwrap_err()
                .contains("not a current replica")
        );
        let known = out.iter().find(|o| o.replica == good.to_string()).unwrap();
        assert!(known.result.is_ok());
    }
}
