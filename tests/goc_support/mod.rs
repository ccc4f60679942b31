//! Support for the goc integration tests: a mini goc that instruments the Go sample service with
//! the real `go tool cover` and adds a goc v1 agent to it, replicas of that service, a
//! black-holed listener, profile arithmetic for assertions, and a reader for the captures of
//! real goc sessions (tests/fixtures/goc-agent/captures, copied from the shared fixtures).
#![allow(dead_code)]

pub mod capture;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MODULE: &str = "example.com/shop";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The instrumented shop binary, built once per test binary; None (skip) without Go.
pub fn shop_binary() -> Option<&'static Path> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if !crate::common::have_tool("go", "version") {
        return None;
    }
    match BUILT.get_or_init(build_instrumented_shop) {
        Ok(p) => Some(p.as_path()),
        Err(e) => panic!("building the instrumented shop failed: {e}"),
    }
}

fn go_command(dir: &Path, scratch: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(dir)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", scratch.join("gopath"))
        // Shared by every test binary and run: Go's cache is safe for concurrent builds.
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("goc-gocache"),
        )
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GO111MODULE", "on");
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// What goc's build does, in small: rewrite every non-test .go file with `go tool cover
/// -mode=count -var=GoCover_<n>`, register each file's counters (as importpath/base.go) in a
/// registry package, and add an HTTP agent to package main.
fn build_instrumented_shop() -> Result<PathBuf, String> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_builds(tmp);
    let root = tmp.join(format!("goc-shop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let original = root.join("original");
    let module = root.join("module");
    copy_tree(&fixtures().join("gosample"), &original)?;
    copy_tree(&original, &module)?;
    let mut var = 0usize;
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        let dir = original.join(&rel);
        let mut registrations = Vec::new();
        let mut package = None;
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(rel.join(&name));
                continue;
            }
            if !name.ends_with(".go") || name.ends_with("_test.go") {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            package = source
                .lines()
                .find_map(|l| l.strip_prefix("package "))
                .map(|p| p.trim().to_string());
            let cover_var = format!("GoCover_{var}");
            var += 1;
            let mut cmd = go_command(&module, &root);
            cmd.args(["tool", "cover", "-mode=count", "-var", &cover_var, "-o"])
                .arg(module.join(&rel).join(&name))
                .arg(&path);
            run(cmd)?;
            let import = if rel.as_os_str().is_empty() {
                MODULE.to_string()
            } else {
                format!("{MODULE}/{}", rel.to_string_lossy())
            };
            registrations.push(format!(
                "\t_gocreg.Register({:?}, {cover_var}.Count[:], {cover_var}.Pos[:], {cover_var}.NumStmt[:])",
                format!("{import}/{name}")
            ));
        }
        if let (Some(package), false) = (package, registrations.is_empty()) {
            let file = format!(
                "// Code generated by covtop's test harness.\n\npackage {package}\n\nimport _gocreg \"{MODULE}/gocregistry\"\n\nfunc init() {{\n{}\n}}\n",
                registrations.join("\n")
            );
            std::fs::write(module.join(&rel).join("zz_gocover_register.go"), file)
                .map_err(|e| e.to_string())?;
        }
    }
    let agent_dir = fixtures().join("goc-agent");
    std::fs::create_dir_all(module.join("gocregistry")).map_err(|e| e.to_string())?;
    std::fs::copy(
        agent_dir.join("registry.go"),
        module.join("gocregistry/registry.go"),
    )
    .map_err(|e| e.to_string())?;
    let agent = std::fs::read_to_string(agent_dir.join("agent.go.tmpl"))
        .map_err(|e| e.to_string())?
        .replace("{{REGISTRY}}", &format!("{MODULE}/gocregistry"));
    std::fs::write(module.join("zz_gocagent.go"), agent).map_err(|e| e.to_string())?;
    let binary = root.join("shop");
    let mut cmd = go_command(&module, &root);
    cmd.args(["build", "-o"]).arg(&binary).arg(".");
    run(cmd)?;
    Ok(binary)
}

/// Build dirs are named after the test process; those of processes that are gone are removed
/// (the binary must outlive every test of its process, so no process removes its own).
fn remove_stale_builds(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("goc-shop-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One running replica of the instrumented shop.
pub struct ShopReplica {
    child: Child,
    pub shop_url: String,
    pub agent_url: String,
    pub agent_port: u16,
}

impl ShopReplica {
    /// Starts the shop; its agent listens on `agent_port` (0 = any) and registers with
    /// `center` (a goc v1 center URL) when given. Waits until the agent answers.
    pub fn start(binary: &Path, agent_port: u16, center: Option<&str>) -> ShopReplica {
        let shop_port = free_port();
        let mut cmd = Command::new(binary);
        cmd.arg("-addr")
            .arg(format!("127.0.0.1:{shop_port}"))
            .env("GOC_AGENT_ADDR", format!("127.0.0.1:{agent_port}"))
            .env("GOC_SERVICE_NAME", "shop")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(c) = center {
            cmd.env("GOC_CENTER", c);
        }
        let mut child = cmd.spawn().expect("spawn the instrumented shop");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let agent_url = loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(u) = l.strip_prefix("goc agent listening on ") {
                        break u.trim().to_string();
                    }
                }
                other => panic!("the shop exited before its agent listened: {other:?}"),
            }
        };
        // Keep draining stderr so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let agent_port = agent_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("agent port");
        let replica = ShopReplica {
            child,
            shop_url: format!("http://127.0.0.1:{shop_port}"),
            agent_url,
            agent_port,
        };
        replica.wait_ready();
        replica
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if http_get(&format!("{}/health", self.shop_url)).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the shop at {} never became ready", self.shop_url);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A few shop requests: adds, a member total, a failing remove.
    pub fn traffic(&self, rounds: usize) {
        for i in 0..rounds {
            let item = format!("item{i}");
            let add = format!("{}/add?item={item}&qty=2&price=1500", self.shop_url);
            http_get(&add).expect("shop /add");
            http_get(&format!("{}/total?member=1", self.shop_url)).expect("shop /total");
            http_get(&format!("{}/remove?item=nosuch", self.shop_url)).expect("shop /remove");
        }
    }

    /// SIGKILL: the agent stays registered at the center, as with a crash or OOM kill.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ShopReplica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A blocking GET on loopback; the body, or None if the request failed at the HTTP level.
pub fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(hostport).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some(body.to_string())
}

/// A listener that accepts connections and never answers: a black-holed agent.
pub struct BlackHole {
    pub url: String,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a black hole");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        BlackHole { url }
    }
}

/// Sum of the counts of the blocks of files whose name ends with `suffix` ("" = all files).
pub fn count_for(profile: &[u8], suffix: &str) -> u64 {
    let text = String::from_utf8_lossy(profile);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (rest, count) = l.rsplit_once(' ')?;
            let (file, _) = rest.rsplit_once(':')?;
            file.ends_with(suffix).then(|| count.parse::<u64>().ok())?
        })
        .sum()
}

/// The file names a profile mentions.
pub fn files_of(profile: &[u8]) -> std::collections::BTreeSet<String> {
    String::from_utf8_lossy(profile)
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit_once(':').map(|(f, _)| f.to_string()))
        .collect()
}

/// Polls `check` every 50 ms until it returns Some or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
