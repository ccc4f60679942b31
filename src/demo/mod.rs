//! `covtop demo`: a self-contained session that needs no setup and no network. It creates a
//! git repository of a small Go service (the bookstore, base commit on `main`, a coupon feature
//! on `feature`), starts in-process goc servers on loopback, and replays through them a coverage
//! session recorded from real instrumented replicas of that service (see
//! `scripts/record-demo.sh`), so coverage grows over about a minute while covtop polls it like
//! any other session.
//!
//! Two replicas are agents of a goc v1 center (service `bookstore`), a third ("canary") is an
//! agent of a goc v2 server, so the screen shows both kinds of target. Beside the Go service
//! the repository holds a small Java service (inventory), replayed through an in-process
//! JaCoCo tcpserver agent ([`jacoco_agent::ReplayAgent`]) from a session recorded with the real
//! agent (`scripts/record-demo-java.sh`); its class files are written into the temp directory.

pub mod gocserver;
pub mod jacoco_agent;
pub mod java;
pub mod recording;
pub mod repo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::demo::gocserver::v1::{Agent, Center};
use crate::demo::gocserver::v2::{AgentSpec, ProfileSource, Server};
use crate::demo::gocserver::{GocServerError, SharedProfile};
use jacoco_agent::ReplayAgent;
use java::{JavaRecording, JavaRecordingError};
use recording::{Recording, RecordingError, ReplicaKind};

/// The service name the v1 agents register under.
pub const SERVICE: &str = "bookstore";
/// The Java service's target name and JaCoCo session id.
pub const JAVA_SERVICE: &str = "inventory";
/// The poll interval of the demo's configuration.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo speed {0} is not a positive number: use 1.0 for real time, more to go faster")]
    Speed(f64),
    #[error("cannot create the demo's temporary directory: {0}; check that $TMPDIR is writable")]
    TempDir(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "creating the demo repository {path} failed while {step}: {}",
        crate::vcs::plain_git_error(source)
    )]
    Git {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: git2::Error,
    },
    #[error("starting the demo's {what} failed: {source}")]
    Server {
        what: String,
        #[source]
        source: GocServerError,
    },
    #[error(
        "the embedded demo recording is broken: {0}; regenerate it with scripts/record-demo.sh"
    )]
    Recording(#[from] RecordingError),
    #[error(
        "the embedded Java demo recording is broken: {0}; regenerate it with scripts/record-demo-java.sh"
    )]
    JavaRecording(#[from] JavaRecordingError),
    #[error("starting the demo's JaCoCo agent on 127.0.0.1 failed: {0}")]
    Agent(#[source] std::io::Error),
    #[error("the demo configuration it wrote is invalid: {0}")]
    Config(#[from] ConfigError),
}

/// A running demo. Owns the temporary directory (repository, configuration, session store), the
/// goc servers and the replay task; dropping it stops the replay and the servers and removes
/// the directory.
#[derive(Debug)]
pub struct Demo {
    replay: tokio::task::JoinHandle<()>,
    java_replay: tokio::task::JoinHandle<()>,
    finished: Arc<AtomicBool>,
    java_finished: Arc<AtomicBool>,
    started: tokio::time::Instant,
    /// The recording's length at the demo's speed.
    length: Duration,
    config: Config,
    repo_path: PathBuf,
    _center: Center,
    _agents: Vec<Agent>,
    _server: Option<Server>,
    _jacoco: Arc<ReplayAgent>,
    // Last, so the servers are gone before their directory is removed.
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.replay.abort();
        self.java_replay.abort();
    }
}

impl Demo {
    /// Creates the repository (commit base on `main`, then the feature commit on branch
    /// `feature`, checked out), starts the replay servers on 127.0.0.1:0 and returns a Config
    /// (repo path, base "main", targets pointing at the servers, poll interval 1 s, session dir
    /// inside the temp dir). `speed` scales time: 1.0 is real time. Must be called inside a
    /// tokio runtime.
    pub async fn start(speed: f64) -> Result<Demo, DemoError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(DemoError::Speed(speed));
        }
        let rec = Recording::embedded()?;
        let java_rec = JavaRecording::embedded()?;
        let dir = tempfile::Builder::new()
            .prefix("covtop-demo-")
            .tempdir()
            .map_err(DemoError::TempDir)?;
        let repo_path = dir.path().join("bookstore");
        repo::create(&repo_path)?;

        // Every replica starts at its first capture, so the first poll already sees what the
        // process ran at startup.
        let mut profiles: BTreeMap<String, SharedProfile> = BTreeMap::new();
        for r in &rec.replicas {
            let first = rec
                .first_capture(&r.name)
                .ok_or_else(|| RecordingError::NoCapture {
                    replica: r.name.clone(),
                })?;
            profiles.insert(r.name.clone(), SharedProfile::new(rec.profile(first)));
        }

        let center = Center::start().await.map_err(|source| DemoError::Server {
            what: "goc v1 center".into(),
            source,
        })?;
        let mut agents = Vec::new();
        let mut server: Option<Server> = None;
        for (i, r) in rec.replicas.iter().enumerate() {
            let Some(profile) = profiles.get(&r.name).cloned() else {
                continue;
            };
            match r.kind {
                ReplicaKind::GocV1 => {
                    let agent = Agent::start(SERVICE, profile, 0, Some(&center.url()))
                        .await
                        .map_err(|source| DemoError::Server {
                            what: format!("goc v1 agent of replica {}", r.name),
                            source,
                        })?;
                    agents.push(agent);
                }
                ReplicaKind::GocV2 => {
                    if server.is_none() {
                        server =
                            Some(Server::start().await.map_err(|source| DemoError::Server {
                                what: "goc v2 server".into(),
                                source,
                            })?);
                    }
                    if let Some(s) = &server {
                        s.add_agent(AgentSpec {
                            hostname: format!("{SERVICE}-{}", r.name),
                            cmdline: "/app/bookstore -addr :8080".into(),
                            pid: 4100 + i as u32,
                            extra: format!("replica={}", r.name),
                            watch_mode: false,
                            source: ProfileSource::Memory(profile),
                        });
                    }
                }
            }
        }

        let classes_dir = dir.path().join("classes");
        for (rel, bytes) in java::CLASSES {
            write_file(&classes_dir.join(rel), bytes)?;
        }
        let jacoco = Arc::new(
            ReplayAgent::start(&format!("{JAVA_SERVICE}-1"))
                .await
                .map_err(DemoError::Agent)?,
        );
        // Like the Go replicas, the agent starts with what its first capture holds.
        if let Some(first) = java_rec.captures.first() {
            jacoco.hit(&first.data.classes);
        }

        let config_path = dir.path().join("covtop.toml");
        let mut text = config_text(&center.url(), server.as_ref().map(|s| s.url()), dir.path());
        text.push_str(&jacoco_target_text(
            &jacoco.address().to_string(),
            &classes_dir,
        ));
        std::fs::write(&config_path, &text).map_err(|source| DemoError::Write {
            path: config_path.clone(),
            source,
        })?;
        let config = crate::config::load(&config_path)?;

        let finished = Arc::new(AtomicBool::new(false));
        let java_finished = Arc::new(AtomicBool::new(false));
        let length = scaled(rec.length_ms().max(java_rec.length_ms()), speed);
        let started = tokio::time::Instant::now();
        let replay = tokio::spawn(replay(rec, profiles, speed, started, finished.clone()));
        let java_replay = tokio::spawn(replay_java(
            java_rec,
            jacoco.clone(),
            speed,
            started,
            java_finished.clone(),
        ));
        Ok(Demo {
            replay,
            java_replay,
            finished,
            java_finished,
            started,
            length,
            config,
            repo_path,
            _center: center,
            _agents: agents,
            _server: server,
            _jacoco: jacoco,
            _dir: dir,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// The recording has been fully replayed; coverage stays at its final state afterwards.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire) && self.java_finished.load(Ordering::Acquire)
    }

    /// How far the replay is, from 0.0 to 1.0 (for a progress mark in the header).
    pub fn progress(&self) -> f64 {
        if self.finished() || self.length.is_zero() {
            return 1.0;
        }
        (self.started.elapsed().as_secs_f64() / self.length.as_secs_f64()).min(1.0)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DemoError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| DemoError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A recorded offset at `speed` (validated positive and finite).
fn scaled(at_ms: u64, speed: f64) -> Duration {
    Duration::from_secs_f64(at_ms as f64 / 1000.0 / speed)
}

/// The demo's covtop.toml: written to disk and loaded like any user's, so it is validated the
/// same way and the user can look at it.
fn config_text(center: &str, server: Option<String>, dir: &Path) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut text = format!(
        "# Written by `covtop demo`.\n\n[repo]\npath = \"bookstore\"\nbase = \"main\"\nrevision = \"HEAD\"\n\n\
         [poll]\ninterval = \"{}ms\"\ntimeout = \"3s\"\n\n\
         [session]\ndir = {}\nname = \"demo\"\n\n\
         [[target]]\nname = \"{SERVICE}\"\nkind = \"goc\"\nurl = {}\nservices = [\"{SERVICE}\"]\n",
        POLL_INTERVAL.as_millis(),
        quote(&dir.join("session").to_string_lossy()),
        quote(center),
    );
    if let Some(server) = server {
        text.push_str(&format!(
            "\n[[target]]\nname = \"{SERVICE}-canary\"\nkind = \"goc-v2\"\nurl = {}\n",
            quote(&server)
        ));
    }
    text
}

/// The `[[target]]` of the Java service: the replay agent and the embedded class files.
fn jacoco_target_text(address: &str, classes: &Path) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        "\n[[target]]\nname = \"{JAVA_SERVICE}\"\nkind = \"jacoco\"\naddress = {}\nclasses = [{}]\n",
        quote(address),
        quote(&classes.to_string_lossy()),
    )
}

/// Sets, at each Java capture's scaled offset, the probes it has and the previous one had
/// not: what ran in between. So a reset by a covtop user clears the agent and only later hits
/// come back, as with a live JVM.
async fn replay_java(
    rec: JavaRecording,
    agent: Arc<ReplayAgent>,
    speed: f64,
    start: tokio::time::Instant,
    finished: Arc<AtomicBool>,
) {
    for pair in rec.captures.windows(2) {
        let [before, now] = pair else { continue };
        tokio::time::sleep_until(start + scaled(now.at_ms, speed)).await;
        agent.hit(&java::newly_hit(&before.data, &now.data));
    }
    finished.store(true, Ordering::Release);
}

/// Applies every capture at its offset divided by `speed`, then flags the end.
async fn replay(
    rec: Recording,
    profiles: BTreeMap<String, SharedProfile>,
    speed: f64,
    start: tokio::time::Instant,
    finished: Arc<AtomicBool>,
) {
    for capture in &rec.captures {
        tokio::time::sleep_until(start + scaled(capture.at_ms, speed)).await;
        if let Some(p) = profiles.get(&capture.replica) {
            recording::apply(&mut p.lock(), capture);
        }
    }
    finished.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_quotes_paths_and_names_both_servers() {
        let dir = Path::new("/tmp/a \"quoted\" dir");
        let text = config_text("http://127.0.0.1:1", Some("http://127.0.0.1:2".into()), dir);
        let config = crate::config::parse(&text, &dir.join("covtop.toml")).unwrap();
        assert_eq!(config.session.dir, dir.join("session"));
        assert_eq!(config.repo.path, dir.join("bookstore"));
        assert_eq!(config.repo.base, "main");
        assert_eq!(config.poll.interval, POLL_INTERVAL);
        let kinds: Vec<_> = config.targets.iter().map(|t| t.kind.name()).collect();
        assert_eq!(kinds, ["goc", "goc-v2"]);
        let mut text = text;
        text.push_str(&jacoco_target_text("127.0.0.1:6300", &dir.join("classes")));
        let config = crate::config::parse(&text, &dir.join("covtop.toml")).unwrap();
        match &config.targets[2].kind {
            crate::config::TargetKind::Jacoco {
                addresses, classes, ..
            } => {
                assert_eq!(addresses, &["127.0.0.1:6300"]);
                assert_eq!(
                    classes,
                    &[dir.join("classes").to_string_lossy().to_string()]
                );
            }
            other => panic!("expected a jacoco target, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_speeds_are_refused() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = Demo::start(speed).await.unwrap_err();
            assert!(matches!(err, DemoError::Speed(_)), "{err}");
        }
    }
}
