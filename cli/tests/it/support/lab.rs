//! The VM lab for tests: `schedfleet lab up` in a private lab directory,
//! `schedfleet lab down` on drop, so a failing test never leaves VMs behind.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{json, run, schedfleet, SshHost};

/// Every lab of the test binary holds this shared while its VMs run; a
/// measurement that must not share the two host cores with other VMs (a
/// latency comparison) takes it alone with [`TestLab::alone`].
static LABS: RwLock<()> = RwLock::new(());

pub struct TestLab {
    dir: tempfile::TempDir,
    pub hosts: Vec<SshHost>,
    /// Dropped after `lab down` (fields drop after [`Drop::drop`]).
    turn: Option<RwLockReadGuard<'static, ()>>,
}

impl TestLab {
    /// Boots `n` VMs; fails loudly (never skips) when the lab cannot start.
    /// They run the lab's default kernel (`SCHEDFLEET_LAB_KERNEL` when set).
    pub fn up(n: u16) -> TestLab {
        TestLab::up_with_kernel(n, None)
    }

    /// Boots `n` VMs on the cached kernel `kernel` (a release, or `current`
    /// or `oldest`), whatever `SCHEDFLEET_LAB_KERNEL` says.
    pub fn up_with_kernel(n: u16, kernel: Option<&str>) -> TestLab {
        // A panicked test poisons the lock; the lock guards no data.
        let turn = Some(LABS.read().unwrap_or_else(|e| e.into_inner()));
        let dir = tempfile::Builder::new().prefix("sf-lab-").tempdir_in("/tmp").unwrap();
        let mut lab = TestLab { dir, hosts: Vec::new(), turn };
        let started = std::time::Instant::now();
        let mut cmd = lab.cmd();
        // Tests boot several labs at once on the build machine's cores, and
        // under TCG a boot then takes several times its quiet 10-20 s (one
        // saw no kernel output within the default 120 s).
        cmd.env("SCHEDFLEET_LAB_BOOT_TIMEOUT", "360");
        cmd.args(["lab", "up", "--hosts", &n.to_string()]);
        if let Some(kernel) = kernel {
            cmd.args(["--kernel", kernel]);
        }
        let out = run(&mut cmd);
        assert!(
            out.status.success(),
            "`schedfleet lab up` failed; the lab is required for this test (run lab/setup.sh)"
        );
        eprintln!(
            "lab up --hosts {n} (kernel {}): {:.1}s",
            kernel.unwrap_or("default"),
            started.elapsed().as_secs_f64()
        );
        let out = run(lab.cmd().args(["lab", "status", "--json"]));
        assert!(out.status.success());
        super::output::assert_conforms("lab-status", &json(&out));
        lab.hosts = serde_json::from_value(json(&out)).expect("lab status --json has the contract's fields");
        assert_eq!(lab.hosts.len(), usize::from(n));
        lab
    }

    /// Waits until no other lab of this test binary runs VMs and keeps
    /// them from starting while the guard lives: the lab VMs run under TCG
    /// on the host's cores, so another test's VMs would be the noise a
    /// latency comparison measures.
    pub fn alone(&mut self) -> RwLockWriteGuard<'static, ()> {
        self.turn = None;
        LABS.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The controller state directory of commands run with [`TestLab::cmd`].
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// A `schedfleet` command that uses this lab.
    pub fn cmd(&self) -> std::process::Command {
        let mut cmd = schedfleet();
        cmd.env("SCHEDFLEET_LAB_DIR", self.dir.path()).env("SCHEDFLEET_STATE_DIR", self.state_dir());
        cmd
    }

    /// How many SSH logins the VM's sshd has accepted since it booted, as
    /// its own log on the console says (`lab/init` runs `sshd -D -e`).
    pub fn ssh_logins(&self, name: &str) -> usize {
        let console = self.dir.path().join(name).join("console.log");
        let text = std::fs::read(&console).unwrap_or_else(|e| panic!("read {}: {e}", console.display()));
        String::from_utf8_lossy(&text).matches("Accepted publickey for root").count()
    }

    pub fn host(&self, name: &str) -> &SshHost {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no lab host {name}"))
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.cmd().args(["lab", "down"]).output();
    }
}
