//! Every clap type of the `schedfleet` command line, in one place.
//!
//! The command names and their meanings are a contract with scripts and cron
//! jobs (see the README); flags may be added, never renamed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Output;

/// Roll out sched_ext CPU schedulers across a fleet, the GitOps way.
#[derive(Debug, Parser)]
#[command(name = "schedfleet", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config repository at a revision; contacts no host.
    Validate(ValidateArgs),
    /// Show what `apply` would change on each host; changes nothing.
    Plan(PlanArgs),
    /// Roll the repository's desired state out to the hosts.
    Apply(ApplyArgs),
    /// What every host runs and how it is doing, from its agent.
    Status(StatusArgs),
    /// Where the hosts differ from the repository (for cron: exit codes, JSON, Prometheus text).
    Drift(DriftArgs),
    /// Undo: each host's previous scheduler, a full rollout of an older commit, or the kernel default.
    Rollback(RollbackArgs),
    /// Clear a fleet lock that no running schedfleet holds any more.
    Unlock(UnlockArgs),
    /// Print the JSON Schema of a config file (for editors) or of a command's JSON output.
    Schema(SchemaArgs),
    /// Print the inventory as schedfleet reads it, in the shape of `ansible-inventory --list`.
    Inventory(InventoryArgs),
    /// Create a new config repository (git init, fleet.yaml, inventory, a scheduler, a README; committed).
    Init(InitArgs),
    /// Local VMs with a real sched_ext kernel, for trying schedulers.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Files for packagers: the embedded agent, shell completions, man pages.
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// Where the desired state is read from.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Directory of the config repository; may be a subdirectory of a git
    /// repository, whose path then applies inside the commit's tree.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,

    /// Revision to read (branch, tag or commit); only committed content is deployed.
    #[arg(long, default_value = "HEAD")]
    pub rev: String,

    /// Inventory file on disk to use instead of the repository's: schedfleet's
    /// format or an Ansible YAML or INI inventory (with `group_vars/` and
    /// `host_vars/` beside it).
    #[arg(long)]
    pub inventory: Option<PathBuf>,

    /// How the `--inventory` file is written; `auto` decides from its content.
    #[arg(long, value_enum, default_value = "auto", requires = "inventory")]
    pub inventory_format: InventoryFormatArg,

    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Who may sign the commits deployed. The allowed keys are kept on the
/// controller, never in the repository (a commit could rewrite them there).
#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// Refuse (exit 2) a revision whose commit is not signed by an allowed key; implied by --allowed-signers.
    #[arg(long)]
    pub require_signed: bool,

    /// SSH allowed-signers file (`ssh-keygen -Y`, "ALLOWED SIGNERS"), outside the repository; setting it requires signed commits.
    #[arg(long, env = "SCHEDFLEET_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,

    /// Keyring of allowed OpenPGP public keys (`gpg --export`), outside the repository; setting it requires signed commits.
    #[arg(long, env = "SCHEDFLEET_ALLOWED_GPG_KEYS", value_name = "FILE")]
    pub allowed_gpg_keys: Option<PathBuf>,
}

impl SigningArgs {
    /// The policy, when signed commits are required.
    pub fn policy(&self) -> Option<schedfleet_fleet::repo::SigningPolicy> {
        (self.require_signed || self.allowed_signers.is_some() || self.allowed_gpg_keys.is_some()).then(|| {
            schedfleet_fleet::repo::SigningPolicy {
                allowed_signers: self.allowed_signers.clone(),
                allowed_gpg_keys: self.allowed_gpg_keys.clone(),
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InventoryFormatArg {
    /// Decided from the content.
    Auto,
    /// schedfleet's `inventory.yaml` format.
    Schedfleet,
    /// An Ansible YAML inventory.
    AnsibleYaml,
    /// An Ansible INI inventory.
    AnsibleIni,
}

impl From<InventoryFormatArg> for schedfleet_fleet::config::InventoryFormat {
    fn from(f: InventoryFormatArg) -> Self {
        use schedfleet_fleet::config::InventoryFormat as F;
        match f {
            InventoryFormatArg::Auto => F::Auto,
            InventoryFormatArg::Schedfleet => F::Schedfleet,
            InventoryFormatArg::AnsibleYaml => F::AnsibleYaml,
            InventoryFormatArg::AnsibleIni => F::AnsibleIni,
        }
    }
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Print every group's hosts and children and every host's variables as JSON (the only mode).
    #[arg(long, required = true)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory of the new config repository; created if missing, refused if not empty.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// An Ansible inventory (YAML or INI) to use: copied into the repository
    /// and named by `inventory:` in `fleet.yaml`, with its `group_vars/` and `host_vars/`.
    #[arg(long, value_name = "FILE")]
    pub from_ansible: Option<PathBuf>,
}

/// Which hosts, and how many at once.
#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Only hosts matching this pattern (`lab-1`, `gpu:&rack=r07`, `all:!gpu-01`).
    #[arg(long)]
    pub limit: Option<String>,

    /// How many hosts are worked on at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// How long each host measures wake-up latency for its report (`0s` turns it off; at most 1m).
    #[arg(long, default_value = "1s", value_parser = parse_latency_window)]
    pub latency_window: std::time::Duration,

    /// Measure wake-up latency only for tasks of this cgroup v2 (and below): a path relative to
    /// the cgroup2 root (`/serving`, `system.slice/vllm.service`) or under its mount point.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DriftFormat {
    /// A table of the hosts that drifted; nothing when in sync (unless --verbose-ok).
    Text,
    /// One JSON document with every host's verdict.
    Json,
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Output on stdout: `text` for people, `json` for scripts, `prometheus` for monitoring.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DriftFormat,

    /// Also count soft drift (another commit, another agent version) as drift.
    #[arg(long)]
    pub strict: bool,

    /// Print the text report even when nothing drifted.
    #[arg(long)]
    pub verbose_ok: bool,

    /// Unreachable hosts tolerated before exiting 4: a count or a percentage.
    #[arg(long, default_value = "0")]
    pub max_unreachable: String,

    /// Give up on a host after this long (connection included).
    #[arg(long, default_value = "30s", value_parser = parse_span)]
    pub host_timeout: std::time::Duration,

    /// Wait a random time up to this long before starting, so cron jobs of many controllers spread out.
    #[arg(long, value_parser = parse_span)]
    pub jitter: Option<std::time::Duration>,
}

fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    schedfleet_fleet::config::Span::parse(text).map(|s| s.0)
}

/// A span within the agent's `--latency-window` bound (`proto::bounds`), so
/// a window the agent would refuse is a usage error before any contact.
fn parse_latency_window(text: &str) -> Result<std::time::Duration, String> {
    use schedfleet_proto::bounds::LATENCY_WINDOW_MS;
    let span = parse_span(text)?;
    match u64::try_from(span.as_millis()) {
        Ok(ms) if LATENCY_WINDOW_MS.contains(ms) => Ok(span),
        _ => Err(format!("`{text}` is past the agent's bound: {}", LATENCY_WINDOW_MS.expected())),
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["previous", "to", "default"])))]
pub struct RollbackArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Every host back to its previous confirmed scheduler (kept on the host), all at once.
    #[arg(long)]
    pub previous: bool,

    /// A full rollout of this older revision, in waves with gates.
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,

    /// Emergency: every selected host back to the kernel's default scheduler, all at once, no waves.
    #[arg(long)]
    pub default: bool,

    /// Do it without asking.
    #[arg(long)]
    pub yes: bool,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// A static agent binary to push instead of the one built into schedfleet (for `--to`).
    #[arg(long, env = "SCHEDFLEET_AGENT")]
    pub agent: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which config file or command output.
    #[arg(value_enum)]
    pub file: SchemaFile,
}

/// A config file `schedfleet schema` prints the JSON Schema of.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ConfigFile {
    /// `fleet.yaml`
    Fleet,
    /// `inventory.yaml`
    Inventory,
    /// `schedulers/<name>.yaml`
    Scheduler,
    /// `groups/<group>.yaml` and `hosts/<host>.yaml`
    Override,
}

/// What `schedfleet schema` prints the JSON Schema of: a config file, or a
/// command's JSON output. The outputs' names and help come from
/// [`Output`] itself, so a new output is offered here without a second list.
#[derive(Debug, Clone, Copy)]
pub enum SchemaFile {
    Config(ConfigFile),
    Output(Output),
}

impl clap::ValueEnum for SchemaFile {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<SchemaFile>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            let configs = ConfigFile::value_variants().iter().map(|c| SchemaFile::Config(*c));
            configs.chain(Output::value_variants().iter().map(|o| SchemaFile::Output(*o))).collect()
        })
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            SchemaFile::Config(c) => c.to_possible_value(),
            SchemaFile::Output(o) => o.to_possible_value(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Do it without asking.
    #[arg(long)]
    pub yes: bool,

    /// Connect and compare, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Continue the latest interrupted rollout of the same commit in its journal.
    #[arg(long)]
    pub resume: bool,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// A static agent binary to push instead of the one built into schedfleet.
    #[arg(long, env = "SCHEDFLEET_AGENT")]
    pub agent: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Boot VMs lab-1..lab-N with a sched_ext kernel and sshd (idempotent).
    Up(LabUpArgs),
    /// Stop exactly the VMs `lab up` started.
    Down(LabDirArgs),
    /// List the lab's VMs and how to reach them.
    Status(LabStatusArgs),
}

#[derive(Debug, Args)]
pub struct LabDirArgs {
    /// State directory of the lab (keys, known-hosts, PIDs, consoles).
    #[arg(long, env = "SCHEDFLEET_LAB_DIR")]
    pub lab_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    #[command(flatten)]
    pub dir: LabDirArgs,

    /// Number of VMs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub hosts: u16,

    /// The kernel VMs booted by this command run: a release cached by `lab/setup.sh kernel`
    /// (`7.2.6+deb13-cloud-amd64`) or an alias (`current`, the newest, the default; `oldest`).
    /// VMs already running keep theirs.
    #[arg(long, env = "SCHEDFLEET_LAB_KERNEL", value_name = "RELEASE")]
    pub kernel: Option<String>,

    /// vCPUs of each VM this command boots (VMs already running keep theirs).
    #[arg(long, default_value_t = schedfleet_fleet::lab::DEFAULT_LAB_CPUS, value_parser = clap::value_parser!(u8).range(1..=schedfleet_fleet::lab::MAX_LAB_CPUS as i64))]
    pub cpus: u8,
}

#[derive(Debug, Args)]
pub struct LabStatusArgs {
    #[command(flatten)]
    pub dir: LabDirArgs,

    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: GenerateWhat,
}

#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Write the static agent built into this schedfleet to FILE.
    Agent {
        /// Where to write it (made executable).
        file: PathBuf,
    },
    /// Write completion scripts for bash, zsh and fish into DIR.
    Completions {
        /// The directory (created if missing).
        dir: PathBuf,
    },
    /// Write man pages (`schedfleet.1`, `schedfleet-apply.1` ...) into DIR.
    Man {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}
