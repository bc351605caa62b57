//! `schedfleet`: parses the command line, dispatches to one file per verb
//! under `cmd/`, and turns results into exit codes. No rollout logic lives
//! here; that is the `schedfleet-fleet` engine's.

mod agent;
mod args;
mod cmd;
mod docs;
mod exit;
mod output;
mod progress;
mod terminal;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // `--version` also names the agent this build pushes (`-V` stays short).
    let parsed = args::Cli::command()
        .long_version(agent::long_version())
        .try_get_matches()
        .and_then(|m| args::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { exit::BAD_INPUT } else { exit::OK };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    match cmd::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {}", terminal::clean_text(&format!("{err:#}")));
            ExitCode::from(cmd::exit_code_for(&err))
        }
    }
}

/// One logging stack: `tracing` to stderr, quiet unless asked (`-v`, `RUST_LOG`).
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| terminal::CleanStderr)
        .with_ansi(false)
        .with_target(false)
        .init();
}
