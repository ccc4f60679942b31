//! The peak memory of one run of the `covtop` binary, for tests that assert memory (never
//! timing): the child's own `ru_maxrss` from `wait4`.

use std::path::Path;
use std::process::{Command, Stdio};

pub struct Measured {
    pub code: Option<i32>,
    pub out: String,
    pub peak_kib: i64,
}

/// Runs covtop in `dir` and waits for it with `wait4`, which gives this child's own peak RSS
/// (other tests' children, running in parallel, do not count).
pub fn run_measured(dir: &Path, args: &[&str]) -> Measured {
    let logs = tempfile::tempdir().unwrap();
    let (o, e) = (logs.path().join("out"), logs.path().join("err"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_covtop"));
    // A safety net for the machine, far above the budget: a regression fails the test (an
    // allocation failure) instead of taking gigabytes from everything else running.
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
    let child = cmd
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("covtop runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 only writes into the two locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet waited for (Child::wait is never called).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted,
            "wait4 failed"
        );
    }
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let out = format!(
        "{}{}",
        std::fs::read_to_string(&o).unwrap_or_default(),
        std::fs::read_to_string(&e).unwrap_or_default()
    );
    Measured {
        code,
        out,
        peak_kib: usage.ru_maxrss,
    }
}
