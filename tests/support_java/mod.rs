//! Helpers for tests that run the real JDK and JaCoCo: compile Java, extract the agent, start
//! JVMs with it, and read exec files with JaCoCo's own loader.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use covtop::java::exec::ExecData;

use crate::common;

pub const AGENT_CONTAINER: &str = "/usr/share/java/org.jacoco.agent.jar";
pub const JACOCO_CORE: &str = "/usr/share/java/org.jacoco.core.jar";
pub const ASM_JARS: [&str; 4] = [
    "/usr/share/java/asm.jar",
    "/usr/share/java/asm-commons.jar",
    "/usr/share/java/asm-tree.jar",
    "/usr/share/java/asm-analysis.jar",
];

/// The Java helper sources in this directory.
pub fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support_java")
}

/// The shop service sources.
pub fn shop_sources() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/javasample/src/shop");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("javasample sources")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "java"))
        .collect();
    v.sort();
    v
}

/// True when the JDK and Debian's JaCoCo are installed (skips locally, fails under CI).
pub fn have_java_and_jacoco() -> bool {
    common::have_tool("java", "-version")
        && common::have_tool("javac", "-version")
        && common::have_file(AGENT_CONTAINER)
        && common::have_file(JACOCO_CORE)
}

/// `javac --release <release> -g -d <out> [-cp cp] sources...`; panics with javac's output on error.
pub fn javac(release: u32, out: &Path, classpath: Option<&str>, sources: &[PathBuf]) {
    let mut cmd = Command::new("javac");
    cmd.arg("--release")
        .arg(release.to_string())
        .arg("-g")
        .arg("-d")
        .arg(out);
    if let Some(cp) = classpath {
        cmd.arg("-cp").arg(cp);
    }
    cmd.args(sources);
    let o = cmd.output().expect("run javac");
    assert!(
        o.status.success(),
        "javac failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Extracts the real agent (`jacocoagent.jar`, nested inside Debian's `org.jacoco.agent.jar`;
/// the `agent.rt` jar there has no Premain-Class) into `dir`.
pub fn extract_agent(dir: &Path) -> PathBuf {
    let f = std::fs::File::open(AGENT_CONTAINER).expect("open org.jacoco.agent.jar");
    let mut zip = zip::ZipArchive::new(f).expect("org.jacoco.agent.jar is a zip");
    let mut entry = zip
        .by_name("jacocoagent.jar")
        .expect("jacocoagent.jar inside");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).expect("read jacocoagent.jar");
    let out = dir.join("jacocoagent.jar");
    std::fs::write(&out, bytes).expect("write agent");
    out
}

/// Compiles `ExecDump.java` into `dir` and returns the class path to run it.
pub fn build_exec_dump(dir: &Path) -> String {
    javac(
        11,
        dir,
        Some(JACOCO_CORE),
        &[support_dir().join("ExecDump.java")],
    );
    let mut cp = vec![dir.display().to_string(), JACOCO_CORE.to_string()];
    cp.extend(ASM_JARS.iter().map(|s| s.to_string()));
    cp.join(":")
}

/// What JaCoCo's `ExecFileLoader` reads from `files` (merged), in ExecDump's format.
pub fn jacoco_read(classpath: &str, files: &[&Path]) -> Result<String, String> {
    let o = Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg("ExecDump")
        .args(files)
        .output()
        .expect("run java ExecDump");
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// Our reading of exec data in ExecDump's format.
pub fn ours(data: &ExecData) -> String {
    let mut sessions = data.sessions.clone();
    sessions.sort_by(|a, b| (&a.id, a.start, a.dump).cmp(&(&b.id, b.start, b.dump)));
    let mut out = String::new();
    for s in &sessions {
        out += &format!("session {} {} {}\n", s.id, s.start, s.dump);
    }
    for (id, c) in &data.classes {
        let bits: String = c.probes.iter().map(|p| if p { '1' } else { '0' }).collect();
        out += &format!("class {id:016x} {} {bits}\n", c.name);
    }
    out
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A JVM we started; killed (by its own pid) when dropped. Its stderr (the agent logs stack
/// traces there for every non-JaCoCo client) goes to `log`, shown when the JVM fails to start.
pub struct Jvm {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Jvm {
    /// What the JVM wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `java -javaagent:<agent>=<options> -cp <cp> <main> <args>`; stderr goes to
/// `<name>.stderr.log` beside `cp`.
pub fn start_jvm(
    name: &str,
    agent: &Path,
    options: &str,
    cp: &Path,
    main: &str,
    args: &[String],
) -> Jvm {
    let log = cp.with_file_name(format!("{name}.stderr.log"));
    let err = std::fs::File::create(&log).expect("create JVM log");
    let child = Command::new("java")
        .arg(format!("-javaagent:{}={options}", agent.display()))
        .arg("-cp")
        .arg(cp)
        .arg(main)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start java");
    Jvm {
        child,
        name: name.to_string(),
        log,
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1:port; returns (status, body) or an error text.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad reply {reply:?}"))?;
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// Waits until the service answers `/health` (JVM and agent started).
pub fn wait_healthy(jvm: &mut Jvm, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = http_get(port, "/health") {
            return;
        }
        if let Ok(Some(status)) = jvm.child.try_wait() {
            panic!("{} exited early: {status}\n{}", jvm.name, jvm.stderr());
        }
        assert!(
            Instant::now() < deadline,
            "{} did not start within 30s\n{}",
            jvm.name,
            jvm.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shop service compiled with `--release 11` into `<work>/classes`, running under the real
/// agent in tcpserver mode on a loopback port, after `requests` were sent to it.
pub struct ShopUnderAgent {
    pub jvm: Jvm,
    pub agent_port: u16,
    pub http_port: u16,
    pub classes: PathBuf,
}

pub fn start_shop_under_agent(work: &Path, session_id: &str, requests: &[&str]) -> ShopUnderAgent {
    let classes = work.join("classes");
    javac(11, &classes, None, &shop_sources());
    let agent = extract_agent(work);
    let agent_port = free_port();
    let http_port = free_port();
    let mut jvm = start_jvm(
        "shop",
        &agent,
        &format!(
            "output=tcpserver,address=127.0.0.1,port={agent_port},sessionid={session_id},includes=shop.*"
        ),
        &classes,
        "shop.Main",
        &[http_port.to_string()],
    );
    wait_healthy(&mut jvm, http_port);
    for path in requests {
        http_get(http_port, path).unwrap();
    }
    ShopUnderAgent {
        jvm,
        agent_port,
        http_port,
        classes,
    }
}

/// Writes `<work>/covtop.toml`: the repository (base `main`), a session store in `sessions`, and
/// one JaCoCo target "shop" at the agent's port with `classes`.
pub fn write_jacoco_config(
    work: &Path,
    repo: &Path,
    sessions: &Path,
    agent_port: u16,
    classes: &Path,
) -> PathBuf {
    let config = work.join("covtop.toml");
    std::fs::write(
        &config,
        format!(
            "[repo]\npath = \"{}\"\nbase = \"main\"\n[session]\ndir = \"{}\"\n\
             [[target]]\nname = \"shop\"\nkind = \"jacoco\"\naddress = \"127.0.0.1:{agent_port}\"\n\
             classes = [\"{}\"]\n",
            repo.display(),
            sessions.display(),
            classes.display()
        ),
    )
    .expect("write covtop.toml");
    config
}
