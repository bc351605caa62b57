//! Host facts, read from the kernel's own files. No DNS and no user-name
//! lookups: the agent is a static binary, where glibc's NSS does not work.

use std::path::Path;

use schedfleet_proto::Facts;

pub fn collect() -> Facts {
    let uts = uname();
    Facts {
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
    }
}
