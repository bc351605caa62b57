//! `schedfleet-agent status`: what the kernel runs, what the agent believes
//! it loaded, and the health report (wake-up latency, CPU pressure, load,
//! ejections, GPUs, user probes, a supervised binary's scx_stats).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ActiveScheduler, Fallback, Lease, Pending, Supervised};
// Named by the docs (which are also the JSON Schema's descriptions).
#[cfg(doc)]
use crate::{bounds, probe, AgentState};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
