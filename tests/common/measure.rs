//! The peak memory of one run of the `covtop` binary, for tests that assert memory (never
//! timing).
//!
//! A child's `ru_maxrss` counts the memory of the process it was forked from: Linux carries the
//! old image's high-water mark across `exec`, so covtop forked straight from a test process
//! that holds 100 MiB (this test's inputs, other tests' running beside it) would "peak" at 100
//! MiB whatever it does, and a baseline measured that way hides as much of a regression. covtop
//! is therefore started by GNU `time` (a process of a few MiB), which reports covtop's own
//! `ru_maxrss` (`%M`).

use std::path::Path;
use std::process::{Command, Stdio};

pub struct Measured {
    pub code: Option<i32>,
    pub out: String,
    pub peak_kib: i64,
}

/// GNU time, which `scripts/test.sh` installs (Debian's `time`).
const GNU_TIME: &str = "/usr/bin/time";

/// Runs covtop in `dir` and returns its exit code, output and own peak RSS.
pub fn run_measured(dir: &Path, args: &[&str]) -> Measured {
    run_measured_within(dir, args, None)
}

/// [`run_measured`], killing covtop (SIGKILL to its process group) if it is still running after
/// `deadline`: for inputs that used to make it hang (a named pipe read as a file). A killed run
/// has no exit code; the deadline is a safety net for the test, never what it asserts.
pub fn run_measured_within(
    dir: &Path,
    args: &[&str],
    deadline: Option<std::time::Duration>,
) -> Measured {
    assert!(
        super::have_file(GNU_TIME),
        "{GNU_TIME} measures covtop's own peak memory (apt package `time`)"
    );
    let logs = tempfile::tempdir().unwrap();
    let (o, e, peak) = (
        logs.path().join("out"),
        logs.path().join("err"),
        logs.path().join("peak"),
    );
    let mut cmd = Command::new(GNU_TIME);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&peak)
        .arg(env!("CARGO_BIN_EXE_covtop"));
    // A safety net for the machine, far above the budget: a regression fails the test (an
    // allocation failure) instead of taking gigabytes from everything else running. Inherited
    // by covtop from `time`.
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Its own process group, so the deadline ends covtop and `time` together.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("covtop runs");
    let group = child.id() as libc::pid_t;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = deadline.map(|d| {
        std::thread::spawn(move || {
            if finished.recv_timeout(d) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                // SAFETY: the group of our own child, not reaped before `done` is sent.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
        })
    });
    let status = child.wait().expect("wait for covtop");
    drop(done);
    if let Some(w) = watchdog {
        w.join().unwrap();
    }
    // GNU time writes "Command exited with non-zero status N" or "Command terminated by
    // signal N" before the figure when covtop did not exit with 0; its own status is covtop's.
    let report = std::fs::read_to_string(&peak).unwrap_or_default();
    let killed = report.contains("terminated by signal") || status.code().is_none();
    let peak_kib = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak from {GNU_TIME}: {report:?}"));
    let out = format!(
        "{}{}",
        std::fs::read_to_string(&o).unwrap_or_default(),
        std::fs::read_to_string(&e).unwrap_or_default()
    );
    Measured {
        code: if killed { None } else { status.code() },
        out,
        peak_kib,
    }
}
