//! One file per verb. Each `run` returns the exit code of a completed
//! command; errors bubble up as `anyhow::Error` and are mapped to an exit
//! code by [`exit_code_for`].

mod apply;
mod drift;
mod lab;
mod plan;
mod schema;
mod status;
mod validate;

use crate::args::Command;
use crate::exit;

pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Status(args) => status::run(args),
        Command::Drift(args) => drift::run(args),
        Command::Lab(args) => lab::run(args),
    }
}

/// Errors that carry [`schedfleet_fleet::BadInput`] anywhere in their chain
/// mean nothing was touched (exit 2); anything else is a failure (exit 4).
/// Opens the config repository and loads its desired state, saying on
/// stderr what is not deployed because it is not committed.
pub fn load_desired(
    repo: &crate::args::RepoArgs,
    limit: Option<&str>,
) -> anyhow::Result<schedfleet_fleet::config::DesiredState> {
    use schedfleet_fleet::config::{self, LoadOptions};
    let opened = schedfleet_fleet::repo::ConfigRepo::open(&repo.repo, &repo.rev)?;
    let desired = config::load(&opened, &LoadOptions { inventory_override: repo.inventory.as_deref(), limit })?;
    if !desired.uncommitted.is_empty() {
        eprintln!("note: not deployed: uncommitted changes in {}", desired.uncommitted.join(", "));
    }
    Ok(desired)
}

pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<schedfleet_fleet::BadInput>()) {
        exit::BAD_INPUT
    } else {
        exit::HOSTS_FAILED
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The async runtime for commands that talk to hosts. Two worker threads
/// are plenty: the work is waiting on SSH.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}
