//! A host's facts read without the agent: one fixed `sh` script of POSIX
//! tools that only reads (`/proc`, `/sys`, `uname`, `id`), so `plan` and
//! `apply` render every host's parameters with its real facts before
//! anything is pushed, and a host that never had an agent keeps nothing of
//! the visit (no file written, no directory made).
//!
//! The facts are the agent's own ([`schedfleet_proto::Facts`]), read from
//! the same files the agent reads (`agent/src/facts.rs`), so a template sees
//! the same values either way; `agent_version` is empty. The topology files
//! (NUMA nodes, SMT siblings, PCI display controllers) come back as `file
//! PATH CONTENT` lines and go through the agent's own assembly,
//! [`schedfleet_proto::Topology::read`].

use std::collections::BTreeMap;

use schedfleet_proto::{Facts, SysfsView, Topology};

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
for f in /sys/devices/system/node/online /sys/devices/system/node/node[0-9]*/cpulist \
    /sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list; do
  if [ -r "$f" ]; then printf 'file %s %s\n' "$f" "$(cat "$f" 2>/dev/null)"; fi
done
for d in /sys/bus/pci/devices/*; do
  c=$(cat "$d/class" 2>/dev/null) || continue
  case "$c" in 0x03*)
    for n in class vendor device numa_node local_cpulist; do
      if [ -r "$d/$n" ]; then printf 'file %s %s\n' "$d/$n" "$(cat "$d/$n" 2>/dev/null)"; fi
    done;;
  esac
done
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
        numa: Vec::new(),
        smt_siblings: Vec::new(),
        gpus: Vec::new(),
    };
    let mut files = SysfsFiles::default();
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
            "file" => {
                let (path, content) = value.split_once(' ').unwrap_or((value, ""));
                if let Some(rel) = path.strip_prefix("/sys/") {
                    files.0.insert(rel.to_owned(), content.trim().to_owned());
                }
            }
            _ => {}
        }
    }
    // The script prints the online CPU list as `cpus`; the topology reads
    // it as the agent does, from its file.
    if let Some(online) = text.lines().find_map(|l| l.strip_prefix("cpus ")) {
        files.0.insert("devices/system/cpu/online".into(), online.trim().to_owned());
    }
    f.with_topology(Topology::read(&files))
}

/// The sysfs files the script printed, by path under `/sys`.
#[derive(Default)]
struct SysfsFiles(BTreeMap<String, String>);

impl SysfsView for SysfsFiles {
    fn read(&self, path: &str) -> Option<String> {
        self.0.get(path).cloned()
    }

    fn entries(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        let mut names: Vec<String> =
            self.0.keys().filter_map(|k| Some(k.strip_prefix(&prefix)?.split('/').next()?.to_owned())).collect();
        names.dedup();
        names
    }
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
        assert!(f.numa.is_empty() && f.smt_siblings.is_empty() && f.gpus.is_empty());
    }

    /// The topology lines of a two-node host with a GPU on node 1 become the
    /// same facts the agent reports.
    #[test]
    fn topology_lines_become_the_agents_topology() {
        let text = "cpus 0-3\nnodes 0-1\n\
            file /sys/devices/system/node/online 0-1\n\
            file /sys/devices/system/node/node0/cpulist 0-1\n\
            file /sys/devices/system/node/node1/cpulist 2-3\n\
            file /sys/devices/system/cpu/cpu0/topology/thread_siblings_list 0-1\n\
            file /sys/devices/system/cpu/cpu1/topology/thread_siblings_list 0-1\n\
            file /sys/devices/system/cpu/cpu2/topology/thread_siblings_list 2-3\n\
            file /sys/devices/system/cpu/cpu3/topology/thread_siblings_list 2-3\n\
            file /sys/bus/pci/devices/0000:81:00.0/class 0x030200\n\
            file /sys/bus/pci/devices/0000:81:00.0/vendor 0x10de\n\
            file /sys/bus/pci/devices/0000:81:00.0/device 0x2330\n\
            file /sys/bus/pci/devices/0000:81:00.0/numa_node 1\n\
            file /sys/bus/pci/devices/0000:81:00.0/local_cpulist 2-3\n";
        let f = parse_facts(text);
        assert_eq!(f.numa.iter().map(|n| (n.id, n.cpus.as_str())).collect::<Vec<_>>(), [(0, "0-1"), (1, "2-3")]);
        assert_eq!(f.smt_siblings, ["0-1", "2-3"]);
        assert_eq!(f.gpus.len(), 1);
        let g = &f.gpus[0];
        assert_eq!(
            (g.pci_address.as_str(), g.vendor.as_str(), g.numa_node, g.local_cpus.as_str()),
            ("0000:81:00.0", "nvidia", Some(1), "2-3")
        );
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
        let smt_cpus: usize =
            f.smt_siblings.iter().map(|g| schedfleet_proto::topology::expand_list(g).unwrap().len()).sum();
        assert_eq!(smt_cpus, f.cpus as usize, "every online CPU is in one SMT group: {:?}", f.smt_siblings);
    }
}
