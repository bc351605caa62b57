//! A host's CPU and GPU topology as the facts carry it: CPUs per NUMA
//! node, SMT sibling groups, and every GPU (any PCI display or 3D
//! controller, class `0x03xxxx`) with its NUMA node and the CPUs local to
//! it, all from sysfs (no GPU driver needed: the PCI core writes these
//! files for every device).
//!
//! The agent reads sysfs directly (`agent/src/facts.rs`); the controller's
//! agentless facts read the same files with a fixed `sh` script
//! (`fleet/src/host/facts.rs`). Both hand the file contents to
//! [`Topology::read`] through a [`SysfsView`], so the assembly (which files,
//! which order, what an absent file means) exists once and a template sees
//! the same values either way. This module does no I/O itself.

use serde::{Deserialize, Serialize};

/// Read access to a sysfs tree. Paths are relative to the sysfs root
/// (`devices/system/node/online`, not `/sys/devices/...`), so tests can
/// point a view at a fixture tree.
pub trait SysfsView {
    /// The content of a file, trimmed; `None` when it cannot be read.
    fn read(&self, path: &str) -> Option<String>;
    /// The names of the entries of a directory, in any order; empty when
    /// it cannot be listed.
    fn entries(&self, dir: &str) -> Vec<String>;
}

/// The CPUs of one online NUMA node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NumaNode {
    /// The node's number (`nodeN`).
    pub id: u32,
    /// Its CPUs as a kernel CPU list (`0-15,32-47`), from
    /// `devices/system/node/nodeN/cpulist`.
    pub cpus: String,
}

/// A PCI display or 3D controller (PCI class `0x03xxxx`): GPUs of any
/// vendor, and also a VM's or BMC's plain VGA device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PciGpu {
    /// The PCI address, `domain:bus:device.function` (`0000:17:00.0`).
    pub pci_address: String,
    /// `nvidia`, `amd`, `intel` for those vendors, else the vendor id.
    pub vendor: String,
    /// The PCI vendor id (`0x10de`).
    pub vendor_id: String,
    /// The PCI device id (`0x2330`).
    pub device_id: String,
    /// The PCI class (`0x030200` for a 3D controller, `0x030000` VGA).
    pub class: String,
    /// The NUMA node the device is attached to; `null` when the kernel
    /// does not know (`-1` in sysfs, as on single-node hosts).
    pub numa_node: Option<u32>,
    /// The CPUs local to the device (its node's CPUs; every CPU when the
    /// node is unknown), a kernel CPU list from `local_cpulist`.
    pub local_cpus: String,
}

/// What [`Topology::read`] assembles; the facts carry its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Online NUMA nodes, by id.
    pub numa: Vec<NumaNode>,
    /// SMT sibling groups, one per physical core, each a kernel CPU list
    /// (`0,32`), ordered by their first CPU. A core without SMT is a group
    /// of one CPU.
    pub smt_siblings: Vec<String>,
    /// GPUs by PCI address.
    pub gpus: Vec<PciGpu>,
}

const NODE: &str = "devices/system/node";
const CPU: &str = "devices/system/cpu";
const PCI: &str = "bus/pci/devices";

impl Topology {
    /// Reads the topology from `sys`. Missing files leave parts empty
    /// rather than failing: a host without NUMA support has no `node`
    /// directory, a container may hide PCI.
    pub fn read(sys: &dyn SysfsView) -> Topology {
        Topology { numa: numa_nodes(sys), smt_siblings: smt_siblings(sys), gpus: gpus(sys) }
    }
}

fn numa_nodes(sys: &dyn SysfsView) -> Vec<NumaNode> {
    let Some(online) = sys.read(&format!("{NODE}/online")) else { return Vec::new() };
    let Some(ids) = expand_list(&online) else { return Vec::new() };
    ids.into_iter()
        .filter_map(|id| Some(NumaNode { id, cpus: sys.read(&format!("{NODE}/node{id}/cpulist"))? }))
        .collect()
}

fn smt_siblings(sys: &dyn SysfsView) -> Vec<String> {
    let online = sys.read(&format!("{CPU}/online")).and_then(|l| expand_list(&l)).unwrap_or_default();
    let mut groups: Vec<(u32, String)> = Vec::new();
    for cpu in online {
        let Some(list) = sys.read(&format!("{CPU}/cpu{cpu}/topology/thread_siblings_list")) else { continue };
        let Some(first) = expand_list(&list).and_then(|l| l.first().copied()) else { continue };
        if !groups.iter().any(|(f, _)| *f == first) {
            groups.push((first, list));
        }
    }
    groups.sort_by_key(|(first, _)| *first);
    groups.into_iter().map(|(_, list)| list).collect()
}

fn gpus(sys: &dyn SysfsView) -> Vec<PciGpu> {
    let mut addresses = sys.entries(PCI);
    addresses.sort();
    addresses
        .into_iter()
        .filter_map(|addr| {
            let file = |name: &str| sys.read(&format!("{PCI}/{addr}/{name}"));
            let class = file("class")?;
            if !class.starts_with("0x03") {
                return None;
            }
            let vendor_id = file("vendor").unwrap_or_default();
            Some(PciGpu {
                vendor: vendor_name(&vendor_id),
                vendor_id,
                device_id: file("device").unwrap_or_default(),
                class,
                numa_node: file("numa_node").and_then(|n| n.parse::<u32>().ok()),
                local_cpus: file("local_cpulist").unwrap_or_default(),
                pci_address: addr,
            })
        })
        .collect()
}

fn vendor_name(id: &str) -> String {
    match id {
        "0x10de" => "nvidia",
        "0x1002" => "amd",
        "0x8086" => "intel",
        other => other,
    }
    .to_owned()
}

/// The members of a kernel list such as `0-3,8` in order; `None` when the
/// list is malformed or empty.
pub fn expand_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1 << 16 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A sysfs tree in memory, like the controller's agentless view.
    struct Tree(BTreeMap<String, String>);

    impl SysfsView for Tree {
        fn read(&self, path: &str) -> Option<String> {
            self.0.get(path).cloned()
        }
        fn entries(&self, dir: &str) -> Vec<String> {
            let prefix = format!("{dir}/");
            let mut names: Vec<String> =
                self.0.keys().filter_map(|k| k.strip_prefix(&prefix)?.split('/').next().map(str::to_owned)).collect();
            names.dedup();
            names
        }
    }

    fn tree(files: &[(&str, &str)]) -> Tree {
        Tree(files.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn lists_expand_in_order_and_malformed_ones_are_refused() {
        assert_eq!(expand_list("0-2,8"), Some(vec![0, 1, 2, 8]));
        assert_eq!(expand_list("5"), Some(vec![5]));
        assert_eq!(expand_list(""), None);
        assert_eq!(expand_list("3-1"), None);
        assert_eq!(expand_list("0-x"), None);
    }

    #[test]
    fn a_host_without_node_or_pci_files_has_an_empty_topology() {
        let t = Topology::read(&tree(&[("devices/system/cpu/online", "0-1")]));
        assert_eq!(t, Topology::default());
    }

    #[test]
    fn smt_groups_are_listed_once_per_core_in_cpu_order() {
        let t = Topology::read(&tree(&[
            ("devices/system/cpu/online", "0-3"),
            ("devices/system/cpu/cpu0/topology/thread_siblings_list", "0,2"),
            ("devices/system/cpu/cpu1/topology/thread_siblings_list", "1,3"),
            ("devices/system/cpu/cpu2/topology/thread_siblings_list", "0,2"),
            ("devices/system/cpu/cpu3/topology/thread_siblings_list", "1,3"),
        ]));
        assert_eq!(t.smt_siblings, ["0,2", "1,3"]);
    }

    #[test]
    fn only_display_controllers_are_gpus_and_an_unknown_node_is_none() {
        let t = Topology::read(&tree(&[
            ("bus/pci/devices/0000:00:01.0/class", "0x020000"),
            ("bus/pci/devices/0000:00:01.0/vendor", "0x1af4"),
            ("bus/pci/devices/0000:00:02.0/class", "0x030000"),
            ("bus/pci/devices/0000:00:02.0/vendor", "0x1234"),
            ("bus/pci/devices/0000:00:02.0/device", "0x1111"),
            ("bus/pci/devices/0000:00:02.0/numa_node", "-1"),
            ("bus/pci/devices/0000:00:02.0/local_cpulist", "0-3"),
        ]));
        assert_eq!(
            t.gpus,
            [PciGpu {
                pci_address: "0000:00:02.0".into(),
                vendor: "0x1234".into(),
                vendor_id: "0x1234".into(),
                device_id: "0x1111".into(),
                class: "0x030000".into(),
                numa_node: None,
                local_cpus: "0-3".into(),
            }]
        );
    }
}
