//! An in-process stand-in for a JaCoCo agent in `output=tcpserver` mode (0.8.6 behaviour, see
//! spec/jacoco.md §2.1), fed by the demo's replay. It speaks the real protocol, so covtop's
//! `JacocoTarget` talks to it exactly as to a JVM:
//! - on accept it writes its header at once, then requires the client's header as the first
//!   block (anything else closes the connection);
//! - each `40 dump reset` command is answered with SESSION (id, start, dump time) and one
//!   EXEC block per class with a probe set, then `20`; reset clears every probe and sets the
//!   session start to now; a later header block is accepted and checked;
//! - one client at a time: the next connection is accepted only when the current one ends.
//!
//! Unlike the real agent it drops a client that stays silent for [`IDLE_LIMIT`], so a stuck
//! client cannot freeze the demo.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::java::exec::{
    BLOCK_CMDDUMP, BLOCK_CMDOK, BLOCK_HEADER, ClassProbes, ExecData, HEADER, Probes, SessionInfo,
};

/// How long a connected client may stay silent before the agent drops it.
pub const IDLE_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct AgentState {
    session_id: String,
    start_ms: i64,
    classes: BTreeMap<u64, ClassProbes>,
}

/// A running fake agent on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct ReplayAgent {
    address: SocketAddr,
    state: Arc<Mutex<AgentState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReplayAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock(state: &Mutex<AgentState>) -> MutexGuard<'_, AgentState> {
    // The state stays consistent even if a holder panicked: every update is a single step.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReplayAgent {
    /// Binds 127.0.0.1:0 and serves with no probes set yet; the session starts now.
    pub async fn start(session_id: &str) -> std::io::Result<ReplayAgent> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(AgentState {
            session_id: session_id.to_string(),
            start_ms: now_ms(),
            classes: BTreeMap::new(),
        }));
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(ReplayAgent {
            address,
            state,
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Sets the given probes (OR-ed into what is there, as running code does).
    pub fn hit(&self, classes: &BTreeMap<u64, ClassProbes>) {
        let mut state = lock(&self.state);
        for (id, class) in classes {
            let entry = state.classes.entry(*id).or_insert_with(|| ClassProbes {
                name: class.name.clone(),
                probes: Probes::new(class.probes.len()),
            });
            if entry.probes.len() < class.probes.len() {
                entry.probes.resize(class.probes.len());
            }
            entry.probes.or_assign(&class.probes);
        }
    }

    /// The probes a dump would return now.
    pub fn snapshot(&self) -> BTreeMap<u64, ClassProbes> {
        lock(&self.state).classes.clone()
    }
}

/// Accepts one connection at a time; the next waits in the listen queue, as with the real
/// agent's single accept thread.
async fn serve(listener: TcpListener, state: Arc<Mutex<AgentState>>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if let Err(e) = serve_client(stream, &state).await {
            tracing::debug!(%peer, error = %e, "demo jacoco agent closed a connection");
        }
    }
}

async fn read_idle(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    match tokio::time::timeout(IDLE_LIMIT, stream.read_exact(buf)).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client idle",
        )),
    }
}

fn protocol_error(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

async fn serve_client(mut stream: TcpStream, state: &Mutex<AgentState>) -> std::io::Result<()> {
    // 0.8.6 writes its header on accept, before reading anything.
    stream.write_all(&HEADER).await?;
    let mut header = [0u8; 5];
    read_idle(&mut stream, &mut header).await?;
    if header != HEADER {
        return Err(protocol_error(format!(
            "the first block is {header:02x?}, not the exec header"
        )));
    }
    loop {
        let mut kind = [0u8; 1];
        match tokio::time::timeout(IDLE_LIMIT, stream.read(&mut kind)).await {
            Err(_) => return Err(protocol_error("client idle".into())),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        match kind[0] {
            BLOCK_HEADER => {
                let mut rest = [0u8; 4];
                read_idle(&mut stream, &mut rest).await?;
                if rest != HEADER[1..] {
                    return Err(protocol_error(format!(
                        "a header block with magic/version {rest:02x?}"
                    )));
                }
            }
            BLOCK_CMDDUMP => {
                let mut flags = [0u8; 2];
                read_idle(&mut stream, &mut flags).await?;
                let reply = answer(state, flags[0] != 0, flags[1] != 0)?;
                stream.write_all(&reply).await?;
                stream.flush().await?;
            }
            other => {
                return Err(protocol_error(format!("unknown block type {other:02x}")));
            }
        }
    }
}

/// The reply to one dump command, in one locked step as the agent does: SESSION and EXEC
/// blocks if `dump`, then the reset if `reset`, then CMDOK.
fn answer(state: &Mutex<AgentState>, dump: bool, reset: bool) -> std::io::Result<Vec<u8>> {
    let mut state = lock(state);
    let now = now_ms();
    let mut out = Vec::new();
    if dump {
        let data = ExecData {
            sessions: vec![SessionInfo {
                id: state.session_id.clone(),
                start: state.start_ms,
                dump: now,
            }],
            classes: state.classes.clone(),
        };
        let bytes = data.to_bytes()?;
        // `write` starts with a header; on the wire the agent sent it once, on accept.
        out.extend_from_slice(bytes.get(HEADER.len()..).unwrap_or_default());
    }
    if reset {
        for class in state.classes.values_mut() {
            class.probes.clear_all();
        }
        state.start_ms = now;
    }
    out.push(BLOCK_CMDOK);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::exec;

    async fn exchange(agent: &ReplayAgent, send: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(agent.address()).await.unwrap();
        s.write_all(send).await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.unwrap();
        reply
    }

    fn class(bits: &[bool]) -> BTreeMap<u64, ClassProbes> {
        BTreeMap::from([(
            0x1234,
            ClassProbes {
                name: "a/B".into(),
                probes: bits.into(),
            },
        )])
    }

    #[tokio::test]
    async fn dump_reset_and_dump_again_follow_the_agent() {
        let agent = ReplayAgent::start("demo-1").await.unwrap();
        agent.hit(&class(&[true, false, false]));
        agent.hit(&class(&[false, false, true]));
        let mut send = HEADER.to_vec();
        send.extend_from_slice(&[0x40, 1, 1, 0x40, 1, 0, 0x40, 0, 0]);
        let reply = exchange(&agent, &send).await;
        // header, (SESSION EXEC 20), (SESSION 20), (20)
        assert_eq!(&reply[..5], &HEADER);
        assert_eq!(&reply[reply.len() - 1..], &[BLOCK_CMDOK]);
        let exec::ReplyScan::Done { cmdok } = exec::scan_reply(&reply, "t", 0).unwrap() else {
            panic!("no CMDOK in {reply:02x?}");
        };
        let first = exec::parse(&reply[..cmdok], "t").unwrap();
        assert_eq!(first.classes[&0x1234].probes, [true, false, true]);
        let mut second_bytes = HEADER.to_vec();
        second_bytes.extend_from_slice(&reply[cmdok + 1..]);
        let second = exec::parse(&second_bytes[..second_bytes.len() - 2], "t").unwrap();
        assert!(second.classes.is_empty(), "reset cleared the probes");
        assert!(second.sessions[0].start >= first.sessions[0].dump);
        assert_eq!(&reply[reply.len() - 2..], &[BLOCK_CMDOK, BLOCK_CMDOK]);
    }

    /// Reads the agent's header first (it comes on accept), then sends `send`; returns what
    /// came after the header until the agent closed (EOF or reset: it does not read the rest).
    async fn refused(agent: &ReplayAgent, send: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(agent.address()).await.unwrap();
        let mut header = [0u8; 5];
        s.read_exact(&mut header).await.unwrap();
        assert_eq!(header, HEADER);
        s.write_all(send).await.unwrap();
        let mut rest = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return rest,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[tokio::test]
    async fn a_client_without_the_header_is_closed_without_data() {
        let agent = ReplayAgent::start("demo-1").await.unwrap();
        agent.hit(&class(&[true]));
        assert!(refused(&agent, b"GET / HTTP/1.1\r\n\r\n").await.is_empty());
        let wrong_version = [0x01, 0xC0, 0xC0, 0x10, 0x06, 0x40, 1, 0];
        assert!(refused(&agent, &wrong_version).await.is_empty());
        let unknown_block = [0x01, 0xC0, 0xC0, 0x10, 0x07, 0x7f];
        assert!(refused(&agent, &unknown_block).await.is_empty());
        // And it serves the next client as usual.
        let mut send = HEADER.to_vec();
        send.extend_from_slice(&[0x40, 1, 0]);
        let reply = exchange(&agent, &send).await;
        let data = exec::parse(&reply[..reply.len() - 1], "t").unwrap();
        assert_eq!(data.classes[&0x1234].probes, [true]);
        assert_eq!(data.sessions[0].id, "demo-1");
    }
}
