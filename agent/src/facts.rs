//! Host facts, read from the kernel's own files. No DNS and no user-name
//! lookups: the agent is a static binary, where glibc's NSS does not work.
//! The topology (NUMA nodes, SMT siblings, GPUs) is assembled by
//! [`schedfleet_proto::Topology::read`] from a sysfs root this module
//! names, so tests read fixture trees instead of this machine's `/sys`.

use std::path::{Path, PathBuf};

use schedfleet_proto::{Facts, SysfsView, Topology};

pub fn collect() -> Facts {
    let uts = uname();
    let facts = Facts {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel_release: uts.0,
        arch: uts.1,
        sched_ext: Path::new("/sys/kernel/sched_ext").is_dir(),
        btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
        cpus: count_list("/sys/devices/system/cpu/online")
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
        numa_nodes: count_list("/sys/devices/system/node/online").unwrap_or(1),
        cgroup_version: cgroup_version(),
        is_root: is_root(),
        numa: Vec::new(),
        smt_siblings: Vec::new(),
        gpus: Vec::new(),
    };
    facts.with_topology(Topology::read(&Sysfs::new("/sys")))
}

/// A sysfs tree on disk, rooted at `/sys` on a host and at a fixture
/// directory in tests.
pub struct Sysfs {
    root: PathBuf,
}

impl Sysfs {
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }
}

impl SysfsView for Sysfs {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok().map(|s| s.trim().to_owned())
    }

    fn entries(&self, dir: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.root.join(dir)) else { return Vec::new() };
        rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `(release, machine)` from uname(2).
fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; uname fills it or fails.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return ("unknown".into(), "unknown".into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&uts.release), field(&uts.machine))
}

fn count_list(path: &str) -> Option<u32> {
    Facts::count_list(std::fs::read_to_string(path).ok()?.trim())
}

fn cgroup_version() -> u8 {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        2
    } else if Path::new("/sys/fs/cgroup/cpu").exists() || Path::new("/sys/fs/cgroup/cpu,cpuacct").exists() {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_this_machine_are_plausible() {
        let f = collect();
        assert!(f.cpus >= 1);
        assert!(!f.kernel_release.is_empty());
        assert_eq!(f.arch, std::env::consts::ARCH);
        // Every online CPU belongs to exactly one SMT group.
        let in_groups: usize =
            f.smt_siblings.iter().map(|g| schedfleet_proto::topology::expand_list(g).unwrap().len()).sum();
        assert_eq!(in_groups, f.cpus as usize, "{:?}", f.smt_siblings);
    }

    /// Writes `files` (paths relative to the root) under a new directory.
    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{content}\n")).unwrap();
        }
        dir
    }

    /// A two-socket server, 8 cores with 2 threads each, one NVIDIA GPU on
    /// each node, plus the BMC's VGA device (no node) and a NIC that is no
    /// GPU; the files are the kernel's, trailing newlines included.
    #[test]
    fn two_gpus_on_two_nodes_are_read_from_a_fixture_tree() {
        let mut files = vec![
            ("devices/system/node/online", "0-1"),
            ("devices/system/node/node0/cpulist", "0-3,8-11"),
            ("devices/system/node/node1/cpulist", "4-7,12-15"),
            ("devices/system/cpu/online", "0-15"),
            ("bus/pci/devices/0000:17:00.0/class", "0x030200"),
            ("bus/pci/devices/0000:17:00.0/vendor", "0x10de"),
            ("bus/pci/devices/0000:17:00.0/device", "0x2330"),
            ("bus/pci/devices/0000:17:00.0/numa_node", "0"),
            ("bus/pci/devices/0000:17:00.0/local_cpulist", "0-3,8-11"),
            ("bus/pci/devices/0000:b1:00.0/class", "0x030200"),
            ("bus/pci/devices/0000:b1:00.0/vendor", "0x10de"),
            ("bus/pci/devices/0000:b1:00.0/device", "0x2330"),
            ("bus/pci/devices/0000:b1:00.0/numa_node", "1"),
            ("bus/pci/devices/0000:b1:00.0/local_cpulist", "4-7,12-15"),
            ("bus/pci/devices/0000:03:00.0/class", "0x030000"),
            ("bus/pci/devices/0000:03:00.0/vendor", "0x1a03"),
            ("bus/pci/devices/0000:03:00.0/device", "0x2000"),
            ("bus/pci/devices/0000:03:00.0/numa_node", "-1"),
            ("bus/pci/devices/0000:03:00.0/local_cpulist", "0-15"),
            ("bus/pci/devices/0000:18:00.0/class", "0x020000"),
            ("bus/pci/devices/0000:18:00.0/vendor", "0x15b3"),
        ];
        let siblings: Vec<(String, String)> = (0..16)
            .map(|c| {
                (format!("devices/system/cpu/cpu{c}/topology/thread_siblings_list"), format!("{},{}", c % 8, c % 8 + 8))
            })
            .collect();
        files.extend(siblings.iter().map(|(p, v)| (p.as_str(), v.as_str())));
        let dir = fixture(&files);
        let t = Topology::read(&Sysfs::new(dir.path()));

        let nodes: Vec<(u32, &str)> = t.numa.iter().map(|n| (n.id, n.cpus.as_str())).collect();
        assert_eq!(nodes, [(0, "0-3,8-11"), (1, "4-7,12-15")]);
        assert_eq!(t.smt_siblings, ["0,8", "1,9", "2,10", "3,11", "4,12", "5,13", "6,14", "7,15"]);
        let gpus: Vec<(&str, &str, Option<u32>, &str)> = t
            .gpus
            .iter()
            .map(|g| (g.pci_address.as_str(), g.vendor.as_str(), g.numa_node, g.local_cpus.as_str()))
            .collect();
        assert_eq!(
            gpus,
            [
                ("0000:03:00.0", "0x1a03", None, "0-15"),
                ("0000:17:00.0", "nvidia", Some(0), "0-3,8-11"),
                ("0000:b1:00.0", "nvidia", Some(1), "4-7,12-15"),
            ]
        );
        assert_eq!((t.gpus[1].class.as_str(), t.gpus[1].device_id.as_str()), ("0x030200", "0x2330"));
    }
}
