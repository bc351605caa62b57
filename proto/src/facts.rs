//! `schedfleet-agent facts`: what the controller needs to know of a host
//! before it renders templates and picks artifacts.

use serde::{Deserialize, Serialize};

use crate::{NumaNode, PciGpu, Topology};

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
    /// controller's agentless ones, so a template sees the same count. The
    /// list is read by [`crate::topology::expand_list`], like the topology's.
    pub fn count_list(list: &str) -> Option<u32> {
        crate::topology::expand_list(list).map(|members| members.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
