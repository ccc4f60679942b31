//! One configured target with its protocol client.

use crate::agent::goc_v1::GocV1Target;
use crate::agent::goc_v2::AgentInfo;
use crate::agent::goc_v2::GocV2Target;
use crate::agent::jacoco::JacocoTarget;
use crate::agent::{PollResult, ReplicaDump, ReplicaFailure, ResetOutcome};
use crate::config::{TargetConfig, TargetKind};
use crate::session::PayloadKind;
use std::time::Duration;

/// The protocol client of a target.
pub enum TargetClient {
    GocV1(GocV1Target),
    GocV2(GocV2Target),
    Jacoco(JacocoTarget),
}

/// One replica as its target's listing gives it: what is needed to fetch it on its own.
#[derive(Debug, Clone)]
pub enum Replica {
    /// A goc v1 agent address (fetched through the center).
    GocV1(String),
    /// A connected goc v2 agent.
    GocV2(AgentInfo),
    /// A JaCoCo agent's `ip:port`.
    Jacoco(std::net::SocketAddr),
}

impl Replica {
    /// The replica's stable name (as in dumps and statuses).
    pub fn name(&self) -> String {
        match self {
            Replica::GocV1(a) => a.clone(),
            Replica::GocV2(a) => a.replica(),
            Replica::Jacoco(a) => a.to_string(),
        }
    }
}

/// The replicas a target has now, and what could not be listed (a failure named after the
/// server or a configured address, or a configured id/service that is not there).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub replicas: Vec<Replica>,
    pub failures: Vec<ReplicaFailure>,
}

/// The outcome of resetting replicas: per replica, and the data dumped in the same step (JaCoCo
/// dumps and resets atomically), which the engine stores before anything else.
pub struct ResetResult {
    pub outcomes: Vec<ResetOutcome>,
    pub dumped: Option<PollResult>,
}

impl TargetClient {
    pub fn new(cfg: &TargetConfig, default_timeout: Duration) -> Result<Self, String> {
        let timeout = cfg.timeout.unwrap_or(default_timeout);
        match &cfg.kind {
            TargetKind::GocV1 {
                url,
                services,
                addresses,
            } => GocV1Target::new(url, services.clone(), addresses.clone(), timeout)
                .map(TargetClient::GocV1)
                .map_err(|e| e.to_string()),
            TargetKind::GocV2 { url, ids, extra } => {
                GocV2Target::new(url, ids.clone(), extra.clone(), timeout)
                    .map(TargetClient::GocV2)
                    .map_err(|e| e.to_string())
            }
            TargetKind::Jacoco { addresses, .. } => {
                JacocoTarget::with_addresses(addresses, timeout)
                    .map(TargetClient::Jacoco)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Lists the target's replicas now (one request to a goc server, a DNS lookup for JaCoCo).
    pub async fn list(&self) -> Listing {
        match self {
            TargetClient::GocV1(t) => {
                let (r, failures) = t.replicas().await;
                Listing {
                    replicas: r.into_iter().map(Replica::GocV1).collect(),
                    failures,
                }
            }
            TargetClient::GocV2(t) => {
                let (r, failures) = t.replicas().await;
                Listing {
                    replicas: r.into_iter().map(Replica::GocV2).collect(),
                    failures,
                }
            }
            TargetClient::Jacoco(t) => {
                let (r, failures) = t.resolve_replicas().await;
                Listing {
                    replicas: r.into_iter().map(Replica::Jacoco).collect(),
                    failures,
                }
            }
        }
    }

    /// Fetches one listed replica's dump, within the target's timeout.
    pub async fn fetch(&self, replica: &Replica) -> Result<ReplicaDump, ReplicaFailure> {
        match (self, replica) {
            (TargetClient::GocV1(t), Replica::GocV1(a)) => t.fetch_dump(a).await,
            (TargetClient::GocV2(t), Replica::GocV2(a)) => t.fetch_dump(a).await,
            (TargetClient::Jacoco(t), Replica::Jacoco(a)) => {
                t.dump_replica(*a, false).await.map_err(|e| ReplicaFailure {
                    replica: a.to_string(),
                    error: e.to_string(),
                })
            }
            (_, r) => Err(ReplicaFailure {
                replica: r.name(),
                error: "internal error: a replica of another kind of target".into(),
            }),
        }
    }

    /// Lists the replicas and fetches them all (each on its own, with its own timeout).
    pub async fn poll(&self) -> PollResult {
        match self {
            TargetClient::GocV1(t) => t.poll().await,
            TargetClient::GocV2(t) => t.poll().await,
            TargetClient::Jacoco(t) => t.poll().await,
        }
    }

    pub async fn reset(&self, replicas: &[String]) -> ResetResult {
        match self {
            TargetClient::GocV1(t) => ResetResult {
                outcomes: t.reset(Some(replicas)).await,
                dumped: None,
            },
            TargetClient::GocV2(t) => {
                let outcomes = t.reset(Some(replicas)).await;
                // goc v2 resets asynchronously: give the agents time before the next poll, so the
                // next dump really is the first of the new epoch.
                tokio::time::sleep(Duration::from_millis(300)).await;
                ResetResult {
                    outcomes,
                    dumped: None,
                }
            }
            TargetClient::Jacoco(t) => {
                let dumped = t.dump_and_reset(Some(replicas)).await;
                let mut outcomes: Vec<ResetOutcome> = dumped
                    .dumps
                    .iter()
                    .map(|d| ResetOutcome {
                        replica: d.replica.clone(),
                        result: Ok(()),
                    })
                    .chain(dumped.failures.iter().map(|f| ResetOutcome {
                        replica: f.replica.clone(),
                        result: Err(f.error.clone()),
                    }))
                    .collect();
                outcomes.sort_by(|a, b| a.replica.cmp(&b.replica));
                ResetResult {
                    outcomes,
                    dumped: Some(dumped),
                }
            }
        }
    }

    /// For goc v2 targets, a stream of "something ran" hints from the watch websocket
    /// (reconnecting by itself); it ends when the receiver is dropped.
    pub fn watch_hints(
        &self,
    ) -> Option<tokio::sync::mpsc::Receiver<crate::agent::goc_v2::WatchHint>> {
        match self {
            TargetClient::GocV2(t) => {
                let (tx, rx) = tokio::sync::mpsc::channel(256);
                drop(t.watch(tx));
                Some(rx)
            }
            _ => None,
        }
    }

    /// The server a goc target lists its replicas from (a failure named after it means the list
    /// itself failed); `None` for JaCoCo, whose replicas are addresses.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            TargetClient::GocV1(t) => Some(t.center()),
            TargetClient::GocV2(t) => Some(t.server()),
            TargetClient::Jacoco(_) => None,
        }
    }

    pub fn payload_kind(&self) -> PayloadKind {
        match self {
            TargetClient::Jacoco(_) => PayloadKind::JacocoExec,
            _ => PayloadKind::GoProfile,
        }
    }
}
