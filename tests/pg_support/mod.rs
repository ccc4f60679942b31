//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary folder, `pg_ctl` on a
//! free loopback port (and a unix socket in that folder), password authentication
//! (scram-sha-256) for user `covtop`. As root the cluster runs as the `postgres` user (PostgreSQL
//! refuses root), owning the folder. Dropping the guard stops the server and removes the folder,
//! on a failing test too.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER: &str = "covtop";
pub const PASSWORD: &str = "s3cret-Pg-pw-7f3a9";

/// The newest `initdb` of Debian's `postgresql` package, if installed.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct PgCluster {
    bin: PathBuf,
    /// Holds `data/`, the socket and the log; removed on drop.
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
    /// More server settings (`-c name=value …`).
    extra: String,
}

impl PgCluster {
    /// Starts a cluster, or `None` (with a message) when PostgreSQL is not installed — which
    /// fails the test under `CI=true`, where `scripts/test.sh` installs it.
    pub fn start() -> Option<PgCluster> {
        Self::start_with(|_| String::new())
    }

    /// Starts a cluster that also speaks TLS (`ssl=on`, connections logged with their TLS
    /// state) with a certificate for `localhost` only (not 127.0.0.1) signed by an authority
    /// made for it (`openssl`); returns the cluster and the authority's certificate (PEM), which
    /// stays until the cluster is dropped.
    pub fn start_tls() -> Option<(PgCluster, PathBuf)> {
        let have_openssl = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_openssl {
            assert!(
                !in_ci(),
                "openssl is required under CI=true; scripts/test.sh installs it"
            );
            eprintln!("skipping: openssl is not installed");
            return None;
        }
        let cluster = Self::start_with(|dir| {
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(dir)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=covtop test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.pem",
            ]);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            format!(
                " -c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key \
                 -c log_connections=on",
                dir.display()
            )
        })?;
        let ca = cluster.dir.path().join("ca.pem");
        Some((cluster, ca))
    }

    /// Starts a cluster; `prepare` may write files into its folder before the server starts
    /// and returns more server settings.
    fn start_with(prepare: impl FnOnce(&Path) -> String) -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            assert!(
                !in_ci(),
                "PostgreSQL (Debian's postgresql) is required under CI=true; scripts/test.sh installs it"
            );
            eprintln!("skipping: PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)");
            return None;
        };
        let as_postgres = unsafe_is_root();
        let dir = tempfile::Builder::new()
            .prefix("covtop-pg-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("pw"), PASSWORD).unwrap();
        let extra = prepare(dir.path());
        if as_postgres {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                st.success(),
                "chown of the cluster folder to postgres failed"
            );
        }
        let port = free_port();
        let cluster = PgCluster {
            bin,
            dir,
            port,
            as_postgres,
            extra,
        };
        let data = cluster.dir.path().join("data");
        let pw = cluster.dir.path().join("pw");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                USER.as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pw.display()).as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        cluster.restart();
        Some(cluster)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Creates database `name` (owned by `covtop`).
    pub fn create_db(&self, name: &str) {
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                name,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of database `db` (no password: it comes from PGPASSWORD or a file).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server at once (as a crash would); [`PgCluster::restart`] starts it again.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }

    /// Starts the server (again, after [`PgCluster::stop`]).
    pub fn restart(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={}{}",
            self.port,
            self.dir.path().display(),
            self.extra
        );
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        );
    }

    /// CPU time (user + system) the server's ended processes used so far — the postmaster
    /// waits for every backend, so a closed connection's work is counted — or `None` where
    /// `/proc` does not say (for benchmarks: what the database spent, whatever else runs).
    #[allow(dead_code)]
    pub fn server_cpu(&self) -> Option<std::time::Duration> {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        cpu_time(pid.lines().next()?.trim(), true)
    }

    /// The server's log (to check that no password reached it, or to explain a failure).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        // The TempDir removes the folder (as root, whoever owns it).
    }
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// CPU time (user + system) of process `pid` ("self" for this one) from `/proc`, with that of
/// its waited-for children when `children`.
#[allow(dead_code)]
pub fn cpu_time(pid: &str, children: bool) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which is in parentheses and may hold spaces): utime, stime,
    // cutime, cstime are the line's fields 14–17, so 12–15 after the command.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let end = if children { 15 } else { 13 };
    let ticks: u64 = fields
        .get(11..end)?
        .iter()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // The kernel's USER_HZ is 100 on every Linux covtop runs on.
    Some(std::time::Duration::from_millis(ticks * 10))
}
