//! The `covtop` binary: parses the command line, loads the configuration and dispatches.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            let text = format!("{e:#}");
            eprintln!("covtop: error: {}", covtop::redact::redact(&text));
            ExitCode::from(2)
        }
    }
}
