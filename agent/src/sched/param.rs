//! List parameters (a CPU list, cgroup paths, command-name prefixes; see
//! `bpf/include/schedfleet/params.h`) turned into the bytes of their
//! `.rodata` struct, checked against this host: every CPU must be online,
//! every cgroup must exist (its id is the inode number of its cgroup2
//! directory, which is the kernel's cgroup id). Nothing here is specific to
//! one scheduler: the kind comes from the struct's name in the object's BTF
//! and the capacity from its size. A refusal names the parameter, the value
//! and what to do, and comes before anything is loaded, so the scheduler
//! that runs keeps running.

use std::os::unix::fs::MetadataExt;

use schedfleet_bpf::param::{self, ListKind};
use schedfleet_proto::ErrorKind;

use crate::error::{Failure, Result};
use crate::health::cgroup;

const ONLINE_CPUS: &str = "/sys/devices/system/cpu/online";

/// The bytes of list parameter `name` of kind `kind` (a struct of `size`
/// bytes) holding `value`.
pub fn encode(name: &str, value: &str, kind: ListKind, size: usize) -> Result<Vec<u8>> {
    let bad = |why: String| Failure::new(ErrorKind::BadParam, format!("parameter `{name}` = `{value}`: {why}"));
    kind.check_text(value, size).map_err(|why| bad(format!("{why}; expected {}", kind.expected())))?;
    match kind {
        ListKind::CpuMask => {
            let cpus = param::parse_cpu_list(value).map_err(bad)?;
            let online_text = std::fs::read_to_string(ONLINE_CPUS)
                .map_err(|e| Failure::io("read", ONLINE_CPUS, e))?
                .trim()
                .to_owned();
            let online = param::parse_cpu_list(&online_text).map_err(|e| {
                Failure::new(ErrorKind::Internal, format!("`{ONLINE_CPUS}` reads `{online_text}`: {e}"))
            })?;
            check_cpus(&cpus, &online, &online_text).map_err(bad)?;
            param::encode_cpumask(&cpus, size).map_err(bad)
        }
        ListKind::CgroupIds => {
            let mut ids = Vec::new();
            for path in param::parse_cgroup_paths(value).map_err(bad)? {
                ids.push(cgroup_id(path).map_err(bad)?);
            }
            param::encode_ids(&ids, size).map_err(bad)
        }
        ListKind::CommPrefixes => {
            param::encode_comms(&param::parse_comm_prefixes(value).map_err(bad)?, size).map_err(bad)
        }
    }
}

/// Refuses CPUs that are not in `online` (sorted), naming them.
fn check_cpus(cpus: &[u32], online: &[u32], online_text: &str) -> Result<(), String> {
    let missing: Vec<u32> = cpus.iter().copied().filter(|c| online.binary_search(c).is_err()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "CPU {} {} not online on this host (online: {online_text}); name CPUs the host has \
         (template them from the host's facts, e.g. `{{{{ facts.gpus[0].local_cpus }}}}`)",
        param::format_cpu_list(&missing),
        if missing.len() == 1 { "is" } else { "are" }
    ))
}

/// The id of the cgroup v2 directory `path`: under a cgroup2 mount point
/// (`/sys/fs/cgroup/serving`) or relative to the cgroup2 root, with or
/// without a leading `/` (`/serving`, as `/proc/PID/cgroup` writes it).
fn cgroup_id(path: &str) -> Result<u64, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mounts = cgroup::cgroup2_mounts(&mountinfo);
    let (dir, _level) = cgroup::locate(cgroup::below_root(path, &mounts), &mounts)?;
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "cgroup `{path}` does not exist on this host (no directory `{}`); create it before activating, \
             or fix the path",
            dir.display()
        )),
        Err(e) => Err(format!("cgroup `{path}` (`{}`): {e}", dir.display())),
        Ok(meta) if !meta.is_dir() => Err(format!("cgroup `{path}`: `{}` is not a directory", dir.display())),
        Ok(_) if !cgroup::is_cgroup2(&dir) => {
            Err(format!("cgroup `{path}`: `{}` is not on a cgroup v2 file system", dir.display()))
        }
        Ok(meta) => Ok(meta.ino()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_the_host_lacks_are_named() {
        let online = param::parse_cpu_list("0-1").unwrap();
        assert!(check_cpus(&[0, 1], &online, "0-1").is_ok());
        let err = check_cpus(&[0, 1, 2, 3, 8], &online, "0-1").unwrap_err();
        assert!(err.starts_with("CPU 2-3,8 are not online on this host (online: 0-1)"), "{err}");
        assert!(err.contains("{{ facts.gpus[0].local_cpus }}"), "{err}");
    }

    #[test]
    fn refusals_name_the_parameter_and_value() {
        let err = encode("serving_comms", "0123456789abcdefg", ListKind::CommPrefixes, 128).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadParam);
        assert!(err.message.starts_with("parameter `serving_comms` = `0123456789abcdefg`: "), "{}", err.message);
        let err = encode("serving_cgroups", "/a/../b", ListKind::CgroupIds, 64).unwrap_err();
        assert!(err.message.contains("no `..`"), "{}", err.message);
    }

    #[test]
    fn comm_prefixes_need_no_host() {
        let bytes = encode("c", "py,tok", ListKind::CommPrefixes, 128).unwrap();
        assert_eq!(&bytes[..3], b"py\0");
        assert_eq!(&bytes[16..19], b"tok");
    }
}
