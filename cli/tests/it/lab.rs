//! `schedfleet lab` end to end: the real binary boots a real VM with the
//! sched_ext kernel in a private lab directory, and everything it promises
//! is checked from outside with plain OpenSSH. `lab down` runs on drop, so
//! a failing assertion never leaves a VM behind.
//!
//! Nothing is skipped: without the cached kernel or the Debian packages,
//! `lab up` fails and so does the test, with `lab up`'s own message saying
//! which `lab/setup.sh` step is missing.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// A lab directory of its own, brought down on drop.
struct LabDir {
    dir: tempfile::TempDir,
}

impl LabDir {
    fn new() -> LabDir {
        LabDir { dir: tempfile::Builder::new().prefix("sf-lab-test-").tempdir_in("/tmp").unwrap() }
    }

    fn schedfleet(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_schedfleet"))
            .args(args)
            .env("SCHEDFLEET_LAB_DIR", self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("run schedfleet");
        eprintln!(
            "$ schedfleet {}\n-> {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn status(&self) -> Vec<serde_json::Value> {
        let out = self.schedfleet(&["lab", "status", "--json"]);
        assert!(out.status.success());
        let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("`lab status --json` prints JSON");
        hosts.as_array().expect("`lab status --json` prints an array").clone()
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = self.schedfleet(&["lab", "down"]);
    }
}

/// `ssh` to the VM exactly as a user would, from `lab status --json`.
fn ssh(host: &serde_json::Value, command: &str) -> Output {
    let field = |name: &str| host[name].as_str().unwrap_or_else(|| panic!("`{name}` missing from {host}")).to_owned();
    Command::new("/usr/bin/ssh")
        .args(["-i", &field("identity_file"), "-p", &host["port"].to_string()])
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .args(["-o", &format!("UserKnownHostsFile={}", field("known_hosts_file"))])
        .arg(format!("{}@{}", field("user"), field("address")))
        .arg(command)
        .output()
        .expect("run /usr/bin/ssh")
}

fn ssh_ok(host: &serde_json::Value, command: &str) -> String {
    let out = ssh(host, command);
    assert!(out.status.success(), "`ssh {command}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Alive and not a zombie.
fn process_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])))
}

#[test]
fn lab_up_status_ssh_and_down() {
    let lab = LabDir::new();

    let started = Instant::now();
    let out = lab.schedfleet(&["lab", "up", "--hosts", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`schedfleet lab up --hosts 1` failed; the lab needs `lab/setup.sh`:\n{stderr}");
    eprintln!("lab up --hosts 1: {:.1} s", started.elapsed().as_secs_f64());
    assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("lab-1 ")), "the table lists lab-1");
    assert!(stderr.contains("lab-1: ssh answered after"), "the boot time is reported: {stderr}");

    let hosts = lab.status();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let host = &hosts[0];
    let mut keys: Vec<&str> = host.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["address", "identity_file", "kernel", "known_hosts_file", "name", "pid", "port", "user"]);
    assert_eq!(host["name"], "lab-1");
    assert_eq!(host["address"], "127.0.0.1");
    assert_eq!(host["user"], "root");
    assert!(host["port"].as_u64().is_some_and(|p| p > 0 && p < 65536), "{host}");
    for file in ["identity_file", "known_hosts_file"] {
        let path = Path::new(host[file].as_str().unwrap());
        assert!(path.is_absolute() && path.is_file(), "`{file}` is an absolute path to a file: {host}");
    }
    let pid = host["pid"].as_u64().expect("pid is a number");
    assert!(process_alive(pid), "the VM's qemu (pid {pid}) runs");

    // The kernel: sched_ext present and idle, BTF for CO-RE, and the config
    // libbpf reads `__kconfig` values from.
    assert_eq!(ssh_ok(host, "cat /sys/kernel/sched_ext/state"), "disabled");
    assert_eq!(ssh_ok(host, "uname -r"), host["kernel"].as_str().unwrap(), "status names the kernel the VM runs");
    assert_eq!(ssh_ok(host, "test -e /sys/kernel/btf/vmlinux && echo yes"), "yes", "/sys/kernel/btf/vmlinux exists");
    assert_eq!(
        ssh_ok(
            host,
            "test -s /boot/config-$(uname -r) && grep -c '^CONFIG_SCHED_CLASS_EXT=y' /boot/config-$(uname -r)"
        ),
        "1",
        "/boot/config-$(uname -r) exists and is the kernel's config"
    );
    assert_eq!(ssh_ok(host, "grep -c ' /sys/fs/bpf bpf ' /proc/mounts"), "1", "bpffs is mounted");
    assert_eq!(ssh_ok(host, "test -d /var/lib/schedfleet && hostname"), "lab-1");

    // Idempotent: a second `up` keeps the running VM.
    let out = lab.schedfleet(&["lab", "up", "--hosts", "1"]);
    assert!(out.status.success(), "second `lab up` failed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("lab-1: already running"));
    let again = lab.status();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["pid"].as_u64(), Some(pid), "the second `lab up` kept the same VM");
    assert_eq!(again[0]["port"], host["port"]);

    // Down stops exactly that process, and the lab is empty afterwards.
    let out = lab.schedfleet(&["lab", "down"]);
    assert!(out.status.success(), "`lab down` failed");
    assert!(!process_alive(pid), "qemu (pid {pid}) still runs after `lab down`");
    assert!(lab.status().is_empty(), "`lab status --json` prints [] after `lab down`");
    let out = lab.schedfleet(&["lab", "down"]);
    assert!(out.status.success(), "`lab down` is idempotent");
}

#[test]
fn lab_up_without_the_kernel_says_how_to_get_it() {
    let lab = LabDir::new();
    let empty_cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_schedfleet"))
        .args(["lab", "up", "--hosts", "1"])
        .env("SCHEDFLEET_LAB_DIR", lab.dir.path())
        .env("SCHEDFLEET_CACHE", empty_cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("run `lab/setup.sh kernel`"), "{stderr}");
    assert!(stderr.contains(&empty_cache.path().join("kernel/current/vmlinuz").display().to_string()), "{stderr}");
    assert!(lab.status().is_empty(), "nothing was started");

    // A release that is not cached: the command that fetches it. A name
    // that is no release cannot reach outside the cache.
    let up = |kernel: &str| {
        Command::new(env!("CARGO_BIN_EXE_schedfleet"))
            .args(["lab", "up", "--hosts", "1", "--kernel", kernel])
            .env("SCHEDFLEET_LAB_DIR", lab.dir.path())
            .env("SCHEDFLEET_CACHE", empty_cache.path())
            .output()
            .unwrap()
    };
    let out = up("7.1.3+deb13-cloud-amd64");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("run `lab/setup.sh kernel 7.1.3+deb13-cloud-amd64`"), "{stderr}");
    let out = up("../../etc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("`../../etc` is not a kernel release"), "{stderr}");
    assert!(lab.status().is_empty(), "nothing was started");
}
