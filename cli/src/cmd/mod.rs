//! One file per verb. Each `run` returns the exit code of a completed
//! command; errors bubble up as `anyhow::Error` and are mapped to an exit
//! code by [`exit_code_for`].

mod apply;
mod drift;
mod generate;
mod init;
mod inventory;
mod lab;
mod plan;
mod rollback;
mod schema;
mod status;
mod unlock;
mod validate;

use crate::args::Command;
use crate::exit;

pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Inventory(args) => inventory::run(args),
        Command::Init(args) => init::run(args),
        Command::Status(args) => status::run(args),
        Command::Drift(args) => drift::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Unlock(args) => unlock::run(args),
        Command::Lab(args) => lab::run(args),
        Command::Generate(args) => generate::run(args),
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
    // Before a single file of the commit is read.
    if let Some(policy) = repo.signing.policy() {
        let good = opened.verify_signature(&policy)?;
        eprintln!("commit {}: good {} signature by {}", &opened.commit_id()[..12], good.format, good.signer);
    }
    let desired = config::load(
        &opened,
        &LoadOptions {
            inventory_override: repo.inventory.as_deref(),
            inventory_format: repo.inventory_format.into(),
            limit,
        },
    )?;
    if !desired.uncommitted.is_empty() {
        eprintln!("note: not deployed: uncommitted changes in {}", desired.uncommitted.join(", "));
    }
    Ok(desired)
}

pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<schedfleet_fleet::BadInput>()) {
        exit::BAD_INPUT
    } else if err.chain().any(|e| e.is::<schedfleet_fleet::rollout::Locked>()) {
        exit::LOCKED
    } else {
        exit::HOSTS_FAILED
    }
}

/// The key of the fleet lock: the config directory's real path, so every
/// checkout path that names the same directory shares one lock. Operators
/// on other machines are kept apart by the per-host leases instead.
pub fn fleet_key(repo: &crate::args::RepoArgs) -> anyhow::Result<String> {
    let dir = repo.repo.canonicalize().map_err(|e| {
        schedfleet_fleet::BadInput::new(format!("config repository `{}` cannot be opened: {e}", repo.repo.display()))
    })?;
    Ok(schedfleet_fleet::state::lock::fleet_key(&dir.to_string_lossy()))
}

/// Exit code of a rollout: 3 when a gate halted it (or it was interrupted:
/// its hosts fell back), 4 when unreachable or failing hosts exceeded the
/// budget, 2 when instead every failed host's agent refused before any
/// change (a preflight check) and no host was changed, 0 otherwise.
pub fn rollout_exit_code(report: &schedfleet_fleet::rollout::RolloutReport) -> u8 {
    use schedfleet_fleet::rollout::HaltKind;
    match report.halted.as_ref().map(|h| h.kind) {
        None => exit::OK,
        Some(HaltKind::Gate | HaltKind::Interrupted) => exit::HALTED,
        Some(HaltKind::Hosts) if report.refused_before_any_change() => exit::BAD_INPUT,
        Some(HaltKind::Hosts) => exit::HOSTS_FAILED,
    }
}

/// The rollout's per-host table on stdout and its summary on stderr.
pub fn rollout_table(report: &schedfleet_fleet::rollout::RolloutReport) {
    println!("{:<20} {:>4}  {:<12} DETAIL", "HOST", "WAVE", "STATE");
    for h in &report.hosts {
        let wave = h.wave.map_or("-".to_owned(), |w| (w + 1).to_string());
        let detail = match (&h.message, h.bytes_sent) {
            (Some(m), _) => m.clone(),
            (None, 0) => String::new(),
            (None, n) => format!("sent {n} bytes"),
        };
        let line = format!("{:<20} {:>4}  {:<12} {}", h.host, wave, h.state.as_str(), detail);
        println!("{}", crate::terminal::clean(&line));
    }
    let sizes: Vec<String> = report.waves.iter().map(|w| w.len().to_string()).collect();
    eprintln!(
        "commit {}, run {}: {} wave(s) [{}]",
        &report.commit[..12],
        report.run_id,
        report.waves.len(),
        sizes.join(", ")
    );
    if let Some(h) = &report.halted {
        eprintln!("halted in wave {}: {}", h.wave + 1, crate::terminal::clean(&h.reason));
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

/// Runs `work` over one pool of host sessions for the hosts of `desired`
/// (one SSH connection per host for the whole command), then closes it.
pub fn on_hosts<R>(
    desired: &schedfleet_fleet::config::DesiredState,
    parallel: u16,
    connect_timeout: std::time::Duration,
    work: impl AsyncFnOnce(&schedfleet_fleet::host::SshPool) -> R,
) -> anyhow::Result<R> {
    runtime()?.block_on(async {
        let pool = schedfleet_fleet::host::ssh_pool(
            desired.hosts.iter().map(|s| &s.host),
            usize::from(parallel),
            connect_timeout,
        )?;
        let result = work(&pool).await;
        pool.close().await;
        Ok(result)
    })
}
