//! The `covtop` binary: parses the command line, loads the configuration and dispatches.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            let text = format!("{e:#}");
            // Without credentials, and without raw control characters from agents, file names
            // or the command line (an error naming them cannot drive the terminal).
            eprintln!(
                "covtop: error: {}",
                covtop::escape::lines(&covtop::redact::redact(&text))
            );
            ExitCode::from(2)
        }
    }
}
