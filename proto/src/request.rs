//! Every command the controller sends to `schedfleet-agent`, typed, and the
//! one function that turns a command into the agent's arguments.
//!
//! The agent parses its own command line (`agent/src/cli.rs`); a test there
//! parses [`Request::args`] of every variant back and compares, so the two
//! sides cannot drift apart. `watch` is absent on purpose: only the agent
//! starts its own watchdog. Replies are typed too: [`Request::Status`]
//! answers a [`crate::Status`], and so on (see each variant).

/// One agent command with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `--version`: the agent's version, as plain text (not a [`crate::Reply`]).
    Version,
    /// Replies [`crate::Facts`].
    Facts,
    /// Replies [`crate::Status`].
    Status(StatusRequest),
    /// Replies [`crate::Activated`].
    Activate(ActivateRequest),
    /// Replies [`crate::Confirmed`].
    Confirm { artifact: String },
    /// Back to the previous confirmed scheduler; replies [`crate::RolledBack`].
    Rollback,
    /// Back to the kernel's default scheduler; replies [`crate::Deactivated`].
    Deactivate,
    /// Replies [`crate::LeaseAcquired`].
    LeaseAcquire { owner: String, ttl_secs: u64 },
    /// Replies [`crate::LeaseReleased`].
    LeaseRelease { owner: String },
    /// Replies [`crate::StoreHas`].
    StoreHas { digests: Vec<String> },
    /// The artifact's bytes go on stdin; replies [`crate::StorePut`].
    StorePut { digest: String },
}

/// `status`: what the host runs, and optionally how it performs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusRequest {
    /// Milliseconds of wake-up latency measurement; 0 measures nothing.
    /// Always sent: the agent's own default (a second) would cost every
    /// `plan` and `apply` a second per host.
    pub latency_window_ms: u64,
    /// Measure only tasks of this cgroup v2 path.
    pub cgroup: Option<String>,
    /// User probes to run, as the JSON list of [`crate::ProbeSpec`]s.
    pub probes_json: Option<String>,
}

/// `activate`: verify, load, switch, check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivateRequest {
    /// The object's path on the host (in the store).
    pub object: String,
    /// Its sha256; the agent refuses anything else.
    pub sha256: String,
    /// Parameters as `NAME=VALUE`, in order.
    pub params: Vec<(String, String)>,
    pub commit: Option<String>,
    /// Replace a scheduler this agent loaded before.
    pub replace: bool,
    /// Two-phase: the host reverts by itself unless confirmed in time.
    pub confirm: Option<ConfirmRequest>,
    /// An upstream scheduler binary (`--binary JSON`) instead of a BPF
    /// object; `object` is then the executable's path on the host.
    pub binary: Option<crate::BinarySpec>,
    /// Stop a competing sched_ext manager (`scx.service`, `scx_loader`)
    /// first instead of refusing (`--takeover`).
    pub takeover: bool,
}

/// The watchdog of a two-phase activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// Seconds until the host reverts an unconfirmed activation (at least 1).
    pub within_secs: u64,
    pub watch_interval_ms: Option<u64>,
    pub probe_interval_ms: Option<u64>,
    /// The probes the watchdog runs, as the JSON list of [`crate::ProbeSpec`]s.
    pub probes_json: Option<String>,
}

impl Request {
    /// The agent's arguments for this command (after the program name).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| (*s).to_owned()));
        match self {
            Request::Version => push(&["--version"]),
            Request::Facts => push(&["facts"]),
            Request::Status(s) => {
                push(&["status", "--latency-window", &s.latency_window_ms.to_string()]);
                if let Some(c) = &s.cgroup {
                    push(&["--cgroup", c]);
                }
                if let Some(p) = &s.probes_json {
                    push(&["--probes", p]);
                }
            }
            Request::Activate(r) => {
                push(&["activate", &r.object, "--sha256", &r.sha256]);
                if let Some(c) = &r.commit {
                    push(&["--commit", c]);
                }
                if r.replace {
                    push(&["--replace"]);
                }
                for (k, v) in &r.params {
                    push(&["--param", &format!("{k}={v}")]);
                }
                if let Some(b) = &r.binary {
                    push(&["--binary", &serde_json::to_string(b).expect("a BinarySpec serialises")]);
                }
                if r.takeover {
                    push(&["--takeover"]);
                }
                if let Some(c) = &r.confirm {
                    push(&["--confirm-within", &c.within_secs.max(1).to_string()]);
                    if let Some(ms) = c.watch_interval_ms {
                        push(&["--watch-interval-ms", &ms.to_string()]);
                    }
                    if let Some(ms) = c.probe_interval_ms {
                        push(&["--probe-interval-ms", &ms.to_string()]);
                    }
                    if let Some(p) = &c.probes_json {
                        push(&["--probes", p]);
                    }
                }
            }
            Request::Confirm { artifact } => push(&["confirm", "--artifact", artifact]),
            Request::Rollback => push(&["rollback"]),
            Request::Deactivate => push(&["deactivate"]),
            Request::LeaseAcquire { owner, ttl_secs } => {
                push(&["lease", "acquire", "--owner", owner, "--ttl", &ttl_secs.to_string()])
            }
            Request::LeaseRelease { owner } => push(&["lease", "release", "--owner", owner]),
            Request::StoreHas { digests } => {
                push(&["store", "has"]);
                for d in digests {
                    push(&[d]);
                }
            }
            Request::StorePut { digest } => push(&["store", "put", digest]),
        }
        a
    }

    /// The command's name, for messages and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Version => "--version",
            Request::Facts => "facts",
            Request::Status(_) => "status",
            Request::Activate(_) => "activate",
            Request::Confirm { .. } => "confirm",
            Request::Rollback => "rollback",
            Request::Deactivate => "deactivate",
            Request::LeaseAcquire { .. } => "lease acquire",
            Request::LeaseRelease { .. } => "lease release",
            Request::StoreHas { .. } => "store has",
            Request::StorePut { .. } => "store put",
        }
    }

    /// Whether running the command twice has the effect of running it
    /// once, so that it may be sent again after its connection dropped
    /// without knowing whether the first one ran. `activate`, `confirm`,
    /// `rollback` and `deactivate` are not: a second `rollback` goes one
    /// step further back, a second `confirm` of a confirmed host answers
    /// `not_pending`.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Request::Version
                | Request::Facts
                | Request::Status(_)
                | Request::StoreHas { .. }
                | Request::StorePut { .. }
                | Request::LeaseAcquire { .. }
                | Request::LeaseRelease { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_always_names_its_latency_window() {
        let args = Request::Status(StatusRequest::default()).args();
        assert_eq!(args, ["status", "--latency-window", "0"]);
    }

    #[test]
    fn activate_lists_params_as_separate_arguments() {
        let r = Request::Activate(ActivateRequest {
            object: "/s/o".into(),
            sha256: "ab".into(),
            params: vec![("slice_ns".into(), "5000 0".into())],
            commit: Some("c".into()),
            replace: true,
            confirm: Some(ConfirmRequest {
                within_secs: 0,
                watch_interval_ms: None,
                probe_interval_ms: None,
                probes_json: None,
            }),
            binary: None,
            takeover: false,
        });
        assert_eq!(
            r.args(),
            [
                "activate",
                "/s/o",
                "--sha256",
                "ab",
                "--commit",
                "c",
                "--replace",
                "--param",
                "slice_ns=5000 0",
                "--confirm-within",
                "1"
            ]
        );
    }
}
