//! What `activate` checks on the host before it changes anything for an
//! upstream binary, each refusal with what to do: the shared libraries the
//! binary (and each pushed library) needs, the kernel's BTF and its config
//! file, and other sched_ext managers (`scx.service`, `scx_loader`, an
//! `scx_*` process schedfleet did not start), which `--takeover` stops.

use std::path::Path;
use std::time::{Duration, Instant};

use schedfleet_proto::ErrorKind;

use super::elf;
use super::launch::{self, Launch};
use crate::deadman::process;
use crate::error::{Failure, Result};
use crate::{log, sched, store};

/// Where the dynamic loader looks without `LD_LIBRARY_PATH`, besides what
/// `/etc/ld.so.conf` adds and `/etc/ld.so.cache` lists.
const DEFAULT_LIB_DIRS: [&str; 8] = [
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// The libraries `needed` names that neither `pushed` has nor the host's
/// loader would find (`on_host`), in order, without repeats.
pub fn missing_libraries<'a>(
    needed: impl IntoIterator<Item = &'a str>,
    pushed: &std::collections::BTreeMap<String, String>,
    on_host: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for name in needed {
        if !pushed.contains_key(name) && !on_host(name) && !missing.iter().any(|m| m == name) {
            missing.push(name.to_owned());
        }
    }
    missing
}

/// Whether the host's loader finds `soname`: listed in `/etc/ld.so.cache`,
/// or a file in a default directory or one `/etc/ld.so.conf.d` names.
pub fn on_host(soname: &str) -> bool {
    let mut needle = vec![0u8];
    needle.extend_from_slice(soname.as_bytes());
    needle.push(0);
    if std::fs::read("/etc/ld.so.cache").is_ok_and(|cache| cache.windows(needle.len()).any(|w| w == needle)) {
        return true;
    }
    let mut dirs: Vec<String> = DEFAULT_LIB_DIRS.iter().map(|d| (*d).to_owned()).collect();
    for conf in std::fs::read_dir("/etc/ld.so.conf.d").into_iter().flatten().flatten() {
        if let Ok(text) = std::fs::read_to_string(conf.path()) {
            dirs.extend(text.lines().map(str::trim).filter(|l| l.starts_with('/')).map(str::to_owned));
        }
    }
    dirs.iter().any(|d| Path::new(d).join(soname).exists())
}

/// Refuses a binary whose shared libraries the host lacks, or a kernel
/// without BTF or its config file.
pub fn check_binary(launch: &Launch) -> Result<()> {
    let exe = launch.executable_bytes()?;
    let shown = launch.source.display().to_string();
    let not_elf = |what: &str, e: elf::NotElf| {
        Failure::new(ErrorKind::Preflight, format!("`{what}` is not an executable this agent can check: {}", e.0))
    };
    let mut needed = elf::needed(&exe).map_err(|e| not_elf(&shown, e))?;
    for (soname, digest) in &launch.spec.libs {
        let bytes = store::read_verified(&store::path_of(digest).to_string_lossy(), digest)?;
        needed.extend(elf::needed(&bytes).map_err(|e| not_elf(soname, e))?);
    }
    let missing = missing_libraries(needed.iter().map(String::as_str), &launch.spec.libs, on_host);
    if !missing.is_empty() {
        return Err(Failure::new(
            ErrorKind::Preflight,
            format!(
                "`{shown}` needs shared libraries this host does not have: {}; push them with the binary (`libs` of \
                 the scheduler in the repository) or install them on the host; nothing was changed",
                missing.join(", ")
            ),
        ));
    }
    check_kernel(&crate::facts::collect().kernel_release, Path::new("/"))
}

/// BTF and the kernel config libbpf reads `__kconfig` from, under `root`.
pub fn check_kernel(release: &str, root: &Path) -> Result<()> {
    if !root.join("sys/kernel/btf/vmlinux").exists() {
        return Err(Failure::new(
            ErrorKind::Preflight,
            format!(
                "kernel `{release}` has no BTF (/sys/kernel/btf/vmlinux): upstream schedulers need a kernel built \
                 with CONFIG_DEBUG_INFO_BTF=y; nothing was changed"
            ),
        ));
    }
    let config = root.join(format!("boot/config-{release}"));
    if !config.exists() && !root.join("proc/config.gz").exists() {
        return Err(Failure::new(
            ErrorKind::Preflight,
            format!(
                "neither `/boot/config-{release}` nor /proc/config.gz exists: libbpf reads the kernel's \
                 configuration from there; install the kernel's config file as `/boot/config-{release}`; \
                 nothing was changed"
            ),
        ));
    }
    Ok(())
}

/// Another sched_ext manager on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Competitor {
    /// A systemd unit that is active.
    Unit(String),
    /// A process (`scx_loader`, or an `scx_*` scheduler) not started by
    /// schedfleet.
    Process { pid: u32, comm: String },
}

impl std::fmt::Display for Competitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Competitor::Unit(unit) => write!(f, "systemd unit `{unit}` is active"),
            Competitor::Process { pid, comm } => write!(f, "process `{comm}` (pid {pid}) runs"),
        }
    }
}

/// Whether a process named `comm` (`/proc/PID/comm`) manages sched_ext.
pub fn is_scx_comm(comm: &str) -> bool {
    comm == "scx_loader" || comm.starts_with("scx_")
}

/// The parent pid in a `/proc/PID/stat` line (the field after the
/// parenthesised command, which may itself hold spaces and parentheses).
pub fn ppid_of_stat(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

const UNITS: [&str; 2] = ["scx.service", "scx_loader.service"];

fn systemctl() -> Option<&'static str> {
    ["/usr/bin/systemctl", "/bin/systemctl"].into_iter().find(|p| Path::new(p).exists())
}

/// The sched_ext managers on this host other than schedfleet's own
/// supervised schedulers.
pub fn competitors() -> Vec<Competitor> {
    let mut found = Vec::new();
    if let Some(systemctl) = systemctl() {
        for unit in UNITS {
            let active = std::process::Command::new(systemctl)
                .args(["is-active", "--quiet", unit])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if active {
                found.push(Competitor::Unit(unit.to_owned()));
            }
        }
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else { continue };
        let comm = comm.trim();
        // Kernel threads (sched_ext's own `scx_enable_helper`, say) have
        // an empty command line, as do zombies: neither manages anything.
        if !is_scx_comm(comm) || std::fs::read(entry.path().join("cmdline")).map_or(true, |c| c.is_empty()) {
            continue;
        }
        let parent = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|s| ppid_of_stat(&s));
        if parent.is_some_and(|ppid| process::is_agent(ppid, launch::VERB, None)) {
            continue;
        }
        found.push(Competitor::Process { pid, comm: comm.to_owned() });
    }
    found
}

/// The refusal for `found`, naming the scheduler the kernel runs.
pub fn refusal(found: &[Competitor]) -> Failure {
    let kernel = sched::kernel::read().ok();
    let runs = match kernel.as_ref().and_then(|k| k.ops.clone()) {
        Some(ops) => format!("; the kernel runs `{ops}`"),
        None => String::new(),
    };
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    Failure::new(
        ErrorKind::OtherManager,
        format!(
            "another sched_ext manager is active: {}{runs}; stop it (for a unit: `systemctl disable --now <unit>`) \
             or activate with `--takeover`; nothing was changed",
            list.join(", ")
        ),
    )
}

/// `--takeover`: stops every unit (`systemctl stop`) and process (SIGINT,
/// SIGKILL after a grace) of `found`, and waits until the kernel runs no
/// scheduler of theirs.
pub fn take_over(found: &[Competitor]) -> Result<()> {
    for c in found {
        match c {
            Competitor::Unit(unit) => {
                let systemctl = systemctl().expect("units are found through systemctl");
                let ok = std::process::Command::new(systemctl)
                    .args(["stop", unit.as_str()])
                    .stdin(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Err(Failure::new(ErrorKind::OtherManager, format!("`systemctl stop {unit}` failed")));
                }
                log::info(&format!("takeover: stopped `{unit}`"));
            }
            Competitor::Process { pid, comm } => {
                let alive = || {
                    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
                        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
                };
                for (signal, grace) in
                    [(libc::SIGINT, launch::CHILD_STOP_TIMEOUT), (libc::SIGKILL, Duration::from_secs(5))]
                {
                    if !alive() {
                        break;
                    }
                    // SAFETY: kill has no memory-safety preconditions; the
                    // pid was just seen with this name.
                    unsafe { libc::kill(*pid as libc::pid_t, signal) };
                    let until = Instant::now() + grace;
                    while alive() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                if alive() {
                    return Err(Failure::new(
                        ErrorKind::OtherManager,
                        format!("takeover: `{comm}` (pid {pid}) did not stop"),
                    ));
                }
                log::info(&format!("takeover: stopped `{comm}` (pid {pid})"));
            }
        }
    }
    if !sched::link::is_pinned() && launch::running_supervisor().is_none() {
        let (k, _) = sched::kernel::wait_until(sched::switch::DISABLE_TIMEOUT, |k| k.state == "disabled")?;
        if k.state != "disabled" {
            return Err(Failure::new(
                ErrorKind::OtherManager,
                format!(
                    "takeover: the kernel still runs `{}` after its manager stopped",
                    k.ops.as_deref().unwrap_or("?")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn pushed_and_host_libraries_are_not_missing() {
        let pushed: BTreeMap<String, String> = [("libelf.so.1".to_owned(), "d".repeat(64))].into();
        let host = |n: &str| n == "libc.so.6" || n == "libm.so.6";
        let needed = ["libelf.so.1", "libz.so.1", "libc.so.6", "libgcc_s.so.1", "libz.so.1", "libm.so.6"];
        assert_eq!(missing_libraries(needed, &pushed, host), ["libz.so.1", "libgcc_s.so.1"]);
        assert!(missing_libraries(["libc.so.6"], &BTreeMap::new(), host).is_empty());
    }

    #[test]
    fn this_machines_libc_is_on_the_host_and_a_made_up_one_is_not() {
        assert!(on_host("libc.so.6"));
        assert!(!on_host("libschedfleet-does-not-exist.so.9"));
    }

    #[test]
    fn a_kernel_without_btf_or_config_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let err = check_kernel("7.3.4", root).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Preflight);
        assert!(err.message.contains("no BTF") && err.message.contains("CONFIG_DEBUG_INFO_BTF"), "{}", err.message);
        std::fs::create_dir_all(root.join("sys/kernel/btf")).unwrap();
        std::fs::write(root.join("sys/kernel/btf/vmlinux"), b"").unwrap();
        let err = check_kernel("7.3.4", root).unwrap_err();
        assert!(err.message.contains("install the kernel's config file as `/boot/config-7.3.4`"), "{}", err.message);
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::write(root.join("boot/config-7.3.4"), b"CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
        check_kernel("7.3.4", root).unwrap();
    }

    #[test]
    fn scx_processes_are_recognised_and_stat_lines_parsed() {
        assert!(is_scx_comm("scx_loader") && is_scx_comm("scx_bpfland") && is_scx_comm("scx_cosmos"));
        assert!(!is_scx_comm("schedfleet-agen") && !is_scx_comm("sshd") && !is_scx_comm("scx"));
        assert_eq!(ppid_of_stat("42 (scx_bpfland) S 17 42 42 0 -1"), Some(17));
        assert_eq!(ppid_of_stat("42 (a) b) (c) R 99 1 1"), Some(99));
        assert_eq!(ppid_of_stat("garbage"), None);
    }
}
