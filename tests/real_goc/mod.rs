//! A harness for the REAL goc (v1.4.5 and v2, `../shared/tools/goc`): a small standard-library Go
//! service (`example.com/calc`) in three source versions committed to a git repository, builds of
//! it with goc's own instrumenting builder, goc's servers, replicas of the service, goc's own
//! answers (CLI and HTTP) and the real `covtop` binary, so tests can compare covtop with goc.
//!
//! Facts this harness relies on (checked against the binaries):
//! * `goc-v1.4.5 build --center=URL --agentport=127.0.0.1:A -o BIN .` bakes both the center URL and
//!   the agent address into BIN (no environment override), so two replicas of one source need two
//!   builds (same blocks, other ports). The agent writes `<argv0>_profile_listen_addr` beside BIN.
//!   The address it registers prefers a non-loopback IPv4 of the machine; the center's ip_revise
//!   turns it back into `http://127.0.0.1:A`.
//! * `goc-v2 build --gochost H --gocextra X -o BIN .` bakes host and extra, but the agent reads
//!   `GOC_CUSTOM_HOST` and `GOC_REGISTER_EXTRA` at start, so one v2 build per source serves every
//!   test. goc v2's CLI prints a coloured banner on standard output before its answer.
//! * Both builders copy the module to a temporary folder (`$TMPDIR/gocbuild*` for v2) and work
//!   offline with `GOPROXY=off` when the module imports only the standard library.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::common;

pub const MODULE: &str = "example.com/calc";
pub const SERVICE: &str = "calc";

/// Generous: the machine is a loaded 2-core box, and a v2 agent retries registration every 5 s.
pub const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Locating the tools

/// The real goc binaries.
pub struct Goc {
    pub v1: PathBuf,
    pub v2: PathBuf,
}

/// The folder holding goc: `$COVTOP_GOC_DIR`, else `<manifest>/../shared/tools/goc`.
pub fn goc_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("COVTOP_GOC_DIR") {
        return Some(PathBuf::from(d));
    }
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/goc");
    d.join("goc-v1.4.5").exists().then_some(d)
}

/// goc, go and git, or None (skip) locally; panics under CI=true when one is missing.
pub fn tools() -> Option<&'static Goc> {
    static GOC: OnceLock<Option<Goc>> = OnceLock::new();
    if !common::have_tool("go", "version") || !common::have_tool("git", "--version") {
        return None;
    }
    let found = GOC.get_or_init(|| {
        let dir = goc_dir()?;
        let goc = Goc {
            v1: dir.join("goc-v1.4.5"),
            v2: dir.join("goc-v2"),
        };
        (goc.v1.exists() && goc.v2.exists()).then_some(goc)
    });
    if found.is_none() {
        assert!(
            !common::in_ci(),
            "the real goc is required under CI=true: set COVTOP_GOC_DIR or put it in ../shared/tools/goc"
        );
        eprintln!("skipping: the real goc is not found (COVTOP_GOC_DIR or ../shared/tools/goc)");
    }
    found.as_ref()
}

fn scratch() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-goc");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Go's environment for builds and `go tool cover`: offline, modules, the installed toolchain,
/// a GOCACHE shared by every test binary (safe for concurrent builds), a private GOPATH.
pub fn go_env(cmd: &mut Command) {
    let s = scratch();
    std::fs::create_dir_all(s.join("tmp")).unwrap();
    cmd.env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GO111MODULE", "on")
        .env("GOCACHE", s.join("gocache"))
        .env("GOPATH", s.join("gopath"))
        .env("TMPDIR", s.join("tmp"));
}

// ---------------------------------------------------------------------------------------------
// The Go service and its repository

/// A source version of the service. `Base` is never built: it is the repository's base commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Base,
    V1,
    V2,
}

const GO_MOD: &str = "module example.com/calc\n\ngo 1.19\n";

const MAIN_GO: &str = r#"// Command calc serves the calc package over HTTP, for covtop's real-goc tests.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"

	"example.com/calc/calc"
)

func number(r *http.Request, key string) int {
	n, err := strconv.Atoi(r.URL.Query().Get(key))
	if err != nil {
		return 0
	}
	return n
}

func main() {
	addr := flag.String("addr", os.Getenv("CALC_ADDR"), "listen address")
	flag.Parse()
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/classify", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, calc.Classify(number(r, "n")))
	})
	http.HandleFunc("/fee", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, calc.Fee(number(r, "amount")))
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
"#;

const CALC_HEAD: &str = r#"// Package calc has branches whose coverage the tests know.
package calc

// Classify names the sign of n.
func Classify(n int) string {
	if n < 0 {
		return "negative"
	}
	if n == 0 {
		return "zero"
	}
	return "positive"
}

"#;

const FEE_BASE: &str =
    "// Fee is the fee on an amount.\nfunc Fee(amount int) int {\n\treturn 5\n}\n";

const FEE_V1: &str = r#"// Fee is the fee on an amount.
func Fee(amount int) int {
	if amount > 1000 {
		return amount / 100
	}
	return 5
}
"#;

const FEE_V2: &str = r#"// Fee is the fee on an amount, capped at 50.
func Fee(amount int) int {
	if amount <= 0 {
		return 0
	}
	fee := 5
	if amount > 1000 {
		fee = amount / 100
	}
	if fee > 50 {
		fee = 50
	}
	return fee
}
"#;

/// The files of a source version: (path in the module, text).
pub fn source_files(v: Source) -> Vec<(&'static str, String)> {
    let fee = match v {
        Source::Base => FEE_BASE,
        Source::V1 => FEE_V1,
        Source::V2 => FEE_V2,
    };
    vec![
        ("go.mod", GO_MOD.to_string()),
        ("main.go", MAIN_GO.to_string()),
        ("calc/calc.go", format!("{CALC_HEAD}{fee}")),
    ]
}

fn write_source(dir: &Path, v: Source) {
    for (path, text) in source_files(v) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// git with a fixed identity and fixed dates, so the commit ids are the same in every test.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The service's repository: `main` = base commit (Fee returns 5), branch `feature` (checked
/// out) with commit `v1` (Fee gets a branch) then commit `v2` (Fee gets a floor and a cap).
pub struct CalcRepo {
    pub dir: PathBuf,
    pub base: String,
    pub v1: String,
    pub v2: String,
}

impl CalcRepo {
    pub fn create(dir: &Path) -> CalcRepo {
        std::fs::create_dir_all(dir).unwrap();
        write_source(dir, Source::Base);
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", "base: calc service"]);
        let base = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["checkout", "-qb", "feature"]);
        write_source(dir, Source::V1);
        git(dir, &["commit", "-qam", "v1: a fee for large amounts"]);
        let v1 = git(dir, &["rev-parse", "HEAD"]);
        write_source(dir, Source::V2);
        git(dir, &["commit", "-qam", "v2: no fee on nothing, a cap"]);
        let v2 = git(dir, &["rev-parse", "HEAD"]);
        CalcRepo {
            dir: dir.to_path_buf(),
            base,
            v1,
            v2,
        }
    }

    pub fn sha(&self, v: Source) -> &str {
        match v {
            Source::Base => &self.base,
            Source::V1 => &self.v1,
            Source::V2 => &self.v2,
        }
    }
}

/// The commit ids of the repository (deterministic: the same in every test), computed once.
pub fn shas() -> &'static (String, String, String) {
    static SHAS: OnceLock<(String, String, String)> = OnceLock::new();
    SHAS.get_or_init(|| {
        let d = scratch().join(format!("shas-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let r = CalcRepo::create(&d);
        let _ = std::fs::remove_dir_all(&d);
        (r.base, r.v1, r.v2)
    })
}

// ---------------------------------------------------------------------------------------------
// Builds

/// A goc build of a source version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Build {
    /// goc v1: center `http://127.0.0.1:<center>`, agent `127.0.0.1:<agent>`, both baked in.
    V1 {
        src: Source,
        center: u16,
        agent: u16,
    },
    /// goc v2: `--gochost 127.0.0.1:1` (replicas set GOC_CUSTOM_HOST), `--gocextra` if given.
    V2 { src: Source, extra: Option<String> },
}

/// The binary of `build`, built once per test binary (builds are serialised: 2 cores).
pub fn binary(build: &Build) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<Build, PathBuf>>> = OnceLock::new();
    let tools = tools().expect("tools() was checked by the test");
    let mut built = BUILT
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(build) {
        return p.clone();
    }
    remove_stale_builds();
    let n = built.len();
    let root = scratch().join(format!("build-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let src_dir = root.join("src");
    let bin = root.join("calc");
    let (tool, args, src): (&Path, Vec<String>, Source) = match build {
        Build::V1 { src, center, agent } => (
            &tools.v1,
            vec![
                "build".into(),
                format!("--center=http://127.0.0.1:{center}"),
                format!("--agentport=127.0.0.1:{agent}"),
                "-o".into(),
                bin.display().to_string(),
                ".".into(),
            ],
            *src,
        ),
        Build::V2 { src, extra } => {
            let mut a: Vec<String> = vec!["build".into(), "--gochost".into(), "127.0.0.1:1".into()];
            if let Some(e) = extra {
                a.push("--gocextra".into());
                a.push(e.clone());
            }
            a.extend(["-o".into(), bin.display().to_string(), ".".into()]);
            (&tools.v2, a, *src)
        }
    };
    write_source(&src_dir, src);
    let mut cmd = Command::new(tool);
    cmd.args(&args).current_dir(&src_dir);
    go_env(&mut cmd);
    let out = cmd.output().expect("goc build runs");
    assert!(
        out.status.success() && bin.exists(),
        "{} {args:?} failed: {}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    built.insert(build.clone(), bin.clone());
    bin
}

/// Build folders are named after the test process; those of processes that are gone go.
fn remove_stale_builds() {
    let Ok(entries) = std::fs::read_dir(scratch()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("build-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes, ports, HTTP

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process killed (SIGKILL) and reaped on drop; its output goes to `log`.
pub struct Proc {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: &Path) -> Proc {
        let f = File::create(log).unwrap();
        cmd.stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (libc::SIGSTOP, SIGCONT, SIGTERM, ...) to the process.
    pub fn signal(&self, signal: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, signal) };
        }
    }

    /// SIGTERM, then waits (with the harness deadline) for the exit; the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let c = self.child.as_mut().expect("running");
        let status = wait_for("the process to exit after SIGTERM", || {
            c.try_wait().unwrap()
        });
        self.child = None;
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 50 ms until it returns Some or the deadline passes (then panics with `what`).
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.0 exchange on loopback: (status, body), or None when the connection failed.
pub fn http(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {hostport}\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

pub fn get(url: &str) -> Option<(u16, String)> {
    http("GET", url, None)
}

fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The profile in goc v2's CLI output: its banner (on standard output) is cut off.
pub fn strip_banner(out: &str) -> String {
    match out.find("mode: ") {
        Some(i) => out[i..].to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// goc v1

/// `goc-v1.4.5 server` in its own folder (it writes goc.log and _svrs_address.txt in its cwd).
pub struct V1Center {
    pub port: u16,
    pub url: String,
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl V1Center {
    pub fn start() -> V1Center {
        let goc = tools().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(&goc.v1);
        cmd.arg("server")
            .arg(format!("--port=127.0.0.1:{port}"))
            .current_dir(dir.path());
        let proc = Proc::spawn(cmd, &dir.path().join("server.out"));
        let url = format!("http://127.0.0.1:{port}");
        let list = format!("{url}/v1/cover/list");
        wait_for("the goc v1 center", || {
            get(&list).filter(|(s, _)| *s == 200)
        });
        V1Center {
            port,
            url,
            dir,
            proc,
        }
    }

    /// `GET /v1/cover/list`: service name → agent URLs.
    pub fn list(&self) -> BTreeMap<String, Vec<String>> {
        let (s, body) = get(&format!("{}/v1/cover/list", self.url)).expect("center answers");
        assert_eq!(s, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `agent_url` is registered under `service`.
    pub fn wait_registered(&self, service: &str, agent_url: &str) {
        wait_for(&format!("{agent_url} registered as {service}"), || {
            self.list()
                .get(service)
                .is_some_and(|a| a.iter().any(|u| u == agent_url))
                .then_some(())
        });
    }

    /// The center's merged profile over HTTP (`POST /v1/cover/profile`, as goc's CLI sends it):
    /// (status, body).
    pub fn merged_profile(&self, services: &[&str]) -> (u16, String) {
        let body = serde_json::json!({"service": services, "force": true}).to_string();
        http(
            "POST",
            &format!("{}/v1/cover/profile", self.url),
            Some(&body),
        )
        .expect("center answers")
    }

    /// `goc-v1.4.5 profile --center=URL ARGS...` (e.g. `--service calc`): the raw output.
    pub fn cli_profile(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&tools().unwrap().v1);
        cmd.arg("profile")
            .arg(format!("--center={}", self.url))
            .args(args);
        cmd.output().expect("goc profile runs")
    }

    pub fn log(&self) -> String {
        self.proc.output()
    }
}

/// One running replica of a v1 build (its agent address is baked into the binary).
pub struct Replica {
    pub url: String,
    /// goc v1: the agent's URL as the center lists it; goc v2: None.
    pub agent_url: Option<String>,
    pub proc: Proc,
    pub _dir: tempfile::TempDir,
}

impl Replica {
    fn spawn(bin: &Path, envs: &[(&str, String)]) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("-addr")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let proc = Proc::spawn(cmd, &dir.path().join("replica.out"));
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/health");
        wait_for(&format!("the calc service at {url}"), || {
            get(&health).filter(|(s, _)| *s == 200)
        });
        Replica {
            url,
            agent_url: None,
            proc,
            _dir: dir,
        }
    }

    /// Starts a replica of a v1 build registered as `service` and waits until the center lists it.
    pub fn start_v1(center: &V1Center, build: &Build, service: &str) -> Replica {
        let Build::V1 { agent, .. } = build else {
            panic!("not a v1 build: {build:?}")
        };
        let bin = binary(build);
        let mut r = Replica::spawn(&bin, &[("GOC_SERVICE_NAME", service.to_string())]);
        let agent_url = format!("http://127.0.0.1:{agent}");
        center.wait_registered(service, &agent_url);
        r.agent_url = Some(agent_url);
        r
    }

    /// Starts a replica of a v2 build against `server` (GOC_CUSTOM_HOST; `extra` sets
    /// GOC_REGISTER_EXTRA) and waits until it is connected; returns it and its agent id.
    pub fn start_v2(server: &V2Server, build: &Build, extra: Option<&str>) -> (Replica, String) {
        let bin = binary(build);
        let mut envs = vec![("GOC_CUSTOM_HOST", server.host())];
        if let Some(e) = extra {
            envs.push(("GOC_REGISTER_EXTRA", e.to_string()));
        }
        let r = Replica::spawn(&bin, &envs);
        let id = server.wait_connected(r.proc.pid(), None);
        (r, id)
    }

    /// GET `path` on the service; panics unless 200.
    pub fn request(&self, path: &str) -> String {
        let (s, body) =
            get(&format!("{}{path}", self.url)).unwrap_or_else(|| panic!("{}{path}", self.url));
        assert_eq!(s, 200, "{path}: {body}");
        body.trim().to_string()
    }

    /// `n` requests to `/classify?n=<value>`.
    pub fn classify(&self, value: i64, n: usize) {
        for _ in 0..n {
            self.request(&format!("/classify?n={value}"));
        }
    }

    /// `n` requests to `/fee?amount=<amount>`.
    pub fn fee(&self, amount: i64, n: usize) {
        for _ in 0..n {
            self.request(&format!("/fee?amount={amount}"));
        }
    }

    /// goc v1: the agent's own profile (`GET <agent>/v1/cover/profile`).
    pub fn agent_profile(&self) -> String {
        let a = self.agent_url.as_ref().expect("a v1 replica");
        let (s, body) = get(&format!("{a}/v1/cover/profile")).expect("agent answers");
        assert_eq!(s, 200, "{body}");
        body
    }
}

// ---------------------------------------------------------------------------------------------
// goc v2

/// `goc-v2 server --host 127.0.0.1:P --store <dir>/store`.
pub struct V2Server {
    pub port: u16,
    pub url: String,
    pub store: PathBuf,
    pub dir: tempfile::TempDir,
    proc: Proc,
    starts: usize,
}

/// An agent as `GET /v2/agents` lists it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct V2Agent {
    pub id: String,
    pub pid: String,
    pub extra: String,
    pub status: u32,
    pub cmdline: String,
}

impl V2Server {
    pub fn start() -> V2Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let store = dir.path().join("store");
        let proc = Self::spawn(dir.path(), port, &store, 0);
        V2Server {
            port,
            url: format!("http://127.0.0.1:{port}"),
            store,
            dir,
            proc,
            starts: 1,
        }
    }

    fn spawn(dir: &Path, port: u16, store: &Path, n: usize) -> Proc {
        let mut cmd = Command::new(&tools().unwrap().v2);
        cmd.arg("server")
            .arg("--host")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--store")
            .arg(store)
            .current_dir(dir);
        let proc = Proc::spawn(cmd, &dir.join(format!("server-{n}.out")));
        let agents = format!("http://127.0.0.1:{port}/v2/agents");
        wait_for("the goc v2 server", || {
            get(&agents).filter(|(s, _)| *s == 200)
        });
        proc
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL), deletes its store, starts it again on the same port.
    pub fn restart_losing_store(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_file(&self.store);
        self.proc = Self::spawn(self.dir.path(), self.port, &self.store, self.starts);
        self.starts += 1;
    }

    /// `GET /v2/agents`, sorted by numeric id.
    pub fn agents(&self) -> Vec<V2Agent> {
        let (s, body) = get(&format!("{}/v2/agents", self.url)).expect("server answers");
        assert_eq!(s, 200, "{body}");
        #[derive(serde::Deserialize)]
        struct Items {
            items: Vec<V2Agent>,
        }
        let mut items = serde_json::from_str::<Items>(&body).unwrap().items;
        items.sort_by_key(|a| a.id.parse::<u64>().unwrap_or(u64::MAX));
        items
    }

    /// Waits until the process `pid` has an agent with the RPC stream up (status bit 2) whose id
    /// is not `not_id`; returns the id.
    pub fn wait_connected(&self, pid: u32, not_id: Option<&str>) -> String {
        let pid = pid.to_string();
        wait_for(
            &format!("agent of pid {pid} connected (not id {not_id:?})"),
            || {
                self.agents()
                    .into_iter()
                    .find(|a| a.pid == pid && a.status & 2 != 0 && Some(a.id.as_str()) != not_id)
                    .map(|a| a.id)
            },
        )
    }

    /// `goc-v2 profile get --host H [--id ID]`: the profile (banner cut off).
    pub fn cli_profile(&self, id: Option<&str>) -> String {
        let mut cmd = Command::new(&tools().unwrap().v2);
        cmd.args(["profile", "get", "--host", &self.host()]);
        if let Some(id) = id {
            cmd.args(["--id", id]);
        }
        let out = run_ok(cmd, "goc-v2 profile get");
        let p = strip_banner(&out);
        assert!(
            !p.is_empty(),
            "goc-v2 profile get printed no profile: {out}"
        );
        p
    }

    /// `GET /v2/cover/profile?id=ID`: (status, the profile or goc's message).
    pub fn http_profile(&self, id: &str) -> (u16, String) {
        let (s, body) =
            get(&format!("{}/v2/cover/profile?id={id}", self.url)).expect("server answers");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let text = v["profile"]
            .as_str()
            .or(v["msg"].as_str())
            .unwrap_or(&body)
            .to_string();
        (s, text)
    }

    /// `goc-v2 service delete --host H --id ID` (the live process re-registers under a new id).
    pub fn cli_delete(&self, id: &str) {
        let mut cmd = Command::new(&tools().unwrap().v2);
        cmd.args(["service", "delete", "--host", &self.host(), "--id", id]);
        run_ok(cmd, "goc-v2 service delete");
    }

    /// `goc-v2 service get --host H --wide`: goc's own table (banner cut off).
    pub fn cli_services(&self) -> String {
        let mut cmd = Command::new(&tools().unwrap().v2);
        cmd.args(["service", "get", "--host", &self.host(), "--wide"]);
        let out = run_ok(cmd, "goc-v2 service get");
        out.split_once("ID ")
            .map(|(_, t)| format!("ID {t}"))
            .unwrap_or(out)
    }

    pub fn log(&self) -> String {
        self.proc.output()
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// A block's position: (file, line0, col0, line1, col1).
pub type Pos = (String, u32, u32, u32, u32);

/// A parsed profile: mode and (position → (statements, count)); duplicates are summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub mode: String,
    pub blocks: BTreeMap<Pos, (u64, u64)>,
    /// Every block line in file order, duplicates kept (to find overlaps).
    pub lines: Vec<(Pos, u64, u64)>,
}

fn bad_line(line: &str) -> ! {
    panic!("bad profile line {line:?}")
}

/// Parses a Go cover profile (from the right, as x/tools does).
pub fn parse_profile(text: &str) -> Profile {
    let mut p = Profile::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(m) = line.strip_prefix("mode: ") {
            p.mode = m.to_string();
            continue;
        }
        let (rest, count) = line.rsplit_once(' ').unwrap_or_else(|| bad_line(line));
        let (rest, stmts) = rest.rsplit_once(' ').unwrap_or_else(|| bad_line(line));
        let (file, span) = rest.rsplit_once(':').unwrap_or_else(|| bad_line(line));
        let (a, b) = span.split_once(',').unwrap_or_else(|| bad_line(line));
        let lc = |s: &str| -> (u32, u32) {
            let (l, c) = s.split_once('.').unwrap_or_else(|| bad_line(line));
            (l.parse().unwrap(), c.parse().unwrap())
        };
        let ((l0, c0), (l1, c1)) = (lc(a), lc(b));
        let pos = (file.to_string(), l0, c0, l1, c1);
        let (stmts, count): (u64, u64) = (stmts.parse().unwrap(), count.parse().unwrap());
        p.lines.push((pos.clone(), stmts, count));
        let e = p.blocks.entry(pos).or_insert((stmts, 0));
        e.1 += count;
    }
    p
}

impl Profile {
    /// The count of the block starting at `line0` of the file ending with `file`.
    pub fn count_at(&self, file: &str, line0: u32) -> Option<u64> {
        let found: Vec<u64> = self
            .blocks
            .iter()
            .filter(|(p, _)| p.0.ends_with(file) && p.1 == line0)
            .map(|(_, (_, c))| *c)
            .collect();
        assert!(found.len() <= 1, "several blocks at {file}:{line0}");
        found.first().copied()
    }

    /// (statements of blocks that ran, statements), as `go tool cover -func` counts them.
    pub fn statements(&self) -> (u64, u64) {
        self.blocks.values().fold((0, 0), |(c, t), (s, n)| {
            (c + if *n > 0 { *s } else { 0 }, t + s)
        })
    }

    /// Pairs of blocks of one file whose ranges overlap (or repeat): blocks of two builds.
    pub fn overlaps(&self) -> Vec<(Pos, Pos)> {
        let mut sorted: Vec<&Pos> = self.lines.iter().map(|(p, _, _)| p).collect();
        sorted.sort();
        let mut out = Vec::new();
        for w in sorted.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.0 == b.0 && (b.1, b.2) < (a.3, a.4) {
                out.push((a.clone(), b.clone()));
            }
        }
        out
    }

    /// Sums `other` into this profile block by block (goc's merge, without its checks).
    pub fn add(&mut self, other: &Profile) {
        for (pos, (s, c)) in &other.blocks {
            self.blocks.entry(pos.clone()).or_insert((*s, 0)).1 += c;
        }
    }
}

/// `go tool cover -func=<profile>` run in `repo` (checked out at the profile's build): the
/// total line's percent, e.g. "66.7%".
pub fn go_func_total(profile_text: &str, repo: &Path) -> String {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), profile_text).unwrap();
    let mut cmd = Command::new("go");
    cmd.args(["tool", "cover"])
        .arg(format!("-func={}", f.path().display()))
        .current_dir(repo);
    go_env(&mut cmd);
    let out = run_ok(cmd, "go tool cover -func");
    let total = out
        .lines()
        .find(|l| l.starts_with("total:"))
        .unwrap_or_else(|| panic!("no total in {out}"));
    total.split_whitespace().last().unwrap().to_string()
}

/// A statement pair as `go tool cover -func` prints it.
pub fn percent(st: (u64, u64)) -> String {
    if st.1 == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", st.0 as f64 * 100.0 / st.1 as f64)
}

// ---------------------------------------------------------------------------------------------
// covtop

/// A target of covtop's configuration.
pub enum Target<'a> {
    /// `kind = "goc"`, with an optional `services` filter.
    V1 {
        name: &'a str,
        url: &'a str,
        services: &'a [&'a str],
    },
    /// `kind = "goc-v2"`, with an optional `revision_from_extra`.
    V2 {
        name: &'a str,
        url: &'a str,
        revision_from_extra: Option<&'a str>,
    },
}

/// Writes `<dir>/covtop.toml`: the repository, base `main`, the deployed `revision`, a 10 s poll
/// timeout (loaded machine), the session store in `<dir>/sessions`, and `targets`.
pub fn write_config(dir: &Path, repo: &Path, revision: &str, targets: &[Target]) -> PathBuf {
    let mut s = format!(
        "[repo]\npath = \"{}\"\nbase = \"main\"\nrevision = \"{revision}\"\n\
         [poll]\ntimeout = \"10s\"\n[session]\ndir = \"{}\"\n",
        repo.display(),
        dir.join("sessions").display()
    );
    for t in targets {
        match t {
            Target::V1 {
                name,
                url,
                services,
            } => {
                s.push_str(&format!(
                    "[[target]]\nname = \"{name}\"\nkind = \"goc\"\nurl = \"{url}\"\n"
                ));
                if !services.is_empty() {
                    let list: Vec<String> = services.iter().map(|x| format!("\"{x}\"")).collect();
                    s.push_str(&format!("services = [{}]\n", list.join(", ")));
                }
            }
            Target::V2 {
                name,
                url,
                revision_from_extra,
            } => {
                s.push_str(&format!(
                    "[[target]]\nname = \"{name}\"\nkind = \"goc-v2\"\nurl = \"{url}\"\n"
                ));
                if let Some(r) = revision_from_extra {
                    s.push_str(&format!("revision_from_extra = '{r}'\n"));
                }
            }
        }
    }
    let path = dir.join("covtop.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// The output of a covtop run, with both streams as text.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the real `covtop --config CONFIG ARGS...`.
pub fn covtop(config: &Path, args: &[&str]) -> Run {
    let o = common::covtop(config, args);
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Starts `covtop --config CONFIG ARGS...` in the background (e.g. `watch`), output to `log`.
pub fn covtop_spawn(config: &Path, args: &[&str], log: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_covtop"));
    cmd.arg("--config").arg(config).args(args);
    Proc::spawn(cmd, log)
}

/// Runs covtop and panics unless it exits 0.
pub fn covtop_ok(config: &Path, args: &[&str]) -> Run {
    let r = covtop(config, args);
    assert_eq!(r.code, Some(0), "covtop {args:?}: {r:?}");
    r
}

/// `covtop dump` (must succeed).
pub fn dump(config: &Path) -> Run {
    covtop_ok(config, &["dump"])
}

/// `covtop report --offline --format go-profile`: the merged profile covtop exports.
pub fn go_profile(config: &Path) -> String {
    covtop_ok(config, &["report", "--offline", "--format", "go-profile"]).stdout
}

/// `covtop report --offline --format json`, parsed.
pub fn json_report(config: &Path) -> serde_json::Value {
    let r = covtop_ok(config, &["report", "--offline", "--format", "json"]);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("report json: {e}: {r:?}"))
}

/// The `whole_statements` pair of a JSON report.
pub fn whole_statements(report: &serde_json::Value) -> (u64, u64) {
    let w = &report["whole_statements"];
    (
        w[0].as_u64().unwrap_or_else(|| panic!("{report}")),
        w[1].as_u64().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// A proxy that can hold one profile answer

/// A TCP proxy on 127.0.0.1 in front of a goc server. When armed, it holds the next answer to a
/// profile request (`GET /v2/cover/profile` or `/v1/cover/profile`) after goc has produced it,
/// until released: a poll "in flight" for as long as the test wants.
pub struct HoldProxy {
    pub url: String,
    state: std::sync::Arc<HoldState>,
}

#[derive(Default)]
struct HoldState {
    /// 0 idle, 1 armed, 2 holding, 3 released.
    phase: Mutex<u8>,
    changed: std::sync::Condvar,
    held: Mutex<String>,
}

impl HoldProxy {
    pub fn start(upstream_port: u16) -> HoldProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(HoldState::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", upstream_port))
                else {
                    continue;
                };
                let profile_asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (mut c_read, mut u_write) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let asked = profile_asked.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if text.contains("/cover/profile") {
                            asked.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        if u_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = u_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut u_read, mut c_write) = (upstream, client);
                let st = st.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = u_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if profile_asked.swap(false, std::sync::atomic::Ordering::SeqCst) {
                            let mut phase = st.phase.lock().unwrap();
                            if *phase == 1 {
                                *phase = 2;
                                *st.held.lock().unwrap() =
                                    String::from_utf8_lossy(&buf[..n]).into_owned();
                                st.changed.notify_all();
                                while *phase == 2 {
                                    phase = st.changed.wait(phase).unwrap();
                                }
                            }
                        }
                        if c_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        HoldProxy { url, state }
    }

    /// Holds the next profile answer.
    pub fn arm(&self) {
        *self.state.phase.lock().unwrap() = 1;
    }

    /// Waits until an answer is held; the held bytes (HTTP head and body as goc sent them).
    pub fn wait_held(&self) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut phase = self.state.phase.lock().unwrap();
        while *phase != 2 {
            assert!(
                Instant::now() < deadline,
                "no profile request came through the proxy"
            );
            phase = self
                .state
                .changed
                .wait_timeout(phase, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        self.state.held.lock().unwrap().clone()
    }

    /// Lets the held answer go.
    pub fn release(&self) {
        *self.state.phase.lock().unwrap() = 3;
        self.state.changed.notify_all();
    }
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.release();
    }
}

/// A copy of `config` (same session store) whose target URLs `from` point at `to`.
pub fn config_via(config: &Path, from: &str, to: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    let path = config.with_file_name(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}
