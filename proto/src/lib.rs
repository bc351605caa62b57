//! Wire types between the schedfleet controller and its host agent.
//!
//! This crate owns the commands the controller sends ([`Request`], turned
//! into the agent's arguments in one place), the JSON documents the agent
//! prints on stdout and the controller parses, plus the few constants both sides must agree on (where
//! the agent keeps its store and state on a host), the bounds the agent
//! enforces on what it is sent ([`bounds`]) and what a user probe may be
//! ([`probe`]), which the controller checks before it contacts a host. It owns no behaviour: no
//! I/O, no transport, and no parsing of kernel files beyond the pure
//! assembly of the topology facts ([`topology`]) from file contents both
//! sides read, so the agent and the agentless facts cannot disagree. Both `schedfleet-agent` and
//! `schedfleet-fleet` depend on it; it depends on nothing of theirs.
//!
//! Every document carries [`SCHEMA_VERSION`]; fields are only ever added, so a
//! newer controller can read an older agent and the other way round.

pub mod binary;
pub mod bounds;
pub mod probe;
mod request;
pub mod topology;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use binary::{BinaryOrigin, BinarySpec, ExitCause, ProcessExit, RestartPolicy, Supervised};
pub use request::{ActivateRequest, ConfirmRequest, Request, StatusRequest};
pub use topology::{NumaNode, PciGpu, SysfsView, Topology};

/// Version of the documents in this crate. Bumped only on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Root of everything the agent keeps on a host.
pub const AGENT_ROOT: &str = "/var/lib/schedfleet";
/// Content-addressed artifact store: `<STORE_DIR>/<sha256 hex>`.
pub const STORE_DIR: &str = "/var/lib/schedfleet/store";
/// A symbolic link to the agent most recently pushed, so read-only callers
/// (`plan`, `status`, `drift`) find an agent without knowing its digest.
pub const AGENT_LINK: &str = "/var/lib/schedfleet/schedfleet-agent";
/// What the agent believes is active, written atomically on every change.
pub const STATE_FILE: &str = "/var/lib/schedfleet/state.json";
/// What `status` saw last time (`enable_seq`), so the next report can say
/// whether a scheduler was loaded in between. Written atomically by `status`.
pub const LAST_REPORT_FILE: &str = "/var/lib/schedfleet/last_report.json";
/// Where the agent pins the struct_ops link of the scheduler it loaded. The
/// kernel keeps the scheduler attached as long as this pin exists.
pub const LINK_PIN: &str = "/sys/fs/bpf/schedfleet/sched_ext_link";
/// The per-host lease (`schedfleet-agent lease`): who may change this host,
/// until when. Written atomically under an flock of [`LEASE_LOCK_FILE`].
pub const LEASE_FILE: &str = "/var/lib/schedfleet/lease.json";
/// The lock file that makes a lease's read-modify-write atomic.
pub const LEASE_LOCK_FILE: &str = "/var/lib/schedfleet/lease.lock";
/// The lock file every command that changes [`STATE_FILE`] holds (an flock)
/// while it reads, decides and writes, the watchdog included.
pub const STATE_LOCK_FILE: &str = "/var/lib/schedfleet/state.lock";
/// Where the watchdog of an unconfirmed activation logs.
pub const WATCHDOG_LOG: &str = "/var/lib/schedfleet/watchdog.log";

/// The one document the agent prints on stdout for every command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reply<T> {
    /// The command did what it was asked.
    Ok { schema: u32, result: T },
    /// The command failed; the host runs what it ran before.
    Error { schema: u32, error: AgentError },
}

impl<T> Reply<T> {
    pub fn ok(result: T) -> Self {
        Reply::Ok { schema: SCHEMA_VERSION, result }
    }

    pub fn error(error: AgentError) -> Self {
        Reply::Error { schema: SCHEMA_VERSION, error }
    }

    pub fn into_result(self) -> Result<T, AgentError> {
        match self {
            Reply::Ok { result, .. } => Ok(result),
            Reply::Error { error, .. } => Err(error),
        }
    }
}

/// A failure the agent reports, with a kind scripts can match on and a
/// message for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentError {
    pub kind: ErrorKind,
    pub message: String,
    /// The last lines of the kernel verifier's log, when the kernel refused
    /// the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_log: Option<String>,
    /// With [`ErrorKind::Reverted`]: the fallback that reverted the
    /// activation (boxed: errors stay small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fallback: Option<Box<Fallback>>,
    /// With [`ErrorKind::LeaseHeld`]: the lease of the other owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(log) = &self.verifier_log {
            write!(f, "\nverifier log (tail):\n{log}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AgentError {}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Wrong command line.
    Usage,
    /// The agent must run as root to load BPF.
    NotRoot,
    /// The running kernel has no sched_ext.
    NoSchedExt,
    /// An artifact's sha256 is not the one expected.
    DigestMismatch,
    /// The object is not a usable sched_ext scheduler (no struct_ops map...).
    BadObject,
    /// A parameter is unknown or its value does not fit.
    BadParam,
    /// The kernel verifier rejected a program.
    VerifierRejected,
    /// A sched_ext scheduler is already active.
    AlreadyActive,
    /// The kernel accepted the scheduler but it is not (or no longer) running.
    NotEnabled,
    /// `confirm`: no activation waits for a confirmation.
    NotPending,
    /// `confirm`: a different artifact waits for a confirmation.
    OtherPending,
    /// `confirm`: the activation was already reverted (by its watchdog, or
    /// by `confirm` itself after its deadline or a kernel failure); the
    /// error's `last_fallback` says why.
    Reverted,
    /// `lease acquire`/`release`: another owner holds an unexpired lease;
    /// the error's `lease` names the holder and the expiry.
    LeaseHeld,
    /// `activate`: a check of the host before any change failed (a shared
    /// library an upstream binary needs is missing, the kernel has no BTF or
    /// no `/boot/config-<release>`); the message says what to do. Nothing on
    /// the host was changed.
    Preflight,
    /// `activate`: another sched_ext manager is active on the host
    /// (`scx.service`, `scx_loader`, or an `scx_*` process schedfleet did not
    /// start); the message names it. Nothing was changed; `--takeover`
    /// stops it first.
    OtherManager,
    /// Anything else: I/O, unexpected kernel answers.
    Internal,
}

/// `schedfleet-agent facts`: what the controller needs to know of a host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Facts {
    pub agent_version: String,
    pub kernel_release: String,
    pub arch: String,
    /// `/sys/kernel/sched_ext` exists.
    pub sched_ext: bool,
    /// `/sys/kernel/btf/vmlinux` exists (needed for CO-RE).
    pub btf: bool,
    pub cpus: u32,
    pub numa_nodes: u32,
    /// 1 or 2; 0 when no cgroup file system is mounted.
    pub cgroup_version: u8,
    pub is_root: bool,
    /// Online NUMA nodes with their CPUs; empty when the kernel has no
    /// NUMA support (or an older agent reported).
    #[serde(default)]
    pub numa: Vec<NumaNode>,
    /// SMT sibling groups, one kernel CPU list per physical core.
    #[serde(default)]
    pub smt_siblings: Vec<String>,
    /// PCI display and 3D controllers (GPUs), by PCI address.
    #[serde(default)]
    pub gpus: Vec<PciGpu>,
}

impl Facts {
    /// Puts a host's [`Topology`] into its facts.
    pub fn with_topology(mut self, t: Topology) -> Facts {
        self.numa = t.numa;
        self.smt_siblings = t.smt_siblings;
        self.gpus = t.gpus;
        self
    }

    /// Counts the members of a kernel list such as `0-3,8,10-11` (CPUs or
    /// NUMA nodes online): one definition for the agent's facts and the
    /// controller's agentless ones, so a template sees the same count.
    pub fn count_list(list: &str) -> Option<u32> {
        let mut n = 0u32;
        for part in list.split(',').filter(|p| !p.is_empty()) {
            n += match part.split_once('-') {
                Some((a, b)) => b.parse::<u32>().ok()?.checked_sub(a.parse().ok()?)? + 1,
                None => part.parse::<u32>().map(|_| 1).ok()?,
            };
        }
        (n > 0).then_some(n)
    }
}

/// What the kernel says about sched_ext, read from `/sys/kernel/sched_ext`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KernelSchedExt {
    /// `disabled`, `enabling`, `enabled`, `disabling`.
    pub state: String,
    /// Name of the ops of the loaded scheduler; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<String>,
    /// Counts every load since boot; never goes back.
    pub enable_seq: u64,
    pub nr_rejected: u64,
    pub switch_all: bool,
    /// `SCX_EV_*` counters as the kernel names them (only while loaded).
    #[serde(default)]
    pub events: BTreeMap<String, u64>,
}

/// What the agent activated, kept on the host in [`STATE_FILE`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActiveScheduler {
    /// sha256 of the BPF object, lower-case hex.
    pub artifact: String,
    /// The ops name the object declares; the kernel must report it.
    pub ops: String,
    pub params: BTreeMap<String, String>,
    /// Commit of the config repository this came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Seconds since the Unix epoch.
    pub since: u64,
    /// `enable_seq` right after the load: a change means a reload happened.
    pub enable_seq: u64,
    /// False while the activation waits for `confirm` (see
    /// [`AgentState::pending`]); true otherwise, and for state files written
    /// before two-phase activation.
    #[serde(default = "confirmed_by_default")]
    pub confirmed: bool,
    /// Set for an upstream scheduler binary the agent runs and supervises
    /// (see [`binary`]); absent for a BPF object the agent loads itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinarySpec>,
}

fn confirmed_by_default() -> bool {
    true
}

/// The agent's state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveScheduler>,
    /// An activation made with `--confirm-within` that waits for `confirm`;
    /// its watchdog reverts it to `previous` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The confirmed scheduler before the current confirmed one (`None`: the
    /// kernel's default): where `rollback` goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_confirmed: Option<ActiveScheduler>,
    /// The newest fallback of an unconfirmed activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fallback: Option<Fallback>,
    /// A change of scheduler under way, written before anything is switched
    /// (write-ahead): one found by a later command means the agent that
    /// wrote it died mid-way, and the host goes back to `previous`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

/// A change of scheduler under way (see [`AgentState::intent`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Intent {
    /// sha256 of the scheduler being activated.
    pub artifact: String,
    /// Its ops name.
    pub ops: String,
    /// Seconds since the Unix epoch when the change began.
    pub started: u64,
    /// The agent process making the change.
    pub pid: u32,
    /// The confirmed position to return to should the change not finish
    /// (`None`: the kernel's default), as it ran when the change began.
    pub previous: Option<ActiveScheduler>,
}

/// An unconfirmed activation (`activate --confirm-within`) and what its
/// watchdog reverts to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pending {
    /// sha256 of the activated object (also `active.artifact`).
    pub artifact: String,
    /// Its ops name; the kernel must keep reporting it.
    #[serde(default)]
    pub ops: String,
    /// The kernel's `enable_seq` right after the activation; a change means
    /// someone loaded a scheduler since.
    #[serde(default)]
    pub enable_seq: u64,
    /// Seconds since the Unix epoch by which `confirm` must come.
    pub deadline: u64,
    /// `--confirm-within`, in seconds (for people, and the fallback's reason).
    #[serde(default)]
    pub confirm_within: u64,
    /// The last confirmed scheduler, restored on a fallback; `None`: the
    /// kernel's default.
    #[serde(default)]
    pub previous: Option<ActiveScheduler>,
    /// The watchdog process (`schedfleet-agent watch`).
    pub watchdog_pid: u32,
}

/// What a watchdog (or `confirm`, past the deadline) did when an
/// unconfirmed activation failed or was not confirmed in time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fallback {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub from_ops: String,
    pub from_artifact: String,
    /// ``previous `<ops>` `` or `kernel default`.
    pub to: String,
    /// Why, such as ``kernel ejected the scheduler: <kernel log line>``,
    /// `enable_seq changed: reloaded by someone else`,
    /// ``probe `serving` failed: <detail>``, `not confirmed within 120 s`.
    pub reason: String,
    /// Milliseconds from noticing the failure to the fallback's end.
    #[serde(default)]
    pub took_ms: u64,
    /// Why the previous scheduler could not be restored (the host then runs
    /// the kernel's default); absent when it was, or there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
}

/// The per-host lease, `<agent root>/lease.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lease {
    /// Free text; the controller uses `user@machine pid N run R`.
    pub owner: String,
    /// Seconds since the Unix epoch; the lease is free from then on.
    pub expires: u64,
}

/// `schedfleet-agent status`: what runs, and how the host is doing (the
/// health report). Every health field is optional: agents before the health
/// report send none of them, and each is absent where the host cannot say
/// (no PSI, no GPU driver, the probe disabled).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Status {
    pub agent_version: String,
    pub kernel: KernelSchedExt,
    /// What the agent believes it loaded, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveScheduler>,
    /// The kernel runs exactly what the agent believes is active (or both
    /// say nothing is).
    pub kernel_agrees: bool,
    /// An activation waiting for `confirm`, as in [`AgentState::pending`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// With `pending`: whether its watchdog process is alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_running: Option<bool>,
    /// Where `rollback` goes, as in [`AgentState::previous_confirmed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_confirmed: Option<ActiveScheduler>,
    /// The newest fallback, as in [`AgentState::last_fallback`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fallback: Option<Fallback>,
    /// The unexpired lease; absent when the host is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Wake-up latency measured during the report (`--latency-window`);
    /// absent when the window is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<WakeLatency>,
    /// CPU pressure (`/proc/pressure/cpu`); absent when the kernel has PSI
    /// off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<CpuPressure>,
    /// `/proc/loadavg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadavg: Option<LoadAvg>,
    /// Tasks runnable right now (`procs_running` in `/proc/stat`), the
    /// reporting agent included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runnable: Option<u64>,
    /// The kernel's `enable_seq` differs from the one the previous `status`
    /// saw: a scheduler was loaded since (by anyone, schedfleet included).
    /// Absent on the first report, or when the previous one is unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_seq_changed_since_last_report: Option<bool>,
    /// The newest scheduler the kernel stopped on its own (error, stall,
    /// SysRq, the scheduler exiting) that the kernel log still holds;
    /// unloads from user space are not ejections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ejection: Option<Ejection>,
    /// NVIDIA driver and GPUs; absent when the driver is not loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuInfo>,
    /// The user probes asked for with `--probes`, in the order given; empty
    /// (and left out) when none were asked for or the agent predates them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeResult>,
    /// The supervised process of an active binary scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervised: Option<Supervised>,
    /// What an active binary scheduler's scx_stats server answered to
    /// `{"req":"stats","args":{"target":"top"}}` (the reply's
    /// `args.resp`), within a short timeout; absent when it serves none,
    /// or did not answer in time (then `scx_stats_error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scx_stats: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scx_stats_error: Option<String>,
}

/// A user probe `status` runs while it measures (`--probes`, a JSON list of
/// these): a command or an HTTP GET, bounded by `timeout_ms`. Exactly one of
/// `command` and `http` is given.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProbeSpec {
    /// Names the result; unique within one `--probes`.
    pub name: String,
    /// A program and its arguments, run directly (never through a shell);
    /// passes when it exits with status 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `http://HOST[:PORT]/PATH`, HOST an IP address or `localhost` (the
    /// agent has no resolver and no TLS); passes on a 2xx status. See
    /// [`ProbeSpec::check`] (in [`probe`]) for every rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// [`bounds::PROBE_TIMEOUT_MS`]; a command still running then is killed.
    pub timeout_ms: u64,
}

/// The outcome of one [`ProbeSpec`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProbeResult {
    pub name: String,
    pub ok: bool,
    /// The status line of an HTTP probe, the end of a command's output (and
    /// how it ended when it failed), or what went wrong.
    pub detail: String,
    /// From starting the probe to its outcome, in milliseconds.
    pub elapsed_ms: u64,
}

/// Wake-up latency: how long woken tasks waited before they ran, from the
/// `wakelat` BPF probe, over one window. Percentiles are the upper bounds
/// of the histogram buckets they fall in (at most 12.5% above the true value
/// from 8 us up, 1 us wide below), never above `max_us`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WakeLatency {
    /// How long the probe was attached, in milliseconds (as asked).
    pub window_ms: u64,
    /// Wake-ups that were followed by the task running within the window.
    #[serde(default)]
    pub samples: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<u64>,
    /// The largest latency, rounded up to a whole microsecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_us: Option<u64>,
    /// The mean latency, rounded to a whole microsecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_us: Option<u64>,
    /// The non-empty buckets as `[upper_bound_us, count]`, ascending; a
    /// bucket holds latencies below its bound and at or above the previous
    /// bucket's. The last bucket (16.8 s and more) is given `max_us` as
    /// its bound.
    #[serde(default)]
    pub buckets: Vec<(u64, u64)>,
    /// Only tasks of this cgroup (v2, and its descendants) were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Why there is no measurement (no BTF, not root, an unknown cgroup...);
    /// the other fields are then empty. The rest of the report is unaffected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/proc/pressure/cpu`: the share of time tasks waited for a CPU.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CpuPressure {
    /// Some runnable task was waiting.
    pub some: PressureLine,
    /// Every non-idle task was waiting (reported for CPU since Linux 5.13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<PressureLine>,
}

/// One line of a PSI file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PressureLine {
    /// Percent of the last 10, 60 and 300 seconds.
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Total stall time since boot, in microseconds.
    pub total: u64,
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadAvg {
    pub avg1: f64,
    pub avg5: f64,
    pub avg15: f64,
}

/// A scheduler the kernel disabled, from the kernel log line
/// `sched_ext: BPF scheduler "<ops>" disabled (<reason>)`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Ejection {
    /// The scheduler's ops name.
    pub ops: String,
    /// The kernel's reason, as it words it (`runtime error`,
    /// `scx_bpf_error`, `runnable task stall`, `disabled by sysrq-S`...).
    pub reason: String,
    /// The log line, as the kernel wrote it.
    pub message_line: String,
    /// The scheduler's own message, from the line the kernel writes after
    /// an error (`sched_ext: <ops>: <message>`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the kernel logged it, in microseconds since boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_time_us: Option<u64>,
}

/// The NVIDIA driver and its GPUs, from `/proc/driver/nvidia`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GpuInfo {
    /// Such as `550.54.14`; empty when the version file does not say.
    pub driver_version: String,
    #[serde(default)]
    pub gpus: Vec<Gpu>,
}

/// One GPU, from `/proc/driver/nvidia/gpus/<bus location>/information`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gpu {
    /// PCI address, such as `0000:18:00.0`.
    pub bus_location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_bios: Option<String>,
    /// The N of `/dev/nvidiaN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_minor: Option<u32>,
}

/// `schedfleet-agent activate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Activated {
    pub active: ActiveScheduler,
    pub kernel: KernelSchedExt,
    /// Milliseconds from opening the object to the kernel reporting `enabled`.
    pub load_ms: u64,
    /// With `--confirm-within`: the watchdog that reverts the activation
    /// unless `confirm` comes by `deadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_pid: Option<u32>,
    /// With `--confirm-within`: seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
}

/// `schedfleet-agent confirm`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Confirmed {
    /// The scheduler now confirmed.
    pub active: ActiveScheduler,
    /// It was confirmed before this call (a repeated `confirm`).
    #[serde(default)]
    pub already_confirmed: bool,
}

/// `schedfleet-agent rollback`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RolledBack {
    /// What ran before (`None`: the kernel's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ActiveScheduler>,
    /// What runs now, confirmed (`None`: the kernel's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveScheduler>,
    pub kernel: KernelSchedExt,
}

/// `schedfleet-agent lease acquire`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaseAcquired {
    pub lease: Lease,
    /// The owner already held it (its expiry moved).
    pub refreshed: bool,
}

/// `schedfleet-agent lease release`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaseReleased {
    /// The lease given up; `None` when it was already free (or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Lease>,
}

/// `schedfleet-agent deactivate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deactivated {
    /// What was removed; `None` when nothing of ours was active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<ActiveScheduler>,
    pub kernel: KernelSchedExt,
}

/// `schedfleet-agent store has`: which of the asked digests the host holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StoreHas {
    pub present: Vec<String>,
    pub missing: Vec<String>,
}

/// `schedfleet-agent store put`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StorePut {
    pub digest: String,
    pub bytes: u64,
    /// False when the store already held the digest (nothing written).
    pub written: bool,
}

/// True when `s` is a lower-case hex sha256 (64 characters), the only
/// form the store accepts: it is also a file name, so nothing else may pass.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_lists_are_counted() {
        assert_eq!(Facts::count_list("0"), Some(1));
        assert_eq!(Facts::count_list("0-3"), Some(4));
        assert_eq!(Facts::count_list("0-3,8,10-11"), Some(7));
        assert_eq!(Facts::count_list(""), None);
        assert_eq!(Facts::count_list("3-1"), None);
        assert_eq!(Facts::count_list("x"), None);
    }

    /// An older agent's facts, without the topology, still parse.
    #[test]
    fn facts_without_topology_parse_with_empty_lists() {
        let f: Facts = serde_json::from_str(
            r#"{"agent_version":"0.1.0","kernel_release":"7.3.4","arch":"x86_64","sched_ext":true,"btf":true,
                "cpus":2,"numa_nodes":1,"cgroup_version":2,"is_root":true}"#,
        )
        .unwrap();
        assert!(f.numa.is_empty() && f.smt_siblings.is_empty() && f.gpus.is_empty());
    }

    use super::*;

    #[test]
    fn reply_round_trips_with_outcome_tag() {
        let reply: Reply<StoreHas> = Reply::ok(StoreHas { present: vec!["a".into()], missing: vec![] });
        let json = serde_json::to_string(&reply).unwrap();
        assert!(json.contains(r#""outcome":"ok""#), "{json}");
        let back: Reply<StoreHas> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn error_reply_carries_kind() {
        let reply: Reply<()> = Reply::error(AgentError {
            kind: ErrorKind::DigestMismatch,
            message: "m".into(),
            verifier_log: None,
            last_fallback: None,
            lease: None,
        });
        let json = serde_json::to_string(&reply).unwrap();
        assert_eq!(json, r#"{"outcome":"error","schema":1,"error":{"kind":"digest_mismatch","message":"m"}}"#);
    }

    #[test]
    fn old_documents_read_as_confirmed_with_no_rollout_state() {
        let old_state = r#"{"active":{"artifact":"a","ops":"simple","params":{},"since":1,"enable_seq":4}}"#;
        let st: AgentState = serde_json::from_str(old_state).unwrap();
        assert!(st.active.as_ref().unwrap().confirmed);
        assert_eq!((st.pending, st.previous_confirmed, st.last_fallback), (None, None, None));
        let old_activated = r#"{"active":{"artifact":"a","ops":"simple","params":{},"since":1,"enable_seq":4},
            "kernel":{"state":"enabled","ops":"simple","enable_seq":4,"nr_rejected":0,"switch_all":true},"load_ms":9}"#;
        let a: Activated = serde_json::from_str(old_activated).unwrap();
        assert_eq!((a.active.confirmed, a.watchdog_pid, a.deadline), (true, None, None));
        let old_error = r#"{"outcome":"error","schema":1,"error":{"kind":"not_enabled","message":"m"}}"#;
        let e = serde_json::from_str::<Reply<()>>(old_error).unwrap().into_result().unwrap_err();
        assert_eq!((e.last_fallback, e.lease), (None, None));
    }

    #[test]
    fn rollout_state_round_trips() {
        let active = ActiveScheduler {
            artifact: "b".into(),
            ops: "canary".into(),
            params: BTreeMap::new(),
            commit: None,
            since: 5,
            enable_seq: 7,
            confirmed: false,
            binary: None,
        };
        let st = AgentState {
            active: Some(active.clone()),
            pending: Some(Pending {
                artifact: "b".into(),
                ops: "canary".into(),
                enable_seq: 7,
                deadline: 125,
                confirm_within: 120,
                previous: None,
                watchdog_pid: 321,
            }),
            previous_confirmed: Some(ActiveScheduler { confirmed: true, ..active }),
            last_fallback: Some(Fallback {
                at: 3,
                from_ops: "x".into(),
                from_artifact: "c".into(),
                to: "kernel default".into(),
                reason: "not confirmed within 5 s".into(),
                took_ms: 12,
                restore_error: None,
            }),
            intent: Some(Intent { artifact: "d".into(), ops: "next".into(), started: 9, pid: 77, previous: None }),
        };
        let json = serde_json::to_string(&st).unwrap();
        assert!(json.contains(r#""confirmed":false"#), "{json}");
        assert!(json.contains(r#""pending":{"artifact":"b","ops":"canary","enable_seq":7,"deadline":125,"confirm_within":120,"previous":null,"watchdog_pid":321}"#), "{json}");
        assert_eq!(serde_json::from_str::<AgentState>(&json).unwrap(), st);
        let held = AgentError {
            kind: ErrorKind::LeaseHeld,
            message: "m".into(),
            verifier_log: None,
            last_fallback: None,
            lease: Some(Lease { owner: "u@h pid 1 run r".into(), expires: 9 }),
        };
        let json = serde_json::to_string(&held).unwrap();
        assert_eq!(json, r#"{"kind":"lease_held","message":"m","lease":{"owner":"u@h pid 1 run r","expires":9}}"#);
        for (kind, text) in [
            (ErrorKind::NotPending, "not_pending"),
            (ErrorKind::OtherPending, "other_pending"),
            (ErrorKind::Reverted, "reverted"),
            (ErrorKind::Preflight, "preflight"),
            (ErrorKind::OtherManager, "other_manager"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
        }
    }

    #[test]
    fn status_of_an_older_agent_still_parses() {
        let old = r#"{"agent_version":"0.1.0","kernel":{"state":"disabled","enable_seq":2,"nr_rejected":0,"switch_all":false},"kernel_agrees":true}"#;
        let status: Status = serde_json::from_str(old).unwrap();
        assert_eq!(status.latency, None);
        assert_eq!(status.enable_seq_changed_since_last_report, None);
        assert_eq!(serde_json::to_string(&status).unwrap().len(), old.len() + r#","events":{}"#.len());
    }

    #[test]
    fn latency_buckets_are_pairs() {
        let lat = WakeLatency { window_ms: 1000, samples: 3, buckets: vec![(4, 2), (104, 1)], ..Default::default() };
        let json = serde_json::to_string(&lat).unwrap();
        assert_eq!(json, r#"{"window_ms":1000,"samples":3,"buckets":[[4,2],[104,1]]}"#);
        assert_eq!(serde_json::from_str::<WakeLatency>(&json).unwrap(), lat);
    }

    #[test]
    fn probe_specs_take_either_form() {
        let specs: Vec<ProbeSpec> = serde_json::from_str(
            r#"[{"name":"a","command":["true"],"timeout_ms":5},{"name":"b","http":"http://[::1]:8/x","timeout_ms":9}]"#,
        )
        .unwrap();
        assert_eq!(specs[0].command.as_deref(), Some(&["true".to_owned()][..]));
        assert_eq!((specs[0].http.as_deref(), specs[1].http.as_deref()), (None, Some("http://[::1]:8/x")));
        let json = serde_json::to_string(&specs[1]).unwrap();
        assert_eq!(json, r#"{"name":"b","http":"http://[::1]:8/x","timeout_ms":9}"#);
        let result = ProbeResult { name: "a".into(), ok: true, detail: "HTTP/1.1 200 OK".into(), elapsed_ms: 3 };
        let status = Status { probes: vec![result.clone()], ..Default::default() };
        let back: Status = serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
        assert_eq!(back.probes, vec![result]);
    }

    #[test]
    fn sha256_hex_is_strict() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
    }
}
