//! One VM's qemu process: starting it detached, recognising it again from
//! its PID file, waiting for its sshd, and stopping it.
//!
//! A PID alone proves nothing (PIDs are reused, and PID files outlive
//! crashes), so a process counts as a lab VM only when `/proc/PID/cmdline`
//! is a `qemu-system-*` whose `-pidfile` is that VM's own PID file, a path
//! unique to one lab directory and VM. Nothing is ever signalled without
//! that check. Which VMs should run is decided by `lifecycle.rs`.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::error::{io_err, LabError};
use super::layout::VmPaths;
use super::state::LabHost;

/// How many times a start is retried when the chosen port was taken
/// between choosing it and qemu binding it.
const PORT_TRIES: usize = 5;

/// Starts `vm` detached (qemu `-daemonize`: it outlives this process and
/// writes its own PID file) and returns `(pid, port)` once qemu runs.
/// `preferred_port` (the VM's port last time) is used when it is free, so
/// a restarted VM keeps its address. The VM gets `cpus` vCPUs.
pub fn start(
    qemu: &Path,
    kernel: &Path,
    vm: &VmPaths,
    preferred_port: Option<u16>,
    cpus: u8,
) -> Result<(u32, u16), LabError> {
    let mut last_detail = String::new();
    for attempt in 0..PORT_TRIES {
        let port = match preferred_port.filter(|&p| attempt == 0 && port_is_free(p)) {
            Some(port) => port,
            None => free_port().map_err(io_err("find a free port on", Path::new("127.0.0.1")))?,
        };
        let _ = fs::remove_file(vm.pid_file());
        // Written first, so that whoever sees the PID file sees the port too.
        fs::write(vm.port_file(), format!("{port}\n")).map_err(io_err("write", &vm.port_file()))?;
        let log = fs::File::create(vm.qemu_log()).map_err(io_err("create", &vm.qemu_log()))?;
        let log_err = log.try_clone().map_err(io_err("create", &vm.qemu_log()))?;
        let status = Command::new(qemu)
            .args(qemu_args(kernel, vm, port, cpus))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .status()
            .map_err(io_err("run", qemu))?;
        let log_text = fs::read_to_string(vm.qemu_log()).unwrap_or_default();
        if status.success() {
            let pid = read_pid(vm)?.ok_or_else(|| LabError::QemuStart {
                name: vm.name.clone(),
                detail: format!("it wrote no PID file `{}`", vm.pid_file().display()),
                log: vm.qemu_log(),
            })?;
            return Ok((pid, port));
        }
        last_detail = format!("{status}: {}", log_text.trim());
        // qemu 10: "Could not set up host forwarding rule 'tcp:127.0.0.1:PORT-:22'".
        if !log_text.contains("host forwarding rule") {
            break;
        }
    }
    Err(LabError::QemuStart { name: vm.name.clone(), detail: last_detail, log: vm.qemu_log() })
}

/// The qemu command line: TCG (KVM fails on this kernel under nested
/// virtualisation), no default devices, the serial console into the
/// console log, sshd forwarded from a loopback port.
fn qemu_args(kernel: &Path, vm: &VmPaths, port: u16, cpus: u8) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut push = |parts: &[&dyn AsRef<std::ffi::OsStr>]| {
        for p in parts {
            args.push(p.as_ref().to_owned());
        }
    };
    let smp = cpus.to_string();
    push(&[&"-name", &vm.name, &"-accel", &"tcg", &"-cpu", &"max", &"-smp", &smp, &"-m", &"512"]);
    push(&[&"-nodefaults", &"-display", &"none", &"-no-reboot"]);
    push(&[&"-kernel", &kernel, &"-initrd", &vm.initrd()]);
    push(&[&"-append", &"console=ttyS0 panic=-1 quiet"]);
    let netdev = format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22");
    push(&[&"-netdev", &netdev, &"-device", &"virtio-net-pci,netdev=n0"]);
    let mut serial = std::ffi::OsString::from("file:");
    serial.push(vm.console_log());
    push(&[&"-serial", &serial, &"-daemonize", &"-pidfile", &vm.pid_file()]);
    args
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The PID in `vm`'s PID file, if there is one.
pub fn read_pid(vm: &VmPaths) -> Result<Option<u32>, LabError> {
    let path = vm.pid_file();
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(pid) if pid > 1 => Ok(Some(pid)),
            _ => Err(LabError::Corrupt { path, content: text.trim().to_owned(), expected: "a PID" }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LabError::Io { action: "read", path, source }),
    }
}

/// Whether `pid` is alive and is the qemu of `vm` (see the module docs).
pub fn is_our_qemu(pid: u32, vm: &VmPaths) -> bool {
    if !is_alive(pid) {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let is_qemu = argv
        .first()
        .and_then(|a0| a0.rsplit(|&b| b == b'/').next())
        .is_some_and(|name| name.starts_with(b"qemu-system"));
    let pid_file = vm.pid_file();
    let pid_file = pid_file.as_os_str().as_encoded_bytes();
    is_qemu && argv.windows(2).any(|w| w[0] == b"-pidfile" && w[1] == pid_file)
}

/// Alive and not a zombie: a stopped qemu may linger as a zombie until
/// whoever adopted it reaps it.
fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and
        // may itself contain spaces or parentheses.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Stops `vm`'s qemu (which the caller has just checked with
/// [`is_our_qemu`]): SIGTERM, which qemu handles by shutting down, then
/// SIGKILL if it has not exited after a while.
pub fn stop(vm: &VmPaths, pid: u32) -> Result<(), LabError> {
    for (signal, grace) in [(libc::SIGTERM, Duration::from_secs(10)), (libc::SIGKILL, Duration::from_secs(5))] {
        // SAFETY: kill(2) has no memory-safety preconditions.
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !is_alive(pid) {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Err(LabError::StopTimeout { name: vm.name.clone(), pid })
}

/// What sshd (`-D -e`, see `lab/init`) prints on the console once it listens.
const SSHD_LISTENING: &str = "Server listening on";
/// How long to wait for [`SSHD_LISTENING`] before probing anyway, in case
/// the console says nothing (a changed image, a lost line).
const PROBE_ANYWAY_AFTER: Duration = Duration::from_secs(45);

/// Waits until `host` answers ssh or `deadline` passes; fails early when
/// the VM stops (a kernel panic stops qemu, see `-no-reboot`).
///
/// Probes start once the console says sshd listens. Probing earlier costs
/// time rather than saving it: until the guest's network is up, qemu's
/// user networking accepts the TCP connection on the host side and keeps
/// it hanging, so an early `ssh` only gives up after its `ConnectTimeout`.
pub fn wait_for_ssh(
    ssh: &Path,
    host: &LabHost,
    vm: &VmPaths,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), LabError> {
    let began = Instant::now();
    let mut last_error = String::from("sshd has not said it listens yet");
    let mut listening = false;
    loop {
        if !is_our_qemu(host.pid, vm) {
            return Err(LabError::VmExited {
                name: vm.name.clone(),
                console: vm.console_log(),
                tail: console_tail(vm),
            });
        }
        listening = listening
            || began.elapsed() >= PROBE_ANYWAY_AFTER
            || fs::read(vm.console_log()).is_ok_and(|log| contains(&log, SSHD_LISTENING.as_bytes()));
        if listening {
            match probe(ssh, host) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
        }
        if Instant::now() >= deadline {
            return Err(LabError::BootTimeout {
                name: vm.name.clone(),
                port: host.port,
                secs: timeout.as_secs(),
                last_error,
                console: vm.console_log(),
                tail: console_tail(vm),
            });
        }
        thread::sleep(Duration::from_millis(if listening { 500 } else { 100 }));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One `ssh host true`, bounded in time even if the server stalls mid-handshake.
fn probe(ssh: &Path, host: &LabHost) -> Result<(), String> {
    let mut child = Command::new(ssh)
        .args(host.ssh_args())
        // Also bounds the wait for sshd's banner, which a VM under TCG and
        // a loaded host can take seconds to send.
        .args(["-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", ssh.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Ok(());
                }
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let stderr = stderr.trim();
                return Err(if stderr.is_empty() { status.to_string() } else { stderr.replace('\n', "; ") });
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("ssh did not finish within 30 s".into());
            }
        }
    }
}

/// The last lines of the console log, for error messages.
pub fn console_tail(vm: &VmPaths) -> String {
    let text = match fs::read(vm.console_log()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("    (cannot read it: {e})"),
    };
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "    (nothing: the kernel printed nothing yet)".into();
    }
    lines[lines.len().saturating_sub(20)..].iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::layout::LabLayout;

    #[test]
    fn our_own_process_is_not_a_lab_vm() {
        let dir = tempfile::tempdir().unwrap();
        let vm = LabLayout::resolve(Some(dir.path().to_owned())).unwrap().vm(1);
        assert!(is_alive(std::process::id()));
        assert!(!is_our_qemu(std::process::id(), &vm));
    }

    #[test]
    fn pid_files_are_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let vm = LabLayout::resolve(Some(dir.path().to_owned())).unwrap().vm(1);
        fs::create_dir_all(&vm.dir).unwrap();
        assert_eq!(read_pid(&vm).unwrap(), None);
        fs::write(vm.pid_file(), "4242\n").unwrap();
        assert_eq!(read_pid(&vm).unwrap(), Some(4242));
        fs::write(vm.pid_file(), "1\n").unwrap();
        assert!(read_pid(&vm).is_err(), "pid 1 is never a VM");
        fs::write(vm.pid_file(), "abc").unwrap();
        assert!(read_pid(&vm).is_err());
    }

    #[test]
    fn qemu_gets_the_contract_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let vm = LabLayout::resolve(Some(dir.path().to_owned())).unwrap().vm(2);
        let args: Vec<String> =
            qemu_args(Path::new("/k/vmlinuz"), &vm, 40022, 2).into_iter().map(|a| a.into_string().unwrap()).collect();
        let line = args.join(" ");
        for needle in [
            "-accel tcg -cpu max -smp 2 -m 512",
            "-kernel /k/vmlinuz",
            "-append console=ttyS0 panic=-1 quiet",
            "hostfwd=tcp:127.0.0.1:40022-:22",
            "-device virtio-net-pci,netdev=n0",
            "-no-reboot",
            "-daemonize",
        ] {
            assert!(line.contains(needle), "`{needle}` missing from `{line}`");
        }
        assert!(line.contains(&format!("-pidfile {}", vm.pid_file().display())));
        let four: Vec<String> =
            qemu_args(Path::new("/k/vmlinuz"), &vm, 40022, 4).into_iter().map(|a| a.into_string().unwrap()).collect();
        assert!(four.join(" ").contains("-cpu max -smp 4 -m 512"), "`lab up --cpus 4`: {four:?}");
    }
}
