//! A host's facts read without the agent: one fixed `sh` script of POSIX
//! tools that only reads (`/proc`, `/sys`, `uname`, `id`), so `plan` and
//! `apply` render every host's parameters with its real facts before
//! anything is pushed, and a host that never had an agent keeps nothing of
//! the visit (no file written, no directory made).
//!
//! The facts are the agent's own ([`schedfleet_proto::Facts`]), read from
//! the same files the agent reads (`agent/src/facts.rs`), so a template sees
//! the same values either way; `agent_version` is empty.

use schedfleet_proto::Facts;

use super::error::HostError;
use super::pool::Visit;
use super::session::Transport;

const FACTS: &str = r#"r=$(cat /proc/sys/kernel/osrelease 2>/dev/null) || r=unknown
printf 'release %s\n' "$r"
printf 'arch %s\n' "$(uname -m 2>/dev/null)"
if [ -d /sys/kernel/sched_ext ]; then echo 'sched_ext 1'; fi
if [ -e /sys/kernel/btf/vmlinux ]; then echo 'btf 1'; fi
printf 'cpus %s\n' "$(cat /sys/devices/system/cpu/online 2>/dev/null)"
printf 'nodes %s\n' "$(cat /sys/devices/system/node/online 2>/dev/null)"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo 'cgroup 2'
elif [ -e /sys/fs/cgroup/cpu ] || [ -e /sys/fs/cgroup/cpu,cpuacct ]; then echo 'cgroup 1'
else echo 'cgroup 0'; fi
printf 'uid %s\n' "$(id -u 2>/dev/null)"
"#;

/// Reads `v`'s facts with [`FACTS`]; one round trip, nothing written.
pub async fn facts_without_agent<T: Transport>(v: &Visit<'_, T>) -> Result<Facts, HostError> {
    let args = vec!["-c".to_owned(), FACTS.to_owned(), "sh".to_owned()];
    let out = v.run("sh", &args, None, true).await?;
    if !out.success() {
        return Err(HostError::Step {
            host: v.host().to_owned(),
            step: "read facts".into(),
            code: out.code,
            stderr: out.stderr,
        });
    }
    Ok(parse_facts(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_facts(text: &str) -> Facts {
    let mut f = Facts {
        agent_version: String::new(),
        kernel_release: "unknown".into(),
        arch: "unknown".into(),
        sched_ext: false,
        btf: false,
        cpus: 1,
        numa_nodes: 1,
        cgroup_version: 0,
        is_root: false,
    };
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = value.trim();
        match key {
            "release" => f.kernel_release = value.to_owned(),
            "arch" if !value.is_empty() => f.arch = value.to_owned(),
            "sched_ext" => f.sched_ext = true,
            "btf" => f.btf = true,
            "cpus" => f.cpus = Facts::count_list(value).unwrap_or(1),
            "nodes" => f.numa_nodes = Facts::count_list(value).unwrap_or(1),
            "cgroup" => f.cgroup_version = value.parse().unwrap_or(0),
            "uid" => f.is_root = value == "0",
            _ => {}
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_like_the_agents() {
        let f = parse_facts("release 7.3.4\narch x86_64\nsched_ext 1\nbtf 1\ncpus 0-3,8\nnodes 0\ncgroup 2\nuid 0\n");
        assert_eq!((f.kernel_release.as_str(), f.arch.as_str(), f.sched_ext, f.btf), ("7.3.4", "x86_64", true, true));
        assert_eq!((f.cpus, f.numa_nodes, f.cgroup_version, f.is_root), (5, 1, 2, true));
        assert_eq!(f.agent_version, "", "no agent told them");
        let f = parse_facts("release 6.1\narch aarch64\ncpus \nnodes \ncgroup 0\nuid 1000\n");
        assert_eq!((f.sched_ext, f.cpus, f.numa_nodes, f.is_root), (false, 1, 1, false));
    }

    /// The script on this machine's `sh` agrees with what Rust reads here.
    #[test]
    fn the_script_reads_this_machine() {
        let out = std::process::Command::new("sh").args(["-c", FACTS, "sh"]).output().unwrap();
        assert!(out.status.success());
        let f = parse_facts(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(f.arch, std::env::consts::ARCH);
        assert_eq!(f.kernel_release, std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap().trim());
        assert!(f.cpus >= 1);
    }
}
