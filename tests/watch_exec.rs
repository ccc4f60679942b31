//! `watch --exec`: a chatty command's output is streamed and only its tail kept; past
//! `--exec-timeout` the command's whole process group ends, children included (issue #12).
//! Its own test binary: the memory test reads this process's peak RSS.

use covtop::watch::{EventLog, Level, LogFormat, run_command};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn events(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn peak_rss_kib() -> i64 {
    // SAFETY: plain zeroed C struct, filled by getrusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_maxrss
}

/// The state letter of a process (`None` once it is gone).
fn process_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_command_keeps_only_its_tail_in_memory() {
    let captured = Captured::default();
    let log = EventLog::new(LogFormat::Json, Level::Debug, Box::new(captured.clone()));
    let before = peak_rss_kib();
    // 400 MB of output, then a last line.
    let status = run_command(
        "head -c 400000000 /dev/zero | tr '\\0' x; echo; echo END",
        &[],
        Duration::from_secs(120),
        &log,
        1,
    )
    .await;
    assert_eq!(status, Some(0));
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 64, "peak RSS grew by {grown_mib} MiB");
    let events = captured.events();
    let exec = events.iter().find(|e| e["event"] == "exec").unwrap();
    let tail = exec["stdout_tail"].as_str().unwrap();
    assert!(
        tail.ends_with("\nEND") && tail.len() <= 2000,
        "{}",
        tail.len()
    );
    assert!(tail.starts_with('x'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exec_timeout_ends_the_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("child.pid");
    let captured = Captured::default();
    let log = EventLog::new(LogFormat::Json, Level::Debug, Box::new(captured.clone()));
    let cmd = format!(
        "sleep 300 & echo $! > {}; echo started; sleep 300",
        pidfile.display()
    );
    let status = run_command(&cmd, &[], Duration::from_secs(1), &log, 1).await;
    assert_eq!(status, None);
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    // SIGKILL is delivered at once; a killed child may stay a zombie until it is reaped.
    let mut state = process_state(&pid);
    for _ in 0..50 {
        if matches!(state, None | Some('Z')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        state = process_state(&pid);
    }
    assert!(
        matches!(state, None | Some('Z')),
        "the command's child {pid} still runs: state {state:?}"
    );
    let events = captured.events();
    let failed = events.iter().find(|e| e["event"] == "exec_failed").unwrap();
    assert!(
        failed["error"].as_str().unwrap().contains("--exec-timeout"),
        "{failed}"
    );
    assert_eq!(failed["stdout_tail"], "started");
}
