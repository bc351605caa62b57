//! [`Lab`]: `up`, `down` and `status` of one lab directory, the operations
//! behind `schedfleet lab`.
//!
//! `up` converges: VMs `lab-1..lab-N` that run are kept, missing ones are
//! booted (all at once), and it returns only when every one of them answers
//! ssh. New VMs boot the lab's kernel ([`Lab::with_kernel`], by default the
//! newest cached); kept VMs keep the kernel they booted, so a lab can mix
//! kernels the way fleets do (`up --hosts 1 --kernel oldest`, then `up
//! --hosts 2`). `down` stops exactly the VMs whose qemu it can identify as this
//! lab's. Both hold a lock on the lab directory, so two commands never
//! start the same VM twice. Progress is reported through [`LabEvent`]s and
//! never printed here: rendering is the CLI's.

use std::fs::{self, DirBuilder, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::error::{io_err, LabError};
use super::host::{env_path, HostTools, KernelCache};
use super::image::{ensure_base_image, write_vm_initrd, BaseImage};
use super::kernel::boot_kernel;
use super::keys::{ensure_key_pair, read_public_key, write_known_hosts};
use super::layout::{LabLayout, VmPaths};
use super::state::{previous_port, LabHost, LabSurvey, StaleVm};
use super::vm;

/// The most VMs one lab runs (the CLI enforces the same bound).
pub const MAX_LAB_HOSTS: usize = 16;
/// How long `up` waits for a VM's sshd unless `SCHEDFLEET_LAB_BOOT_TIMEOUT`
/// (seconds) says otherwise. Under TCG a VM answers in 10 to 30 s.
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// vCPUs of a VM unless `lab up --cpus` says otherwise.
pub const DEFAULT_LAB_CPUS: u8 = 2;
/// The most vCPUs `lab up --cpus` gives a VM (TCG runs one host thread per vCPU).
pub const MAX_LAB_CPUS: u8 = 16;

/// Something `up` or `down` did, in the order it happened (events of
/// different VMs interleave while they boot in parallel).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LabEvent {
    /// Another `schedfleet lab` command holds the lab; waiting for it.
    WaitingForLock { lock: PathBuf },
    /// The base image is ready; `rebuilt` is false when the cached one was reused.
    ImageReady { path: PathBuf, bytes: u64, rebuilt: bool, took: Duration },
    /// The kernel image qemu boots, of kernel `release`; `fallback_reason`
    /// says why it is the (slower) compressed one.
    KernelReady { release: String, path: PathBuf, fallback_reason: Option<String> },
    /// A VM that was already running and is kept, with the kernel it booted.
    Kept { name: String, pid: u32, port: u16, kernel: String },
    /// A VM whose qemu was just started.
    Started { name: String, pid: u32, port: u16, console: PathBuf },
    /// A VM answered ssh: a booted one `took` after its qemu was started,
    /// a kept one (`kept`) `took` after the check began.
    Ready { name: String, took: Duration, kept: bool },
    /// A VM whose kernel panicked while booting is booted once more (the
    /// guest kernel under TCG, not anything of ours; the first console log
    /// is kept at `kept_console`).
    Rebooting { name: String, kept_console: PathBuf },
    /// A VM beyond the requested count that keeps running; `down` stops it.
    Extra { name: String, pid: u32 },
    /// `down` stopped a VM.
    Stopped { name: String, pid: u32 },
    /// `down` removed a PID file that named no running lab VM.
    StaleRemoved { name: String, pid: Option<u32> },
}

/// One lab directory.
#[derive(Debug, Clone)]
pub struct Lab {
    layout: LabLayout,
    boot_timeout: Duration,
    /// The cached kernel new VMs boot: a release or an alias; `None` for
    /// [`super::host::DEFAULT_KERNEL`].
    kernel: Option<String>,
    /// vCPUs of the VMs this lab boots (running VMs keep theirs).
    cpus: u8,
}

/// A VM that `down` stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedVm {
    pub name: String,
    pub pid: u32,
}

impl Lab {
    /// The lab at `dir`, else `SCHEDFLEET_LAB_DIR`, else
    /// `${XDG_STATE_HOME:-$HOME/.local/state}/schedfleet/lab`. Nothing is
    /// created until [`Lab::up`].
    pub fn open(dir: Option<PathBuf>) -> Result<Lab, LabError> {
        let boot_timeout = env_path("SCHEDFLEET_LAB_BOOT_TIMEOUT")
            .and_then(|s| s.to_str()?.parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(DEFAULT_BOOT_TIMEOUT, Duration::from_secs);
        Ok(Lab { layout: LabLayout::resolve(dir)?, boot_timeout, kernel: None, cpus: DEFAULT_LAB_CPUS })
    }

    pub fn with_boot_timeout(mut self, timeout: Duration) -> Lab {
        self.boot_timeout = timeout;
        self
    }

    /// New VMs boot the cached kernel `kernel`: a release
    /// (`7.2.6+deb13-cloud-amd64`) or an alias (`current`, `oldest`) of
    /// `lab/setup.sh kernel`'s cache.
    pub fn with_kernel(mut self, kernel: Option<String>) -> Lab {
        self.kernel = kernel;
        self
    }

    /// New VMs get `cpus` vCPUs (clamped to 1..=[`MAX_LAB_CPUS`]); VMs
    /// already running keep theirs.
    pub fn with_cpus(mut self, cpus: u8) -> Lab {
        self.cpus = cpus.clamp(1, MAX_LAB_CPUS);
        self
    }

    /// The lab directory (absolute).
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    pub fn up(&self, hosts: usize) -> Result<Vec<LabHost>, LabError> {
        self.up_with(hosts, &|_| {})
    }

    /// Ensures `lab-1..lab-hosts` run and answer ssh; returns them in order.
    pub fn up_with(&self, hosts: usize, progress: &(dyn Fn(LabEvent) + Sync)) -> Result<Vec<LabHost>, LabError> {
        if !(1..=MAX_LAB_HOSTS).contains(&hosts) {
            return Err(LabError::HostCount { count: hosts, max: MAX_LAB_HOSTS });
        }
        // Everything the lab needs from the machine, before anything changes.
        let tools = HostTools::locate()?;
        let kernel = KernelCache::locate(self.kernel.as_deref())?;
        let root = self.layout.root();
        DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(io_err("create", root))?;
        let _lock = LabLock::acquire(&self.layout, progress)?;

        ensure_key_pair(&tools.ssh_keygen, &self.layout.client_key(), "schedfleet-lab")?;
        let started_at = Instant::now();
        let base = ensure_base_image(&self.layout, &tools, &kernel)?;
        progress(LabEvent::ImageReady {
            path: base.path.clone(),
            bytes: base.bytes,
            rebuilt: base.rebuilt,
            took: started_at.elapsed(),
        });

        let boot = boot_kernel(&self.layout, &kernel, tools.zstd.as_deref())?;
        progress(LabEvent::KernelReady {
            release: kernel.release.clone(),
            path: boot.path.clone(),
            fallback_reason: boot.fallback_reason.clone(),
        });

        let survey = LabSurvey::read(&self.layout)?;
        // (host, its folder, when its qemu was started; None when kept)
        let mut booting: Vec<(LabHost, VmPaths, Option<Instant>)> = Vec::new();
        for index in 1..=hosts {
            let vm = self.layout.vm(index);
            if let Some(host) = survey.running_vm(&vm.name) {
                progress(LabEvent::Kept {
                    name: host.name.clone(),
                    pid: host.pid,
                    port: host.port,
                    kernel: host.kernel.clone(),
                });
                booting.push((host.clone(), vm, None));
                continue;
            }
            let start = Instant::now();
            let host = self.start_vm(&tools, &boot.path, &kernel.release, &base, &vm)?;
            progress(LabEvent::Started {
                name: host.name.clone(),
                pid: host.pid,
                port: host.port,
                console: vm.console_log(),
            });
            booting.push((host, vm, Some(start)));
        }
        for extra in survey.running.iter().filter(|h| !booting.iter().any(|(b, _, _)| b.name == h.name)) {
            progress(LabEvent::Extra { name: extra.name.clone(), pid: extra.pid });
        }
        // Before any probe: ssh checks host keys strictly against this file.
        self.rewrite_known_hosts()?;

        let deadline = Instant::now() + self.boot_timeout;
        let results: Vec<Result<(), LabError>> = thread::scope(|scope| {
            let waiters: Vec<_> = booting
                .iter()
                .map(|(host, vm, started)| {
                    let ssh = &tools.ssh;
                    let timeout = self.boot_timeout;
                    scope.spawn(move || {
                        let since = started.unwrap_or_else(Instant::now);
                        vm::wait_for_ssh(ssh, host, vm, deadline, timeout)?;
                        progress(LabEvent::Ready {
                            name: host.name.clone(),
                            took: since.elapsed(),
                            kept: started.is_none(),
                        });
                        Ok(())
                    })
                })
                .collect();
            waiters.into_iter().map(|w| w.join().expect("a boot waiter panicked")).collect()
        });
        for (i, result) in results.into_iter().enumerate() {
            match result {
                // Once, and only a VM this call started whose kernel panicked.
                Err(LabError::VmExited { ref tail, .. }) if booting[i].2.is_some() && tail.contains("Kernel panic") => {
                    let vm = &booting[i].1;
                    let kept_console = vm.dir.join("console.panic.log");
                    fs::rename(vm.console_log(), &kept_console).map_err(io_err("rename", &vm.console_log()))?;
                    progress(LabEvent::Rebooting { name: vm.name.clone(), kept_console });
                    let start = Instant::now();
                    let host = self.start_vm(&tools, &boot.path, &kernel.release, &base, vm)?;
                    progress(LabEvent::Started {
                        name: host.name.clone(),
                        pid: host.pid,
                        port: host.port,
                        console: vm.console_log(),
                    });
                    self.rewrite_known_hosts()?;
                    vm::wait_for_ssh(&tools.ssh, &host, vm, Instant::now() + self.boot_timeout, self.boot_timeout)?;
                    progress(LabEvent::Ready { name: host.name.clone(), took: start.elapsed(), kept: false });
                    booting[i].0 = host;
                }
                other => other?,
            }
        }
        Ok(booting.into_iter().map(|(host, _, _)| host).collect())
    }

    /// Writes the VM's keys and boot image and starts its qemu.
    fn start_vm(
        &self,
        tools: &HostTools,
        kernel: &Path,
        release: &str,
        base: &BaseImage,
        vm: &VmPaths,
    ) -> Result<LabHost, LabError> {
        DirBuilder::new().recursive(true).mode(0o700).create(&vm.dir).map_err(io_err("create", &vm.dir))?;
        ensure_key_pair(&tools.ssh_keygen, &vm.host_key(), &format!("root@{}", vm.name))?;
        write_vm_initrd(base, vm, &self.layout.client_public_key())?;
        // Before qemu starts, so that whoever sees the VM running sees its kernel.
        fs::write(vm.kernel_file(), format!("{release}\n")).map_err(io_err("write", &vm.kernel_file()))?;
        let (pid, port) = vm::start(&tools.qemu, kernel, vm, previous_port(vm), self.cpus)?;
        Ok(LabHost::new(&self.layout, vm, port, pid, release.to_owned()))
    }

    /// Known-hosts entries for exactly the VMs that run now.
    fn rewrite_known_hosts(&self) -> Result<(), LabError> {
        let mut entries = Vec::new();
        for host in LabSurvey::read(&self.layout)?.running {
            let vm = self.layout.vm(vm_index(&host.name));
            entries.push((host.address.clone(), host.port, read_public_key(&vm.host_public_key())?));
        }
        write_known_hosts(&self.layout.known_hosts(), &entries)
    }

    pub fn down(&self) -> Result<Vec<StoppedVm>, LabError> {
        self.down_with(&|_| {})
    }

    /// Stops every running VM of this lab and removes their PID files;
    /// PID files that name no lab VM are removed without signalling anyone.
    pub fn down_with(&self, progress: &(dyn Fn(LabEvent) + Sync)) -> Result<Vec<StoppedVm>, LabError> {
        if !self.layout.root().is_dir() {
            return Ok(Vec::new());
        }
        let _lock = LabLock::acquire(&self.layout, progress)?;
        let mut stopped = Vec::new();
        let survey = LabSurvey::read(&self.layout)?;
        let results: Vec<Result<StoppedVm, LabError>> = thread::scope(|scope| {
            let stoppers: Vec<_> = survey
                .running
                .iter()
                .map(|host| {
                    let vm = self.layout.vm(vm_index(&host.name));
                    scope.spawn(move || {
                        // Checked again right before the signal: the survey may be seconds old.
                        if vm::is_our_qemu(host.pid, &vm) {
                            vm::stop(&vm, host.pid)?;
                        }
                        remove_if_present(&vm.pid_file())?;
                        progress(LabEvent::Stopped { name: host.name.clone(), pid: host.pid });
                        Ok(StoppedVm { name: host.name.clone(), pid: host.pid })
                    })
                })
                .collect();
            stoppers.into_iter().map(|s| s.join().expect("a VM stopper panicked")).collect()
        });
        for StaleVm { name, pid } in &survey.stale {
            remove_if_present(&self.layout.vm(vm_index(name)).pid_file())?;
            progress(LabEvent::StaleRemoved { name: name.clone(), pid: *pid });
        }
        for result in results {
            stopped.push(result?);
        }
        self.rewrite_known_hosts()?;
        Ok(stopped)
    }

    /// The running VMs, in order.
    pub fn status(&self) -> Result<Vec<LabHost>, LabError> {
        Ok(self.survey()?.running)
    }

    /// Running VMs and stale PID files.
    pub fn survey(&self) -> Result<LabSurvey, LabError> {
        LabSurvey::read(&self.layout)
    }
}

/// The index of a surveyed VM, whose name came from a `lab-N` folder.
fn vm_index(name: &str) -> usize {
    name.strip_prefix("lab-").and_then(|i| i.parse().ok()).expect("surveyed VMs are named lab-N")
}

fn remove_if_present(path: &Path) -> Result<(), LabError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::Io { action: "remove", path: path.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

/// An exclusive `flock` on the lab's lock file, released on drop (and by
/// the kernel if the process dies).
struct LabLock {
    _file: File,
}

impl LabLock {
    fn acquire(layout: &LabLayout, progress: &(dyn Fn(LabEvent) + Sync)) -> Result<LabLock, LabError> {
        let path = layout.lock_file();
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(io_err("open", &path))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            progress(LabEvent::WaitingForLock { lock: path.clone() });
            // SAFETY: as above.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(LabError::Io { action: "lock", path, source: std::io::Error::last_os_error() });
            }
        }
        Ok(LabLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_and_status_of_a_missing_lab_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::open(Some(dir.path().join("never-made"))).unwrap();
        assert!(lab.status().unwrap().is_empty());
        assert!(lab.down().unwrap().is_empty());
        assert!(!dir.path().join("never-made").exists());
    }

    #[test]
    fn host_counts_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::open(Some(dir.path().to_owned())).unwrap();
        assert!(matches!(lab.up(0), Err(LabError::HostCount { .. })));
        assert!(matches!(lab.up(MAX_LAB_HOSTS + 1), Err(LabError::HostCount { .. })));
    }

    #[test]
    fn stale_pid_files_are_removed_without_signals() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::open(Some(dir.path().to_owned())).unwrap();
        let vm = lab.layout.vm(1);
        fs::create_dir_all(&vm.dir).unwrap();
        // Our own PID: alive, but not a lab VM, so it must survive `down`.
        fs::write(vm.pid_file(), format!("{}\n", std::process::id())).unwrap();
        let events = std::sync::Mutex::new(Vec::new());
        let stopped = lab.down_with(&|e| events.lock().unwrap().push(e)).unwrap();
        assert!(stopped.is_empty());
        assert!(!vm.pid_file().exists());
        assert!(matches!(events.lock().unwrap()[..], [LabEvent::StaleRemoved { .. }]));
    }
}
